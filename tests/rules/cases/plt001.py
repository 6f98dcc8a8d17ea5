"""PLT001 stalled-loss: losses that never moved; near-misses that moved, converged, or are another rule's."""

from __future__ import annotations

import numpy as np

from tests.rules.builders import Case, make_run, noisy_decay


def learning_rate_1e_11_for_four_epochs():
    # deepfd-cov lr_1e-11: the loss is 2.6715 at every epoch
    epochs = np.arange(4)
    loss = 2.6715 + np.array([0.0, 2e-6, -1e-6, 1e-6])
    return make_run(loss, steps=epochs, accuracy=np.full(4, 0.0914), lr=np.full(4, 1e-11), step_unit="epoch", framework="keras")


def pinn_loss_of_3_8e25_that_does_not_move():
    # realworld lightning 024: 3.7672e25 -> 3.7665e25 over 535 epochs
    epochs = np.arange(535)
    loss = 3.7672e25 * (1 - 1.9e-4 * epochs / 534) * (1 + np.random.default_rng(1).normal(0, 2e-6, 535))
    return make_run(loss, steps=epochs, step_unit="epoch", framework="lightning")


def noisy_probe_without_a_trend():
    # realworld lightning 029: a probing classifier, per-batch loss 2.5-3.45 for 20 epochs, accuracy near chance
    steps = np.arange(49, 1400, 50)
    loss = 2.9 * np.exp(np.random.default_rng(2).normal(0, 0.09, steps.size))
    return make_run(loss, steps=steps, accuracy=np.clip(np.random.default_rng(3).normal(0.08, 0.05, steps.size), 0, 1), framework="lightning")


def healthy_noisy_decay():
    steps = np.arange(0, 30000, 100)
    return make_run(noisy_decay(steps.size, 2.3, 0.3, noise=0.1, seed=4), steps=steps)


def converged_fine_tune_at_accuracy_0_995():
    epochs = np.arange(30)
    loss = 0.021 * np.exp(np.random.default_rng(5).normal(0, 0.03, 30))
    return make_run(loss, steps=epochs, accuracy=np.full(30, 0.995), val_loss=(epochs, loss * 1.5), step_unit="epoch")


def stuck_at_ln10_belongs_to_sat003():
    epochs = np.arange(60)
    loss = 2.3026 + np.random.default_rng(6).normal(0, 0.0003, 60)
    return make_run(loss, steps=epochs, accuracy=np.full(60, 0.1), step_unit="epoch")


def oscillating_validation_loss_belongs_to_osc001():
    # autotrainer's oscillating case: train flat near 0.95 after epoch 1, validation swinging 0.65-1.54
    epochs = np.arange(61)
    rng = np.random.default_rng(7)
    train = 0.95 * np.exp(rng.normal(0, 0.05, 61))
    train[0] = 1.49
    val = 0.92 * (1 + 0.2 * rng.standard_normal(61))
    return make_run(train, steps=epochs, val_loss=(epochs, val), step_unit="epoch")


def slow_but_real_decrease():
    steps = np.arange(0, 5000, 50)
    loss = 4.0 * np.linspace(1.0, 0.78, steps.size) * np.exp(np.random.default_rng(8).normal(0, 0.02, steps.size))
    return make_run(loss, steps=steps)


def caffe_excerpt_wandering_over_3000_iterations():
    # 8 displays from iteration 1000 to 4500 (a gap in the paste): a margin-softmax loss wanders 7.02-7.14 at lr 0.05
    steps = np.array([1000, 1100, 1200, 1300, 4200, 4300, 4400, 4500])
    loss = np.array([7.10, 7.05, 7.13, 7.02, 7.14, 7.06, 7.03, 7.08])
    return make_run(loss, steps=steps, lr=np.full(8, 0.05), framework="caffe")


FIRES = [
    Case("lr 1e-11: the loss is 2.6715 at each of 4 epochs", learning_rate_1e_11_for_four_epochs),
    Case("a PINN loss of 3.77e25 moves 0.02 % over 535 epochs", pinn_loss_of_3_8e25_that_does_not_move),
    Case("a Caffe excerpt: 8 displays over 3500 iterations wander 7.02-7.14 (1.7 %) with no progress", caffe_excerpt_wandering_over_3000_iterations),
    Case("a probing classifier's per-batch loss wanders 2.5-3.45 with no trend and near-chance accuracy", noisy_probe_without_a_trend),
]

def short_excerpt_wandering_over_a_few_steps():
    # the same 1.7 % wander in 8 points logged every 10 steps (70 steps): too few updates to expect progress
    steps = np.arange(5000, 5080, 10)
    return make_run(np.array([7.10, 7.05, 7.13, 7.02, 7.14, 7.06, 7.03, 7.08]), steps=steps)


def epoch_excerpt_wandering():
    # 8 epochs of an epoch-averaged loss wandering 1.7 %: epochs are not counted as optimizer steps, so the strict 1 % holds
    return make_run(np.array([0.410, 0.406, 0.411, 0.405, 0.409, 0.404, 0.408, 0.407]), step_unit="epoch")


QUIET = [
    Case("8 points over 70 steps wandering 1.7 % (too few updates to expect progress)", short_excerpt_wandering_over_a_few_steps),
    Case("8 epochs of an epoch-averaged loss wandering 1.7 %", epoch_excerpt_wandering),
    Case("a healthy noisy decay from 2.3 to 0.3", healthy_noisy_decay),
    Case("a converged fine-tune: flat 0.021 with accuracy 0.995", converged_fine_tune_at_accuracy_0_995),
    Case("a loss stuck at ln 10 with accuracy 0.1 (SAT003 names it)", stuck_at_ln10_belongs_to_sat003),
    Case("a flat train loss beside a validation loss swinging 20 % (OSC001 names it)", oscillating_validation_loss_belongs_to_osc001),
    Case("a slow but real 22 % decrease over 100 points", slow_but_real_decrease),
]
