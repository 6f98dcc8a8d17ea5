"""OVF002 generalization-gap: train fitted far better than validation; near-misses are small gaps, a closing gap, an unfitted train set."""

import numpy as np

from tests.rules.builders import Case, make_run, noisy_decay


def _jitter(level: float, points: int, noise: float, seed: int) -> np.ndarray:
    return level * np.exp(np.random.default_rng(seed).normal(0, noise, points))


def _excerpt(epochs, train_loss, val_loss, accuracy, val_accuracy):
    return make_run(list(train_loss), steps=epochs, step_unit="epoch", framework="keras", val_loss=(epochs, list(val_loss)), accuracy=(epochs, list(accuracy)), val_accuracy=(epochs, list(val_accuracy)))


def _excerpt_of_a_memorising_cnn():
    # epochs 40-51 of a longer run: train loss ~0.15 (acc ~0.96), val loss ~2.5 (acc ~0.6), no minimum in sight
    epochs = np.arange(40, 52)
    return _excerpt(epochs, _jitter(0.15, 12, 0.3, 1), _jitter(2.5, 12, 0.12, 2), np.clip(_jitter(0.96, 12, 0.01, 3), 0, 1), _jitter(0.6, 12, 0.05, 4))


def _small_data_gap_from_the_first_evaluation():
    # 60 epochs on a few hundred samples: train acc climbs to 0.99 while val acc stays near 0.7 and val loss ~1.4 from the start
    epochs = np.arange(60)
    train_loss = noisy_decay(60, 1.2, 0.03, seed=5)
    accuracy = 1.0 - 0.5 * np.exp(-epochs / 8.0)
    return _excerpt(epochs, train_loss, _jitter(1.4, 60, 0.05, 6), accuracy, _jitter(0.7, 60, 0.02, 7))


FIRES = [
    Case("an excerpt, epochs 40-51: train acc 0.96 / loss 0.15 while val acc 0.6 / loss 2.5", _excerpt_of_a_memorising_cnn),
    Case("small data: train acc climbs to 0.99 while val acc stays near 0.7 and val loss near 1.4", _small_data_gap_from_the_first_evaluation),
]


def _converged_with_a_near_zero_train_loss():
    # train loss 0.002 (acc 1.0) and val loss 0.06 (acc 0.98): a 30x loss ratio, but no accuracy gap
    epochs = np.arange(30)
    return _excerpt(epochs, noisy_decay(30, 0.5, 0.002, seed=8), _jitter(0.06, 30, 0.1, 9), np.full(30, 1.0), _jitter(0.98, 30, 0.005, 10))


def _gap_still_closing():
    # the train set is ahead (acc 0.95 vs 0.7, loss 0.1 vs 0.5), but the validation loss is still falling at every evaluation
    epochs = np.arange(20)
    val_loss = 3.0 * np.exp(-epochs / 6.0) + 0.4
    return _excerpt(epochs, noisy_decay(20, 2.0, 0.1, seed=11), val_loss, np.full(20, 0.95), np.full(20, 0.7))


def _hard_task_train_set_not_fitted():
    # a hard task: train acc 0.86, val acc 0.72 (a 0.14 gap), val loss 2.2x train, flat
    epochs = np.arange(40)
    return _excerpt(epochs, _jitter(0.5, 40, 0.05, 12), _jitter(1.1, 40, 0.05, 13), _jitter(0.86, 40, 0.01, 14), _jitter(0.72, 40, 0.02, 15))


def _stalled_with_val_accuracy_zero():
    # a stall: train acc stuck at 0.67, val acc 0 and val loss 2.8x the train loss, none of it moving
    epochs = np.arange(4)
    return _excerpt(epochs, np.full(4, 0.343), np.array([0.96921, 0.96922, 0.96923, 0.96924]), np.full(4, 0.6667), np.zeros(4))


QUIET = [
    Case("converged: train loss 0.002 (acc 1.0), val loss 0.06 (acc 0.98): a loss ratio without an accuracy gap", _converged_with_a_near_zero_train_loss),
    Case("train acc 0.95 vs val 0.7, but the val loss still falls at every evaluation", _gap_still_closing),
    Case("a hard task: train acc 0.86 vs val 0.72, a gap short of 0.2", _hard_task_train_set_not_fitted),
    Case("a stall: train acc stuck at 0.67, val acc 0, nothing moves", _stalled_with_val_accuracy_zero),
]
