"""LR002: the loss's first instability comes right when the learning rate reaches its peak (or just after it rose)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ..features import Facts, ema, first_nonfinite_index, nonfinite_kind
from ..model import Finding, Run, Series
from . import Param, Rule

GROWTH_POINTS = 3  # a climb over this many logged points is judged against the average before it

@dataclass(frozen=True)
class LrRise:
    """A stretch where the logged learning rate went up: a warmup, or a step up."""

    start_index: int
    peak_index: int
    start_step: int
    peak_step: int
    start_lr: float
    peak_lr: float
    near_peak_step: int  # first step of the rise where lr is within 10 % of the peak


@dataclass(frozen=True)
class Anomaly:
    """The first point where the loss misbehaves."""

    index: int
    step: int
    kind: str  # nan, inf, -inf or spike
    ratio: float  # value over its running average (spikes); NaN for non-finite points


class PostWarmupInstability(Rule):
    """The first NaN or spike of the loss falls right where the learning rate peaked: the peak lr is too high.

    ## What it detects
    A run whose logged learning rate rose (a warmup ramp, or a step up) and whose train loss
    shows its first instability (a non-finite value, or a jump or fast climb well above its running average)
    in a short window around the end of that rise: from the last tenth of the ramp (lr within
    10 % of the peak) to a fifth of the ramp's length after the peak.

    ## Why it matters
    Gradients are largest when the learning rate first reaches its peak, so a peak that is too high
    shows itself there: "the loss was normal in the warmup stage, but when the lr increased to
    0.0025, the loss became nan"; at BigScience "the glitch happened very closely to the moment
    where LR warmup stopped". The timing points at the peak learning rate (or the warmup length),
    not at the data.

    ## Signature
    Rises of the logged lr by at least `min_lr_rise` times, ending at a peak. The loss's first
    anomaly: its first non-finite value, or its first value at least `spike_ratio` times its
    exponential moving average (alpha 0.1) as it stood up to 3 points earlier (a spike, or a fast
    climb over a few points), that also stands `noise_z` robust deviations above the loss's own
    log-residuals (catalog S14's spike test, made noise-aware). The anomaly counts when
    it falls between the first step where the lr is within 10 % of a peak and
    `window_fraction` x the rise's length (or `window_points` logging intervals, whichever is
    longer) after that peak (catalog S10, proposed: within [0, 0.2 x warmup_steps]). An error when
    the anomaly is a non-finite value, else a warning.

    ## Suggested fixes
    Lower the peak learning rate; lengthen the warmup (e.g. warmup_iters 500 -> 1000-2000, or an
    exponential warmup); add gradient clipping (mmdetection: grad_clip max_norm=35); scale the
    learning rate linearly with the batch size.

    ## Parameters
    - `min_lr_rise`: peak lr over the lr where the rise started (1.5).
    - `spike_ratio`: loss over its running average that makes a spike (1.5).
    - `noise_z`: robust deviations of the log-residuals a spike must also exceed (4).
    - `window_fraction`: window after the peak, as a fraction of the rise's length (0.2).
    - `window_points`: shortest window after the peak, in logging intervals of the loss (3).

    ## References
    - research catalog S10 (instability at the end of LR warmup) and S14 (spike test).
    - threads/018 (BigScience tr8-104B: lm loss 6.37 -> 10.24 as the warmup ended).
    - open-mmlab/mmdetection#4616, CyberZHG/keras-radam#43, tensorflow/tensor2tensor#614, open-mmlab/mmdetection#1710.
    """

    id = "LR002"
    slug = "post-warmup-instability"
    severity = "warning"
    requires = ("train_loss", "lr")
    causes = ("lr_too_high",)
    params = {
        "min_lr_rise": Param(1.5, "peak lr over the lr where the rise started"),
        "spike_ratio": Param(1.5, "loss over its running average that makes a spike"),
        "noise_z": Param(4.0, "robust deviations of the log-residuals a spike must also exceed"),
        "window_fraction": Param(0.2, "window after the peak as a fraction of the rise's length"),
        "window_points": Param(3, "shortest window after the peak, in logging intervals of the loss"),
    }

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        loss, lr = facts.loss, facts.lr
        if loss is None or lr is None or len(loss) < 3 or len(lr) < 2:
            return
        anomaly = first_anomaly(loss, float(self.spike_ratio), float(self.noise_z))
        if anomaly is None:
            return
        interval = logging_interval(loss.steps)
        for rise in lr_rises(lr, float(self.min_lr_rise)):
            length = max(1, rise.peak_step - rise.start_step)
            window = max(self.window_fraction * length, self.window_points * interval)
            if rise.near_peak_step <= anomaly.step <= rise.peak_step + window:
                yield self._finding(loss, anomaly, rise, length)
                return

    def _finding(self, loss: Series, anomaly: Anomaly, rise: LrRise, length: int) -> Finding:
        unit = loss.step_unit
        after = anomaly.step - rise.peak_step
        when = f"{after} {unit}s after" if after > 0 else ("at the step" if after == 0 else f"{-after} {unit}s before")
        what = anomaly.kind if anomaly.kind != "spike" else f"a jump to x{anomaly.ratio:.3g} its running average"
        message = (
            f"the loss's first instability ({what}) is at {unit} {anomaly.step}, {when} the lr peaked at "
            f"{rise.peak_lr:.3g} (up from {rise.start_lr:.3g} at {unit} {rise.start_step})"
        )
        evidence = {
            "anomaly_step": anomaly.step,
            "anomaly_kind": anomaly.kind,
            "lr_peak_step": rise.peak_step,
            "lr_rise_start_step": rise.start_step,
            "lr_rise_start": rise.start_lr,
            f"{unit}s_since_peak_lr": after,
            "lr": rise.peak_lr,
        }
        if anomaly.kind == "spike":
            evidence["spike_ratio"] = anomaly.ratio
        closeness = 1.0 - min(1.0, abs(after) / max(1.0, length))
        confidence = 0.6 + 0.25 * closeness
        severity = "error" if anomaly.kind != "spike" else None
        return self.finding(message, confidence=confidence, series=loss, index=anomaly.index, evidence=evidence, causes={"lr_too_high": 1.0}, severity=severity)


def lr_rises(lr: Series, min_rise: float) -> list[LrRise]:
    """Every stretch where the logged lr went up by `min_rise` times or more, ending at a peak.

    A rise starts where the lr climbs by more than 0.1 % over its finite predecessor and runs on
    while the next value is finite and no lower. Scanning from the left, a rise starts at the first
    such climb after the previous rise ended, so the starts are the first climb in each stretch
    between two points that break a run: found in numpy, with Python only per rise.
    """
    values, steps = lr.values, lr.steps
    if values.size < 2:
        return []
    finite = np.isfinite(values)
    with np.errstate(invalid="ignore", over="ignore"):
        climbs = finite[1:] & finite[:-1] & (values[1:] > values[:-1] * 1.001)
        continues = finite[1:] & (values[1:] >= values[:-1])
    climb_at = np.flatnonzero(climbs) + 1
    if climb_at.size == 0:
        return []
    # stretch id per point: a new stretch begins at every point that does not continue the one before
    stretch = np.cumsum(np.concatenate([[True], ~continues]))
    first_climbs = climb_at[np.concatenate([[True], stretch[climb_at[1:]] != stretch[climb_at[:-1]]])]
    ends = np.searchsorted(stretch, stretch[first_climbs], side="right") - 1
    rises = []
    for climb, end in zip(first_climbs.tolist(), ends.tolist()):
        start = climb - 1
        # the peak is where the lr first reaches the stretch's top: a constant lr after a warmup is not the ramp
        peak = start + int(np.argmax(values[start : end + 1] >= values[end]))
        peak_lr, start_lr = float(values[peak]), float(values[start])
        if peak_lr > 0 and (start_lr <= 0 or peak_lr >= min_rise * start_lr):
            near = start + int(np.argmax(values[start : peak + 1] >= 0.9 * peak_lr))
            rises.append(LrRise(start, peak, int(steps[start]), int(steps[peak]), start_lr, peak_lr, int(steps[near])))
    return rises


def first_anomaly(loss: Series, spike_ratio: float, noise_z: float) -> Anomaly | None:
    """The loss's first non-finite value, or its first spike above its EMA beyond its own noise."""
    values, steps = loss.values, loss.steps
    bad = first_nonfinite_index(values)
    end = values.size if bad is None else bad
    positive = values[:end] > 0
    if end >= 2 and np.all(positive):
        average = ema(values[:end], alpha=0.1)
        logs = np.log(values[:end])
        residuals = logs[1:] - np.log(average[:-1])
        # against the lowest average of up to 3 points back, so a fast climb over a few points counts too
        baseline = average[:-1].copy()
        for back in range(2, GROWTH_POINTS + 1):
            np.minimum(baseline[back - 1 :], average[: end - back], out=baseline[back - 1 :])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratios = values[1:end] / baseline
        for index in (np.flatnonzero(~(ratios < spike_ratio)) + 1).tolist():
            ratio = float(ratios[index - 1])
            history = residuals[: index - 1]
            if history.size >= 5:
                center = float(np.median(history))
                sigma = 1.4826 * float(np.median(np.abs(history - center)))
                if math.log(ratio) - center < noise_z * sigma:
                    continue
            return Anomaly(index, int(steps[index]), "spike", ratio)
    if bad is None:
        return None
    return Anomaly(bad, int(steps[bad]), nonfinite_kind(float(values[bad])), math.nan)


def logging_interval(steps: np.ndarray) -> float:
    """The usual number of steps between two logged points."""
    if steps.size < 2:
        return 1.0
    return float(max(1.0, np.median(np.diff(steps))))
