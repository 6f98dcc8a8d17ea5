"""LR005 lr-collapsed: the learning rate decays to nothing early and the loss freezes."""

import numpy as np

from tests.rules.builders import Case, make_run, noisy_decay


def _step_lr_per_batch():
    # StepLR(step_size=5, gamma=0.5) stepped per batch: 0.005 -> 5e-9 by step 100; loss frozen.
    steps = np.arange(0, 600, 5)
    lr = 0.005 * 0.5 ** (steps // 5)
    loss = np.where(steps < 60, 1.1 - steps / 600, 1.0) + np.random.default_rng(0).normal(0, 0.002, steps.size)
    return make_run(loss, steps=steps, lr=lr)


def _decay_every_epoch():
    epochs = np.arange(30)
    lr = 0.01 * 0.1 ** epochs
    loss = np.concatenate([[1.2, 1.0, 0.9, 0.886], np.full(26, 0.8858)])
    return make_run(loss, steps=epochs, lr=lr, step_unit="epoch")


def _cosine_to_zero_at_the_end():
    steps = np.arange(500)
    lr = 0.1 * 0.5 * (1 + np.cos(np.pi * steps / 499))
    return make_run(noisy_decay(500), steps=steps, lr=lr)


def _step_decay_healthy():
    steps = np.arange(300)
    lr = 0.1 * 0.1 ** (steps // 100)
    return make_run(noisy_decay(300), steps=steps, lr=lr)


def _tiny_lr_but_learning():
    # Collapsed lr early but the loss keeps falling (an optimizer that ignores lr magnitude, or fine-tuning).
    steps = np.arange(200)
    lr = np.where(steps < 10, 1e-3, 1e-7)
    return make_run(noisy_decay(200), steps=steps, lr=lr)


FIRES = [
    Case("StepLR stepped per batch: lr 5e-9 by step 100, loss frozen", _step_lr_per_batch),
    Case("lr x0.1 every epoch: 1e-8 by epoch 6, loss frozen at 0.8858", _decay_every_epoch),
]

QUIET = [
    Case("cosine decay reaching 0 at the end of the run", _cosine_to_zero_at_the_end),
    Case("step decay x0.1 at 1/3 and 2/3 of the run", _step_decay_healthy),
    Case("lr tiny after warmup-down but the loss still falls", _tiny_lr_but_learning),
]
