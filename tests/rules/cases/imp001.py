"""IMP001 zero-loss: a train loss of exactly 0 early or beside a large validation loss; near-misses at convergence."""

from __future__ import annotations

import numpy as np

from tests.rules.builders import Case, make_run, noisy_decay


def single_class_dataset_from_the_first_epoch():
    # a softmax over one class always outputs 1: loss 0.0000e+00 and accuracy 1.0 from epoch 1
    epochs = np.arange(30)
    loss = np.zeros(30)
    loss[0] = 0.0213
    return make_run(loss, steps=epochs, accuracy=np.ones(30), step_unit="epoch", framework="keras")


def caffe_train_zero_while_test_loss_explodes():
    # threads/007: train loss 3.57628e-08, 1.30465, 0 while the test loss goes 1.79 -> 37.5 / 27.4 / 38.0
    steps = np.array([1000, 2000, 3000])
    return make_run([3.57628e-08, 1.30465, 0.0], steps=steps, val_loss=(np.array([0, 1000, 2000, 3000]), np.array([1.79222, 37.4691, 27.376, 38.0356])), val_accuracy=(np.array([0, 1000, 2000, 3000]), np.array([0.13, 0.106667, 0.079, 0.126333])), framework="caffe")


def large_scale_loss_zero_after_ten_steps():
    # a detection total that is exactly 0 from step 20 of a 10k-step run: everything is masked out
    steps = np.arange(0, 10000, 10)
    loss = np.zeros(steps.size)
    loss[:2] = [412.0, 35.5]
    return make_run(loss, steps=steps, lr=np.full(steps.size, 1e-3))


def long_healthy_decrease_printed_as_zero_at_the_end():
    epochs = np.arange(200)
    loss = noisy_decay(200, 0.77, 1e-6, noise=0.05, seed=1)
    loss = np.round(loss, 4)  # Keras prints 0.0000e+00 once the loss is below 5e-5
    val = noisy_decay(200, 0.42, 0.12, noise=0.02, seed=2)
    return make_run(loss, steps=epochs, val_loss=(epochs, val), step_unit="epoch", framework="keras")


def hf_trainer_hides_nan_as_zero():
    # threads/019: every logging step shows 'loss': 0.0 with 'grad_norm': nan (NAN rules own it)
    steps = np.arange(10, 410, 10)
    return make_run(np.zeros(steps.size), steps=steps, grad_norm=np.full(steps.size, np.nan), lr=np.full(steps.size, 5e-5), framework="hf")


def overfit_train_zero_with_a_sane_validation_loss():
    epochs = np.arange(100)
    loss = np.round(noisy_decay(100, 2.3, 1e-7, noise=0.05, seed=3), 4)
    val = np.concatenate([noisy_decay(40, 2.1, 0.6, noise=0.02, seed=4), np.linspace(0.6, 1.4, 60)])  # rises, but below its start
    return make_run(loss, steps=epochs, val_loss=(epochs, val), step_unit="epoch")


FIRES = [
    Case("a single-class Keras dataset: loss 0.0000e+00 with accuracy 1.0 from epoch 1", single_class_dataset_from_the_first_epoch),
    Case("Caffe train loss 3.6e-08 and 0 while the test loss is 20x its start at chance accuracy", caffe_train_zero_while_test_loss_explodes),
    Case("a detection loss of 412 is exactly 0 from step 20 of 10000", large_scale_loss_zero_after_ten_steps),
]

QUIET = [
    Case("a 200-epoch healthy decrease whose loss prints as 0.0000 in its last epochs", long_healthy_decrease_printed_as_zero_at_the_end),
    Case("the HF Trainer logs 'loss': 0.0 beside grad_norm nan (hidden NaN, not a zero loss)", hf_trainer_hides_nan_as_zero),
    Case("an overfitting run: train loss reaches 0 late while the validation loss stays below its start", overfit_train_zero_with_a_sane_validation_loss),
]
