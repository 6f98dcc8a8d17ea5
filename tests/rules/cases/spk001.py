"""SPK001 loss-spike: spikes that do not recover; near-misses that recover, are noise, or go down."""

from __future__ import annotations

import numpy as np

from tests.rules.builders import Case, make_run, noisy_decay


def _steady(points: int, level: float, noise: float, seed: int) -> np.ndarray:
    return level * np.exp(np.random.default_rng(seed).normal(0, noise, points))


def megatron_104b_spike_settles_higher():
    # threads/017: lm loss 6.44 at iteration 7000 -> 11.42 at 7010, then settles at 7.16 "w/o any change"
    steps = np.arange(6000, 7400, 10)
    loss = _steady(steps.size, 6.44, 0.004, seed=1)
    onset = int(np.searchsorted(steps, 7010))
    loss[onset : onset + 3] = [11.42, 10.1, 8.9]
    loss[onset + 3 :] = _steady(steps.size - onset - 3, 7.16, 0.004, seed=2)
    return make_run(loss, steps=steps, lr=np.full(steps.size, 6e-5), framework="megatron")


def spike_then_nan():
    steps = np.arange(0, 3000, 10)
    loss = noisy_decay(steps.size, 3.0, 1.2, noise=0.02, seed=3)
    loss[240:244] = [3.9, 5.6, 9.8, 30.1]
    loss[244:] = np.nan
    return make_run(loss, steps=steps, lr=np.full(steps.size, 3e-4))


def tiny_loss_jumps_to_a_new_level():
    # a regression loss of 0.004 jumps 3x and stays 1.8x higher for the rest of the run
    steps = np.arange(0, 2000, 5)
    loss = _steady(steps.size, 0.004, 0.02, seed=4)
    loss[200] = 0.012
    loss[201:] = _steady(steps.size - 201, 0.0072, 0.02, seed=5)
    return make_run(loss, steps=steps)


def bloom_spike_recovers():
    # a 3 -> 8 -> 3 spike that recovers within 20 logged points (info only)
    steps = np.arange(0, 5000, 10)
    loss = _steady(steps.size, 3.0, 0.01, seed=6)
    loss[250:270] = 3.0 + 5.0 * np.exp(-np.arange(20) / 3.0)
    return make_run(loss, steps=steps)


def noisy_small_batch_loss():
    steps = np.arange(0, 10000, 10)
    return make_run(noisy_decay(steps.size, 2.3, 0.5, noise=0.35, seed=7), steps=steps)


def warmup_bump_at_the_start():
    # an LM starting at ln V: the loss bumps up while the lr warms up, then falls
    steps = np.arange(0, 2000, 10)
    loss = noisy_decay(steps.size, 10.9, 3.5, noise=0.01, seed=8)
    loss[3:8] = [9.9, 10.4, 10.6, 10.2, 9.5]
    return make_run(loss, steps=steps, lr=np.minimum(1.0, (steps + 10) / 500.0) * 3e-4)


def grokking_drop():
    steps = np.arange(0, 3000, 10)
    loss = np.where(steps < 1500, 4.0, 2.5) * np.exp(np.random.default_rng(9).normal(0, 0.01, steps.size))
    return make_run(loss, steps=steps)


def epoch_staircase_with_bumps():
    # per-step loss that jumps up 30 % at the first batches of each epoch (data order), then drops
    steps = np.arange(0, 5000, 10)
    base = noisy_decay(steps.size, 1.5, 0.4, noise=0.03, seed=10)
    bump = np.where(np.arange(steps.size) % 100 < 2, 1.3, 1.0)
    return make_run(base * bump, steps=steps)


def jump_into_the_caffe_softmax_ceiling():
    # S16: a jump to a flat 87.3365 is saturation, which SAT001 reports; the spike rule only notes it
    steps = np.arange(0, 3000, 100)
    loss = noisy_decay(steps.size, 2.3, 1.7, noise=0.02, seed=11)
    loss[13:] = 87.3365
    return make_run(loss, steps=steps, lr=np.full(steps.size, 0.1), framework="caffe")


def noisy_loss_spikes_and_settles_higher_with_dips():
    # a per-step loss with 12 % batch noise near 0.9 spikes to 2.4 and settles near 1.35; single batches still
    # dip to the old level now and then, which is no recovery
    steps = np.arange(0, 2000, 5)
    loss = _steady(steps.size, 0.9, 0.12, seed=12)
    loss[100] = 2.4
    loss[101:] = _steady(steps.size - 101, 1.35, 0.12, seed=13)
    loss[[104, 131, 170]] = [0.88, 0.9, 0.86]
    return make_run(loss, steps=steps)


FIRES = [
    Case("a 104B run spikes 6.44 -> 11.42 at iteration 7010 and settles at 7.16 without recovering", megatron_104b_spike_settles_higher),
    Case("a loss near 1.3 spikes to 30 and goes NaN before recovering", spike_then_nan),
    Case("a regression loss of 0.004 jumps 3x and stays 1.8x higher", tiny_loss_jumps_to_a_new_level),
    Case("a noisy loss near 0.9 spikes to 2.4 and settles near 1.35, single batches dipping to 0.9", noisy_loss_spikes_and_settles_higher_with_dips),
]

def noisy_loss_spike_that_recovers():
    # the same noisy loss spikes to 2.4 and is back near 0.9 within 8 points
    steps = np.arange(0, 2000, 5)
    loss = _steady(steps.size, 0.9, 0.12, seed=14)
    loss[100:108] = [2.4, 2.0, 1.6, 1.3, 1.1, 1.0, 0.95, 0.92]
    return make_run(loss, steps=steps)


QUIET = [
    Case("a noisy loss (12 % batch noise) spikes to 2.4 and is back at its level within 8 points", noisy_loss_spike_that_recovers),
    Case("a 3 -> 8 -> 3 spike that recovers within 20 points (info)", bloom_spike_recovers),
    Case("a noisy small-batch loss with 35 % batch-to-batch noise", noisy_small_batch_loss),
    Case("a warmup bump: the loss rises from 9.9 to 10.6 during warmup, then falls", warmup_bump_at_the_start),
    Case("a grokking drop from 4.0 to 2.5 (a sudden decrease is not a spike)", grokking_drop),
    Case("an epoch staircase: 30 % bumps at the first batches of every epoch", epoch_staircase_with_bumps),
    Case("a jump from 1.7 into the 87.3365 softmax ceiling (SAT001 names it; info here)", jump_into_the_caffe_softmax_ceiling),
]
