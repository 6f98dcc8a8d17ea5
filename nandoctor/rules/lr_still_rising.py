"""LR004: the learning rate is still rising at the end of a long run, long after a warmup should have peaked."""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from ..features import Facts, ema, first_nonfinite_index, nonfinite_kind
from ..model import Finding, Run, Series
from . import Param, Rule


class LrStillRising(Rule):
    """The learning rate keeps rising through most of the run: the warmup never ends.

    ## What it detects
    A logged learning rate that is still going up at the end of the log and has been going up
    through most of it, in a run long enough that any warmup should be over, or while the loss
    goes bad (turns non-finite, or climbs) during the rise.

    ## Why it matters
    A warmup that never ends keeps pushing the learning rate up until training breaks. In
    threads/020 the warmup was 12500 steps because `steps_per_epoch` was computed as
    `len(trainset)`: the loss went NaN at step 750 "while lr = 0.000600 and rising 1e-6 per
    step". Warmups measured in samples instead of optimizer steps, or not divided by gradient
    accumulation and world size, do the same.

    ## Signature
    The lr never falls over a trailing stretch that covers at least `min_share` of the logged
    steps, rises by `min_lr_rise` times or more over it, and still rises over the last tenth of
    the points. When the log opens partway up a straight rising lr, the stretch begins where that
    line started, followed back before the log to lr 0 (or to step 0): an excerpt of a linear
    warmup from zero shows a rise of only a few percent. It then counts when the stretch is long
    (at least `long_rise_steps` optimizer steps, or `long_rise_epochs` epochs), or when the loss
    goes bad during it: a non-finite value, the median of its last fifth at least `loss_rise`
    times the lowest smoothed loss of the stretch (catalog S09, threads/020), or, when the log
    shows the ramp's start, a loss that barely moved through 20 or more points of it (its last
    fifth still at 95 % of its first: a warmup is when a healthy loss falls fastest). A linear
    warmup in a short run that has just started is fine. A rise that is geometric over three
    decades or more is a learning-rate range test (an lr finder), where a loss blowing up at the
    end is the point: it is only noted (info).

    ## Suggested fixes
    Check the warmup length against the run's total optimizer steps (after gradient accumulation
    and world size; HF: warmup_steps/warmup_ratio against max_steps); print the learning rate at
    every log step; lower the peak learning rate.

    ## Parameters
    - `min_share`: share of the logged steps the rising stretch covers (0.6).
    - `min_lr_rise`: lr at the end over the lr where the stretch starts (1.5).
    - `long_rise_steps`: optimizer steps of rising lr that are too long for any warmup (10000).
    - `long_rise_epochs`: epochs of rising lr that are too long for any warmup (10).
    - `loss_rise`: median of the loss's last fifth over the stretch's lowest smoothed loss that counts as the loss going bad (1.1).

    ## References
    - research catalog S09 (lr still increasing long after it should have peaked) and S10.
    - threads/020 (YunYang1994/TensorFlow2.0-Examples#8: warmup_steps 12500, NaN at step 750 with lr still rising).
    """

    id = "LR004"
    slug = "lr-still-rising"
    severity = "warning"
    requires = ("lr",)
    optional = ("train_loss",)
    causes = ("lr_schedule_bug",)
    params = {
        "min_share": Param(0.6, "share of the logged steps the rising stretch covers"),
        "min_lr_rise": Param(1.5, "lr at the end over the lr where the stretch starts"),
        "long_rise_steps": Param(10000, "optimizer steps of rising lr too long for any warmup"),
        "long_rise_epochs": Param(10, "epochs of rising lr too long for any warmup"),
        "loss_rise": Param(1.1, "median of the loss's last fifth over the stretch's lowest smoothed loss"),
    }

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        lr = facts.lr
        if lr is None:
            return
        finite = np.isfinite(lr.values)
        values, steps, unit = lr.values[finite], lr.steps[finite], lr.step_unit
        if values.size < 5 or steps[-1] <= steps[0]:
            return
        start = rising_tail_start(values)
        tenth = max(2, values.size // 10)
        if not float(values[-1]) > float(values[-tenth]) * 1.001:  # Python floats: 1.8e308 * 1.001 is inf, no numpy warning
            return  # flat at the end: the warmup is over
        start_step, start_lr = int(steps[start]), float(values[start])
        ramp = linear_ramp_before_log(steps, values) if start == 0 else None
        if ramp is not None:  # the log opens mid-ramp: the warmup began before it, at the ramp's start
            start_step, start_lr = ramp
        if start_lr > 0 and values[-1] < self.min_lr_rise * start_lr:
            return
        first_step = min(int(steps[0]), start_step)
        share = (steps[-1] - start_step) / (steps[-1] - first_step)
        if share < self.min_share:
            return
        rise_steps = int(steps[-1] - start_step)
        evidence: dict = {
            "rise_start_step": start_step,
            "lr_start": start_lr,
            "lr_end": float(values[-1]),
            f"rise_{unit}s": rise_steps,
            "share_of_run": float(share),
        }
        if ramp is not None:
            evidence["ramp_extrapolated"] = True
        where = f"the linear ramp it is on started near {start_lr:.3g} at {unit} {start_step}, before the log begins, and reaches" if ramp is not None else f"from {start_lr:.3g} at {unit} {start_step} to"
        what = f"{lr.name} still rises at the end of the log: {where} {values[-1]:.3g} at {unit} {int(steps[-1])}, through {share:.0%} of the {unit}s since"
        if is_range_test(values[start:], steps[start:]):
            message = f"{what}, geometrically: this looks like a learning-rate range test, where the loss blowing up at the end is expected"
            yield self.finding(message, confidence=0.6, series=lr, index=start, evidence=evidence, causes={}, severity="info")
            return
        long_limit = self.long_rise_steps if unit == "step" else self.long_rise_epochs
        long = rise_steps >= long_limit
        # an excerpt that opens mid-ramp misses the warmup's start, where a healthy loss falls fastest
        trouble = loss_goes_bad(facts.loss, start_step, float(self.loss_rise), judge_stall=ramp is None)
        if not long and trouble is None:
            return
        if trouble is not None:
            evidence["loss_trouble"] = trouble
        confidence = 0.85 if long and trouble else (0.65 if trouble else 0.55)
        reason = f", while the loss {trouble}" if trouble else f": {rise_steps} {unit}s of rising lr is longer than any warmup"
        yield self.finding(what + reason, confidence=confidence, series=lr, index=start, evidence=evidence, causes={"lr_schedule_bug": 1.0})


MIN_RAMP_POINTS = 3  # points needed to trust a straight-line fit of the lr
RAMP_CORRELATION = 0.999  # how straight the logged lr must be to extrapolate it


def linear_ramp_before_log(steps: np.ndarray, values: np.ndarray) -> tuple[int, float] | None:
    """(step, lr) where a straight rising lr began, when the log opens partway up it; None otherwise.

    A linear warmup from zero (lr = peak x step / warmup_steps, the usual schedule) logged only
    from partway up shows a rise of a few percent; extended back, the line meets lr 0 before the log
    begins, so the warmup has really been rising since then. The line is followed back to lr 0, or
    to step 0 when it would still be above 0 there.
    """
    if values.size < MIN_RAMP_POINTS or int(steps[0]) <= 0 or not np.all(values > 0):
        return None
    x = steps.astype(np.float64)
    with np.errstate(all="ignore"):
        correlation = np.corrcoef(x, values)[0, 1]
    if not (math.isfinite(correlation) and correlation >= RAMP_CORRELATION):
        return None
    slope, intercept = np.polyfit(x, values, 1)
    if not slope > 0:
        return None
    zero_step = -intercept / slope
    if zero_step >= float(steps[0]):
        return None
    if zero_step >= 0:
        return int(round(zero_step)), 0.0
    return 0, float(intercept)


MIN_POINTS_FOR_STALL = 20  # loss points during the rise needed to call the loss stuck
STALLED_FRACTION = 0.95  # the last fifth's median at or above this share of the first fifth's: no progress


def rising_tail_start(values: np.ndarray) -> int:
    """Index where the trailing stretch over which the values never fall begins."""
    index = values.size - 1
    while index > 0 and values[index - 1] <= values[index]:
        index -= 1
    return index


def is_range_test(values: np.ndarray, steps: np.ndarray) -> bool:
    """An lr that grows geometrically (a straight line in log-lr) across three decades or more: an lr finder."""
    if values.size < 5 or values[0] <= 0 or float(values[-1]) < 1e3 * float(values[0]):  # Python floats: no overflow warning
        return False
    x = steps.astype(np.float64)
    with np.errstate(all="ignore"):
        linear = np.corrcoef(x, values)[0, 1]
        geometric = np.corrcoef(x, np.log(values))[0, 1]
    return bool(math.isfinite(geometric) and geometric >= 0.98 and geometric > linear)


def loss_goes_bad(loss: Series | None, from_step: int, loss_rise: float, judge_stall: bool = True) -> str | None:
    """How the loss went bad from `from_step` on (non-finite, or climbing), in words; None if it did not."""
    if loss is None or len(loss) == 0:
        return None
    inside = loss.steps >= from_step
    values, steps = loss.values[inside], loss.steps[inside]
    bad = first_nonfinite_index(values)
    if bad is not None:
        return f"went {nonfinite_kind(float(values[bad]))} at {loss.step_unit} {int(steps[bad])}"
    if values.size < 5 or np.any(values <= 0):
        return None
    smooth = ema(values, alpha=2.0 / (max(1.0, values.size / 10.0) + 1.0))
    low = int(np.argmin(smooth))
    last = float(np.median(values[-max(2, values.size // 5) :]))
    if low < values.size - 2 and last >= loss_rise * float(smooth[low]):
        return f"climbed from {float(smooth[low]):.4g} at {loss.step_unit} {int(steps[low])} to {last:.4g}"
    # A warmup is when a healthy loss falls fastest: one that barely moves through all of it is stuck.
    fifth = max(2, values.size // 5)
    first = float(np.median(values[:fifth]))
    if judge_stall and values.size >= MIN_POINTS_FOR_STALL and last >= STALLED_FRACTION * first:
        return f"barely moved ({first:.4g} -> {last:.4g})"
    return None
