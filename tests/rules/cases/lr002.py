"""LR002 post-warmup-instability: the first NaN or spike comes as the lr peaks; near-misses are elsewhere in time."""

from __future__ import annotations

import numpy as np

from tests.rules.builders import Case, make_run, noisy_decay


def _warmup_then_constant(points: int, warmup_points: int, peak: float) -> np.ndarray:
    return np.minimum(1.0, np.arange(points) / warmup_points) * peak


def mmdetection_nan_right_after_a_500_iteration_warmup():
    steps = np.arange(120) * 10
    loss = noisy_decay(120, 4.0, 1.5, seed=71)
    loss[54:] = np.nan  # 40 iterations after the peak at iteration 500
    return make_run(loss, steps=steps, lr=_warmup_then_constant(120, 50, 0.02))


def megatron_spike_300_steps_after_a_6000_step_warmup():
    steps = np.arange(900) * 10
    loss = noisy_decay(900, 11.0, 6.4, noise=0.01, seed=72)
    loss[630:640] = [6.6, 7.31, 9.12, 10.24, 9.4, 8.6, 7.9, 7.5, 7.3, 7.2]
    return make_run(loss, steps=steps, lr=_warmup_then_constant(900, 600, 6e-5))


def spike_after_a_manual_lr_increase():
    steps = np.arange(400) * 10
    loss = noisy_decay(400, 2.3, 0.4, seed=73)
    loss[302] = 2.1
    lr = np.where(np.arange(400) < 300, 0.001, 0.01)
    return make_run(loss, steps=steps, lr=lr)


def sparse_hf_log_rises_at_the_peak():
    return make_run([1.2366, 2.028, 2.157, 1.9848, 1.7866], steps=[500, 1000, 1500, 2000, 2500], lr=[0.001482, 0.002982, 0.002096, 0.001182, 0.000267], framework="hf")


FIRES = [
    Case("mmdetection: nan 40 iterations after a 500-iteration warmup peaks at lr 0.02", mmdetection_nan_right_after_a_500_iteration_warmup),
    Case("Megatron: lm loss 6.4 -> 10.2 spike 300 steps after a 6000-step warmup ends", megatron_spike_300_steps_after_a_6000_step_warmup),
    Case("a spike x5 20 steps after the lr is raised tenfold", spike_after_a_manual_lr_increase),
    Case("an HF Trainer log whose loss jumps 1.24 -> 2.03 at the warmup's peak lr 0.003", sparse_hf_log_rises_at_the_peak),
]


def warmup_then_healthy_decay():
    return make_run(noisy_decay(500, 2.3, 0.3, seed=74), lr=_warmup_then_constant(500, 50, 1e-3))


def spike_long_after_the_warmup():
    loss = noisy_decay(1000, 2.3, 0.3, seed=75)
    loss[800] = 1.5
    return make_run(loss, lr=_warmup_then_constant(1000, 50, 1e-3))


def bump_early_in_the_warmup():
    loss = np.concatenate([[2.3, 2.4, 3.8, 3.2, 2.6], noisy_decay(300, 2.4, 0.3, seed=76)])
    return make_run(loss, lr=_warmup_then_constant(305, 100, 1e-3))


def step_decay_with_a_loss_drop():
    loss = np.concatenate([noisy_decay(300, 2.3, 0.8, seed=77), noisy_decay(200, 0.7, 0.5, seed=78)])
    return make_run(loss, lr=np.where(np.arange(500) < 300, 0.1, 0.01))


def noisy_small_batch_loss_through_the_peak():
    return make_run(noisy_decay(600, 2.3, 0.5, noise=0.2, seed=79), lr=_warmup_then_constant(600, 60, 3e-4))


QUIET = [
    Case("a 50-step warmup and a healthy decay", warmup_then_healthy_decay),
    Case("one spike 750 steps after a 50-step warmup", spike_long_after_the_warmup),
    Case("a bump while the lr is still at 2 % of its peak", bump_early_in_the_warmup),
    Case("a step decay lowers the lr and the loss drops", step_decay_with_a_loss_drop),
    Case("a noisy small-batch loss (x1.2 jitter) through the warmup's peak", noisy_small_batch_loss_through_the_peak),
]
