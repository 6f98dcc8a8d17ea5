"""LR001 early-blowup: the loss rises from the first steps and stays above its start; near-misses learn after all."""

from __future__ import annotations

import numpy as np

from tests.rules.builders import Case, make_run, noisy_decay


def caffenet_at_base_lr_004_climbs_from_iteration_0():
    rng = np.random.default_rng(61)
    climb = 7.18 + 5.2 * (1 - np.exp(-np.arange(1, 61) / 20.0))
    loss = np.concatenate([[7.18433], climb * np.exp(rng.normal(0, 0.06, 60))])
    return make_run(loss, steps=np.arange(61) * 20, framework="caffe", meta={"solver": {"base_lr": 0.04}})


def qlora_at_learning_rate_5_jumps_and_freezes():
    loss = [1.637, 11.8069, 11.6046, 10.3829, 10.3735, 10.3735, 10.3735, 10.3735, 10.3735, 10.3735]
    return make_run(loss, steps=np.arange(1, 11), lr=[5.0] * 10, framework="hf")


def tiny_loss_doubles_and_stays_up():
    rng = np.random.default_rng(62)
    loss = np.concatenate([[0.012], 0.025 * np.exp(rng.normal(0, 0.1, 50))])
    return make_run(loss, lr=[0.5] * 51)


def noisy_stall_above_a_caffenet_start():
    rng = np.random.default_rng(63)
    loss = np.concatenate([[7.336], 7.55 * np.exp(rng.normal(0, 0.02, 49))])
    return make_run(loss, steps=np.arange(50) * 20)


FIRES = [
    Case("CaffeNet at base_lr 0.04: loss 7.18 at iteration 0 climbs to 12.4 and stays up", caffenet_at_base_lr_004_climbs_from_iteration_0),
    Case("QLoRA at learning_rate 5: 1.637 -> 11.8 and frozen at 10.3735", qlora_at_learning_rate_5_jumps_and_freezes),
    Case("a regression loss of 0.012 doubles at once and stays near 0.025", tiny_loss_doubles_and_stays_up),
    Case("CaffeNet at base_lr 0.02: 7.34 at iteration 0, then 7.2-7.9 for the whole run", noisy_stall_above_a_caffenet_start),
]


def warmup_bump_then_learning():
    loss = np.concatenate([[2.3, 2.6, 3.1, 3.4, 3.0, 2.6], noisy_decay(200, 2.4, 0.3, seed=64)])
    return make_run(loss)


def initial_loss_ln_c_then_healthy_decay():
    return make_run(np.concatenate([[2.302585], noisy_decay(300, 2.25, 0.4, seed=65)]))


def stalled_flat_at_ln_c_from_the_start():
    rng = np.random.default_rng(66)
    return make_run(np.concatenate([[6.9078], 6.9078 * np.exp(rng.normal(0, 0.01, 200))]))


def first_value_is_an_artefact():
    return make_run(np.concatenate([[1e-4], noisy_decay(150, 2.3, 0.2, seed=67)]))


def noisy_small_batch_loss_decaying():
    return make_run(noisy_decay(400, 2.3, 0.6, noise=0.25, seed=68))


def adam_spike_then_flat_below_start():
    rng = np.random.default_rng(69)
    loss = np.concatenate([[7.388, 18.89], 6.915 * np.exp(rng.normal(0, 0.0005, 100))])
    return make_run(loss, steps=np.arange(102) * 20)


QUIET = [
    Case("a warmup bump x1.5 in the first 5 points, then the loss falls to 0.3", warmup_bump_then_learning),
    Case("the first loss is ln 10 = 2.3026 and the loss decays from there", initial_loss_ln_c_then_healthy_decay),
    Case("a loss flat at ln 1000 from the first point (a stall, PLT)", stalled_flat_at_ln_c_from_the_start),
    Case("the first logged value is 1e-4 (an artefact), then a healthy decay from 2.3", first_value_is_an_artefact),
    Case("a noisy small-batch loss decaying with x1.3 jitter", noisy_small_batch_loss_decaying),
    Case("Adam spikes 7.39 -> 18.9 once, then sits at ln 1000 below the start", adam_spike_then_flat_below_start),
]


def _explodes_then_settles_far_above():
    # RMSprop at 500x the usual lr on a regression: 0.99 -> 1e11 at step 2, then settles near 2e6.
    steps = np.arange(176)
    values = np.concatenate([[0.99, 4e6, 1.1e11], 2.3e6 * np.exp(np.linspace(3, 0, 173)) * np.exp(np.random.default_rng(5).normal(0, 0.3, 173))])
    return make_run(values, steps=steps)


FIRES.append(Case("explodes in its first steps and settles a million times above its start", _explodes_then_settles_far_above))
