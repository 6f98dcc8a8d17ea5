"""NAN004 nonfinite-validation: the validation loss is NaN/inf while training is finite."""

import numpy as np

from tests.rules.builders import Case, make_run, noisy_decay


def _eval_nan_from_step_2000():
    # BatchNorm running stats turned NaN: eval loss NaN at every evaluation from step 2000, train loss ~1.2.
    steps = np.arange(0, 5000, 10)
    evals = np.arange(500, 5001, 500)
    val = [1.9, 1.7, 1.55, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan]
    return make_run(list(noisy_decay(steps.size, start=2.5, end=1.2, seed=1)), steps=steps, val_loss=(evals, val))


def _single_inf_epoch():
    # One validation epoch returns inf (an empty batch divided by zero); the next ones are finite.
    epochs = np.arange(30)
    val = list(noisy_decay(30, start=0.9, end=0.25, seed=2))
    val[12] = np.inf
    return make_run(list(noisy_decay(30, start=1.0, end=0.2, seed=3)), steps=epochs, val_loss=(epochs, val), step_unit="epoch")


def _train_went_nan_first():
    # The train loss went NaN at step 1500 and the evaluations after it too: NAN001's business.
    steps = np.arange(0, 3000, 10)
    train = noisy_decay(steps.size, start=3.0, end=1.0, seed=4)
    train[steps >= 1500] = np.nan
    evals = np.arange(500, 3001, 500)
    val = [2.1, 1.8, np.nan, np.nan, np.nan, np.nan]
    return make_run(list(train), steps=steps, val_loss=(evals, val))


def _hidden_nan_zero_train():
    # HF filter: the train loss reads 0.0 and the eval loss is NaN: NAN005's business, not "train looks fine".
    steps = np.arange(10, 1001, 10)
    train = list(noisy_decay(50, start=2.0, end=1.1, seed=5)) + [0.0] * 50
    return make_run(train, steps=steps, val_loss=([500, 1000], [1.3, np.nan]), framework="hf")


def _healthy_with_validation():
    epochs = np.arange(20)
    return make_run(list(noisy_decay(20, seed=6)), steps=epochs, val_loss=(epochs, list(noisy_decay(20, start=2.4, end=0.5, seed=7))), step_unit="epoch")


FIRES = [
    Case("eval loss NaN at every evaluation from step 2000 while the train loss is ~1.2", _eval_nan_from_step_2000),
    Case("one validation epoch is inf while training is finite, later epochs finite again", _single_inf_epoch),
]

QUIET = [
    Case("the train loss went NaN first and the evaluations followed", _train_went_nan_first),
    Case("a train loss of 0.0 next to a NaN eval loss (hidden NaN, not finite training)", _hidden_nan_zero_train),
    Case("a healthy run with a finite validation loss", _healthy_with_validation),
]
