"""GRD001 exploding-gradients: the gradient norm leaves its level before the loss does."""

import numpy as np

from tests.rules.builders import Case, make_run, noisy_decay


def _fairseq_explosion():
    # Logged every 100 updates: gnorm ~2 while the loss falls, then 1e5 one line before the loss explodes.
    rng = np.random.default_rng(1)
    loss = list(noisy_decay(40, start=10.9, end=6.5, seed=1)) + [6.4, 10405.0, 4.77e9, 7.7e12]
    grad = list(2.0 * np.exp(rng.normal(0, 0.2, 40))) + [1.0e5, 1.5e12, 3.7e13, np.inf]
    steps = np.arange(len(loss)) * 100
    return make_run(loss, steps=steps, grad_norm=grad, lr=[1.25] * len(loss), framework="fairseq")


def _doubling_then_nan():
    # A small loss (0.05) still falling while the per-step grad norm doubles four times, then NaN.
    loss = list(noisy_decay(300, start=0.3, end=0.05, seed=2)) + [0.049, 0.048, 0.047, 0.12, np.nan, np.nan]
    grad = list(0.8 * np.exp(np.random.default_rng(2).normal(0, 0.1, 300))) + [1.7, 3.6, 7.5, 15.0, np.nan, np.nan]
    return make_run(loss, grad_norm=grad)


def _in_progress_at_end():
    # The grad norm jumps 30x in the last logged points; the loss has not reacted yet when the log ends.
    loss = list(noisy_decay(500, start=3.0, end=1.1, seed=3)) + [1.09, 1.1]
    grad = list(np.exp(np.random.default_rng(3).normal(0, 0.15, 500)) * 0.5) + [15.0, 40.0]
    return make_run(loss, steps=np.arange(len(loss)) * 10, grad_norm=grad)


def _large_but_steady():
    # fp16 unscaled norms of 1e5-4e6 on every step, one isolated 15x spike with a loss blip that recovers.
    rng = np.random.default_rng(4)
    loss = noisy_decay(700, start=5.3, end=0.1, noise=0.15, seed=4)
    grad = 1e6 * np.exp(rng.normal(0, 0.6, 700)) * np.linspace(2.0, 0.15, 700)
    grad[340] = 15 * np.median(grad[290:340])
    loss[341] = 3.0 * loss[341]
    return make_run(list(loss), steps=np.arange(700) * 2, grad_norm=list(grad))


def _warmup_rise_then_level():
    # During lr warm-up the grad norm rises 20x, then stays level while the loss falls for 900 steps.
    rng = np.random.default_rng(5)
    loss = noisy_decay(1000, start=2.3, end=0.4, seed=5)
    grad = np.concatenate([np.geomspace(0.05, 1.0, 60), np.ones(940)]) * np.exp(rng.normal(0, 0.1, 1000))
    return make_run(list(loss), grad_norm=list(grad), lr=list(np.minimum(1.0, np.arange(1000) / 60) * 3e-4))


def _fp16_skips():
    # Sporadic inf/NaN grad norms are skipped fp16 steps, not an explosion.
    rng = np.random.default_rng(6)
    loss = noisy_decay(400, start=2.0, end=0.8, seed=6)
    grad = 1.5 * np.exp(rng.normal(0, 0.2, 400))
    grad[[40, 180, 333]] = [np.inf, np.nan, np.inf]
    return make_run(list(loss), grad_norm=list(grad))


def _same_time_divergence():
    # Loss and grad norm blow up on the same logged point: divergence with no lead, left to DIV/NAN rules.
    loss = list(noisy_decay(100, start=6.5, end=6.4, seed=7)) + [11.4, 25.0, 80.0]
    grad = list(np.exp(np.random.default_rng(7).normal(0, 0.1, 100)) * 1e5) + [3e6, 2e7, 9e7]
    return make_run(loss, steps=np.arange(len(loss)) * 10, grad_norm=grad)


FIRES = [
    Case("fairseq gnorm jumps to 1e5 while the loss is still 6.4, and the loss explodes on the next log line", _fairseq_explosion),
    Case("a per-step grad norm doubles four times while a 0.05 loss still falls, then the loss goes NaN", _doubling_then_nan),
    Case("the grad norm jumps 30x in the last two logged points before the loss reacts", _in_progress_at_end),
]

QUIET = [
    Case("grad norm 1e5-4e6 on every step with one recovered spike while the loss falls normally", _large_but_steady),
    Case("grad norm rises 20x through lr warm-up, then stays level while the loss falls", _warmup_rise_then_level),
    Case("sporadic inf/NaN grad norms from fp16 skipped steps", _fp16_skips),
    Case("loss and grad norm explode on the same logged point (no lead)", _same_time_divergence),
]
