"""NAN002: the train loss grew step over step and then went non-finite (learning rate too high)."""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from ..features import Facts, GrowthStretch, growth_stretch, learning_rate_near, nonfinite_kind
from ..model import Finding, Run, Series
from . import Param, Rule


class NanAfterGrowth(Rule):
    """The loss grew step over step, then went NaN/inf: each update overshot until it overflowed.

    ## What it detects
    A train loss that rose fast over its last finite points and then became `nan` or `inf`:
    several large consecutive increases, or a large cumulative rise over a few points, or a
    value far above the smallest loss seen so far, right before the first non-finite value.

    ## Why it matters
    This is the classic divergence of a learning rate that is too high: "the loss starts to grow
    significantly from iteration to iteration, eventually the loss will be too large to be
    represented by a floating point variable and it will become nan". Nothing trains out of it;
    the run is lost from the first non-finite step.

    ## Signature
    Among the last `window` finite points before the first non-finite one (catalog S05, proposed):
    at least `fast_increases` consecutive increases each at least `fast_ratio` times the previous,
    or a rise of `cumulative_ratio` from the window's low to the top after it, or a value at least
    `over_min_ratio` times the smallest loss logged before it. The rise must also stand out from
    the series' own jitter: its log-ratio exceeds `noise_z` robust deviations of the logged
    point-to-point changes of the log-loss before it, so a loss near zero at convergence, whose
    relative jitter is large, does not count as growth (a deviation from the catalog, which has no
    noise test). Growth is reported per
    logged point and per optimizer step. When a logged gradient norm jumped `grad_jump_ratio`
    times its median (or went non-finite) no later than the loss started to grow, the gradients
    led and exploding gradients gets weight too (catalog S06).

    ## Suggested fixes
    Lower the learning rate by 10x or more; add gradient clipping; use a longer warmup; normalise
    inputs and regression targets; with several loss heads, lower the weight of the exploding head.

    ## Parameters
    - `window`: finite points before the first non-finite value that are examined (10).
    - `fast_ratio`: a "large" increase between consecutive points (1.5).
    - `fast_increases`: consecutive large increases that make growth (3).
    - `cumulative_ratio`: rise from the window's low to its top that makes growth (10).
    - `over_min_ratio`: value over the smallest earlier loss that makes growth (100).
    - `noise_z`: robust deviations of the logged log-loss changes that a rise must exceed (4).
    - `grad_jump_ratio`: gradient-norm jump over its running median that counts as the gradients leading (10).

    ## References
    - research catalog S05 (geometric growth ending in inf/NaN) and S06 (gradient norm as precursor).
    - threads/013 (facebookresearch/fairseq#41: loss 6.87 -> 10405 -> 4.77e9 -> 7.7e12 at lr 1.25, gnorm 100615 first).
    - Shai, https://stackoverflow.com/questions/33962226 ("the loss starts to grow significantly from iteration to iteration").
    """

    id = "NAN002"
    slug = "nan-after-growth"
    severity = "error"
    requires = ("train_loss",)
    optional = ("lr", "grad_norm")
    causes = ("lr_too_high", "divergence", "exploding_gradients")
    params = {
        "window": Param(10, "finite points before the first non-finite value that are examined"),
        "fast_ratio": Param(1.5, "a large increase between consecutive logged points"),
        "fast_increases": Param(3, "consecutive large increases that make growth"),
        "cumulative_ratio": Param(10.0, "rise from the window's low to its top that makes growth"),
        "over_min_ratio": Param(100.0, "value over the smallest earlier loss that makes growth"),
        "noise_z": Param(4.0, "robust deviations of the logged log-loss changes a rise must exceed"),
        "grad_jump_ratio": Param(10.0, "gradient-norm jump over its running median that counts as leading"),
    }

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        loss = facts.loss
        first_bad = facts.loss_nonfinite_index
        if loss is None or first_bad is None:
            return
        growth = growth_before_nonfinite(loss.values, first_bad, self.values)
        if growth is None:
            return
        stretch, criteria = growth
        yield growth_finding(self, facts, loss, first_bad, stretch, criteria)


def growth_before_nonfinite(values: np.ndarray, first_bad: int, params: dict) -> tuple[GrowthStretch, list[str]] | None:
    """The growth that ends in the first non-finite value, and which criteria it meets (None if it is no growth).

    Shared with NAN001 and NAN003, which leave a growth ending in NaN to this rule.
    """
    stretch = growth_stretch(values, first_bad, window=int(params["window"]), fast_ratio=float(params["fast_ratio"]))
    if stretch is None:
        return None
    criteria = []
    if stretch.fast_increases >= int(params["fast_increases"]):
        criteria.append("consecutive_increases")
    if stretch.cumulative_ratio >= float(params["cumulative_ratio"]):
        criteria.append("cumulative_rise")
    if stretch.ratio_to_min_so_far >= float(params["over_min_ratio"]):
        criteria.append("far_above_minimum")
    if not criteria or not rise_stands_out(values[:first_bad], stretch, float(params["noise_z"])):
        return None
    return stretch, criteria


def rise_stands_out(history: np.ndarray, stretch: GrowthStretch, noise_z: float) -> bool:
    """A rise counts when its log-ratio is beyond the loss's own logged jitter before it."""
    before = history[: stretch.start_index + 1]
    before = before[np.isfinite(before) & (before > 0)]
    if before.size < 5:
        return True  # too little history to call the rise jitter
    changes = np.diff(np.log(before))
    jitter = 1.4826 * float(np.median(np.abs(changes - np.median(changes))))
    return math.log(stretch.cumulative_ratio) > noise_z * jitter


def growth_finding(rule: Rule, facts: Facts, loss: Series, first_bad: int, stretch: GrowthStretch, criteria: list[str]) -> Finding:
    """The NAN002 finding for a growth that ends in a non-finite loss."""
    steps = loss.steps
    points = max(1, stretch.peak_index - stretch.start_index)
    steps_spanned = max(1, int(steps[stretch.peak_index] - steps[stretch.start_index]))
    cumulative = stretch.cumulative_ratio
    per_point = _root(cumulative, points)
    per_step = _root(cumulative, steps_spanned)
    start_step = int(steps[stretch.start_index])
    bad_step = int(steps[first_bad])
    kind = nonfinite_kind(float(loss.values[first_bad]))
    lr = learning_rate_near(facts, start_step)
    lead = grad_norm_lead(facts, start_step, float(rule.grad_jump_ratio))
    unit = loss.step_unit
    evidence = {
        "growth_start_step": start_step,
        "growth_points": points,
        "cumulative_ratio": _finite(cumulative),
        "growth_per_point": _finite(per_point),
        f"growth_per_{unit}": _finite(per_step),
        "first_nonfinite_step": bad_step,
        "nonfinite_kind": kind,
        "criteria": criteria,
    }
    causes = {"lr_too_high": 1.0, "divergence": 0.4}
    if lead is not None:
        evidence["grad_norm_jump_step"] = lead
        causes = {"exploding_gradients": 1.0, "lr_too_high": 0.8, "divergence": 0.4}
    lr_text = ""
    if lr is not None:
        evidence["lr"] = lr
        lr_text = f" (lr {lr:.3g})"
    lead_text = f"; the gradient norm jumped first, at {unit} {lead}" if lead is not None else ""
    message = (
        f"{loss.name} grew x{per_point:.3g} per logged point (x{per_step:.3g} per {unit}) for {points} points "
        f"from {unit} {start_step} (x{cumulative:.3g} in all), then {kind} at {unit} {bad_step}{lr_text}{lead_text}"
    )
    confidence = 0.9 if len(criteria) >= 2 else 0.8
    return rule.finding(message, confidence=confidence, series=loss, index=stretch.start_index, evidence=evidence, causes=causes)


def grad_norm_lead(facts: Facts, loss_growth_step: int, jump_ratio: float) -> int | None:
    """The step where a logged gradient norm first jumped (or went non-finite), if no later than the loss's growth."""
    grad = facts.grad_norm
    if grad is None or len(grad) < 2:
        return None
    values, steps = grad.values, grad.steps
    # the first point after the loss's growth ends the search
    reach = 1 + int(np.argmax(steps[1:] > loss_growth_step)) if np.any(steps[1:] > loss_growth_step) else len(grad)
    usable = np.where(np.isfinite(values) & (values > 0), values, np.nan)
    # per point: the median of the finite positive points among the 50 before it (np.median's numbers)
    earlier_median = facts.grad_norm_baseline(50)[:reach]
    usable_so_far = np.concatenate([[0], np.cumsum(~np.isnan(usable[:reach]))])
    positions = np.arange(reach)
    earlier_count = usable_so_far[positions] - usable_so_far[np.maximum(positions - 50, 0)]
    candidates = values[:reach]
    with np.errstate(invalid="ignore", over="ignore"):
        nonfinite = ~np.isfinite(candidates)
        jumped = (earlier_count > 0) & (candidates >= jump_ratio * earlier_median)
    hits = np.flatnonzero(nonfinite[1:] | jumped[1:]) + 1
    if hits.size == 0:
        return None
    index = int(hits[0])
    if nonfinite[index] and not earlier_count[index]:
        return None
    return int(steps[index])


def _root(ratio: float, count: int) -> float:
    if not math.isfinite(ratio):
        return math.inf
    return float(ratio ** (1.0 / max(1, count)))


def _finite(value: float) -> float | str:
    """A JSON-able number: huge ratios overflow to inf, which is written as a string."""
    return float(value) if math.isfinite(value) else "inf"
