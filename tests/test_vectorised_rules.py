"""Rule helpers that were per-point Python loops give exactly what those loops gave.

Each reference below is the loop as it was written before it was vectorised; hypothesis feeds both
the same trajectories (ties, plateaus, NaN, inf, zeros and negative values included).
"""

from __future__ import annotations

import math
import statistics
import types
from dataclasses import astuple

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nandoctor import features
from nandoctor.features import first_nonfinite_index, nonfinite_kind
from nandoctor.model import Series
from nandoctor.rules import exploding_gradients, hidden_nan, keras_clip_saturation, loss_scale_collapse, loss_spike, nan_after_growth, nonfinite_validation, post_warmup_instability

special = st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -1.0])
values_strategy = st.lists(st.one_of(st.floats(0.01, 100.0), st.sampled_from([1.0, 2.0, 4.0, 0.5]), special), max_size=120)


def series(values, name: str = "loss", spacing: int = 2) -> Series:
    array = np.array(values, dtype=np.float64)
    return Series(name, np.arange(array.size, dtype=np.int64) * spacing, array)


# ---- LR002 -------------------------------------------------------------------------------------


def lr_rises_by_loop(lr: Series, min_rise: float) -> list:
    values, steps = lr.values, lr.steps
    rises = []
    index = 1
    while index < values.size:
        if not (np.isfinite(values[index]) and np.isfinite(values[index - 1]) and values[index] > values[index - 1] * 1.001):
            index += 1
            continue
        start = index - 1
        while index + 1 < values.size and np.isfinite(values[index + 1]) and values[index + 1] >= values[index]:
            index += 1
        peak = start + int(np.argmax(values[start : index + 1] >= values[index]))
        peak_lr, start_lr = float(values[peak]), float(values[start])
        if peak_lr > 0 and (start_lr <= 0 or peak_lr >= min_rise * start_lr):
            near = start + int(np.argmax(values[start : peak + 1] >= 0.9 * peak_lr))
            rises.append((start, peak, int(steps[start]), int(steps[peak]), start_lr, peak_lr, int(steps[near])))
        index += 1
    return rises


def first_anomaly_by_loop(loss: Series, spike_ratio: float, noise_z: float):
    values, steps = loss.values, loss.steps
    bad = first_nonfinite_index(values)
    end = values.size if bad is None else bad
    if end >= 2 and np.all(values[:end] > 0):
        average = []  # the EMA (alpha 0.1) from its definition
        for value in values[:end].tolist():
            average.append(value if not average else 0.1 * value + (1 - 0.1) * average[-1])
        average = np.array(average)
        residuals = np.log(values[:end])[1:] - np.log(average[:-1])
        for index in range(1, end):
            baseline = float(np.min(average[max(0, index - 3) : index]))
            with np.errstate(all="ignore"):
                ratio = float(values[index] / baseline)
            if ratio < spike_ratio:
                continue
            history = residuals[: index - 1].tolist()
            if len(history) >= 5:  # the standard library's median, not numpy's: an independent reference
                center = statistics.median(history)
                sigma = 1.4826 * statistics.median([abs(residual - center) for residual in history])
                if math.log(ratio) - center < noise_z * sigma:
                    continue
            return (index, int(steps[index]), "spike", ratio)
    if bad is None:
        return None
    return (bad, int(steps[bad]), nonfinite_kind(float(values[bad])), math.nan)


@settings(max_examples=300, deadline=None)
@given(values_strategy)
def test_lr_rises_are_the_scanning_loops(values):
    lr = series(values, "lr")
    assert [astuple(rise) for rise in post_warmup_instability.lr_rises(lr, 1.5)] == lr_rises_by_loop(lr, 1.5)


@settings(max_examples=300, deadline=None)
@given(values_strategy, st.sampled_from([1.2, 1.5, 3.0]))
def test_the_first_anomaly_is_the_scanning_loops(values, spike_ratio):
    loss = series(values)
    found = post_warmup_instability.first_anomaly(loss, spike_ratio, 4.0)
    expected = first_anomaly_by_loop(loss, spike_ratio, 4.0)
    if expected is None:
        assert found is None
    else:
        assert astuple(found)[:3] == expected[:3]
        assert astuple(found)[3] == expected[3] or (math.isnan(astuple(found)[3]) and math.isnan(expected[3]))


# ---- NAN005, GRD001, NAN002 ---------------------------------------------------------------------


def frozen_repeats_by_loop(values: np.ndarray, grad_bad: np.ndarray, min_repeats: int) -> np.ndarray:
    flags = np.zeros(values.shape, dtype=bool)
    if values.size < min_repeats or min_repeats < 2:
        return flags
    same = np.zeros(values.shape, dtype=bool)
    same[1:] = np.isfinite(values[1:]) & (values[1:] == values[:-1])
    start = 0
    for index in range(1, values.size + 1):
        if index == values.size or not same[index]:
            if index - start >= min_repeats and grad_bad[start:index].all():
                flags[start:index] = True
            start = index
    return flags


@settings(max_examples=300, deadline=None)
@given(values_strategy, st.integers(0, 2**32 - 1), st.integers(1, 5))
def test_frozen_repeats_are_the_segment_loops(values, seed, min_repeats):
    array = np.array(values, dtype=np.float64)
    grad_bad = np.random.default_rng(seed).random(array.size) < 0.8
    assert np.array_equal(hidden_nan._frozen_repeats(array, grad_bad, min_repeats), frozen_repeats_by_loop(array, grad_bad, min_repeats))


def doubling_onsets_by_loop(doubled: np.ndarray, doubling_points: int) -> list[int]:
    ends, run_length = [], 0
    for position, is_doubling in enumerate(doubled.tolist()):
        run_length = run_length + 1 if is_doubling else 0
        if run_length == doubling_points:
            ends.append(position)
    return ends


@settings(max_examples=300, deadline=None)
@given(st.lists(st.booleans(), max_size=80), st.integers(-1, 5))
def test_doubling_streak_ends_are_the_counting_loops(flags, length):
    array = np.array(flags, dtype=bool)
    assert exploding_gradients._streak_ends(array, length).tolist() == doubling_onsets_by_loop(array, length)


def grad_norm_lead_by_loop(grad: Series, loss_growth_step: int, jump_ratio: float):
    values = grad.values
    for index in range(1, len(grad)):
        if int(grad.steps[index]) > loss_growth_step:
            return None
        value = values[index]
        earlier = values[max(0, index - 50) : index]
        earlier = earlier[np.isfinite(earlier) & (earlier > 0)]
        if not math.isfinite(value):
            return int(grad.steps[index]) if earlier.size else None
        if earlier.size and value >= jump_ratio * float(np.median(earlier)):
            return int(grad.steps[index])
    return None


@settings(max_examples=300, deadline=None)
@given(values_strategy, st.integers(-5, 300), st.sampled_from([2.0, 5.0, 10.0]))
def test_the_gradient_lead_is_the_scanning_loops(values, growth_step, jump_ratio):
    grad = series(values, "grad_norm", spacing=3)
    facts = types.SimpleNamespace(grad_norm=grad)
    facts.grad_norm_baseline = lambda window: features.Facts.grad_norm_baseline(facts, window)
    assert nan_after_growth.grad_norm_lead(facts, growth_step, jump_ratio) == grad_norm_lead_by_loop(grad, growth_step, jump_ratio)


def test_gradient_baselines_from_pandas_and_numpy_agree(monkeypatch):
    rng = np.random.default_rng(4)
    values = np.exp(rng.normal(size=20_001))
    values[rng.random(values.size) < 0.02] = np.nan
    by_numpy = features.previous_medians(values, 50)
    monkeypatch.setattr(features, "PANDAS_MEDIAN_POINTS", 1_000)
    by_pandas = features.previous_medians(values, 50)
    assert np.array_equal(by_numpy.view(np.int64), by_pandas.view(np.int64))


# ---- AMP (loss scale history), NAN004 -----------------------------------------------------------


def scale_drops_by_loop(values: np.ndarray, steps: np.ndarray) -> tuple[list[int], list[tuple[int, int, int]]]:
    halving_steps, streaks, current = [], [], []

    def close():
        if current:
            streaks.append((int(steps[current[0]]), int(steps[current[-1]]), sum(loss_scale_collapse._halvings(values[p - 1], values[p]) for p in current)))
            current.clear()

    for position in range(1, values.size):
        if values[position] < values[position - 1]:
            halving_steps.extend([int(steps[position])] * loss_scale_collapse._halvings(values[position - 1], values[position]))
            current.append(position)
        else:
            close()
    close()
    return halving_steps, streaks


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([0, 0, 1, -1, -2, -3]), max_size=100))
def test_loss_scale_drops_and_streaks_are_the_scanning_loops(moves):
    values = 65536.0 * 2.0 ** np.cumsum(np.array(moves, dtype=np.float64))
    scale = Series("loss_scale", np.arange(values.size, dtype=np.int64) * 10, values, role="loss_scale")
    run = types.SimpleNamespace(series=(scale,))
    history = loss_scale_collapse._from_series(scale, run, 1.0, 100, 0.1)
    halving_steps, streaks = scale_drops_by_loop(values, scale.steps)
    assert history.halving_steps.tolist() == halving_steps
    assert [(streak.start_step, streak.end_step, streak.halvings) for streak in history.streaks] == streaks


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 60), max_size=40, unique=True), st.lists(st.integers(0, 70), min_size=1, max_size=12, unique=True), st.integers(0, 2**32 - 1))
def test_evaluations_beside_finite_training_are_those_the_window_loop_finds(train_steps, val_steps, seed):
    rng = np.random.default_rng(seed)
    train_values = rng.normal(size=len(train_steps))
    train_values[rng.random(train_values.size) < 0.2] = np.nan
    train = Series("loss", np.sort(np.array(train_steps, dtype=np.int64)), train_values)
    val = Series("val_loss", np.sort(np.array(val_steps, dtype=np.int64)), np.full(len(val_steps), np.nan))
    candidates = np.arange(len(val_steps))
    chosen = nonfinite_validation._finite_training_beside(train, val, candidates)
    by_window = []
    for index in candidates.tolist():
        neighbours = nonfinite_validation._train_around_unsorted(train, val.steps[index], val.steps[index - 1] if index else None)
        if neighbours.size and np.all(np.isfinite(neighbours)) and not np.any(neighbours == 0.0):
            by_window.append(index)
        assert np.array_equal(nonfinite_validation._train_around(train, val, index), neighbours, equal_nan=True)
    assert chosen == by_window


# ---- SPK001 --------------------------------------------------------------------------------------


def spikes_by_point(values: np.ndarray, params: dict) -> list:
    """SPK001's scan as a loop over points, with statistics.median for the residuals' median and MAD."""
    logs = features.log_values(values)
    alpha, warmup, history = float(params["alpha"]), int(params["warmup_points"]), max(1, int(params["history"]))
    min_jump, mad_multiple = math.log(float(params["ratio"])), float(params["mad_multiple"])
    spikes, recent = [], []
    baseline, accepted, index = math.nan, 0, 0
    while index < values.size:
        value = float(logs[index])
        if math.isnan(value):
            index += 1
            continue
        if math.isnan(baseline):
            baseline, accepted, index = value, accepted + 1, index + 1
            continue
        jump = value - baseline
        if accepted >= warmup and len(recent) >= warmup - 1 and jump >= min_jump:
            window = recent[-history:]
            needed = min_jump
            if window:
                center = statistics.median(window)
                needed = max(min_jump, center + mad_multiple * 1.4826 * statistics.median([abs(item - center) for item in window]))
            if jump >= needed:
                spike = loss_spike.follow_spike(values, logs, index, baseline, params)
                spikes.append(spike)
                if spike.outcome != "recovered":
                    break
                index += spike.recovery_points  # resume at the recovered point, baseline and residuals unchanged
                continue
        recent.append(jump)
        baseline = alpha * value + (1 - alpha) * baseline
        accepted, index = accepted + 1, index + 1
    return spikes


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(20, 4000), st.integers(0, 12), st.booleans())
def test_spikes_are_the_point_loops(seed, points, spike_count, with_nan):
    """The block scan (numpy), the short scans after a spike (plain floats) and their hand-overs find
    what a point-by-point loop finds, spike for spike."""
    rng = np.random.default_rng(seed)
    values = np.exp(rng.normal(0, 0.05, points).cumsum() * 0.1) * np.exp(-np.arange(points) / points)
    for index in rng.integers(0, points, spike_count):
        values[index] *= rng.uniform(1.5, 20)
    if with_nan:
        values[rng.integers(0, points, 3)] = math.nan
    params = dict(loss_spike.LossSpike().values)
    assert [astuple(spike) for spike in loss_spike.find_spikes(values, params)] == [astuple(spike) for spike in spikes_by_point(values, params)]


@given(values_strategy, st.integers(1, 8))
def test_window_extremes_are_the_sliding_window_min_and_max(values, width):
    """SAT002's flat-stretch search: element-wise passes give what reducing each window gives."""
    array = np.array(values, dtype=np.float64)
    if array.size < width:
        return
    windows = np.lib.stride_tricks.sliding_window_view(array, width)
    with np.errstate(invalid="ignore"):
        expected = windows.min(axis=1), windows.max(axis=1)
    for got, wanted in zip(keras_clip_saturation._window_extremes(array, width), expected):
        assert np.array_equal(got, wanted, equal_nan=True)
