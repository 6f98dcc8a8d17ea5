"""DIV002 slow-divergence: the train loss climbs steadily after its minimum; near-misses are flat, noisy or decaying."""

from __future__ import annotations

import numpy as np

from tests.rules.builders import Case, make_run, noisy_decay


def keras_rmsprop_cifar10_per_epoch():
    loss = [1.6163, 1.3102, 1.1957, 1.1237, 1.1419, 1.1594, 1.1765, 1.2114, 1.2371]
    return make_run(loss, step_unit="epoch", framework="keras")


def step_level_loss_rises_a_third_over_the_last_40_percent():
    rng = np.random.default_rng(41)
    down = noisy_decay(600, 2.3, 0.8, seed=41)
    up = np.linspace(0.8, 1.1, 400) * np.exp(rng.normal(0, 0.03, 400))
    return make_run(np.concatenate([down, up]), steps=np.arange(1000) * 10)


def loss_of_100_drifts_back_up():
    rng = np.random.default_rng(42)
    down = noisy_decay(70, 300.0, 100.0, seed=42)
    up = np.linspace(100.0, 135.0, 30) * np.exp(rng.normal(0, 0.02, 30))
    return make_run(np.concatenate([down, up]))


def excerpt_ending_mid_climb():
    # six pasted points of a run that was stable near 3.1: the loss rises at each of the last five, to 5.9
    return make_run([3.1, 3.05, 3.3, 3.9, 4.6, 5.9], steps=np.arange(12000, 12060, 10))


FIRES = [
    Case("Keras RMSprop on CIFAR-10: 1.1237 at epoch 3, then up every epoch to 1.2371", keras_rmsprop_cifar10_per_epoch),
    Case("a loss falls to 0.8 and climbs back to 1.1 over the last 40 % of 10k steps", step_level_loss_rises_a_third_over_the_last_40_percent),
    Case("a loss near 100 drifts back up by a third", loss_of_100_drifts_back_up),
    Case("a six-point excerpt ending mid-climb: 3.05 -> 5.9 over its last five points", excerpt_ending_mid_climb),
]


def noisy_flat_after_convergence():
    rng = np.random.default_rng(43)
    loss = np.concatenate([noisy_decay(200, 2.3, 0.5, seed=43), 0.5 * np.exp(rng.normal(0, 0.08, 600))])
    return make_run(loss)


def converged_loss_near_zero_with_large_relative_noise():
    rng = np.random.default_rng(44)
    loss = np.concatenate([noisy_decay(100, 0.7, 0.002, seed=44), 0.002 * np.exp(rng.normal(0, 0.4, 300))])
    return make_run(loss)


def warmup_bump_then_decay():
    loss = np.concatenate([[2.3, 2.5, 2.9, 3.2, 2.8], noisy_decay(300, 2.6, 0.3, seed=45)])
    return make_run(loss)


def epoch_staircase():
    rng = np.random.default_rng(46)
    levels = np.repeat([1.2, 0.9, 0.7, 0.55], 100)
    return make_run(levels * np.exp(rng.normal(0, 0.04, levels.size)))


def step_decay_drop():
    rng = np.random.default_rng(47)
    loss = np.concatenate([noisy_decay(300, 2.3, 0.9, seed=47), 0.6 * np.exp(rng.normal(0, 0.03, 200))])
    return make_run(loss, lr=np.concatenate([np.full(300, 0.1), np.full(200, 0.01)]))


def small_uptick_at_the_end():
    loss = np.concatenate([noisy_decay(95, 2.3, 0.4, seed=48), [0.41, 0.42, 0.41, 0.42, 0.415]])
    return make_run(loss)


def jump_to_a_flat_plateau():
    loss = [1.1788, 1.0403, 0.9919, 0.9397, 0.8915, 0.8484, 0.8145, 0.7909, 0.7627, 0.7407, 13.3614, 26.6396, 26.6453, 26.6462, 26.6461]
    return make_run(loss, step_unit="epoch")


def noisy_loss_ending_with_four_rises_below_its_start():
    # a noisy small-batch loss whose last four points happen to rise x1.6, still below where the run began
    loss = noisy_decay(300, 2.3, 0.5, noise=0.25, seed=21)
    loss[-5:] = [0.35, 0.4, 0.45, 0.5, 0.56]
    return make_run(loss)


def excerpt_with_a_small_climb_at_the_end():
    # five pasted points rising 4.0 -> 4.5: a climb at every point, but by 12 %, not half the level
    return make_run([4.0, 4.1, 4.2, 4.35, 4.5], steps=np.arange(500, 550, 10))


QUIET = [
    Case("a noisy loss whose last four points rise x1.6 but stay far below the start", noisy_loss_ending_with_four_rises_below_its_start),
    Case("a five-point excerpt climbing 12 % at every point", excerpt_with_a_small_climb_at_the_end),
    Case("a noisy flat loss after convergence", noisy_flat_after_convergence),
    Case("a converged loss near 0.002 jumping by x1.5 between points", converged_loss_near_zero_with_large_relative_noise),
    Case("a warmup bump at the start, then a healthy decay", warmup_bump_then_decay),
    Case("an epoch staircase: flat within each epoch, a drop at each boundary", epoch_staircase),
    Case("an lr-decay step drops the loss to a new level", step_decay_drop),
    Case("a small uptick of 3 % in the last 5 of 100 points", small_uptick_at_the_end),
    Case("one jump x18 to a flat plateau after the minimum (a jump, DIV003, not a drift)", jump_to_a_flat_plateau),
]
