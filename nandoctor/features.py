"""Trajectory facts computed once per run, as small pure functions over numpy arrays.

Rules read these instead of re-deriving them: where the loss first went non-finite, how it grew
before that, its level and trend, spikes against a robust baseline, the learning-rate schedule.
Thresholds live in the rules; this module only measures. Everything is scale-free where it can be
(ratios, log-loss, robust statistics), so one rule serves a loss of 0.01 and a loss of 100.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .model import Run, Series

FLT_MIN_LOG = 87.33654475  # -ln(FLT_MIN): Caffe's SoftmaxWithLoss ceiling per sample
KERAS_CLIP_LOSSES = (16.1181, 15.9424, 15.4249, 15.3332)  # -ln(1e-7) and its relatives


def true_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, lengths) of every run of consecutive True in a boolean array, in order."""
    padded = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    starts, ends = edges[0::2], edges[1::2]
    return starts, ends - starts


# ---- non-finite values -------------------------------------------------------------------------

def first_nonfinite_index(values: np.ndarray) -> int | None:
    bad = np.flatnonzero(~np.isfinite(values))
    return int(bad[0]) if bad.size else None


def nonfinite_kind(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return "inf" if value > 0 else "-inf"


def nonfinite_count(values: np.ndarray) -> int:
    return int(np.count_nonzero(~np.isfinite(values)))


# ---- growth and trend --------------------------------------------------------------------------

def step_ratios(values: np.ndarray) -> np.ndarray:
    """values[i+1] / values[i] for positive finite neighbours, NaN elsewhere."""
    if values.size < 2:
        return np.empty(0)
    previous, current = values[:-1], values[1:]
    valid = np.isfinite(previous) & np.isfinite(current) & (previous > 0) & (current > 0)
    ratios = np.full(previous.shape, np.nan)
    np.divide(current, previous, out=ratios, where=valid)
    return ratios


def trailing_increase_run(values: np.ndarray) -> int:
    """How many consecutive increases end the array (0 when the last step did not rise)."""
    if values.size < 2:
        return 0
    rising = np.diff(values) > 0
    falls = np.flatnonzero(~rising)
    return int(rising.size if falls.size == 0 else rising.size - 1 - falls[-1])


@dataclass(frozen=True)
class Growth:
    """How a loss grew over its last finite points before an end point."""

    window: int  # points looked at
    increases: int  # consecutive increases that end the window
    cumulative_ratio: float  # last / first of those increasing points (1.0 when none)
    per_point_ratio: float  # geometric mean ratio per logged point over the increasing stretch
    per_step_ratio: float  # the same per optimizer step
    start_index: int  # index where the increasing stretch starts
    max_over_min: float  # largest value over the smallest positive value so far


def growth_before(steps: np.ndarray, values: np.ndarray, end: int, window: int = 10) -> Growth:
    """The growth of `values[:end]` (finite points) over at most `window` points before `end`."""
    finite = values[:end]
    start = max(0, end - window)
    tail = finite[start:end]
    increases = trailing_increase_run(tail)
    if increases == 0 or end < 2:
        positive = finite[np.isfinite(finite) & (finite > 0)]
        max_over_min = float(np.max(positive) / np.min(positive)) if positive.size else 1.0
        return Growth(tail.size, 0, 1.0, 1.0, 1.0, end - 1, max_over_min)
    first = end - 1 - increases
    low, high = finite[first], finite[end - 1]
    cumulative = float(high / low) if low > 0 else math.inf
    steps_spanned = max(1, int(steps[end - 1] - steps[first]))
    per_point = cumulative ** (1.0 / increases) if math.isfinite(cumulative) else math.inf
    per_step = cumulative ** (1.0 / steps_spanned) if math.isfinite(cumulative) else math.inf
    positive = finite[np.isfinite(finite) & (finite > 0)]
    max_over_min = float(np.max(positive) / np.min(positive)) if positive.size else 1.0
    return Growth(tail.size, increases, cumulative, per_point, per_step, first, max_over_min)


def relative_slope(values: np.ndarray) -> float:
    """Slope of a least-squares line per point, divided by the mean |value|: scale-free trend."""
    finite = values[np.isfinite(values)]
    if finite.size < 3:
        return 0.0
    scale = float(np.mean(np.abs(finite)))
    if scale == 0:
        return 0.0
    x = np.arange(finite.size, dtype=np.float64)
    slope = np.polyfit(x, finite, 1)[0]
    return float(slope / scale)


def ema(values: np.ndarray, alpha: float = 0.1) -> np.ndarray:
    """Exponential moving average over finite values (non-finite points carry the previous average).

    Bit for bit the recurrence `average = alpha * value + (1 - alpha) * average`, computed in
    numpy lanes (see `_ema_lanes`) instead of a Python loop over every point.
    """
    values = np.asarray(values, dtype=np.float64)
    out = np.full(values.shape, np.nan)
    finite = np.isfinite(values)
    kept = values[finite]
    if kept.size == 0:
        return out
    with np.errstate(over="ignore", invalid="ignore"):  # the loop overflows to inf silently too
        averages = _ema_lanes(kept, alpha)
    if np.isnan(averages).any():
        return _ema_reference(values, alpha)  # an overflowing alpha > 1: the loop's restart rule applies
    position = np.cumsum(finite) - 1  # the last finite point at or before each point
    logged = position >= 0
    out[logged] = averages[position[logged]]
    return out


def _ema_reference(values: np.ndarray, alpha: float) -> np.ndarray:
    """The defining loop of `ema`, one point at a time."""
    out = np.empty(values.shape, dtype=np.float64)
    average = math.nan
    for index, value in enumerate(values.tolist()):
        if math.isfinite(value):
            average = value if math.isnan(average) else alpha * value + (1 - alpha) * average
        out[index] = average
    return out


EMA_MIN_LANED = 8192  # below this many points the plain loop is as fast
EMA_MAX_WARMUP = 16384  # an average that forgets this slowly (alpha < ~0.004) runs as the plain loop
EMA_FORGET_BITS = 60.0  # warm-up: a guess off by a factor 2**60 shrinks below the last bit


def _ema_lanes(kept: np.ndarray, alpha: float) -> np.ndarray:
    """The EMA recurrence over finite values, the first seeding it, exactly as the loop rounds it.

    The series is cut into lanes that step at once: step j computes point j of every lane with the
    two IEEE operations the loop does (`alpha * value`, then `+ (1 - alpha) * average`, each
    rounded), so a lane is exact from wherever it holds the exact average. Lane 0 is seeded with
    the first value. Every other lane starts a warm-up stretch before its own points from a guess
    (the value there): the average forgets its start geometrically, and two averages that meet
    stay equal. A lane is kept when its warm-up ends on the previous lane's final average, bit for
    bit; otherwise it is recomputed from that average one point at a time. So the result is always
    the loop's, whatever the data, for a few thousand numpy steps instead of a Python step per point.
    """
    count = kept.size
    beta = 1 - alpha
    scaled = kept * alpha
    forgetting = -math.log(beta) if 0 < beta < 1 else 0.0
    # the guess's error shrinks below the last bit, then a few more steps for the two to meet
    warmup = int(math.ceil(EMA_FORGET_BITS * math.log(2) / forgetting)) + 64 if forgetting > 0 else count
    if count < EMA_MIN_LANED or warmup > EMA_MAX_WARMUP or count < 8 * warmup:
        return _ema_loop(scaled, float(kept[0]), beta, count)
    lane_points = 4 * warmup
    lanes = -(-count // lane_points)
    steps = warmup + lane_points
    # lane k at step j is at point k * lane_points + j - warmup: one strided view, no copies
    padded = np.zeros(warmup + lanes * lane_points)
    padded[warmup : warmup + count] = scaled
    terms = np.lib.stride_tricks.as_strided(padded, shape=(steps, lanes), strides=(8, 8 * lane_points), writeable=False)
    rows = np.empty((steps, lanes))
    guesses = np.concatenate([[kept[0]], kept[np.arange(1, lanes) * lane_points - warmup]])
    rows[0] = guesses
    scratch = np.empty(lanes)
    for step in range(1, steps):
        np.multiply(rows[step - 1], beta, out=scratch)
        np.add(terms[step], scratch, out=rows[step])
        if step == warmup:
            rows[step, 0] = kept[0]  # lane 0's own first point: the loop's seed
    own = rows[warmup:]  # (lane_points, lanes): each lane's own points
    warm_end = rows[warmup - 1, 1:].view(np.int64)
    previous_end = own[-1, :-1].view(np.int64)
    if not np.array_equal(warm_end, previous_end):
        own = own.copy()
        for lane in range(1, lanes):
            exact_before = own[-1, lane - 1]
            if rows[warmup - 1, lane].view(np.int64) != exact_before.view(np.int64):
                begin = lane * lane_points
                end = min(begin + lane_points, count)
                own[: end - begin, lane] = _ema_loop(scaled[begin - 1 : end], float(exact_before), beta, end - begin + 1)[1:]
    return own.T.ravel()[:count]


def _ema_loop(scaled: np.ndarray, start: float, beta: float, count: int) -> np.ndarray:
    """The recurrence one point at a time from `start`, which is taken as the first average."""
    averages = [start] * count
    average = start
    position = 1
    for term in scaled[1:count].tolist():
        average = term + beta * average
        averages[position] = average
        position += 1
    return np.array(averages, dtype=np.float64)


def rolling_median(values: np.ndarray, window: int) -> np.ndarray:
    """Median of the previous `window` points (excluding the current one); NaN for the first point.

    NaN points are left out of each window, as `np.nanmedian` leaves them out; the result is
    np.nanmedian's over every window, to the bit (a zero median may differ in its sign, as the
    order of -0.0 and 0.0 is the sort's), computed by partial sorting in blocks.
    """
    out = np.full(values.shape, np.nan)
    if values.size < 2:
        return out
    # np.nanmedian averages the two middle values, and below 600 points per window it does that
    # for an odd count too (the middle value twice, halved)
    out[1:] = previous_window_medians(np.asarray(values, dtype=np.float64)[:-1], window, halve_odd=window < 600)
    return out


MEDIAN_BLOCK_CELLS = 1 << 20  # window cells partially sorted at once: a few MiB


def previous_window_medians(values: np.ndarray, window: int, *, halve_odd: bool = False) -> np.ndarray:
    """Per point i, the median of the non-NaN values among values[max(0, i - window + 1) : i + 1].

    NaN where a window holds none. With an even count it is the mean of the two middle values,
    `(low + high) / 2`; with an odd count the middle value (or `(middle + middle) / 2` when
    `halve_odd`, which only differs when that sum overflows). Windows without NaN are
    partitioned in blocks; the few with NaN (the start, gaps) are sorted.
    """
    values = np.asarray(values, dtype=np.float64)
    count = values.size
    window = max(1, int(window))
    out = np.full(count, np.nan)
    if count == 0:
        return out
    padded = np.concatenate([np.full(window - 1, np.nan), values])
    windows = np.lib.stride_tricks.sliding_window_view(padded, window)  # row i ends at values[i]
    missing_so_far = np.concatenate([[0], np.cumsum(np.isnan(padded))])
    missing_in_window = missing_so_far[window:] - missing_so_far[:-window]
    complete = np.flatnonzero(missing_in_window == 0)
    low, high = (window - 1) // 2, window // 2
    block = max(1, MEDIAN_BLOCK_CELLS // window)
    for begin in range(0, complete.size, block):
        rows = complete[begin : begin + block]
        if rows.size and rows[-1] - rows[0] == rows.size - 1:
            chosen = windows[rows[0] : rows[-1] + 1]
        else:
            chosen = windows[rows]
        parted = np.partition(chosen, (low, high), axis=1)
        out[rows] = _middle(parted[:, low], parted[:, high], window % 2 == 1, halve_odd)
    partial = np.flatnonzero((missing_in_window > 0) & (missing_in_window < window))
    for begin in range(0, partial.size, block):
        rows = partial[begin : begin + block]
        ordered = np.sort(windows[rows], axis=1)  # NaN sorts last
        present = window - missing_in_window[rows]
        take_high = present // 2
        take_low = (present - 1) // 2
        picked_low = np.take_along_axis(ordered, take_low[:, None], axis=1)[:, 0]
        picked_high = np.take_along_axis(ordered, take_high[:, None], axis=1)[:, 0]
        odd = present % 2 == 1
        out[rows] = np.where(odd, _middle(picked_high, picked_high, True, halve_odd), _middle(picked_low, picked_high, False, halve_odd))
    return out


def _middle(low: np.ndarray, high: np.ndarray, odd: bool, halve_odd: bool) -> np.ndarray:
    if odd and not halve_odd:
        return high.copy()
    with np.errstate(over="ignore", invalid="ignore"):
        return (low + high) / 2.0


PANDAS_MEDIAN_POINTS = 500_000  # beyond this pandas' skip-list median pays for its import (~0.4 s)


def previous_medians(values: np.ndarray, window: int) -> np.ndarray:
    """Per point, the median of the non-NaN values among the `window` points before it (NaN where none).

    For values that are finite or NaN. An even count gives the mean of the two middle values, an
    odd one the middle value itself: np.median's numbers for each window, and pandas' rolling
    median's, which computes the same numbers faster on a million points but costs an import, so it
    serves only long series.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        return np.full(values.shape, np.nan)
    window = max(1, int(window))
    if values.size > PANDAS_MEDIAN_POINTS:
        import pandas as pd

        medians = pd.Series(values[:-1], dtype="float64").rolling(window, min_periods=1).median().to_numpy()
    else:
        medians = previous_window_medians(values[:-1], window)
    return np.concatenate([[np.nan], medians])


def median_without_overflow(values: np.ndarray) -> float:
    """np.median's value, but two middle values near the float maximum are averaged as halves.

    np.median adds the two middle values before halving them, which overflows (a numpy warning on
    the user's terminal, and inf) for losses above ~9e307; elsewhere the result is np.median's, bit
    for bit. NaN anywhere gives NaN, as np.median does; no values give NaN without a warning.
    """
    count = values.size
    if count == 0 or np.isnan(values).any():
        return math.nan
    half = count // 2
    if count % 2:
        return float(np.partition(values, half)[half])
    middle = np.partition(values, (half - 1, half))
    low, high = float(middle[half - 1]), float(middle[half])
    total = low + high  # Python floats: an overflow is inf, never a warning
    if math.isinf(total) and math.isfinite(low) and math.isfinite(high):
        return low / 2 + high / 2
    return total / 2


def robust_scale(values: np.ndarray) -> tuple[float, float]:
    """Median and MAD-based sigma of the finite values."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return math.nan, math.nan
    median = float(np.median(finite))
    mad = float(np.median(np.abs(finite - median)))
    return median, 1.4826 * mad


def log_values(values: np.ndarray) -> np.ndarray:
    """Natural log of positive finite values, NaN elsewhere: growth becomes additive and scale-free."""
    out = np.full(values.shape, np.nan)
    positive = np.isfinite(values) & (values > 0)
    np.log(values, out=out, where=positive)
    return out


def flat_run_end(values: np.ndarray, relative_tolerance: float) -> int:
    """Length of the run of points at the end that stay within a relative band of the last value."""
    if values.size == 0 or not np.isfinite(values[-1]):
        return 0
    last = values[-1]
    band = max(abs(last) * relative_tolerance, 1e-12)
    outside = np.flatnonzero(~(np.abs(values - last) <= band))
    return int(values.size if outside.size == 0 else values.size - 1 - outside[-1])


def longest_run(mask: np.ndarray) -> tuple[int, int]:
    """(start, length) of the longest run of True in a boolean array; (0, 0) if none."""
    if mask.size == 0 or not mask.any():
        return 0, 0
    starts, lengths = true_runs(mask)
    best = int(np.argmax(lengths))
    return int(starts[best]), int(lengths[best])


# ---- class-count constants ----------------------------------------------------------------------

def nearest_ln_classes(level: float, max_classes: int = 100_000) -> tuple[int, float]:
    """The class count C whose ln C is nearest to a loss level, and the distance |level - ln C|."""
    if not math.isfinite(level) or level <= 0.3 or level > math.log(max_classes) + 1.0:
        return 0, math.inf  # beyond ln(max_classes) no count fits (and exp would overflow past ~709)
    classes = max(2, int(round(math.exp(level))))
    best = min((candidate for candidate in (classes - 1, classes, classes + 1) if 2 <= candidate <= max_classes), key=lambda c: abs(level - math.log(c)), default=0)
    if best == 0:
        return 0, math.inf
    return best, abs(level - math.log(best))


# ---- learning rate --------------------------------------------------------------------------------

@dataclass(frozen=True)
class LrFacts:
    """What the logged learning rate did."""

    first_bad_index: int | None  # first non-finite, zero or negative lr after the first point
    peak_index: int
    peak_value: float
    last_value: float
    still_rising_fraction: float  # fraction of the run after which lr still rises at the end
    change_indices: np.ndarray  # indices where lr changed by more than 1 % relative


def lr_facts(lr: Series) -> LrFacts:
    values = lr.values
    finite = np.isfinite(values)
    bad = np.flatnonzero(~finite | (values <= 0))
    first_bad = int(bad[0]) if bad.size else None
    safe = np.where(finite, values, -np.inf)
    peak = int(np.argmax(safe)) if values.size else 0
    peak_value = float(values[peak]) if values.size else math.nan
    rising_run = trailing_increase_run(np.where(finite, values, np.nan))
    fraction = (values.size - 1 - rising_run) / max(1, values.size - 1) if rising_run else 1.0
    previous = values[:-1]
    with np.errstate(all="ignore"):
        relative = np.abs(np.diff(values)) / np.maximum(np.abs(previous), 1e-30)
    changes = np.flatnonzero(relative > 0.01) + 1
    return LrFacts(first_bad, peak, peak_value, float(values[-1]) if values.size else math.nan, float(fraction), changes)


def value_at_step(series: Series | None, step: int) -> float | None:
    """The series' value at the last logged point at or before `step` (None if nothing logged yet)."""
    if series is None or len(series) == 0:
        return None
    index = int(np.searchsorted(series.steps, step, side="right")) - 1
    if index < 0:
        return None
    return float(series.values[index])


def accuracy_scale(values: np.ndarray) -> float:
    """An accuracy series' top: 100 when its typical value is above 2 (a percentage, as mmdetection
    logs `acc: 95.1367`; a fraction cannot be), else 1."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return 1.0
    return 100.0 if median_without_overflow(finite) > 2.0 else 1.0


def common_steps(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """np.intersect1d(first, second, return_indices=True); for strictly increasing steps (the usual log) by one binary search."""
    if first.size > 1 and second.size > 1 and bool(np.all(first[1:] > first[:-1])) and bool(np.all(second[1:] > second[:-1])):
        position = np.searchsorted(second, first)
        inside = position < second.size
        shared = np.flatnonzero(inside)
        shared = shared[second[position[shared]] == first[shared]]
        return first[shared], shared, position[shared]
    return np.intersect1d(first, second, return_indices=True)


# ---- per-run cache ---------------------------------------------------------------------------------

class Facts:
    """The run's main series and facts about them, computed once and shared by every rule."""

    def __init__(self, run: Run):
        self.run = run

    @cached_property
    def loss(self) -> Series | None:
        return self.run.primary("train_loss")

    @cached_property
    def val_loss(self) -> Series | None:
        return self.run.primary("val_loss")

    @cached_property
    def lr(self) -> Series | None:
        return self.run.primary("lr")

    @cached_property
    def grad_norm(self) -> Series | None:
        return self.run.primary("grad_norm")

    @cached_property
    def loss_scale(self) -> Series | None:
        return self.run.primary("loss_scale")

    @cached_property
    def accuracy(self) -> Series | None:
        return self.run.primary("accuracy")

    @cached_property
    def val_accuracy(self) -> Series | None:
        return self.run.primary("val_accuracy")

    @cached_property
    def loss_nonfinite_index(self) -> int | None:
        return None if self.loss is None else first_nonfinite_index(self.loss.values)

    @cached_property
    def loss_end(self) -> int:
        """How many leading points of the train loss come before its first non-finite value."""
        if self.loss is None:
            return 0
        return len(self.loss) if self.loss_nonfinite_index is None else self.loss_nonfinite_index

    @cached_property
    def lr_facts(self) -> LrFacts | None:
        return None if self.lr is None or len(self.lr) == 0 else lr_facts(self.lr)

    def lr_at(self, step: int) -> float | None:
        return value_at_step(self.lr, step)

    def grad_norm_baseline(self, window: int) -> np.ndarray:
        """Per gradient-norm point, the median of the finite positive norms among the `window` points
        before it (NaN where there are none); shared by the rules that judge jumps against it."""
        cache = self.__dict__.setdefault("_grad_norm_baselines", {})
        window = max(1, int(window))
        if window not in cache:
            values = self.grad_norm.values
            cache[window] = previous_medians(np.where(np.isfinite(values) & (values > 0), values, np.nan), window)
        return cache[window]


# ---- NAN / DIV / LR rules: growth before a blow-up, and the learning rate at an onset ---------------

@dataclass(frozen=True)
class GrowthStretch:
    """The strongest rise among the last finite points before an end: from its low point to the top after it."""

    start_index: int  # the low point the rise starts from
    peak_index: int  # the highest point after that low
    cumulative_ratio: float  # peak / low
    fast_increases: int  # longest run of consecutive rises each >= fast_ratio in the window
    ratio_to_min_so_far: float  # largest value in the window over the smallest positive value logged before it


def growth_stretch(values: np.ndarray, end: int, window: int = 10, fast_ratio: float = 1.5) -> GrowthStretch | None:
    """How `values[:end]` rose over its last `window` positive finite points (None with fewer than 2)."""
    end = min(max(int(end), 0), values.size)
    usable = np.isfinite(values[:end]) & (values[:end] > 0)
    # the window is the unbroken run of usable points that ends the prefix: a NaN earlier breaks it
    broken = np.flatnonzero(~usable)
    first = max(end - window, int(broken[-1]) + 1 if broken.size else 0)
    tail = values[first:end]
    if tail.size < 2:
        return None
    running_min_index = np.zeros(tail.size, dtype=np.int64)
    for index in range(1, tail.size):
        previous = running_min_index[index - 1]
        running_min_index[index] = index if tail[index] <= tail[previous] else previous
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        rise = tail / tail[running_min_index]
    peak = int(tail.size - 1 - np.argmax(rise[::-1]))  # the latest of equal rises
    low = int(running_min_index[peak])
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        fast = tail[1:] / tail[:-1] >= fast_ratio
    _, fast_increases = longest_run(fast)
    history = values[:end]
    positive_history = np.where(np.isfinite(history) & (history > 0), history, np.inf)
    min_before = np.minimum.accumulate(np.concatenate([[np.inf], positive_history]))[first:end]
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        over_min = np.where(np.isfinite(min_before), tail / min_before, 1.0)
    return GrowthStretch(first + low, first + peak, float(rise[peak]), int(fast_increases), float(np.max(over_min)))


def learning_rate_near(facts: Facts, step: int) -> float | None:
    """The lr in force at `step` (else the first one logged, else a Caffe solver's base_lr), if finite."""
    value = facts.lr_at(step)
    if value is None and facts.lr is not None and len(facts.lr):
        value = float(facts.lr.values[0])
    if value is None:
        solver = facts.run.meta.get("solver") or {}
        base_lr = solver.get("base_lr") if isinstance(solver, dict) else None
        value = float(base_lr) if isinstance(base_lr, (int, float)) else None
    return value if value is not None and math.isfinite(value) else None


# ---- SAT / IMP / PLT / OSC / SPK rules: every loss a run logged ------------------------------------

def output_name(series_name: str) -> str:
    """A Caffe net output's own name: `train/softmax_loss` -> `softmax_loss` (other names unchanged)."""
    for prefix in ("train/", "test/"):
        if series_name.startswith(prefix):
            return series_name[len(prefix) :]
    return series_name


def loss_series(run: Run) -> list[Series]:
    """Every loss the run logged: train and validation losses, and Caffe outputs that carry a loss weight."""
    weights = run.meta.get("loss_weights") or {}
    return [item for item in run.series if len(item) and (item.role in ("train_loss", "val_loss") or output_name(item.name) in weights)]
