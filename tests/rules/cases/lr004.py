"""LR004 lr-still-rising: the warmup never ends; near-misses are a short run mid-warmup, a plateau after it, an lr finder."""

from __future__ import annotations

import numpy as np

from tests.rules.builders import Case, make_run, noisy_decay


def yolov3_warmup_of_12500_steps_nan_at_750():
    steps = np.arange(0, 760, 2)
    lr = steps / 12500 * 1e-2 + 1e-6
    loss = noisy_decay(steps.size, 40.0, 8.5, seed=91)
    loss[steps >= 750] = np.nan
    return make_run(loss, steps=steps, lr=lr)


def lr_rises_through_80_percent_of_50k_steps():
    steps = np.arange(500) * 100
    lr = np.minimum(1.0, np.maximum(0.0, (steps - 10000) / 50000)) * 3e-4 + 1e-5
    return make_run(noisy_decay(500, 2.3, 0.6, seed=92), steps=steps, lr=lr)


def keras_exponential_schedule_with_gamma_above_one():
    lr = 1e-3 * 1.08 ** np.arange(30)
    loss = np.concatenate([noisy_decay(18, 1.8, 0.9, seed=93), np.linspace(0.92, 1.6, 12)])
    return make_run(loss, step_unit="epoch", lr=lr, framework="keras")


def excerpt_of_a_linear_warmup_from_zero_nan_inside_it():
    # only 6 logged points, from step 3200: the lr is 3e-4 x step / 8000 (as printed to 8 decimals), the loss goes inf
    steps = np.arange(3200, 3224, 4)
    lr = np.round(3e-4 * steps / 8000, 8)
    loss = np.array([3.12, 3.09, 3.15, 3.08, np.inf, np.nan])
    return make_run(loss, steps=steps, lr=lr)


FIRES = [
    Case("YOLOv3 with warmup_steps 12500: lr still rising 1e-6 per step when the loss goes nan at 750", yolov3_warmup_of_12500_steps_nan_at_750),
    Case("the lr rises through 80 % of a 50k-step run", lr_rises_through_80_percent_of_50k_steps),
    Case("a Keras schedule multiplies the lr by 1.08 every epoch and the loss climbs", keras_exponential_schedule_with_gamma_above_one),
    Case("a 6-point excerpt of a linear warmup from 0 (lr 1.2e-4, +0.1 % a point) in which the loss goes inf", excerpt_of_a_linear_warmup_from_zero_nan_inside_it),
]


def short_run_in_its_warmup():
    steps = np.arange(200) * 10
    return make_run(noisy_decay(200, 2.3, 1.2, seed=94), steps=steps, lr=steps / 4000 * 1e-3)


def warmup_then_constant():
    lr = np.minimum(1.0, np.arange(1000) / 100) * 1e-3
    return make_run(noisy_decay(1000, 2.3, 0.4, seed=95), steps=np.arange(1000) * 100, lr=lr)


def lr_range_test():
    lr = 1e-7 * (1e8 ** (np.arange(100) / 99))
    loss = np.concatenate([noisy_decay(80, 2.3, 1.2, seed=96), 1.2 * 1.4 ** np.arange(1, 21)])
    return make_run(loss, lr=lr)


def cyclic_lr_ending_mid_upswing():
    t = np.arange(600)
    lr = 1e-4 + 9e-4 * np.abs(((t / 100) % 2) - 1)
    return make_run(noisy_decay(600, 2.3, 0.5, seed=97), steps=t * 10, lr=lr[::-1])


def warmup_then_cosine():
    t = np.arange(1000)
    lr = np.where(t < 100, t / 100, 0.5 * (1 + np.cos(np.pi * (t - 100) / 900))) * 1e-3
    return make_run(noisy_decay(1000, 2.3, 0.3, seed=98), steps=t * 50, lr=lr)


def excerpt_of_a_linear_warmup_loss_falling():
    # the same kind of excerpt, 40 points of a warmup from zero, while the loss keeps falling
    steps = np.arange(3200, 3280, 2)
    return make_run(noisy_decay(steps.size, 3.1, 2.9, noise=0.01, seed=99), steps=steps, lr=3e-4 * steps / 8000)


def excerpt_of_a_slow_rise_from_a_high_base_with_a_nan():
    # lr = 2e-3 + 1e-7 x step: followed back, the line is still at 2e-3 at step 0, a 1.05x rise, not a warmup
    steps = np.arange(1000, 1010)
    lr = 2e-3 + 1e-7 * steps
    loss = np.array([1.1, 1.05, 1.08, 1.02, 1.04, 1.01, np.nan, np.nan, np.nan, np.nan])
    return make_run(loss, steps=steps, lr=lr)


QUIET = [
    Case("a 40-point excerpt of a linear warmup from 0 while the loss keeps falling", excerpt_of_a_linear_warmup_loss_falling),
    Case("an excerpt of an lr rising 5 % over a high base (2e-3 at step 0) when the loss goes nan", excerpt_of_a_slow_rise_from_a_high_base_with_a_nan),
    Case("a 2000-step run still in its 4000-step linear warmup, the loss falling", short_run_in_its_warmup),
    Case("a 100-point warmup, then a constant lr", warmup_then_constant),
    Case("a learning-rate range test: lr 1e-7 -> 10 geometrically, the loss blowing up at the end", lr_range_test),
    Case("a triangular cyclic lr that ends during an upswing", cyclic_lr_ending_mid_upswing),
    Case("a warmup then a cosine decay", warmup_then_cosine),
]
