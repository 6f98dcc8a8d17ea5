"""IMP003 loss-below-accuracy-bound: a loss lower than a cross-entropy can be at its accuracy; near-misses that are allowed."""

from __future__ import annotations

import numpy as np

from tests.rules.builders import make_run, Case


def mae_on_softmax_outputs():
    # DeepFD's seeded `loss -> mean_absolute_error` on MNIST: MAE 0.227 -> 0.128 while accuracy crawls 0.10 -> 0.58
    epochs = np.arange(100)
    loss = 0.128 + 0.099 * np.exp(-epochs / 30)
    accuracy = 0.58 - 0.48 * np.exp(-epochs / 25)
    return make_run(loss, steps=epochs, accuracy=accuracy, val_loss=(epochs, loss * 1.002), val_accuracy=(epochs, accuracy + 0.005), step_unit="epoch", framework="keras")


def validation_pair_only_in_percent():
    # a Caffe-style test net: MSE on sigmoid outputs logged as loss, accuracy in percent; no train accuracy
    steps = np.arange(0, 20000, 100)
    test_steps = np.arange(0, 20000, 1000)
    val_loss = 0.24 - 0.06 * (1 - np.exp(-test_steps / 6000))
    return make_run(0.24 - 0.06 * (1 - np.exp(-steps / 6000)), steps=steps, val_loss=(test_steps, val_loss), val_accuracy=(test_steps, np.linspace(50.0, 58.0, test_steps.size)), framework="caffe")


def healthy_cross_entropy():
    # 10 classes: CE 2.3 -> 0.08 while accuracy 0.10 -> 0.98, always above 2 exp(-L) - 1
    epochs = np.arange(40)
    loss = 0.08 + 2.22 * np.exp(-epochs / 5)
    accuracy = 0.98 - 0.88 * np.exp(-epochs / 4)
    return make_run(loss, steps=epochs, accuracy=accuracy, step_unit="epoch", framework="keras")


def hinge_loss_classifier():
    # a squared-hinge SVM head: its error rate is at most the loss, so the bound never binds
    epochs = np.arange(30)
    loss = 0.06 + 0.9 * np.exp(-epochs / 6)
    return make_run(loss, steps=epochs, accuracy=1.0 - 0.9 * loss, step_unit="epoch")


def one_broken_test_point():
    # Caffe's fp16 AlexNet: one test at iteration 0 prints loss 0.0345 with accuracy 0 (realworld caffe 013)
    steps = np.arange(0, 26000, 1000)
    val_loss = 6.9 * np.exp(-steps / 8000) + 1.6
    val_loss[0] = 0.0345
    accuracy = 0.55 * (1 - np.exp(-steps / 6000))
    return make_run(np.linspace(6.9, 1.7, steps.size), steps=steps, val_loss=(steps, val_loss), val_accuracy=(steps, accuracy), framework="caffe")


def label_smoothing_raises_the_loss():
    # CE with label smoothing 0.1 cannot go below ~0.5 at 10 classes: a high loss at a high accuracy is fine
    epochs = np.arange(50)
    return make_run(0.55 + 1.75 * np.exp(-epochs / 6), steps=epochs, accuracy=0.99 - 0.89 * np.exp(-epochs / 5), step_unit="epoch")


FIRES = [
    Case("MAE on softmax outputs: loss 0.13 at accuracy 0.58, where a cross-entropy needs 0.76", mae_on_softmax_outputs),
    Case("a validation pair only, accuracy in percent: loss 0.18-0.24 at 50-58 %", validation_pair_only_in_percent),
]

QUIET = [
    Case("a healthy cross-entropy run: 2.3 -> 0.08 at accuracy 0.10 -> 0.98", healthy_cross_entropy),
    Case("a hinge-loss classifier: error at most the loss", hinge_loss_classifier),
    Case("one broken test point among 26 (loss 0.0345 at accuracy 0)", one_broken_test_point),
    Case("label smoothing keeps the loss above 0.5 at accuracy 0.99", label_smoothing_raises_the_loss),
]
