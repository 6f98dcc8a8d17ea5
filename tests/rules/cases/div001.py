"""DIV001 geometric-growth: the loss explodes by orders of magnitude and stays finite; near-misses recover or end in NaN."""

from __future__ import annotations

import numpy as np

from tests.rules.builders import Case, make_run, noisy_decay


def mmdetection_loss_reaches_5e26_without_nan():
    healthy = noisy_decay(200, 4.0, 1.4, seed=31)
    exploding = 1.4 * 3.0 ** np.arange(1, 56)  # x3 per logged point up to ~2e26
    loss = np.concatenate([healthy, exploding])
    return make_run(loss, steps=np.arange(loss.size) * 50, lr=np.full(loss.size, 0.02))


def small_loss_grows_slowly_but_steadily_thousandfold():
    rng = np.random.default_rng(32)
    healthy = noisy_decay(100, 0.05, 0.012, seed=32)
    growing = 0.012 * np.exp(np.cumsum(rng.normal(0.27, 0.1, 30)))
    return make_run(np.concatenate([healthy, growing]))


def per_epoch_loss_of_100_blows_up_and_stays_up():
    loss = np.concatenate([noisy_decay(20, 300.0, 100.0, seed=33), [180.0, 900.0, 6000.0, 4.1e4, 3.8e4, 4.0e4, 3.9e4]])
    return make_run(loss, step_unit="epoch")


def regression_loss_explodes_in_two_updates_and_stays_far_up():
    # an MSE near 1.2: x3e8 then x40 in two updates, then a slow fall that still ends ~1e5 times the start
    decay = 2e9 * np.exp(np.linspace(0, -9.5, 120)) * np.exp(np.random.default_rng(39).normal(0, 0.3, 120))
    return make_run(np.concatenate([[1.2, 3.6e8, 1.5e10], decay]))


FIRES = [
    Case("an mmdetection-style loss grows x3 per point to 2e26 and never turns NaN", mmdetection_loss_reaches_5e26_without_nan),
    Case("a regression loss near 0.01 grows about x1.3 per step to a thousand times its level", small_loss_grows_slowly_but_steadily_thousandfold),
    Case("a per-epoch loss near 100 blows up to 4e4 and stays there", per_epoch_loss_of_100_blows_up_and_stays_up),
    Case("an MSE of 1.2 reaches 1.5e10 in two updates and still ends ~1e5 times its start", regression_loss_explodes_in_two_updates_and_stays_far_up),
]


def recovered_spike():
    loss = noisy_decay(300, 2.3, 0.5, seed=34)
    loss[200:207] = loss[200:207] * np.array([4.0, 30.0, 200.0, 60.0, 8.0, 1.5, 1.1])
    return make_run(loss)


def one_low_outlier_then_normal_values():
    loss = noisy_decay(200, 0.8, 0.4, seed=35)
    loss[120] = 1e-5  # a near-empty batch
    return make_run(loss)


def growth_that_ends_in_nan():
    loss = list(noisy_decay(100, 2.3, 0.6, seed=36)) + [1.2, 5.0, 40.0, 900.0, np.nan]
    return make_run(loss)


def pinn_loss_starts_at_3e12_and_falls():
    t = np.arange(300)
    loss = 3e12 * np.exp(-0.3 * t) + 2.0 * np.exp(np.random.default_rng(37).normal(0, 0.2, 300))
    return make_run(loss)


def warmup_bump():
    loss = np.concatenate([[2.3, 2.8, 3.6, 4.4, 3.9, 3.0], noisy_decay(200, 2.5, 0.4, seed=38)])
    return make_run(loss)


def two_update_jump_that_recovers():
    # x1e4 in two updates (one poisoned batch), back to the old level three points later
    loss = noisy_decay(300, 2.3, 0.5, seed=40)
    loss[150:155] = loss[150:155] * np.array([90.0, 1.1e4, 40.0, 2.0, 1.05])
    return make_run(loss)


def two_update_rise_x500_that_stays_up():
    # two rises to x500, staying up: short of the x1e4 that makes two rises enough, and of three rises (DIV003 and SPK speak)
    return make_run(np.concatenate([noisy_decay(60, 2.3, 0.5, seed=41), [0.5 * 20, 0.5 * 500], 250.0 * np.exp(np.random.default_rng(42).normal(0, 0.05, 40))]))


QUIET = [
    Case("a x1e4 jump over two updates that is back at its level three points later", two_update_jump_that_recovers),
    Case("two rises to x500 that stay up (two rises are enough only for x1e4)", two_update_rise_x500_that_stays_up),
    Case("a spike x200 that recovers within 5 points", recovered_spike),
    Case("one near-empty batch logs 1e-5 among losses near 0.5", one_low_outlier_then_normal_values),
    Case("a growth that ends in NaN (NAN002 reports it)", growth_that_ends_in_nan),
    Case("a physics-informed loss starts at 3e12 and falls to 2", pinn_loss_starts_at_3e12_and_falls),
    Case("a warmup bump x1.9 in the first points", warmup_bump),
]
