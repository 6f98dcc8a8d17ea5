"""The trajectory facts stay exactly what their defining loops compute, however they are vectorised."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nandoctor import features


def ema_by_loop(values: np.ndarray, alpha: float) -> np.ndarray:
    out = np.empty(values.shape, dtype=np.float64)
    average = math.nan
    for index, value in enumerate(values.tolist()):
        if math.isfinite(value):
            average = value if math.isnan(average) else alpha * value + (1 - alpha) * average
        out[index] = average
    return out


def rolling_median_by_nanmedian(values: np.ndarray, window: int) -> np.ndarray:
    out = np.full(values.shape, np.nan)
    if values.size < 2:
        return out
    padded = np.concatenate([np.full(window, np.nan), values.astype(np.float64)])
    view = np.lib.stride_tricks.sliding_window_view(padded[:-1], window)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out[:] = np.nanmedian(view, axis=1)
    return out


def same_bits(left: np.ndarray, right: np.ndarray) -> bool:
    return left.shape == right.shape and np.array_equal(left.view(np.int64), right.view(np.int64))


def noisy_series(seed: int, count: int, holes: float, scale: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = scale * np.exp(rng.normal(scale=1.5, size=count))
    gaps = rng.random(count) < holes
    values[gaps] = rng.choice([np.nan, np.inf, -np.inf], size=int(gaps.sum()))
    return values


finite_or_not = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(-10, 10), st.just(0.0), st.just(-0.0))


@settings(max_examples=200, deadline=None)
@given(st.lists(finite_or_not, max_size=60), st.sampled_from([0.1, 2 / 51, 0.5, 1.0, 1.5, 1e-3]))
def test_ema_is_the_loop_bit_for_bit_on_any_short_series(points, alpha):
    values = np.array(points, dtype=np.float64)
    assert same_bits(features.ema(values, alpha), ema_by_loop(values, alpha))


def test_ema_gives_the_values_worked_out_by_hand():
    # the reference loop above is the definition itself; these numbers check that definition
    # independently: NaN before the first finite value, 0.5 * 4 + 0.5 * 2 = 3, a gap carries 3,
    # then 0.5 * 1 + 0.5 * 3 = 2
    np.testing.assert_array_equal(features.ema(np.array([np.inf, 2.0, 4.0, np.nan, 1.0]), 0.5), [np.nan, 2.0, 3.0, 3.0, 2.0])
    # alpha 1.5 overflows: 1.5 * 1.7e308 = inf, then inf - 0.5 * inf = NaN, and the next value restarts it
    np.testing.assert_array_equal(features.ema(np.full(4, 1.7e308), 1.5), [1.7e308, np.inf, np.nan, 1.7e308])


@pytest.mark.parametrize("alpha", [0.1, 2 / 51, 0.3, 0.02])
@pytest.mark.parametrize("seed", range(4))
def test_ema_of_a_long_series_is_the_loop_bit_for_bit(seed, alpha):
    values = noisy_series(seed, 60_000 + seed * 7919, holes=0.01 * seed, scale=[1.0, 1e-300, 1e300, -3.0][seed])
    assert same_bits(features.ema(values, alpha), ema_by_loop(values, alpha))


def test_ema_lanes_that_have_not_met_are_recomputed_from_the_exact_average(monkeypatch):
    # too short a warm-up leaves lanes on their guesses: they must be caught and redone
    monkeypatch.setattr(features, "EMA_FORGET_BITS", 0.5)
    values = noisy_series(7, 50_000, holes=0.0, scale=1.0)
    assert same_bits(features.ema(values, 0.1), ema_by_loop(values, 0.1))


def test_ema_of_values_near_the_float_limit_overflows_as_the_loop_does():
    values = np.full(20_000, 1.7e308)
    values[::3] = -1.7e308
    for alpha in (0.1, 1.5):
        assert same_bits(features.ema(values, alpha), ema_by_loop(values, alpha))


@settings(max_examples=200, deadline=None)
@given(st.lists(finite_or_not, max_size=40), st.integers(1, 9))
def test_rolling_median_is_nanmedian_of_every_window(points, window):
    values = np.array(points, dtype=np.float64)
    ours, theirs = features.rolling_median(values, window), rolling_median_by_nanmedian(values, window)
    zero = (ours == 0) & (theirs == 0)  # the sign of a zero median is the sort's choice
    assert same_bits(np.where(zero, 0.0, ours), np.where(zero, 0.0, theirs))


@pytest.mark.parametrize("window", [1, 2, 3, 50, 601])
def test_rolling_median_of_a_long_series_with_gaps(window):
    values = noisy_series(3, 5_000, holes=0.05, scale=2.0)
    assert same_bits(features.rolling_median(values, window), rolling_median_by_nanmedian(values, window))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.floats(1e-6, 1e6), st.just(float("nan"))), max_size=80), st.integers(1, 12))
def test_previous_window_medians_are_pandas_rolling_medians(points, window):
    values = np.array(points, dtype=np.float64)
    theirs = pd.Series(values, dtype="float64").rolling(window, min_periods=1).median().to_numpy()
    assert same_bits(features.previous_window_medians(values, window), theirs)


def runs_by_loop(flags: list[bool]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for index, flag in enumerate(flags):
        if flag and runs and runs[-1][0] + runs[-1][1] == index:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        elif flag:
            runs.append((index, 1))
    return runs


@given(st.lists(st.booleans(), max_size=60))
def test_true_runs_and_the_longest_are_the_counting_loops(flags):
    expected = runs_by_loop(flags)
    starts, lengths = features.true_runs(np.array(flags, dtype=bool))
    assert list(zip(starts.tolist(), lengths.tolist())) == expected
    longest = max(expected, key=lambda run: run[1], default=(0, 0))  # the first of the longest
    assert features.longest_run(np.array(flags, dtype=bool)) == longest


@given(st.lists(st.integers(0, 40), max_size=30), st.lists(st.integers(0, 40), max_size=30), st.booleans())
def test_common_steps_are_intersect1d_s(first, second, increasing):
    if increasing:  # the binary-search path: strictly increasing steps
        first, second = sorted(set(first)), sorted(set(second))
    first, second = np.array(first, dtype=np.int64), np.array(second, dtype=np.int64)
    got = features.common_steps(first, second)
    shared = sorted(set(first.tolist()) & set(second.tolist()))
    assert got[0].tolist() == shared
    assert first[got[1]].tolist() == shared and second[got[2]].tolist() == shared
    if increasing:
        assert all(np.array_equal(mine, theirs) for mine, theirs in zip(got, np.intersect1d(first, second, return_indices=True)))
