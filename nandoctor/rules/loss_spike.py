"""SPK001: a sudden jump of the loss above its recent baseline, and whether the run recovered from it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ..features import Facts, ema, learning_rate_near, log_values
from ..model import Finding, Run, RunEvent, Series
from . import Param, Rule
from .stalled_loss import at_saturation_constant

# A spike this close (in logged points) after a restart or rewind is a resume artefact, not an instability.
_RESUME_POINTS = 2


class LossSpike(Rule):
    """The loss jumps far above its recent baseline; reported as benign if it recovered, as a warning if it did not.

    ## What it detects
    A train-loss point at least `ratio` times its warmed-up baseline (an exponential moving
    average of the log-loss over the previous points, `alpha`) that is also `mad_multiple` robust
    standard deviations above the recent residuals (the previous `history` points). Then it
    follows the spike: **recovered** when the loss's level returns to `recovered_ratio` x the
    pre-spike baseline (a point there with at least half of the `recovery_window` points from it:
    one batch of a noisy loss that dips there is no recovery) (reported as `info` with the number of points and steps it took); **not recovered**
    when a NaN/inf follows before recovery, or when the loss settles at `shift_ratio` x the
    baseline or more for at least `shift_widths` times the spike's width (a `warning` supporting
    divergence). A spike after which the loss settles within `shift_ratio` of the old level, or
    that the log ends too soon after to judge, is `info`, and so is one right after a logged
    restart or rewind (a resume artefact), and so is a jump into a saturation plateau (87.3365,
    K x (1 - accuracy), ln C: catalog S16 says to check those constants first, and the SAT rules
    report them). Recovered spikes are summarised in one finding; the
    first spike that does not recover ends the scan. Sudden drops are never spikes.

    ## Why it matters
    Large-model runs spike: most spikes recover within a few hundred steps and need nothing, but a
    spike that leaves the loss at a higher level is the start of divergence (the 104B run that
    "stayed there w/o any change, and later it went into NaN"). Rolling back before it and
    skipping the data, or lowering the learning rate, saves the run.

    ## Signature
    L_t >= 1.5 x EMA(L) and log L_t >= median + 6 x MAD-sigma of the recent residuals of
    log L against the EMA (catalog S14, proposed; the catalog accepts either test, we require
    both: the ratio alone fires on every noisy small-batch loss, the MAD test alone on 1 % blips
    of a very smooth curve). Recovery within 1.05 x the pre-spike EMA, at a point with 3 of the 5
    points from it (ours: the catalog's raw test lets one low batch of a noisy loss end the spike); no recovery when the level
    stays >= 1.1 x for >= 5 spike widths or a NaN follows (catalog, as is).

    ## Suggested fixes
    Roll back to a checkpoint about 100 steps before the spike and skip the next 200-500 batches
    (PaLM); if spikes repeat, lower the learning rate or lengthen warmup, use Adam beta2 = 0.95,
    clip gradients, train in bf16 rather than fp16, and look for bad data around the spike.

    ## Parameters
    - `ratio`: smallest jump over the baseline EMA that can be a spike (1.5).
    - `mad_multiple`: robust standard deviations of the recent residuals a spike must also exceed (6).
    - `alpha`: smoothing of the baseline EMA of the log-loss (0.1).
    - `warmup_points`: points before the baseline is trusted (10).
    - `history`: recent points the robust spread is taken from (100).
    - `recovered_ratio`: level over the pre-spike baseline that counts as recovered (1.05).
    - `shift_ratio`: level over the baseline that counts as not recovered (1.1).
    - `shift_widths`: spike widths the shifted level must last (5).
    - `recovery_window`: points of which at least half must be back at the recovered level for a recovery (5).

    ## References
    - research catalog S14 (loss spikes: fast-recovering, slow, non-recovering), S10, S23.
    - threads/017 (bigscience tr8-104B chronicles: 6.44 -> 11.42, settles at 7.16, later NaN), threads/018.
    - stas00/ml-engineering training-loss-patterns (BLOOM-176B spike recovered in 200 steps), Chowdhery et al. 2022 (PaLM §5.1),
      bigscience-workshop/Megatron-DeepSpeed#57, paiml/entrenar#127 (3 x EMA rollback).
    """

    id = "SPK001"
    slug = "loss-spike"
    severity = "warning"
    requires = ("train_loss",)
    optional = ("lr",)
    causes = ("divergence", "lr_too_high")
    params = {
        "ratio": Param(1.5, "smallest jump over the baseline EMA that can be a spike"),
        "mad_multiple": Param(6.0, "robust standard deviations of the recent residuals a spike must also exceed"),
        "alpha": Param(0.1, "smoothing of the baseline EMA of the log-loss"),
        "warmup_points": Param(10, "points before the baseline is trusted"),
        "history": Param(100, "recent points the robust spread is taken from"),
        "recovered_ratio": Param(1.05, "level over the pre-spike baseline that counts as recovered"),
        "shift_ratio": Param(1.1, "level over the baseline that counts as not recovered"),
        "shift_widths": Param(5, "spike widths the shifted level must last"),
        "recovery_window": Param(5, "points of which at least half must be back at the recovered level for a recovery"),
    }

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        loss = facts.loss
        if loss is None or len(loss) <= int(self.warmup_points):
            return
        spikes = find_spikes(loss.values, self.values)
        recovered = [spike for spike in spikes if spike.outcome == "recovered"]
        if recovered:
            yield self._recovered(facts, loss, recovered)
        last = spikes[-1] if spikes else None
        if last is not None and last.outcome == "shifted" and at_saturation_constant(run, facts, loss):
            yield self._into_saturation(facts, loss, last)
        elif last is not None and last.outcome in ("nan", "shifted"):
            yield self._unrecovered(facts, loss, last, resume_before(run.events, loss, last.index))
        elif last is not None and last.outcome in ("settled", "open"):
            yield self._unresolved(facts, loss, last)

    def _recovered(self, facts: Facts, loss: Series, spikes: list["Spike"]) -> Finding:
        largest = max(spikes, key=lambda spike: spike.ratio)
        unit = loss.step_unit
        step = int(loss.steps[largest.index])
        recovery_steps = int(loss.steps[largest.index + largest.recovery_points] - loss.steps[largest.index])
        evidence = {"spikes": len(spikes), "largest_ratio": round(largest.ratio, 3), "pre_spike_level": largest.baseline, "peak": largest.peak, "recovery_points": largest.recovery_points, f"recovery_{unit}s": recovery_steps}
        lr = learning_rate_near(facts, step)
        if lr is not None:
            evidence["lr"] = lr
        count = f"{len(spikes)} spikes, the largest" if len(spikes) > 1 else "a spike"
        message = f"{loss.name} had {count} {largest.ratio:.1f}x its baseline ({largest.baseline:.4g} -> {largest.peak:.4g}) at {unit} {step} and recovered within {largest.recovery_points} points ({recovery_steps} {unit}s)."
        return self.finding(message, confidence=0.7, series=loss, index=largest.index, evidence=evidence, causes={}, severity="info")

    def _into_saturation(self, facts: Facts, loss: Series, spike: "Spike") -> Finding:
        unit = loss.step_unit
        step = int(loss.steps[spike.index])
        evidence = {"ratio": round(spike.ratio, 3), "pre_spike_level": spike.baseline, "post_spike_level": spike.after_level, "outcome": "saturated"}
        message = f"{loss.name} jumped {spike.ratio:.1f}x ({spike.baseline:.4g} -> {spike.peak:.4g}) at {unit} {step} into a saturation plateau at {spike.after_level:.6g}; the SAT findings name it."
        return self.finding(message, confidence=0.5, series=loss, index=spike.index, evidence=evidence, causes={}, severity="info")

    def _unresolved(self, facts: Facts, loss: Series, spike: "Spike") -> Finding:
        unit = loss.step_unit
        step = int(loss.steps[spike.index])
        evidence = {"ratio": round(spike.ratio, 3), "pre_spike_level": spike.baseline, "peak": spike.peak, "width_points": spike.width, "outcome": spike.outcome}
        if spike.outcome == "settled":
            evidence["post_spike_level"] = spike.after_level
            ending = f"and settled at {spike.after_level:.4g}, within {float(self.shift_ratio) - 1:.0%} of the level before"
        else:
            ending = f"and the log ends {len(loss) - 1 - spike.index} points later, before it could recover"
        message = f"{loss.name} spiked {spike.ratio:.1f}x its baseline ({spike.baseline:.4g} -> {spike.peak:.4g}) at {unit} {step} {ending}."
        return self.finding(message, confidence=0.4, series=loss, index=spike.index, evidence=evidence, causes={}, severity="info")

    def _unrecovered(self, facts: Facts, loss: Series, spike: "Spike", resume: RunEvent | None) -> Finding:
        unit = loss.step_unit
        step = int(loss.steps[spike.index])
        evidence = {"ratio": round(spike.ratio, 3), "pre_spike_level": spike.baseline, "peak": spike.peak, "width_points": spike.width, "outcome": spike.outcome}
        if spike.outcome == "shifted":
            evidence["post_spike_level"] = spike.after_level
            evidence["post_over_pre"] = round(spike.after_level / spike.baseline, 3)
        lr = learning_rate_near(facts, step)
        if lr is not None:
            evidence["lr"] = lr
        if spike.outcome == "nan":
            ending = "and the loss went non-finite before it recovered"
        else:
            ending = f"and settled at {spike.after_level:.4g} ({spike.after_level / spike.baseline:.2f}x the level before) without recovering"
        message = f"{loss.name} spiked {spike.ratio:.1f}x its baseline ({spike.baseline:.4g} -> {spike.peak:.4g}) at {unit} {step} {ending}."
        if resume is not None:
            evidence["after_event"] = resume.kind
            message = message[:-1] + f", right after a {resume.kind} (likely a resume artefact)."
            return self.finding(message, confidence=0.4, series=loss, index=spike.index, evidence=evidence, causes={}, severity="info")
        confidence = 0.75 if spike.outcome == "nan" else 0.65
        return self.finding(message, confidence=confidence, series=loss, index=spike.index, evidence=evidence, causes={"divergence": 1.0, "lr_too_high": 0.4})


@dataclass(frozen=True)
class Spike:
    """One spike of a loss and what became of it."""

    index: int  # onset
    baseline: float  # pre-spike level (geometric EMA)
    peak: float
    ratio: float  # onset value over the baseline
    width: int  # points above the geometric midpoint between baseline and peak (until recovery, if it recovered)
    outcome: str  # recovered | nan | shifted | settled (back under the shift level) | open (too little log after it)
    recovery_points: int  # points from onset to recovery (recovered only)
    after_level: float  # median level after the spike (shifted only)


def find_spikes(values: np.ndarray, params: dict) -> list[Spike]:
    """Every spike of `values` in order; the scan stops at the first that does not recover.

    The scan's state is the baseline (an EMA of the accepted log-losses), the count of accepted
    points and the residuals of the last `history` of them. A point is a spike when it is
    `warmup_points` accepted points in, at least `ratio` over the baseline, and its jump is at
    least `mad_multiple` robust deviations above the median of those residuals; spikes are
    neither accepted nor added to the residuals, and after a recovered spike the scan resumes at
    the recovered point with the baseline it had before. Between spikes every finite point is
    accepted, so the scan runs block by block in numpy (`_scan_block`): the baselines of a block are one EMA (bit
    for bit the recurrence), and the median and MAD of the previous `history` residuals are
    computed, exactly as np.median computes them, only for the points that clear the cheap
    `ratio` test. Blocks grow while no spike turns up. Right after a spike, where the next one is
    often near, a short scan over plain floats (`_scan_points`, the same arithmetic) is cheaper than
    a numpy block per spike. The result is the per-point loop's, spike for spike (the median is
    computed for every tested point, never reused from an earlier one).
    """
    logs = log_values(values)
    alpha = float(params["alpha"])
    warmup = int(params["warmup_points"])
    history = max(1, int(params["history"]))
    min_jump = math.log(float(params["ratio"]))
    mad_multiple = float(params["mad_multiple"])
    spikes: list[Spike] = []
    baseline = math.nan  # EMA of the log-loss over accepted (non-spike) points
    accepted = 0
    residuals = np.empty(0)  # the last `history` log-jumps of accepted points over their baseline
    residual_total = 0  # how many there have been in all
    missing_before = np.concatenate([[0], np.cumsum(np.isnan(logs))])  # non-finite (or non-positive) points before each index
    log_list: list[float] | None = None  # plain floats for the short scans after a spike
    index = 0
    block = _FIRST_BLOCK
    after_spike = False
    while index < values.size:
        if after_spike:
            # right after a spike the next one is often near: a short scan over plain floats costs less than
            # a numpy block per spike; it hands back to the blocks when it runs out of points or candidates
            if log_list is None:
                log_list = logs.tolist()
            after_spike = False
            index, onset, baseline, accepted, residuals, residual_total = _scan_points(
                log_list, index, min(values.size, index + _SCAN_POINTS), baseline, accepted, residuals, residual_total, alpha, warmup, history, min_jump, mad_multiple
            )
            block = _FIRST_BLOCK
        else:
            index, onset, baseline, accepted, residuals, residual_total = _scan_block(
                logs, missing_before, index, min(values.size, index + block), baseline, accepted, residuals, residual_total, alpha, warmup, history, min_jump, mad_multiple
            )
            block = min(block * 4, _LARGEST_BLOCK)
        if onset < 0:
            continue
        spike = follow_spike(values, logs, onset, baseline, params)
        spikes.append(spike)
        if spike.outcome != "recovered":
            break
        index = onset + spike.recovery_points  # resume at the recovered point, baseline unchanged
        after_spike = True
    return spikes


def _scan_block(logs: np.ndarray, missing_before: np.ndarray, index: int, stop: int, baseline: float, accepted: int, residuals: np.ndarray, residual_total: int, alpha: float, warmup: int, history: int, min_jump: float, mad_multiple: float):
    """The scan over logs[index:stop] in numpy, until a spike; the same state in and out as `_scan_points`.

    Returns (stop, the spike's index or -1, baseline, accepted, residuals, residual_total); the points
    before the spike are accepted, the spike is not.
    """
    if missing_before[stop] == missing_before[index]:  # all finite: the usual case, no gather
        where = None
        kept = logs[index:stop]
    else:
        where = index + np.flatnonzero(~np.isnan(logs[index:stop]))
        if where.size == 0:
            return stop, -1, baseline, accepted, residuals, residual_total
        kept = logs[where]
    seeding = math.isnan(baseline)  # the run's first finite point seeds the baseline and has no residual
    before = _baselines_before(kept, baseline, alpha)  # the baseline each kept point is tested against
    with np.errstate(invalid="ignore"):
        jumps = kept - before
    block_residuals = jumps[1:] if seeding else jumps
    # point j of the block has accepted + j accepted points and residual_total + j (- 1 when seeding) residuals before it
    first_testable = max(0, warmup - accepted, warmup - 1 - residual_total + (1 if seeding else 0))
    spike_at = -1
    if first_testable < kept.size:
        candidates = first_testable + np.flatnonzero(jumps[first_testable:] >= min_jump)
        if candidates.size:
            pool = np.concatenate([residuals, block_residuals])  # the accepted residuals in order
            ends = residuals.size + candidates - (1 if seeding else 0)  # each candidate's window is pool[end - history : end]
            center, spread = _window_median_and_mad(pool, ends, history)
            with np.errstate(invalid="ignore"):
                needed = np.where(np.isnan(center), min_jump, np.maximum(min_jump, center + mad_multiple * spread))
            hits = np.flatnonzero(jumps[candidates] >= needed)
            if hits.size:
                spike_at = int(candidates[hits[0]])
    if spike_at < 0:
        residuals = np.concatenate([residuals, block_residuals])[-history:]
        return stop, -1, _baseline_after(float(kept[-1]), float(before[-1]), alpha), accepted + kept.size, residuals, residual_total + block_residuals.size
    taken = block_residuals[: spike_at - (1 if seeding else 0)]
    onset = index + spike_at if where is None else int(where[spike_at])
    return stop, onset, float(before[spike_at]), accepted + spike_at, np.concatenate([residuals, taken])[-history:], residual_total + taken.size


def _scan_points(log_list: list[float], index: int, stop: int, baseline: float, accepted: int, residuals: np.ndarray, residual_total: int, alpha: float, warmup: int, history: int, min_jump: float, mad_multiple: float):
    """The scan one point at a time over log_list[index:stop], as the block scan does it, until a spike.

    Returns (where it stopped, the spike's index or -1, baseline, accepted, residuals, residual_total). A
    point that clears the cheap `ratio` test gets np.median and its MAD over the previous `history`
    residuals; after `_SCAN_CANDIDATES` such points that were not spikes, the scan stops and hands back
    (a noisy stretch: the block scan takes its medians in bulk).
    """
    recent = residuals.tolist()
    spike_at = -1
    tested = 0
    position = index
    while position < stop:
        value = log_list[position]
        if value != value:  # NaN: a non-finite or non-positive loss is skipped
            position += 1
            continue
        if baseline != baseline:  # the run's first finite point seeds the baseline
            baseline = value
            accepted += 1
            position += 1
            continue
        jump = value - baseline
        if accepted >= warmup and residual_total >= warmup - 1 and jump >= min_jump:
            window = np.asarray(recent[-history:]).reshape(1, -1)
            needed = min_jump
            if window.size:
                middle = window.size // 2
                center = float(_partitioned_median(window, middle)[0])  # np.median's number
                spread = 1.4826 * float(_partitioned_median(np.abs(window - center), middle)[0])
                needed = max(min_jump, center + mad_multiple * spread)
            if jump >= needed:
                spike_at = position
                break
            tested += 1
        recent.append(jump)
        residual_total += 1
        baseline = alpha * value + (1 - alpha) * baseline
        accepted += 1
        position += 1
        if len(recent) > 4 * history:
            del recent[:-history]
        if tested >= _SCAN_CANDIDATES:
            break
    return position, spike_at, baseline, accepted, np.array(recent[-history:], dtype=np.float64), residual_total


_FIRST_BLOCK = 256  # points scanned at once by numpy; the block grows 4x while no spike turns up
_SCAN_POINTS = 512  # points scanned one at a time after a spike
_SCAN_CANDIDATES = 8  # candidates (not spikes) after which that scan hands back to the numpy blocks
_LANED_BLOCK = 8192  # from this many points a block's baselines come from features.ema's numpy lanes
_LARGEST_BLOCK = 1 << 20
_MEDIAN_ROWS = 1 << 14  # candidate windows whose median is taken at once


def _baselines_before(kept: np.ndarray, baseline: float, alpha: float) -> np.ndarray:
    """The baseline in force before each kept log-loss, given the baseline before the first (NaN: none yet).

    Bit for bit the loop's `alpha * value + (1 - alpha) * baseline`: features.ema (numpy lanes) for
    long blocks, the same recurrence over plain floats for the short ones after a spike.
    """
    seeding = math.isnan(baseline)
    if kept.size >= _LANED_BLOCK:
        if seeding:
            return np.concatenate([[np.nan], ema(kept, alpha)[:-1]])  # the first point seeds the average
        return ema(np.concatenate([[baseline], kept]), alpha)[:-1]  # seeded with the running baseline
    beta = 1 - alpha
    terms = (kept * alpha).tolist()
    out = [math.nan] * kept.size
    average = float(kept[0]) if seeding else baseline
    for position in range(1 if seeding else 0, kept.size):
        out[position] = average
        average = terms[position] + beta * average
    return np.array(out)


def _baseline_after(value: float, before: float, alpha: float) -> float:
    """The recurrence's next average, as the loop rounds it."""
    return value if math.isnan(before) else alpha * value + (1 - alpha) * before


def _window_median_and_mad(pool: np.ndarray, ends: np.ndarray, history: int) -> tuple[np.ndarray, np.ndarray]:
    """Per end e, np.median of pool[max(0, e - history) : e] and 1.4826 x the median absolute deviation from it.

    NaN where a window is empty. Full windows are partitioned in blocks; the short ones at the
    start of a run are sorted with NaN padding. Both give np.median's numbers: the middle value,
    or the mean (a + b) / 2 of the two middle values.
    """
    center = np.full(ends.size, np.nan)
    spread = np.full(ends.size, np.nan)
    offsets = np.arange(-history, 0)
    full = np.flatnonzero(ends >= history)
    high = history // 2
    for begin in range(0, full.size, _MEDIAN_ROWS):
        rows = full[begin : begin + _MEDIAN_ROWS]
        chosen = pool[ends[rows, None] + offsets]  # row: pool[end - history : end]
        middle = _partitioned_median(chosen, high)
        deviations = np.abs(chosen - middle[:, None])
        center[rows] = middle
        spread[rows] = 1.4826 * _partitioned_median(deviations, high)
    short = np.flatnonzero((ends < history) & (ends > 0))
    if short.size:
        padded = np.concatenate([np.full(history, np.nan), pool])
        chosen = padded[ends[short, None] + history + offsets]  # NaN-padded on the left
        present = ends[short]
        middle = _sorted_middle(np.sort(chosen, axis=1), present)  # NaN sorts last
        with np.errstate(invalid="ignore"):
            deviations = np.abs(chosen - middle[:, None])
        center[short] = middle
        spread[short] = 1.4826 * _sorted_middle(np.sort(deviations, axis=1), present)
    return center, spread


def _partitioned_median(rows: np.ndarray, high: int) -> np.ndarray:
    """np.median of each row (no NaN): one partition at the upper middle; the lower middle is the largest value left of it."""
    parted = np.partition(rows, high, axis=1)
    upper = parted[:, high]
    if rows.shape[1] % 2 == 1:
        return upper.copy()
    lower = parted[:, :high].max(axis=1)
    return (lower + upper) / 2.0


def _sorted_middle(ordered: np.ndarray, present: np.ndarray) -> np.ndarray:
    """The median of the first `present` values of each sorted row (the rest NaN)."""
    rows = np.arange(ordered.shape[0])
    upper = ordered[rows, present // 2]
    lower = ordered[rows, (present - 1) // 2]
    return np.where(present % 2 == 1, upper, (lower + upper) / 2.0)


def follow_spike(values: np.ndarray, logs: np.ndarray, onset: int, baseline_log: float, params: dict) -> Spike:
    """What became of the spike at `onset`: recovered, a NaN, a shifted level, settled near it, or too little log to tell."""
    baseline = math.exp(baseline_log)
    recovered_level = float(params["recovered_ratio"]) * baseline
    peak = float(values[onset])
    # the first point after the onset that is non-finite, or that is back at the recovered level with most of the
    # points from it: one noisy batch that dips there is not a recovery
    width = max(1, int(params["recovery_window"]))
    with np.errstate(invalid="ignore"):
        ending = _first_where(values, onset + 1, lambda block: ~np.isfinite(block), level_back=(recovered_level, width))
    if ending < values.size:
        offset = ending - onset
        if not math.isfinite(float(values[ending])):
            return Spike(onset, baseline, max(peak, float(np.nanmax(values[onset:ending]))), peak / baseline, offset, "nan", 0, math.nan)
        return Spike(onset, baseline, float(np.max(values[onset:ending])), peak / baseline, offset, "recovered", offset, math.nan)
    peak = float(np.max(values[onset:]))
    # the spike's width: points above the geometric midpoint between the baseline and the peak
    midpoint_log = 0.5 * (baseline_log + math.log(peak))
    with np.errstate(invalid="ignore"):
        width = _first_where(logs, onset + 1, lambda block: ~(block >= midpoint_log)) - onset
    shift_span = int(params["shift_widths"]) * width
    after = values[onset + width : onset + width + shift_span]
    if after.size < shift_span:
        after = values[onset + 1 :]  # the excursion runs to the end: the loss stepped up to a new level
    if after.size < int(params["shift_widths"]):
        return Spike(onset, baseline, peak, float(values[onset]) / baseline, width, "open", 0, math.nan)
    with np.errstate(over="ignore", invalid="ignore"):
        after_level = float(np.median(after))
    outcome = "shifted" if after_level >= float(params["shift_ratio"]) * baseline else "settled"
    return Spike(onset, baseline, peak, float(values[onset]) / baseline, width, outcome, 0, after_level)


def _first_where(array: np.ndarray, begin: int, test, level_back: tuple[float, int] | None = None) -> int:
    """The first index from `begin` on where `test` holds (len(array) if none), searched in growing chunks.

    With `level_back` = (level, width), an index also counts when it and at least half of the `width`
    points from it (fewer at the end of the array) are at or below `level`.
    """
    chunk = 64
    while begin < array.size:
        hits = test(array[begin : begin + chunk])
        if level_back is not None:
            hits = hits | _level_at_or_below(array, begin, hits.size, *level_back)
        found = np.flatnonzero(hits)
        if found.size:
            return begin + int(found[0])
        begin += chunk
        chunk = min(chunk * 4, 1 << 20)
    return int(array.size)


def _level_at_or_below(array: np.ndarray, begin: int, count: int, level: float, width: int) -> np.ndarray:
    """Per index begin..begin+count-1: is the point at or below `level`, and so are at least half (rounded
    up) of the `width` points from it (fewer at the end of the array)? Counted with a cumulative sum."""
    stretch = array[begin : begin + count + width - 1]
    with np.errstate(invalid="ignore"):
        below = stretch <= level
    if width <= 1:
        return below[:count]
    running = np.concatenate([[0], np.cumsum(below)])
    starts = np.arange(count)
    ends = np.minimum(starts + width, stretch.size)
    in_window = running[ends] - running[starts]
    needed = (ends - starts + 1) // 2
    return below[:count] & (in_window >= needed)


def resume_before(events: tuple[RunEvent, ...], loss: Series, index: int) -> RunEvent | None:
    """A restart or rewind logged within a couple of points before the spike."""
    earliest = int(loss.steps[max(0, index - _RESUME_POINTS)])
    for event in events:
        if event.kind in ("restart", "rewind", "resume") and event.step is not None and earliest <= event.step <= int(loss.steps[index]):
            return event
    return None
