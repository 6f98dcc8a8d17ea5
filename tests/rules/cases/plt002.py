"""PLT002 constant-loss: float-identical losses; near-misses that repeat a value for another reason."""

from __future__ import annotations

import numpy as np

from tests.rules.builders import Case, make_run, noisy_decay


def relu_regressor_frozen_after_epoch_12():
    # ReLU on the output of a regressor: every prediction 0, the loss is mean(y^2) to the last float digit
    epochs = np.arange(50)
    loss = noisy_decay(50, 0.9, 0.3, noise=0.02, seed=1)
    loss[12:] = 0.24873110651969910
    return make_run(loss, steps=epochs, lr=np.full(50, 0.05), step_unit="epoch", framework="keras")


def caffe_loss_identical_at_six_digits():
    steps = np.arange(0, 3000, 100)
    loss = noisy_decay(steps.size, 48.0, 30.0, noise=0.02, seed=2)
    loss[10:] = 41.2783  # dead units: the same six printed digits at every display
    return make_run(loss, steps=steps, lr=np.full(steps.size, 0.1), framework="caffe")


def keras_progress_bar_repeats_1_2345():
    epochs = np.arange(40)
    loss = np.round(noisy_decay(40, 2.0, 1.3, noise=0.01, seed=3), 4)
    loss[12:] = 1.2345  # only 4 decimals printed: too coarse for certainty, but 28 epochs of it
    return make_run(loss, steps=epochs, step_unit="epoch", framework="keras")


def converged_loss_printed_at_its_last_digit():
    epochs = np.arange(100)
    loss = np.round(noisy_decay(100, 2.3, 1e-5, noise=0.05, seed=4), 4)  # 0.0000 for the last epochs
    return make_run(loss, steps=epochs, step_unit="epoch")


def epoch_average_repeated_on_every_step_row():
    # an epoch staircase: the logger writes the epoch's mean loss on each of its 25 step rows
    epoch_means = noisy_decay(6, 1.8, 0.6, noise=0.01, seed=5)
    loss = np.repeat(epoch_means, 25)
    return make_run(loss, steps=np.arange(loss.size) * 10)


def caffe_saturated_at_87_3365_belongs_to_sat001():
    steps = np.arange(0, 3000, 100)
    loss = noisy_decay(steps.size, 6.9, 4.8, noise=0.02, seed=6)
    loss[10:] = 87.3365
    return make_run(loss, steps=steps, framework="caffe")


def converged_keras_loss_repeats_0_0123_for_12_epochs():
    epochs = np.arange(60)
    loss = np.round(noisy_decay(60, 0.9, 0.0123, noise=0.001, seed=7), 4)
    loss[48:] = 0.0123
    return make_run(loss, steps=epochs, step_unit="epoch", framework="keras")


FIRES = [
    Case("a ReLU-output regressor: loss exactly 0.2487311065196991 for 38 epochs", relu_regressor_frozen_after_epoch_12),
    Case("a Caffe loss prints 41.2783 at 20 displays in a row at lr 0.1", caffe_loss_identical_at_six_digits),
    Case("a Keras progress bar repeats 1.2345 for 28 epochs (coarse print: a warning)", keras_progress_bar_repeats_1_2345),
]

QUIET = [
    Case("a converged loss printed as 0.0000 at its last digit", converged_loss_printed_at_its_last_digit),
    Case("an epoch staircase: each epoch's mean repeated on its 25 step rows", epoch_average_repeated_on_every_step_row),
    Case("a Caffe loss pinned at 87.3365 (SAT001 names it)", caffe_saturated_at_87_3365_belongs_to_sat001),
    Case("a converged Keras loss printing 0.0123 for 12 epochs at 4 decimals", converged_keras_loss_repeats_0_0123_for_12_epochs),
]
