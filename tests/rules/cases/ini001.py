"""INI001 high-initial-loss: a classifier whose first loss is far above ln C."""

import math

import numpy as np

from tests.rules.builders import Case, make_run, noisy_decay


def _huge_init_recovering():
    # Weights ~ N(0, 3^2) on digits: 336 at the start, 6.5 after 600 steps; accuracy from 0.1.
    loss = 6.0 + 330.0 * np.exp(-np.linspace(0, 6, 60))
    accuracy = np.linspace(0.1, 0.6, 60)
    return make_run(loss, accuracy=accuracy)


def _huge_from_first_epoch_and_staying():
    # First epoch at lr 9 on a 10-class problem: 1e6 and never comes down; accuracy at chance.
    loss = 1e6 * np.exp(np.random.default_rng(2).normal(0, 0.3, 30))
    return make_run(loss, accuracy=np.full(30, 0.1), step_unit="epoch")


def _healthy_classifier():
    return make_run(noisy_decay(200, start=math.log(10), end=0.2), accuracy=np.linspace(0.1, 0.95, 200))


def _healthy_language_model():
    # ln 50257 = 10.8 at the start, token accuracy from ~0: C bounded at max_classes, 10.8 < 3 ln 1000.
    return make_run(noisy_decay(300, start=10.9, end=3.2), accuracy=np.linspace(0.0001, 0.4, 300))


def _regression_without_accuracy():
    # MSE on unscaled targets starts at 29000: not a classifier, no accuracy logged.
    return make_run(noisy_decay(100, start=29000, end=3000))


FIRES = [
    Case("weights with std 3: first loss 336 on 10 classes, recovering", _huge_init_recovering),
    Case("first epoch already at 1e6 with accuracy at chance", _huge_from_first_epoch_and_staying),
]

QUIET = [
    Case("a 10-class classifier starting at ln 10", _healthy_classifier),
    Case("a language model starting at ln 50257", _healthy_language_model),
    Case("a regression with huge MSE and no accuracy", _regression_without_accuracy),
]

