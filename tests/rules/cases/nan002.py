"""NAN002 nan-after-growth: the loss grows fast and then goes non-finite; near-misses have no real growth."""

from __future__ import annotations

import numpy as np

from tests.rules.builders import Case, make_run, noisy_decay


def fairseq_style_explosion_logged_every_1000_updates():
    steps = np.arange(1, 9) * 1000
    loss = [9.57, 8.61, 7.50, 6.87, 10405.01, 4.77e9, 7.75e12, np.nan]
    grad_norm = [2.05, 1.71, 2.75, 100615.9, 1.5e12, 3.7e13, np.inf, np.inf]
    return make_run(loss, steps=steps, lr=[1.25] * 8, grad_norm=grad_norm)


def small_regression_loss_grows_then_inf():
    loss = list(noisy_decay(150, 0.05, 0.01, seed=11))
    loss += [0.018, 0.032, 0.058, 0.11, 0.2, 0.37, np.inf, np.nan]
    return make_run(loss, lr=[0.3] * len(loss))


def loss_of_100_grows_hundredfold_then_nan():
    loss = list(noisy_decay(80, 300.0, 100.0, seed=12))
    loss += [130.0, 210.0, 480.0, 1900.0, 12000.0, np.nan]
    return make_run(loss, steps=np.arange(len(loss)) * 20)


FIRES = [
    Case("a fairseq-style loss 6.87 -> 1e4 -> 5e9 -> 8e12 -> nan at lr 1.25, gradient norm first", fairseq_style_explosion_logged_every_1000_updates),
    Case("a regression loss near 0.01 grows about x1.8 per step for 6 steps, then inf", small_regression_loss_grows_then_inf),
    Case("a loss near 100 grows a hundredfold over 5 points, then nan", loss_of_100_grows_hundredfold_then_nan),
]


def steady_then_nan():
    loss = noisy_decay(300, 2.3, 0.9, seed=13)
    loss[250:] = np.nan
    return make_run(loss)


def converged_loss_with_large_relative_jitter_then_nan():
    rng = np.random.default_rng(14)
    decay = noisy_decay(100, 2.3, 0.01, seed=14)
    flat = 0.001 * np.exp(rng.normal(0, 0.5, 200))
    loss = np.concatenate([decay, flat, [np.nan] * 5])
    return make_run(loss)


def early_warmup_bump_long_before_a_nan():
    loss = np.concatenate([[2.3, 2.6, 3.4, 4.1, 3.2, 2.5], noisy_decay(300, 2.2, 0.5, seed=15), [np.nan]])
    return make_run(loss)


def growth_without_any_nan():
    return make_run(list(noisy_decay(50, 2.3, 1.0, seed=16)) + [1.5, 2.4, 4.0, 7.1, 12.0])


QUIET = [
    Case("a steady loss near 0.9 goes nan with no growth (a sudden NaN, NAN001)", steady_then_nan),
    Case("a converged loss near 0.001 jitters by x1.6 between points, then goes nan", converged_loss_with_large_relative_jitter_then_nan),
    Case("a warmup bump x1.8 at the start, long before a nan", early_warmup_bump_long_before_a_nan),
    Case("the loss grows but never goes non-finite (that is DIV001's)", growth_without_any_nan),
]
