"""NAN005 hidden-nan: the logged loss hides NaN steps behind 0.0 or a frozen value."""

import numpy as np

from tests.rules.builders import Case, make_run, noisy_decay


def _hf_loss_zero_grad_nan():
    # Time-MoE: {'loss': 0.0, 'grad_norm': nan} on every logging step from step 540 on.
    steps = np.arange(10, 1001, 10)
    loss = list(noisy_decay(53, start=0.9, end=0.35, seed=1)) + [0.0] * 47
    grad = list(np.exp(np.random.default_rng(1).normal(0, 0.2, 53)) * 0.6) + [np.nan] * 47
    return make_run(loss, steps=steps, grad_norm=grad, lr=[5e-5] * 100, framework="hf")


def _loss_zero_eval_nan():
    # MedicalGPT: the train loss falls for a few epochs then reads 0.0; eval_loss is NaN (no grad norm logged).
    steps = np.arange(50, 5001, 50)
    loss = list(noisy_decay(60, start=2.6, end=1.4, seed=2)) + [0.0] * 40
    evals = (np.arange(1000, 5001, 1000), [1.8, 1.6, np.nan, np.nan, np.nan])
    return make_run(loss, steps=steps, val_loss=evals, framework="hf")


def _frozen_repeat():
    # A logger that repeats its running mean: 1.2345 four times in a row, each with a NaN grad norm.
    loss = list(noisy_decay(80, start=3.0, end=1.25, seed=3)) + [1.2345] * 4
    grad = list(np.exp(np.random.default_rng(3).normal(0, 0.2, 80))) + [np.nan] * 4
    return make_run(loss, grad_norm=grad)


def _sporadic_fp16_skips():
    # A few NaN grad norms (fp16 skipped steps) while the loss keeps falling: benign, info at most.
    rng = np.random.default_rng(4)
    grad = np.exp(rng.normal(0, 0.2, 300))
    grad[[3, 97, 210]] = np.nan
    return make_run(list(noisy_decay(300, start=1.8, end=0.7, seed=4)), grad_norm=list(grad), framework="hf")


def _genuine_zero_finite_grad():
    # The loss reads 0.0 once (rounded to 4 decimals) but the grad norm beside it is finite, no eval NaN.
    loss = list(np.geomspace(0.5, 0.0002, 99)) + [0.0]
    grad = list(np.geomspace(3.0, 0.01, 100))
    return make_run(loss, grad_norm=grad, val_loss=([50, 99], [0.2, 0.05]))


def _rounded_repeats():
    # A flat loss printed with 2 decimals repeats exactly, but every grad norm is finite.
    loss = [1.23] * 40
    grad = list(np.exp(np.random.default_rng(5).normal(0, 0.1, 40)))
    return make_run(loss, grad_norm=grad)


FIRES = [
    Case("HF Trainer logs 'loss': 0.0 with 'grad_norm': nan on every step from step 540", _hf_loss_zero_grad_nan),
    Case("the train loss reads 0.0 while eval_loss is NaN (no grad norm logged)", _loss_zero_eval_nan),
    Case("a loss frozen at 1.2345 for four logs, each beside a NaN grad norm", _frozen_repeat),
]

QUIET = [
    Case("three NaN grad norms (fp16 skips) among 300 while the loss falls", _sporadic_fp16_skips),
    Case("a loss rounded to 0.0 beside a finite grad norm and finite evals", _genuine_zero_finite_grad),
    Case("a flat loss printed with 2 decimals repeats exactly, all grad norms finite", _rounded_repeats),
]
