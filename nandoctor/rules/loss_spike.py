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
    follows the spike: **recovered** when the loss returns to `recovered_ratio` x the pre-spike
    baseline (reported as `info` with the number of points and steps it took); **not recovered**
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
    of a very smooth curve). Recovery within 1.05 x the pre-spike EMA; no recovery when the level
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
    accepted, so the scan runs block by block in numpy: the baselines of a block are one EMA (bit
    for bit the recurrence), and the median and MAD of the previous `history` residuals are
    computed, exactly as np.median computes them, only for the points that clear the cheap
    `ratio` test. Blocks grow while no spike turns up and restart small after one.
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
    index = 0
    block = _FIRST_BLOCK
    while index < values.size:
        stop = min(values.size, index + block)
        where = index + np.flatnonzero(np.isfinite(logs[index:stop]))
        if where.size == 0:
            index, block = stop, min(block * 4, _LARGEST_BLOCK)
            continue
        kept = logs[where]
        before = _baselines_before(kept, baseline, alpha)  # the baseline each kept point is tested against
        with np.errstate(invalid="ignore"):
            jumps = kept - before  # NaN for the run's very first point (no baseline yet)
        has_residual = np.isfinite(before)
        earlier = np.concatenate([[0], np.cumsum(has_residual)[:-1]])  # residuals of this block before each point
        accepted_before = accepted + np.arange(kept.size)
        with np.errstate(invalid="ignore"):
            cheap = (accepted_before >= warmup) & (residual_total + earlier >= warmup - 1) & (jumps >= min_jump)
        spike_at = -1
        candidates = np.flatnonzero(cheap)
        if candidates.size:
            pool = np.concatenate([residuals, jumps[has_residual]])  # the accepted residuals in order
            ends = residuals.size + earlier[candidates]  # each candidate's window is pool[end - history : end]
            center, spread = _window_median_and_mad(pool, ends, history)
            with np.errstate(invalid="ignore"):
                needed = np.where(np.isnan(center), min_jump, np.maximum(min_jump, center + mad_multiple * spread))
                hits = np.flatnonzero(jumps[candidates] >= needed)
            if hits.size:
                spike_at = int(candidates[hits[0]])
        if spike_at < 0:
            accepted += kept.size
            residual_total += int(np.count_nonzero(has_residual))
            residuals = np.concatenate([residuals, jumps[has_residual]])[-history:]
            baseline = float(_baseline_after(kept[-1], before[-1], alpha))
            index, block = stop, min(block * 4, _LARGEST_BLOCK)
            continue
        # the points before the spike are accepted; the spike is not
        accepted += spike_at
        residual_total += int(np.count_nonzero(has_residual[:spike_at]))
        residuals = np.concatenate([residuals, jumps[:spike_at][has_residual[:spike_at]]])[-history:]
        baseline = float(before[spike_at])
        spike = follow_spike(values, logs, int(where[spike_at]), baseline, params)
        spikes.append(spike)
        if spike.outcome != "recovered":
            break
        index = int(where[spike_at]) + spike.recovery_points  # resume at the recovered point, baseline unchanged
        block = _FIRST_BLOCK
    return spikes


_FIRST_BLOCK = 256  # points scanned at once after a spike; the block grows 4x while none turns up
_LARGEST_BLOCK = 1 << 20
_MEDIAN_ROWS = 1 << 14  # candidate windows whose median is taken at once


def _baselines_before(kept: np.ndarray, baseline: float, alpha: float) -> np.ndarray:
    """The baseline in force before each kept log-loss, given the baseline before the first (NaN: none yet)."""
    if math.isnan(baseline):
        averages = ema(kept, alpha)  # the first point seeds the average
        return np.concatenate([[np.nan], averages[:-1]])
    averages = ema(np.concatenate([[baseline], kept]), alpha)  # seeded with the running baseline
    return averages[:-1]


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
    padded = np.concatenate([np.full(history, np.nan), pool])
    windows = np.lib.stride_tricks.sliding_window_view(padded, history)  # row e: pool[e - history : e]
    full = np.flatnonzero(ends >= history)
    low, high = (history - 1) // 2, history // 2
    for begin in range(0, full.size, _MEDIAN_ROWS):
        rows = full[begin : begin + _MEDIAN_ROWS]
        chosen = windows[ends[rows]]
        middle = _middle_of(np.partition(chosen, (low, high), axis=1), low, high, history % 2 == 1)
        deviations = np.abs(chosen - middle[:, None])
        center[rows] = middle
        spread[rows] = 1.4826 * _middle_of(np.partition(deviations, (low, high), axis=1), low, high, history % 2 == 1)
    short = np.flatnonzero((ends < history) & (ends > 0))
    if short.size:
        chosen = windows[ends[short]]  # NaN-padded on the left
        present = ends[short]
        middle = _sorted_middle(np.sort(chosen, axis=1), present)  # NaN sorts last
        with np.errstate(invalid="ignore"):
            deviations = np.abs(chosen - middle[:, None])
        center[short] = middle
        spread[short] = 1.4826 * _sorted_middle(np.sort(deviations, axis=1), present)
    return center, spread


def _middle_of(parted: np.ndarray, low: int, high: int, odd: bool) -> np.ndarray:
    if odd:
        return parted[:, high].copy()
    return (parted[:, low] + parted[:, high]) / 2.0


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
    # the first point after the onset that is non-finite or back at the recovered level
    with np.errstate(invalid="ignore"):
        ending = _first_where(values, onset + 1, lambda block: ~np.isfinite(block) | (block <= recovered_level))
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
    after_level = float(np.median(after))
    outcome = "shifted" if after_level >= float(params["shift_ratio"]) * baseline else "settled"
    return Spike(onset, baseline, peak, float(values[onset]) / baseline, width, outcome, 0, after_level)


def _first_where(array: np.ndarray, begin: int, test) -> int:
    """The first index from `begin` on where `test` holds (len(array) if none), searched in growing chunks."""
    chunk = 64
    while begin < array.size:
        found = np.flatnonzero(test(array[begin : begin + chunk]))
        if found.size:
            return begin + int(found[0])
        begin += chunk
        chunk = min(chunk * 4, 1 << 20)
    return int(array.size)


def resume_before(events: tuple[RunEvent, ...], loss: Series, index: int) -> RunEvent | None:
    """A restart or rewind logged within a couple of points before the spike."""
    earliest = int(loss.steps[max(0, index - _RESUME_POINTS)])
    for event in events:
        if event.kind in ("restart", "rewind", "resume") and event.step is not None and earliest <= event.step <= int(loss.steps[index]):
            return event
    return None
