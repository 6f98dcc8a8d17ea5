"""SAT002 keras-clip-saturation: losses at K x (1 - accuracy); near-misses where the ratio only passes by."""

from __future__ import annotations

import numpy as np

from tests.rules.builders import Case, make_run, noisy_decay


def _epochs(count: int) -> np.ndarray:
    return np.arange(count)


def ten_classes_collapse_to_one_prediction():
    # keras-team/keras#3425 / the S02 readout: a healthy start, then `loss: 14.5063 - acc: 0.1000`
    loss = noisy_decay(20, 2.2, 1.1, noise=0.02, seed=1)
    accuracy = np.linspace(0.2, 0.6, 20)
    loss[8:] = 14.5063 + np.random.default_rng(2).normal(0, 0.0003, 12)
    accuracy[8:] = 0.1
    return make_run(loss, steps=_epochs(20), accuracy=accuracy, step_unit="epoch", framework="keras")


def balanced_binary_pinned_at_8_059():
    loss = np.full(30, 8.0590)
    loss[:3] = [0.69, 0.71, 3.2]
    accuracy = np.full(30, 0.5)
    accuracy[:3] = [0.52, 0.55, 0.51]
    return make_run(loss, steps=_epochs(30), accuracy=accuracy, val_loss=(_epochs(30), loss * 1.0002), val_accuracy=(_epochs(30), accuracy), step_unit="epoch", framework="keras")


def one_epoch_softmax_on_a_single_unit():
    # the DeepDiagnosis motivating example: train and validation both 7.6666 = 15.3332 x (1 - 0.5)
    return make_run([7.666619300842285], steps=[0], accuracy=[0.5], val_loss=([0], [7.666619300842285]), val_accuracy=([0], [0.5]), step_unit="epoch")


def flat_at_clip_level_without_accuracy():
    loss = noisy_decay(12, 0.9, 0.5, noise=0.02, seed=3)
    loss[5:] = 16.1181 * (1 - 1 / 10) * (1 + np.random.default_rng(4).normal(0, 0.0002, 7))
    return make_run(loss, steps=_epochs(12), step_unit="epoch", framework="keras")


def sigmoid_net_whose_ratio_drifts_through_16():
    # a slowly learning sigmoid MNIST net: L / (1 - acc) climbs 2.6 -> 16 as accuracy rises (healthy, deepfd-cov)
    epochs = _epochs(100)
    accuracy = 0.10 + 0.796 * (1 - np.exp(-epochs / 30.0))
    loss = 2.3669 - 0.70 * (1 - np.exp(-epochs / 40.0))
    return make_run(loss, steps=epochs, accuracy=accuracy, val_loss=(epochs, loss * 1.004), val_accuracy=(epochs, accuracy - 0.01), step_unit="epoch", framework="keras")


def converged_classifier_at_accuracy_0_999():
    epochs = _epochs(60)
    loss = noisy_decay(60, 2.3, 0.0161, noise=0.01, seed=5)
    accuracy = np.clip(1 - loss / 16.1181, 0, 1)  # ratio exactly 16.1181, but an error rate of 0.1 %
    return make_run(loss, steps=epochs, accuracy=accuracy, step_unit="epoch", framework="keras")


def healthy_keras_cifar_run():
    epochs = _epochs(50)
    loss = noisy_decay(50, 2.3026, 0.45, noise=0.01, seed=6)
    accuracy = np.clip(0.1 + 0.8 * (1 - loss / 2.3026), 0, 1)
    return make_run(loss, steps=epochs, accuracy=accuracy, val_loss=(epochs, loss * 1.1), val_accuracy=(epochs, accuracy - 0.03), step_unit="epoch", framework="keras")


def regression_loss_flat_at_30():
    # a regression MSE that plateaus, no accuracy: 30 is no clip level
    epochs = _epochs(40)
    loss = noisy_decay(40, 900.0, 30.0, noise=0.001, seed=7)
    return make_run(loss, steps=epochs, step_unit="epoch")


def smoothed_detector_loss_descends_through_7_7082():
    # realworld stdout 047 (DSFD, healthy): a running-average loss falling from 26 to 4.9 passes
    # 7.7082 = 15.4249 x (1 - 1/2) so slowly that 7 displays agree to 0.2 %; it came from above
    steps = np.arange(0, 46180, 10)
    loss = noisy_decay(steps.size, 26.4, 4.9, noise=0.0, seed=8) * (1 - 0.03 * steps / steps[-1])
    return make_run(loss, steps=steps, framework="pytorch")


FIRES = [
    Case("a 10-class Keras run collapses from 1.1 to loss 14.5063 with accuracy 0.1000 for 12 epochs", ten_classes_collapse_to_one_prediction),
    Case("a balanced binary classifier pinned at 8.0590 with accuracy 0.5000 (train and validation)", balanced_binary_pinned_at_8_059),
    Case("a one-epoch log where train and validation are both 7.6666 at accuracy 0.5 (15.3332 cap)", one_epoch_softmax_on_a_single_unit),
    Case("no accuracy logged: the loss jumps to 14.506 = 16.1181 x (1 - 1/10) and stays flat", flat_at_clip_level_without_accuracy),
]

QUIET = [
    Case("a slowly learning sigmoid net whose loss / error rate drifts up through 15.9 at accuracy 0.89", sigmoid_net_whose_ratio_drifts_through_16),
    Case("a converged classifier at accuracy 0.999 whose loss is 16 x its 0.1 % error rate", converged_classifier_at_accuracy_0_999),
    Case("a healthy Keras CIFAR-10 run from 2.3026 at accuracy 0.1 down to 0.45 at 0.9", healthy_keras_cifar_run),
    Case("a regression MSE of 900 flattening at 30 with no accuracy logged", regression_loss_flat_at_30),
    Case("no accuracy logged: a smoothed loss descending from 26 passes 7.7082 (15.4249 / 2) flat to 0.2 %", smoothed_detector_loss_descends_through_7_7082),
]
