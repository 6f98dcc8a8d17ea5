"""LR001: the train loss rises from the very first steps and never gets back below where it started."""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from ..features import Facts, learning_rate_near, median_without_overflow, robust_scale
from ..model import Finding, Run
from . import Param, Rule


class EarlyBlowup(Rule):
    """The loss rises from the first steps and stays above its starting value: the first updates overshoot.

    ## What it detects
    A train loss that goes up right after the first logged point and never comes back below that
    starting value for the rest of the run: the median of the run sits clearly above the start,
    the first points already do, and even the lowest stretch of the run stays at or above it.

    ## Why it matters
    A sane first loss is the loss of the untrained network (about ln C for a classifier); with a
    workable learning rate the loss falls from there within a few hundred steps. A loss that gets
    worse than the untrained network at once, and stays worse, is made worse by the updates
    themselves: the learning rate is too high for this network, batch size or initialisation
    (CaffeNet at base_lr 0.04 climbs 7.18 -> 12.4 in 1200 iterations; a QLoRA run at
    learning_rate 5 jumps 1.64 -> 11.8 and freezes).

    ## Signature
    On the finite part of the loss, with at least `min_points` points: the median of all points
    after the first, and of the first tenth of them (2 to 10 points), are at least `min_rise`
    above the first value, and that rise is at least `noise_z` robust deviations of the log-loss
    (so a flat, noisy curve whose first point happened to be low does not count); the lowest
    rolling median of 3 points stays above `1 - floor_tolerance` times the start; and the loss
    does not recover during the run (its last tenth is not below `1 - recovery` times its first
    tenth: a run that learns after an early bump, or whose first value is an artefact, is fine —
    unless the loss exploded over its first points, to 10x its second value or more, and its last
    tenth is still `ends_high_ratio` times the start).
    An error when the median is `error_rise` times the start or more, else a warning. When the
    loss swings by more than `swing_sigma` (robust deviation of the log-loss) the swings, not the
    level, are the signature (OSC): the finding is then at most a warning, with lower confidence.

    ## Suggested fixes
    Lower the learning rate by 10x (e.g. Caffe base_lr 0.04 -> 0.004) and restart; add a warmup;
    scale the learning rate with the batch size; add gradient clipping.

    ## Parameters
    - `min_points`: finite points needed (8).
    - `min_rise`: relative rise of the median over the first value (0.02).
    - `noise_z`: robust deviations of the log-loss the rise must exceed (1.0).
    - `floor_tolerance`: how far below the start the lowest rolling median may dip (0.05).
    - `recovery`: relative fall from the first to the last tenth that counts as learning after all (0.5).
    - `error_rise`: median over the start that makes the finding an error (1.5).
    - `swing_sigma`: robust deviation of the log-loss above which the curve is swinging rather than raised (0.3).
    - `ends_high_ratio`: a loss whose last tenth is still this many times its start has not recovered,
      however far it fell from an early peak (3.0: a run that explodes in its first steps and settles
      at a million times its start has not learned).

    ## References
    - research catalog S05 (learning rate too high) and S10 (peak learning rate too high); S08 and S23 on ln C at the start.
    - realworld caffe 001/002 (caffenet-benchmark: base_lr 0.02 and 0.04, the loss rises from iteration 0 and stays above it).
    - realworld hf_trainer_state 040 (poludmik/qlora-fine-tune: learning_rate 5, 1.637 -> 11.81 -> 10.3735 flat).
    """

    id = "LR001"
    slug = "early-blowup"
    severity = "warning"
    requires = ("train_loss",)
    optional = ("lr",)
    causes = ("lr_too_high", "divergence")
    params = {
        "min_points": Param(8, "finite points needed"),
        "min_rise": Param(0.02, "relative rise of the median over the first value"),
        "noise_z": Param(1.0, "robust deviations of the log-loss the rise must exceed"),
        "floor_tolerance": Param(0.05, "how far below the start the lowest rolling median may dip"),
        "recovery": Param(0.5, "relative fall from the first to the last tenth that counts as learning"),
        "error_rise": Param(1.5, "median over the start that makes the finding an error"),
        "swing_sigma": Param(0.3, "robust deviation of the log-loss above which the curve swings"),
        "ends_high_ratio": Param(3.0, "last tenth over the start from which a fall from an early peak is no recovery"),
    }

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        loss = facts.loss
        if loss is None:
            return
        end = facts.loss_end
        values, steps, unit = loss.values[:end], loss.steps[:end], loss.step_unit
        if values.size < max(3, int(self.min_points)) or np.any(values <= 0):
            return
        start = float(values[0])
        rest = values[1:]
        tenth = int(min(10, max(2, rest.size // 10)))
        level = median_without_overflow(rest)
        early = median_without_overflow(rest[:tenth])
        late = median_without_overflow(rest[-tenth:])
        rise = level / start
        if rise < 1 + self.min_rise or early / start < 1 + self.min_rise:
            return
        _, log_sigma = robust_scale(np.log(rest))
        if math.log(rise) < self.noise_z * log_sigma:
            return
        floor = float(np.min(rolling_median(rest, 3))) / start
        if floor < 1 - self.floor_tolerance:
            return
        exploded_early = float(np.max(rest[:tenth])) >= 10.0 * float(rest[0])  # a growth phase, not one low first value
        if late <= (1 - self.recovery) * early and not (exploded_early and late / start >= self.ends_high_ratio):
            return  # the network learns after the bump (or the first value was an artefact)
        lr = learning_rate_near(facts, int(steps[0]))
        evidence: dict = {
            "start_value": start,
            "median_over_start": rise,
            "early_over_start": early / start,
            "lowest_over_start": floor,
            "last_over_start": late / start,
            "log_sigma": log_sigma,
            "points": int(values.size),
        }
        swinging = log_sigma > self.swing_sigma
        confidence = 0.45 + 0.45 * min(1.0, math.log(rise) / math.log(2.0))
        severity = "error" if rise >= self.error_rise else None
        if swinging:  # the swings, not the raised level, are what stands out: OSC's signature
            confidence *= 0.6
            severity = "warning"
            evidence["swinging"] = True
        lr_text = ""
        if lr is not None:
            evidence["lr"] = lr
            lr_text = f" (lr {lr:.3g})"
        message = (
            f"{loss.name} rose from {start:.4g} at {unit} {int(steps[0])} within its first {tenth} points and never came back down: "
            f"median x{rise:.3g}, lowest 3-point median x{floor:.3g}, last x{late / start:.3g} the start{lr_text}"
        )
        yield self.finding(message, confidence=confidence, series=loss, index=1, evidence=evidence, causes={"lr_too_high": 1.0, "divergence": 0.5}, severity=severity)


def rolling_median(values: np.ndarray, width: int) -> np.ndarray:
    """Median of each run of `width` consecutive points (the values themselves when there are fewer)."""
    if values.size < width:
        return values
    return np.median(np.lib.stride_tricks.sliding_window_view(values, width), axis=1)
