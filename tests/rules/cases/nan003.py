"""NAN003 nan-from-start: non-finite from the first points; near-misses go non-finite later or after growth."""

from __future__ import annotations

import numpy as np

from tests.rules.builders import Case, make_run, noisy_decay


def caffe_nan_from_iteration_0_with_lr_0():
    return make_run([np.nan] * 25, steps=np.arange(25) * 20, lr=[0.0] * 25, framework="caffe")


def keras_nan_every_epoch():
    return make_run([np.nan] * 20, step_unit="epoch", framework="keras")


def finite_at_iteration_0_then_nan_from_iteration_20():
    return make_run([2.30259] + [np.nan] * 30, steps=np.arange(31) * 20, lr=[0.01] * 31)


def inf_from_the_start_in_a_huge_regression_loss():
    return make_run([np.inf, np.inf, np.nan, np.nan, np.nan, np.nan], steps=[0, 10, 20, 30, 40, 50])


def keras_nan_every_epoch_while_the_mae_blew_up_in_the_first():
    # a regression CNN: loss nan every epoch; its MAE metric 4e21 in epoch 0, then a dead 1.7 for good
    mae = np.concatenate([[4.1e21], 1.7 * np.exp(np.random.default_rng(7).normal(0, 1e-7, 39))])
    return make_run([np.nan] * 40, step_unit="epoch", framework="keras", other=mae)


def keras_nan_every_epoch_with_a_sane_mae():
    # the near-miss: the same NaN loss beside an MAE that is finite and ordinary from the first epoch (3.2, then ~2.9)
    mae = np.concatenate([[3.2], 2.9 * np.exp(np.random.default_rng(8).normal(0, 0.01, 39))])
    return make_run([np.nan] * 40, step_unit="epoch", framework="keras", other=mae)


def keras_nan_every_epoch_with_accuracy_frozen_from_the_first():
    # -inf features: loss nan every epoch, and the accuracy 0.0987 in epoch 0 and in every epoch after
    return make_run([np.nan] * 6, step_unit="epoch", framework="keras", accuracy=[0.0987] * 6)


def keras_nan_every_epoch_with_only_the_val_accuracy_frozen():
    # the near-miss: val accuracy 0.0 at every epoch (measured after each epoch), while the train accuracy
    # averaged 0.094 over epoch 0 and is 0.0 after: part of the first epoch still worked
    return make_run([np.nan] * 6, step_unit="epoch", framework="keras", accuracy=[0.094] + [0.0] * 5, val_accuracy=[0.0] * 6)


FIRES = [
    Case("a Caffe log with loss = nan from iteration 0 even with lr = 0", caffe_nan_from_iteration_0_with_lr_0),
    Case("a Keras run with loss: nan from epoch 1 on", keras_nan_every_epoch),
    Case("loss 2.30 (ln 10) at iteration 0, then nan from iteration 20", finite_at_iteration_0_then_nan_from_iteration_20),
    Case("a regression loss that is inf, then nan, from the first step", inf_from_the_start_in_a_huge_regression_loss),
    Case("a Keras loss nan every epoch, its MAE 4e21 in epoch 0 and 1.7 after (a blow-up inside epoch 0)", keras_nan_every_epoch_while_the_mae_blew_up_in_the_first),
    Case("a Keras loss nan every epoch beside a sane MAE (3.2, then 2.9)", keras_nan_every_epoch_with_a_sane_mae),
    Case("a Keras loss nan every epoch, the accuracy 0.0987 from epoch 0 on", keras_nan_every_epoch_with_accuracy_frozen_from_the_first),
    Case("a Keras loss nan every epoch, val accuracy 0 throughout, train accuracy 0.094 then 0", keras_nan_every_epoch_with_only_the_val_accuracy_frozen),
]


def initial_loss_ln_c_then_nan_a_thousand_steps_later():
    return make_run([2.3026, np.nan, np.nan, np.nan], steps=[0, 1000, 2000, 3000])


def nan_after_four_hundred_healthy_steps():
    loss = noisy_decay(500, 2.3, 0.4, seed=21)
    loss[400:] = np.nan
    return make_run(loss)


def explosion_in_the_first_points():
    return make_run([2.3, 2400.0, np.nan, np.nan, np.nan])


def healthy_start_at_ln_c():
    return make_run(noisy_decay(200, 2.3026, 0.3, seed=22))


def log_excerpt_from_step_748_nan_at_its_third_point():
    return make_run([8.31, 9.07, np.nan, np.nan, np.nan], steps=[748, 749, 750, 751, 752], lr=[0.000598, 0.000599, 0.0006, 0.000601, 0.000602])


QUIET = [
    Case("loss 2.30 at step 0 and nan at the next point, 1000 steps later (growth could hide there)", initial_loss_ln_c_then_nan_a_thousand_steps_later),
    Case("the loss goes nan after 400 healthy steps", nan_after_four_hundred_healthy_steps),
    Case("the loss explodes x1000 at the second point and then goes nan (growth, NAN002)", explosion_in_the_first_points),
    Case("a healthy run that starts at ln 10 = 2.3026", healthy_start_at_ln_c),
    Case("a log excerpt that starts at step 748 goes nan at its third point (not the start of training)", log_excerpt_from_step_748_nan_at_its_third_point),
]
