"""LR003 lr-nonfinite-or-zero: the lr is NaN, negative or stuck at 0; near-misses are a warmup from 0 or a decay to 0."""

from __future__ import annotations

import numpy as np

from nandoctor.model import RunEvent
from tests.rules.builders import Case, make_run, noisy_decay


def caffe_poly_without_max_iter_prints_lr_nan():
    return make_run([2.302585] * 50, steps=np.arange(50) * 20, lr=[np.nan] * 50, framework="caffe")


def caffe_lr_nan_event_without_an_lr_series():
    event = RunEvent("lr_nonfinite", "Iteration 0, lr = -nan", step=0, source="train.log", line=812)
    return make_run([2.302585] * 50, steps=np.arange(50) * 20, events=[event], framework="caffe")


def hf_lr_logged_as_zero_mid_run():
    lr = np.full(100, 5e-5)
    lr[40:60] = 0.0
    return make_run(noisy_decay(100, 2.0, 0.9, seed=81), lr=lr, framework="hf")


def negative_lr_from_a_bad_schedule():
    lr = np.linspace(0.1, -0.02, 120)
    return make_run(noisy_decay(120, 2.3, 0.6, seed=82), lr=lr)


def lr_zero_for_the_whole_run_and_a_flat_loss():
    return make_run([2.302585] * 40, steps=np.arange(40) * 20, lr=[0.0] * 40, framework="caffe")


FIRES = [
    Case("Caffe poly without max_iter: lr = nan at every display", caffe_poly_without_max_iter_prints_lr_nan),
    Case("Caffe `lr = -nan` reported as an event, no lr series kept", caffe_lr_nan_event_without_an_lr_series),
    Case("HF logs learning_rate 0 for 20 logging steps in the middle of a run", hf_lr_logged_as_zero_mid_run),
    Case("an lr schedule that goes below zero", negative_lr_from_a_bad_schedule),
    Case("lr 0 at every display while the loss sits at 2.302585", lr_zero_for_the_whole_run_and_a_flat_loss),
]


def warmup_from_zero():
    lr = np.minimum(1.0, np.arange(200) / 20) * 1e-3
    lr[:3] = 0.0  # a fixed-precision log prints the first warmup values as 0
    return make_run(noisy_decay(200, 2.3, 0.4, seed=83), lr=lr)


def linear_decay_to_zero_at_the_end():
    lr = np.maximum(0.0, np.linspace(0.01, -0.0002, 500))
    return make_run(noisy_decay(500, 2.3, 0.4, seed=84), lr=lr)


def tiny_but_positive_lr():
    return make_run(noisy_decay(100, 2.3, 1.9, seed=85), lr=np.full(100, 1e-9))


def no_lr_and_no_event():
    return make_run(noisy_decay(100, 2.3, 0.4, seed=86))


def lr_zero_test_with_nan_loss():
    return make_run([np.nan] * 30, steps=np.arange(30) * 20, lr=[0.0] * 30, framework="caffe")


QUIET = [
    Case("a warmup that starts from lr 0 (three zeros at a fixed print precision)", warmup_from_zero),
    Case("a linear decay that reaches lr 0 at its last points", linear_decay_to_zero_at_the_end),
    Case("a tiny but positive lr of 1e-9", tiny_but_positive_lr),
    Case("a run with no lr logged and no lr event", no_lr_and_no_event),
    Case("the lr-0 sanity test: lr 0 on purpose and the loss nan from iteration 0 (NAN003's story)", lr_zero_test_with_nan_loss),
]
