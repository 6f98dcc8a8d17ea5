"""NAN001 sudden-nan: a steady loss turns non-finite with no growth; near-misses are other NaN stories."""

from __future__ import annotations

import dataclasses

import numpy as np

from nandoctor.model import make_series
from tests.rules.builders import Case, make_run, noisy_decay


def _steady_then_nan(points: int, start: float, end: float, nan_at: int, every: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    steps = np.arange(points) * every
    loss = noisy_decay(points, start, end, seed=seed)
    loss[nan_at:] = np.nan
    return steps, loss


def steady_cross_entropy_then_nan():
    steps, loss = _steady_then_nan(300, 2.3, 0.9, nan_at=260)
    return make_run(loss, steps=steps, lr=np.full(300, 0.01))


def detection_loss_at_scale_100_with_a_sub_loss_first():
    steps, loss = _steady_then_nan(200, 400.0, 120.0, nan_at=151, every=1, seed=1)
    giou = noisy_decay(200, 40.0, 12.0, seed=2)
    giou[150:] = np.nan
    run = make_run(loss, steps=steps)
    extra = make_series("giou_loss", steps, giou, role="train_loss", source="run.log")
    return dataclasses.replace(run, series=run.series + (extra,))


def tiny_regression_loss_goes_inf():
    steps, loss = _steady_then_nan(120, 0.02, 0.004, nan_at=100, every=5, seed=3)
    loss[100] = np.inf
    return make_run(loss, steps=steps)


def keras_epoch_loss_nan_after_40_epochs():
    loss = noisy_decay(60, 1.6, 0.4, seed=4)
    loss[40:] = np.nan
    return make_run(loss, steps=np.arange(60), step_unit="epoch")


def nan_long_after_an_earlier_blow_up():
    loss = np.concatenate([noisy_decay(50, 2.3, 1.0, seed=10), 1.0 * 4.0 ** np.arange(1, 41), np.full(30, 4.0**40), [np.nan] * 5])
    return make_run(loss)


def keras_epochs_nan_while_the_epoch_accuracy_held():
    # per epoch: loss 2.1 -> 0.15 and accuracy up to 0.95; at epoch 14 the loss is nan but that epoch's accuracy is 0.952
    loss = list(noisy_decay(14, 2.1, 0.15, seed=61)) + [np.nan]
    accuracy = list(0.95 - 0.7 * np.exp(-np.arange(14) / 3.0)) + [0.952]
    return make_run(loss, step_unit="epoch", framework="keras", accuracy=accuracy)


def keras_epochs_nan_while_the_epoch_accuracy_fell():
    # the near-miss: the same run, but the nan epoch's accuracy fell to 0.41, so the model broke during it
    loss = list(noisy_decay(14, 2.1, 0.15, seed=61)) + [np.nan]
    accuracy = list(0.95 - 0.7 * np.exp(-np.arange(14) / 3.0)) + [0.41]
    return make_run(loss, step_unit="epoch", framework="keras", accuracy=accuracy)


FIRES = [
    Case("a steady cross-entropy loss near 0.9 turns nan at step 2600 with no growth (logged every 10 steps)", steady_cross_entropy_then_nan),
    Case("a detection loss near 120 goes nan one step after its giou sub-loss did", detection_loss_at_scale_100_with_a_sub_loss_first),
    Case("a regression loss near 0.004 goes inf out of nowhere", tiny_regression_loss_goes_inf),
    Case("a Keras per-epoch loss is steady and then nan from epoch 40 (growth not observable per epoch)", keras_epoch_loss_nan_after_40_epochs),
    Case("a loss that blew up to 1e24 sits there for 30 points, then goes nan", nan_long_after_an_earlier_blow_up),
    Case("a Keras per-epoch loss goes nan in an epoch whose accuracy held at 0.952", keras_epochs_nan_while_the_epoch_accuracy_held),
    Case("a Keras per-epoch loss goes nan in an epoch whose accuracy fell to 0.41", keras_epochs_nan_while_the_epoch_accuracy_fell),
]


def growth_then_nan():
    loss = list(noisy_decay(100, 2.3, 0.6, seed=5)) + [0.9, 1.6, 3.1, 6.0, 12.5, np.nan, np.nan]
    return make_run(loss)


def nan_from_the_first_point():
    return make_run([np.nan] * 30)


def only_validation_goes_nan():
    val = noisy_decay(20, 2.0, 0.8, seed=6)
    val[15] = np.nan
    return make_run(noisy_decay(200, 2.3, 0.5, seed=7), val_loss=(np.arange(20) * 10, val))


def fp16_grad_norm_inf_while_loss_is_finite():
    grad = np.abs(np.random.default_rng(8).normal(3.0, 0.5, 300))
    grad[[3, 7, 150]] = np.inf  # overflow skips: the loss scaler handles them
    return make_run(noisy_decay(300, 2.3, 0.5, seed=8), grad_norm=grad)


def recovered_spike_never_nan():
    loss = noisy_decay(200, 2.3, 0.5, seed=9)
    loss[120:124] *= np.array([3.0, 2.0, 1.3, 1.05])
    return make_run(loss)


QUIET = [
    Case("the loss grows x2 per point for 5 points and then goes nan (that is growth, NAN002)", growth_then_nan),
    Case("the loss is nan from the very first point (that is NAN003)", nan_from_the_first_point),
    Case("only the validation loss goes nan once while the train loss is finite", only_validation_goes_nan),
    Case("the fp16 gradient norm is inf at a few skipped steps while the loss stays finite", fp16_grad_norm_inf_while_loss_is_finite),
    Case("a spike x3 that recovers within 4 points, never non-finite", recovered_spike_never_nan),
]
