"""OSC001 oscillation: large alternating swings with no trend; near-misses that are noise around progress."""

from __future__ import annotations

import numpy as np

from nandoctor.features import ema
from tests.rules.builders import Case, make_run, noisy_decay


def rmsprop_smoothed_loss_swings_7_to_65():
    # realworld caffe 003: RMSProp lr 0.01, rms_decay 0.9: 7.49 -> 53.7 at iteration 20, then 7-65 with no trend
    steps = np.arange(0, 700, 20)
    rng = np.random.default_rng(1)
    loss = np.clip(27 + 14 * rng.standard_normal(steps.size), 6.9, 66)
    loss[0] = 7.49
    return make_run(loss, steps=steps, lr=np.full(steps.size, 0.01), framework="caffe")


def validation_loss_bounces_for_60_epochs():
    # autotrainer's "Oscillating_Loss_Case": validation loss 0.65-1.54 around 0.9, validation accuracy 0.37-0.76
    epochs = np.arange(61)
    rng = np.random.default_rng(2)
    train = 0.95 * np.exp(rng.normal(0, 0.05, 61))
    train[0] = 1.49
    val = 0.92 * (1 + 0.19 * rng.standard_normal(61))
    return make_run(train, steps=epochs, val_loss=(epochs, val), step_unit="epoch", framework="keras")


def small_loss_zigzags_without_progress():
    # a loss of 0.01 alternating up and down by 40 % for 200 steps at a fixed, too-large learning rate
    steps = np.arange(0, 2000, 10)
    zigzag = np.where(np.arange(steps.size) % 2 == 0, 1.4, 0.6)
    loss = 0.01 * zigzag * np.exp(np.random.default_rng(3).normal(0, 0.05, steps.size))
    return make_run(loss, steps=steps, lr=np.full(steps.size, 0.3))


def _bursts(points: int, floor: float, seed: int, every: int = 40, growth: float = 1.35, rise: int = 5, noise: float = 0.3) -> np.ndarray:
    """A loss that dropped to `floor` at once and then keeps bursting: rises `growth` x per point for `rise` points, falls back fast."""
    rng = np.random.default_rng(seed)
    loss = floor * np.exp(rng.normal(0, noise, points))
    loss[:3] = [1.8, 0.75, floor * 1.1]
    index = 8
    while index < points:
        shape = growth ** np.arange(1, rise + 1)
        shape = np.concatenate([shape, shape[-1] * 0.45 ** np.arange(1, 4)])
        end = min(points, index + shape.size)
        loss[index:end] *= np.maximum(1.0, shape[: end - index])
        index += int(rng.integers(every // 2, every * 3 // 2))
    return loss


def sgd_at_the_edge_of_stability_keeps_bursting():
    # corpus linreg-diabetes-sgd-edge-*: mini-batch SGD at 0.95x the GD stability limit; the loss falls
    # from 1.8 to 0.55 in two steps, then catapults up 4-6x every ~40 steps and falls back: changes
    # only weakly anti-correlated (-0.04), median at 77 % of the start, a tenth of the points above it
    steps = np.arange(220)
    return make_run(_bursts(220, 0.55, seed=2), steps=steps, lr=np.full(220, 0.23))


def noisy_small_batch_loss_around_a_decrease():
    steps = np.arange(0, 20000, 50)
    return make_run(noisy_decay(steps.size, 2.3, 0.9, noise=0.2, seed=4), steps=steps)


def converged_per_step_loss_with_big_noise():
    # per-iteration Caffe loss of a healthy ResNet: 2.5 -> 0.02 with 40 % batch noise in the tail
    steps = np.arange(0, 64000, 100)
    return make_run(noisy_decay(steps.size, 2.5, 0.02, noise=0.4, seed=5), steps=steps, framework="caffe")


def lr_decay_step_then_flat():
    steps = np.arange(0, 10000, 50)
    loss = np.where(steps < 5000, 0.9, 0.55) * np.exp(np.random.default_rng(6).normal(0, 0.03, steps.size))
    loss[:20] = np.linspace(2.3, 0.95, 20)
    return make_run(loss, steps=steps, lr=np.where(steps < 5000, 0.1, 0.01))


def independent_batch_noise_below_the_start():
    # a healthy small-batch fine-tune: 20 points near 1.2, then 0.75 with 45 % independent batch noise;
    # a tenth of the batches are as bad as the start, but the changes alternate like independent
    # batches (-0.47) and the median is 68 % of the start: noise around progress
    rng = np.random.default_rng(203)
    loss = np.concatenate([1.2 * np.exp(rng.normal(0, 0.1, 20)), 0.75 * np.exp(rng.normal(0, 0.45, 380))])
    return make_run(loss, steps=np.arange(400))


def smoothed_stall_wandering_around_its_start():
    # a running-average loss (EMA 0.1 of very noisy batches) that never leaves its start: it wanders
    # +/-15 % for 400 displays, weakly anti-correlated and above the start a tenth of the time, but it
    # never got well below it (a stall, PLT001's, not bursts back from progress)
    raw = np.exp(np.random.default_rng(300).normal(0, 0.6, 2000))
    return make_run(ema(raw, 0.1)[::5], steps=np.arange(0, 2000, 5))


def converged_run_with_small_catapults():
    # a healthy large-lr run: down from 2.3 to 0.3 over its first fifth, then catapults of up to 2x
    # above 0.3 that never come near where it started: bursts, but the run keeps its progress
    loss = _bursts(300, 0.3, seed=5, growth=1.15, noise=0.1)
    loss[:60] = np.geomspace(2.3, 0.3, 60) * np.exp(np.random.default_rng(13).normal(0, 0.05, 60))
    return make_run(loss, steps=np.arange(300))


def noisy_slow_divergence():
    epochs = np.arange(80)
    loss = np.linspace(1.1, 2.2, 80) * (1 + 0.12 * np.random.default_rng(7).standard_normal(80))
    return make_run(loss, steps=epochs, step_unit="epoch")


def logistic_regression_blows_up_then_swings_with_zero_batches():
    # the first batch is at ln 10, the next ones blow up to 50-300, then the loss flips for good between
    # batches at exactly 0 (confident and right) and tens (confident and wrong): no progress from its start
    rng = np.random.default_rng(125)
    head = [2.31, 60.0, 55.0, 120.0, 180.0, 240.0]
    tail = np.where(rng.random(150) < 0.3, 0.0, rng.uniform(2.0, 35.0, 150))
    return make_run(np.concatenate([head, tail]))


FIRES = [
    Case("an RMSProp Caffe run's smoothed loss swings between 7 and 65 for 680 iterations", rmsprop_smoothed_loss_swings_7_to_65),
    Case("a validation loss bouncing 0.6-1.5 around 0.92 for 60 epochs beside a flat train loss", validation_loss_bounces_for_60_epochs),
    Case("a loss of 0.01 zig-zags by +/-40 % for 200 steps without progress", small_loss_zigzags_without_progress),
    Case("SGD at the edge of stability: the loss keeps bursting 4-6x from 0.55 back above its start of 0.75", sgd_at_the_edge_of_stability_keeps_bursting),
    Case("logistic regression at a huge lr: 2.31, a blow-up to 240, then batches flipping between 0 and ~35", logistic_regression_blows_up_then_swings_with_zero_batches),
]

def noisy_decay_after_an_artefact_first_point():
    # a first logged value of 1e-3 (an artefact), then a noisy small-batch loss (30 % noise) that falls from 2.3
    # within 40 points and stays near 0.4: converged, though 400 times that first value
    t = np.arange(300)
    loss = (0.4 + 1.9 * np.exp(-t / 8.0)) * np.exp(np.random.default_rng(122).normal(0, 0.3, 300))
    return make_run(np.concatenate([[1e-3], loss]))


QUIET = [
    Case("noisy small-batch loss (20 % noise) around a decrease from 2.3 to 0.9", noisy_small_batch_loss_around_a_decrease),
    Case("a first logged value of 1e-3 (an artefact), then a 30 %-noisy loss converged from 2.3 to 0.4", noisy_decay_after_an_artefact_first_point),
    Case("a healthy per-iteration loss with 40 % batch noise after converging from 2.5 to 0.02", converged_per_step_loss_with_big_noise),
    Case("an lr-decay step: flat at 0.9, then flat at 0.55 after the decay", lr_decay_step_then_flat),
    Case("a noisy loss rising steadily from 1.1 to 2.2 (divergence, not oscillation)", noisy_slow_divergence),
    Case("independent 45 % batch noise around 0.75 after a start at 1.2: a tenth of batches reach the start", independent_batch_noise_below_the_start),
    Case("a smoothed stall wandering +/-15 % around its start for 400 displays", smoothed_stall_wandering_around_its_start),
    Case("a run down from 2.3 to 0.3 that keeps bursting up to 2x its floor, never near its start", converged_run_with_small_catapults),
]
