"""IMP002 impossible-values: negative cross-entropies and accuracies outside [0, 1]; near-misses that are allowed."""

from __future__ import annotations

import dataclasses

import numpy as np

from nandoctor.model import make_series
from tests.rules.builders import Case, make_run, noisy_decay


def _with(run, *series):
    return dataclasses.replace(run, series=run.series + tuple(series))


def digit_labels_fed_to_binary_crossentropy():
    # datascience.stackexchange 38604: `loss: -55.0254` from labels 0-9 in binary_crossentropy
    epochs = np.arange(10)
    loss = -np.linspace(12.0, 55.0254, 10)
    return make_run(loss, steps=epochs, accuracy=np.full(10, 0.1), step_unit="epoch", framework="keras")


def named_bce_head_goes_negative():
    steps = np.arange(0, 3000, 10)
    run = make_run(noisy_decay(steps.size, 1.4, 0.3, seed=1), steps=steps)
    head = noisy_decay(steps.size, 0.7, 0.2, seed=2)
    head[150:] -= 0.45  # soft targets outside [0, 1]
    return _with(run, make_series("train/bce_loss", steps, head, role="train_loss", source="run.log"))


def accuracy_above_one():
    epochs = np.arange(20)
    return make_run(noisy_decay(20, 1.2, 0.4, seed=3), steps=epochs, accuracy=np.linspace(0.4, 1.8, 20), step_unit="epoch")


def wgan_critic_loss_is_negative_by_design():
    steps = np.arange(0, 5000, 50)
    run = make_run(noisy_decay(steps.size, 2.0, 0.7, seed=4), steps=steps)
    critic = -np.abs(noisy_decay(steps.size, 0.5, 3.2, seed=5))
    return _with(run, make_series("wasserstein_critic_loss", steps, critic, role="train_loss", source="run.log"))


def mmdetection_accuracy_in_percent():
    steps = np.arange(0, 20000, 50)
    return make_run(noisy_decay(steps.size, 3.5, 0.6, seed=6), steps=steps, accuracy=np.clip(60 + 35 * (1 - np.exp(-steps / 4000)), 0, 100))


def loss_rounds_to_minus_zero():
    epochs = np.arange(50)
    loss = noisy_decay(50, 0.5, 1e-6, seed=7)
    loss[-5:] = -3e-9  # float rounding of a converged KL estimate, not a negative loss
    return make_run(loss, steps=epochs, step_unit="epoch")


FIRES = [
    Case("digit labels 0-9 fed to binary_crossentropy: loss -12 to -55.0254", digit_labels_fed_to_binary_crossentropy),
    Case("a train/bce_loss head drops to -0.25 once its soft targets leave [0, 1]", named_bce_head_goes_negative),
    Case("an accuracy climbing to 1.8: the metric compares the wrong tensors", accuracy_above_one),
]

QUIET = [
    Case("a WGAN critic loss around -3 (negative by design) next to a healthy loss (info at most)", wgan_critic_loss_is_negative_by_design),
    Case("mmdetection logs accuracy in percent: 60 -> 95", mmdetection_accuracy_in_percent),
    Case("a converged loss that rounds to -3e-9", loss_rounds_to_minus_zero),
]
