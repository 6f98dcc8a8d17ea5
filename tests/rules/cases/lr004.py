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


FIRES = [
    Case("YOLOv3 with warmup_steps 12500: lr still rising 1e-6 per step when the loss goes nan at 750", yolov3_warmup_of_12500_steps_nan_at_750),
    Case("the lr rises through 80 % of a 50k-step run", lr_rises_through_80_percent_of_50k_steps),
    Case("a Keras schedule multiplies the lr by 1.08 every epoch and the loss climbs", keras_exponential_schedule_with_gamma_above_one),
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


QUIET = [
    Case("a 2000-step run still in its 4000-step linear warmup, the loss falling", short_run_in_its_warmup),
    Case("a 100-point warmup, then a constant lr", warmup_then_constant),
    Case("a learning-rate range test: lr 1e-7 -> 10 geometrically, the loss blowing up at the end", lr_range_test),
    Case("a triangular cyclic lr that ends during an upswing", cyclic_lr_ending_mid_upswing),
    Case("a warmup then a cosine decay", warmup_then_cosine),
]
