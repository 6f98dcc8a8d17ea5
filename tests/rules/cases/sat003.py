"""SAT003 uniform-prediction-plateau: losses stuck at ln C; near-misses that start there or pass by."""

from __future__ import annotations

import math

import numpy as np

from tests.rules.builders import Case, make_run, noisy_decay


def _jitter(points: int, level: float, scale: float, seed: int) -> np.ndarray:
    return level + np.random.default_rng(seed).normal(0, scale, points)


def cifar10_stuck_at_ln10_with_chance_accuracy():
    # threads/009: 2.3028-2.3030 with acc ~0.10 for 40 epochs, val_loss exactly 2.3026
    epochs = np.arange(42)
    loss = _jitter(42, 2.3029, 0.0001, seed=1)
    loss[:2] = [2.41, 2.31]
    accuracy = _jitter(42, 0.1, 0.003, seed=2)
    return make_run(loss, steps=epochs, accuracy=accuracy, val_loss=(epochs, np.full(42, 2.3026)), val_accuracy=(epochs, np.full(42, 0.1)), step_unit="epoch", framework="keras")


def imagenet_caffe_run_dead_after_a_spike():
    # realworld caffe 005: 7.39, a spike to 18.9, then 6.91 (ln 1000) for 4500 iterations, test accuracy 0.001
    steps = np.arange(0, 4620, 20)
    loss = _jitter(steps.size, 6.915, 0.002, seed=3)
    loss[:2] = [7.388, 18.89]
    return make_run(loss, steps=steps, val_accuracy=(np.array([0, 4000]), np.array([0.001, 0.001])), lr=np.full(steps.size, 0.01), framework="caffe")


def binary_classifier_at_ln2_with_accuracy_half():
    epochs = np.arange(91)
    loss = _jitter(91, 0.6932, 0.0001, seed=4)
    loss[0] = 0.6937
    return make_run(loss, steps=epochs, accuracy=_jitter(91, 0.5, 0.01, seed=5), val_loss=(epochs, _jitter(91, 0.6932, 0.00005, seed=6)), val_accuracy=(epochs, _jitter(91, 0.497, 0.01, seed=7)), step_unit="epoch")


def gpt2_loss_stuck_at_ln_vocab():
    steps = np.arange(0, 5000, 50)
    loss = _jitter(steps.size, math.log(50257), 0.01, seed=8)
    loss[0] = 10.96
    return make_run(loss, steps=steps, lr=np.full(steps.size, 6e-4), framework="hf")


def healthy_start_at_ln10_then_learning():
    steps = np.arange(0, 20000, 100)
    loss = noisy_decay(steps.size, 2.3026, 0.25, noise=0.03, seed=9)
    return make_run(loss, steps=steps)


def slow_start_at_chance_then_learning():
    # realworld caffe 008: the first ~700 iterations at chance, then it learns (reported as info at most)
    steps = np.arange(0, 30000, 100)
    loss = np.concatenate([_jitter(15, 2.3026, 0.004, seed=10), noisy_decay(steps.size - 15, 2.30, 0.05, noise=0.1, seed=11)])
    return make_run(loss, steps=steps, val_accuracy=(steps[::10], np.linspace(0.1, 0.88, steps[::10].size)), framework="caffe")


def soft_labels_at_ln2_with_high_accuracy():
    # snorkel-style probabilistic targets: the optimum is the label entropy ~0.69 while accuracy is 0.93
    epochs = np.arange(40)
    loss = np.concatenate([noisy_decay(10, 0.95, 0.70, noise=0.01, seed=12), _jitter(30, 0.6925, 0.0008, seed=13)])
    return make_run(loss, steps=epochs, accuracy=np.linspace(0.7, 0.93, 40), step_unit="epoch")


def regression_loss_settles_at_ln3_by_coincidence():
    epochs = np.arange(80)
    loss = noisy_decay(80, 9.0, 1.0986, noise=0.002, seed=14)  # came down from 9: converged, not stuck
    return make_run(loss, steps=epochs, step_unit="epoch")


def imagenet_paste_at_iteration_78000():
    # threads/005 (BVLC/caffe#59): three displays at 6.9063-6.9073 = ln 1000 from iteration 78000, test accuracy 0.001
    steps = np.array([78000, 78020, 78040])
    return make_run([6.9063, 6.90727, 6.9073], steps=steps, val_accuracy=(np.array([78000]), np.array([0.001])), val_loss=(np.array([78000]), np.array([6.90977])), lr=np.full(3, 0.01), framework="caffe")


def the_same_three_displays_at_the_start():
    # a well-initialised ImageNet net: ln 1000 and accuracy 0.001 at iterations 0-40 is what a good init gives
    steps = np.array([0, 20, 40])
    return make_run([6.9063, 6.90727, 6.9073], steps=steps, val_accuracy=(np.array([0]), np.array([0.001])), lr=np.full(3, 0.01), framework="caffe")


def late_paste_at_ln1000_without_accuracy():
    # a resumed run's paste at iteration 78000 near ln 1000, nothing to say the net predicts chance
    steps = np.array([78000, 78020, 78040])
    return make_run([6.9063, 6.90727, 6.9073], steps=steps, lr=np.full(3, 0.01), framework="caffe")


def late_paste_that_leaves_ln10():
    # a late paste whose first two displays are at ln 10 with chance accuracy, then it is learning
    steps = np.array([9000, 9100, 9200, 9300])
    return make_run([2.3031, 2.3012, 2.21, 2.05], steps=steps, val_accuracy=(np.array([9000]), np.array([0.1])), framework="caffe")


FIRES = [
    Case("a Keras CIFAR-10 run stuck at 2.3029 with accuracy 0.10 for 40 epochs, val_loss 2.3026", cifar10_stuck_at_ln10_with_chance_accuracy),
    Case("an ImageNet Caffe run spikes to 18.9, then sits at 6.915 = ln 1000 with test accuracy 0.001", imagenet_caffe_run_dead_after_a_spike),
    Case("a binary classifier at 0.6932 with accuracy 0.50 for 90 epochs", binary_classifier_at_ln2_with_accuracy_half),
    Case("a GPT-2 pretraining loss stays at 10.82 = ln 50257 for 5000 steps", gpt2_loss_stuck_at_ln_vocab),
    Case("a 3-line ImageNet paste from iteration 78000 at 6.906-6.907 = ln 1000 with test accuracy 0.001", imagenet_paste_at_iteration_78000),
]

QUIET = [
    Case("a healthy run starts at 2.3026 = ln 10 (a good init) and decreases to 0.25", healthy_start_at_ln10_then_learning),
    Case("a Caffe run sits at chance for 1500 iterations, then learns to 0.05 (info at most)", slow_start_at_chance_then_learning),
    Case("soft labels: the loss settles at 0.6925 while accuracy climbs to 0.93", soft_labels_at_ln2_with_high_accuracy),
    Case("a regression loss comes down from 9.0 and settles at 1.0986 = ln 3 by coincidence", regression_loss_settles_at_ln3_by_coincidence),
    Case("the same three displays at ln 1000 with accuracy 0.001, but at iterations 0-40 (a good init)", the_same_three_displays_at_the_start),
    Case("three displays near ln 1000 from iteration 78000 with no accuracy to say chance", late_paste_at_ln1000_without_accuracy),
    Case("a late paste at ln 10 with chance accuracy for two displays that then goes down to 2.05", late_paste_that_leaves_ln10),
]
