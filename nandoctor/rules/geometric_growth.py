"""DIV001: the train loss grew multiplicatively far above its level and stayed there, without going non-finite."""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from ..features import Facts, learning_rate_near
from ..model import Finding, Run
from . import Param, Rule
from .nan_after_growth import NanAfterGrowth, grad_norm_lead, growth_before_nonfinite


class GeometricGrowth(Rule):
    """The loss grew step over step by orders of magnitude and stayed up, still finite: a finite explosion.

    ## What it detects
    A train loss that rose multiplicatively, point after point, to a hundred times its lowest value
    before the rise or more, and did not come back down by the end of the log, without turning
    NaN/inf (a growth that ends in NaN is NAN002's).

    ## Why it matters
    Divergence can stay finite: float32 holds values up to 3.4e38, and a log can show
    `loss: 505456564082218576423944192.0000` (5e26) with no NaN anywhere. Guards that wait for a
    NaN (TerminateOnNaN, check_finite) never stop such a run; it burns compute on destroyed weights.

    ## Signature
    Over the finite part of the loss: the strongest rise from a low point to a later top reaches
    `explosion_ratio` times the low, with at least `min_increases` logged increases (two suffice for
    a rise of `explosion_ratio` squared or more: 0.99 -> 2.6e10 -> 1.1e11 is no spike) and
    `rising_share` of the steps between low and top rising (sustained multiplicative growth, not
    one spike); the top is also `explosion_ratio` / 10 times the median of the
    `level_points` points up to the low (a single low outlier is not a base); and the last finite
    value is still `stays_up_ratio` times that level (a spike that recovered is SPK's). The ratio
    follows catalog S05's "any value >= 100 x min(L) so far"; the other tests are ours, to keep
    spikes and low outliers out. When a logged gradient norm jumped first, exploding gradients
    gets weight too (catalog S06).

    ## Suggested fixes
    Lower the learning rate by 10x or more and restart from a checkpoint before the growth; add
    gradient clipping; use a longer warmup; normalise inputs and targets.

    ## Parameters
    - `explosion_ratio`: rise from the low point to the top that counts as an explosion (100).
    - `min_increases`: logged increases between the low and the top (3).
    - `rising_share`: share of the points between the low and the top that rise (0.6).
    - `level_points`: points up to the low whose median is the level before the growth (10).
    - `stays_up_ratio`: the last value over that level for the explosion to count as not recovered (10).
    - `grad_jump_ratio`: gradient-norm jump over its running median that counts as the gradients leading (10).

    ## References
    - research catalog S05 (geometric growth; "divergence can stay finite in float32") and S06.
    - open-mmlab/mmdetection#1081 (`loss: 505456564082218576423944192.0000`, no NaN in the pasted lines).
    - https://datascience.stackexchange.com/questions/15962 ("from a number in the thousands to a trillion").
    """

    id = "DIV001"
    slug = "geometric-growth"
    severity = "error"
    requires = ("train_loss",)
    optional = ("lr", "grad_norm")
    causes = ("lr_too_high", "divergence", "exploding_gradients")
    params = {
        "explosion_ratio": Param(100.0, "rise from the low point to the top that counts as an explosion"),
        "min_increases": Param(3, "logged increases between the low and the top"),
        "rising_share": Param(0.6, "share of the points between the low and the top that rise"),
        "level_points": Param(10, "points up to the low whose median is the level before the growth"),
        "stays_up_ratio": Param(10.0, "last value over the level before the growth for it to count as not recovered"),
        "grad_jump_ratio": Param(10.0, "gradient-norm jump over its running median that counts as leading"),
    }

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        loss = facts.loss
        if loss is None:
            return
        first_bad = facts.loss_nonfinite_index
        if first_bad is not None and growth_before_nonfinite(loss.values, first_bad, NanAfterGrowth().values) is not None:
            return  # the growth ends in NaN: NAN002 reports it
        end = loss.values.size if first_bad is None else first_bad
        values = loss.values[:end]
        if values.size < 4 or np.any(values <= 0):
            return  # ratios need a positive loss
        low, top = strongest_rise(values)
        cumulative = float(values[top]) / float(values[low]) if top > low else 1.0  # Python floats: inf, not a numpy overflow warning
        if not cumulative >= self.explosion_ratio:
            return
        between = np.diff(values[low : top + 1])
        increases = int(np.count_nonzero(between > 0))
        # growth by explosion_ratio squared (1e4) is no spike even when it took only two logged rises
        needed = min(int(self.min_increases), 2) if cumulative >= self.explosion_ratio**2 else int(self.min_increases)
        if increases < needed or increases < self.rising_share * between.size:
            return
        level = float(np.median(values[max(0, low + 1 - int(self.level_points)) : low + 1]))
        if values[top] < self.explosion_ratio / 10.0 * level or values[-1] < self.stays_up_ratio * level:
            return
        steps, unit = loss.steps, loss.step_unit
        points = top - low
        steps_spanned = max(1, int(steps[top] - steps[low]))
        per_point = _root(cumulative, points)
        per_step = _root(cumulative, steps_spanned)
        start_step = int(steps[low])
        lr = learning_rate_near(facts, start_step)
        lead = grad_norm_lead(facts, start_step, float(self.grad_jump_ratio))
        evidence: dict = {
            "growth_start_step": start_step,
            "peak_step": int(steps[top]),
            "peak_value": float(values[top]),
            "level_before": level,
            "cumulative_ratio": cumulative if math.isfinite(cumulative) else "inf",
            "growth_points": points,
            "growth_per_point": per_point if math.isfinite(per_point) else "inf",
            f"growth_per_{unit}": per_step if math.isfinite(per_step) else "inf",
            "last_over_level": float(values[-1]) / level,  # level > 0: a median of positive values
        }
        causes = {"lr_too_high": 1.0, "divergence": 0.6}
        if lead is not None:
            evidence["grad_norm_jump_step"] = lead
            causes = {"exploding_gradients": 1.0, "lr_too_high": 0.8, "divergence": 0.6}
        tail = "and is still growing at the end of the log" if top == values.size - 1 else f"and is still x{values[-1] / level:.3g} that level at the end"
        lr_text = ""
        if lr is not None:
            evidence["lr"] = lr
            lr_text = f" (lr {lr:.3g})"
        message = (
            f"{loss.name} grew x{per_point:.3g} per logged point (x{per_step:.3g} per {unit}) for {points} points from {unit} {start_step}, "
            f"from {level:.3g} to {float(values[top]):.3g} without going non-finite, {tail}{lr_text}"
        )
        confidence = 0.95 if cumulative >= 1e4 else 0.85
        yield self.finding(message, confidence=confidence, series=loss, index=low, evidence=evidence, causes=causes)


def strongest_rise(values: np.ndarray) -> tuple[int, int]:
    """(low, top): the indices of the largest ratio from a running minimum to a later point (latest top on ties)."""
    running_min = np.minimum.accumulate(values)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        rise = values / running_min
    top = int(values.size - 1 - np.argmax(rise[::-1]))
    low = int(np.flatnonzero(values[: top + 1] == running_min[top])[-1])
    return low, top


def _root(ratio: float, count: int) -> float:
    return float(ratio ** (1.0 / max(1, count))) if math.isfinite(ratio) else math.inf
