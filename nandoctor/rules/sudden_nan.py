"""NAN001: a finite, steady train loss turns NaN/inf with no growth before it (a numerical fault)."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from ..features import Facts, first_nonfinite_index, learning_rate_near, median_without_overflow, nonfinite_count, nonfinite_kind
from ..model import Finding, Run, Series
from . import Param, Rule
from .nan_after_growth import NanAfterGrowth, growth_before_nonfinite
from .nan_from_start import NanFromStart, at_start

# Series whose first non-finite value can point at the faulty part: sub-losses, gradient norms, eval.
_CULPRIT_ROLES = ("train_loss", "grad_norm", "val_loss", "other")


class SuddenNan(Rule):
    """A steady, finite loss suddenly becomes NaN/inf: a numerical fault in one operation or one batch.

    ## What it detects
    A train loss that was finite and within its normal band over its last few points and then,
    with no growth phase, became `nan` or `inf`. It covers every first non-finite train loss that
    is neither at the start of the run (NAN003) nor after a growth (NAN002). It records which
    series went non-finite first: a sub-loss or the gradient norm before the total names the part
    of the model to look at.

    ## Why it matters
    Without growth, the usual suspects are a division by zero (a normaliser over an empty set, all
    targets ignored), a log or sqrt at the edge of its domain, a batch of one reaching a batch
    statistic, a corrupt sample, or an fp16 overflow in one activation. Lowering the learning rate
    rarely helps; finding the operation or the batch does.

    ## Signature
    The last `stable_points` finite values lie within [`band_low`, `band_high`] times their median
    and the next value is non-finite (catalog S07, proposed). The growth before a NaN is only
    observable if the loss was logged often enough: when the last finite point is more than
    `max_gap_steps` optimizer steps before the first non-finite one (or the loss is logged once per
    epoch) the finding says so, lowers its confidence and gives `lr_too_high` a slightly larger
    weight than `sudden_nan`: S05's coarse-logging note says not to claim S07 then, and growth is
    the commoner way to a NaN. Unless the train accuracy logged for that same stretch (an average
    over it) is still at 95 % of its level before or more: the predictions held up to the NaN, and
    a blow-up wrecks them first, so `sudden_nan` leads again. A loss that was not steady before the NaN
    (outside the band but not growing) is reported with lower confidence. A non-finite point
    after which the loss is finite again for good is a warning, not an error. When the level before
    the NaN is `blown_up_ratio` times the run's earlier minimum or more, the loss had already blown
    up (reported by DIV001): the finding says so and leans to `lr_too_high`.

    ## Suggested fixes
    Rerun from the last checkpoint with anomaly detection on (`torch.autograd.set_detect_anomaly(True)`,
    Lightning `Trainer(detect_anomaly=True)`) to name the operation; guard denominators and logs
    with an epsilon; compute losses on logits (`BCEWithLogitsLoss`, `from_logits=True`); drop
    size-1 batches (`drop_last=True`); scan the data for NaN/inf and corrupt files; use bf16 or
    fp32 for the block that overflows.

    ## Parameters
    - `stable_points`: finite points before the non-finite one that must be steady (5).
    - `band_low`: lowest steady value, as a fraction of their median (0.5).
    - `band_high`: highest steady value, as a multiple of their median (2.0).
    - `max_gap_steps`: optimizer steps between the last finite and the first non-finite point beyond which growth could hide (50).
    - `blown_up_ratio`: level before the NaN over the run's earlier minimum that means the loss had already blown up (100).

    ## References
    - research catalog S07 (sudden NaN from a stable loss), S05 (coarse-logging note), S12 (fp16 overflow).
    - threads/020 (YunYang1994/TensorFlow2.0-Examples#8: `giou_loss: nan` while `conf_loss: 10.89`, then every loss nan).
    - guillaumegenthial/sequence_tagging#47, JJBOY/BMN-Boundary-Matching-Network#22, ziwei-jiang/PGGAN-PyTorch#1.
    """

    id = "NAN001"
    slug = "sudden-nan"
    severity = "error"
    requires = ("train_loss",)
    optional = ("lr", "grad_norm", "val_loss", "accuracy")
    causes = ("sudden_nan", "lr_too_high")
    params = {
        "stable_points": Param(5, "finite points before the non-finite one that must be steady"),
        "band_low": Param(0.5, "lowest steady value as a fraction of their median"),
        "band_high": Param(2.0, "highest steady value as a multiple of their median"),
        "max_gap_steps": Param(50, "steps between the last finite and first non-finite point beyond which growth could hide"),
        "blown_up_ratio": Param(100.0, "level before the NaN over the run's earlier minimum that means it had already blown up"),
    }

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        loss = facts.loss
        first_bad = facts.loss_nonfinite_index
        if loss is None or first_bad is None:
            return
        start = NanFromStart()
        if at_start(loss.steps, first_bad, int(start.start_points), int(start.start_steps), loss.step_unit):
            return  # NAN003's
        if growth_before_nonfinite(loss.values, first_bad, NanAfterGrowth().values) is not None:
            return  # NAN002's
        yield self._finding(run, facts, loss, first_bad)

    def _finding(self, run: Run, facts: Facts, loss: Series, first_bad: int) -> Finding:
        values, steps, unit = loss.values, loss.steps, loss.step_unit
        recent = values[max(0, first_bad - int(self.stable_points)) : first_bad]
        median = median_without_overflow(recent)
        steady = median > 0 and bool(np.all((recent >= self.band_low * median) & (recent <= self.band_high * median)))
        gap = int(steps[first_bad] - steps[first_bad - 1])
        observable = unit == "step" and gap <= int(self.max_gap_steps)
        kind = nonfinite_kind(float(values[first_bad]))
        bad_step = int(steps[first_bad])
        after = values[first_bad:]
        recovered = bool(np.isfinite(values[-1])) and nonfinite_count(after) <= max(1, after.size // 10)
        lr = learning_rate_near(facts, int(steps[first_bad - 1]))
        culprits, culprit_step = first_nonfinite_series(run, loss)
        evidence: dict = {
            "first_nonfinite_step": bad_step,
            "nonfinite_kind": kind,
            "last_finite_value": float(values[first_bad - 1]),
            "recent_median": median,
            "recent_steady": steady,
            f"{unit}s_since_last_finite": gap,
            "growth_observable": observable,
            "first_nonfinite_series": culprits,
            "first_nonfinite_series_step": culprit_step,
        }
        if lr is not None:
            evidence["lr"] = lr
        confidence = {(True, True): 0.85, (True, False): 0.5, (False, True): 0.55, (False, False): 0.4}[(steady, observable)]
        # Unobservable growth: the catalog says not to claim S07, and growth (lr too high) is the commoner story.
        causes = {"sudden_nan": 1.0} if observable else {"lr_too_high": 0.6, "sudden_nan": 0.5}
        if not steady:
            causes = {"sudden_nan": 0.8, "lr_too_high": 0.3} if observable else {"lr_too_high": 0.6, "sudden_nan": 0.4}
        held = None if observable else accuracy_held(facts.accuracy, bad_step)
        if held is not None and steady:
            # the train accuracy of the very stretch that ended in NaN is still at its level: the predictions
            # stayed sound up to the NaN, so no growth hid in the gap (a blow-up wrecks the accuracy first)
            evidence["accuracy_at_nonfinite"] = held
            causes = {"sudden_nan": 1.0, "lr_too_high": 0.3}
        level = f"steady near {median:.3g}" if steady else f"finite but unsteady (last {recent.size} points {float(np.min(recent)):.3g} to {float(np.max(recent)):.3g})"
        earlier = values[:first_bad][values[:first_bad] > 0]
        over_min = median / float(np.min(earlier)) if earlier.size and median > 0 else 1.0
        if over_min >= self.blown_up_ratio:
            # the NaN comes after an earlier blow-up (catalog S05's "value >= 100 x min so far"), not from a sane level
            evidence["level_over_earlier_minimum"] = over_min
            level += f", x{over_min:.3g} its earlier minimum (it had already blown up)"
            causes, confidence = {"lr_too_high": 0.7, "sudden_nan": 0.4}, min(confidence, 0.6)
        parts = [f"{loss.name} was {level}, then {kind} at {unit} {bad_step}"]
        since = f"{gap} {unit}{'' if gap == 1 else 's'}"
        if observable:
            parts.append(f" with no growth in the {since} since the last finite value")
        else:
            parts.append(f", {since} after the last finite value: any growth in between was not observable at this logging interval")
        if lr is not None:
            parts.append(f" (lr {lr:.3g})")
        if culprits and culprits != [loss.name]:
            named = ", ".join(culprits)
            parts.append(f"; {named} went non-finite first, at {unit} {culprit_step}" if culprit_step < bad_step else f"; {named} went non-finite with it")
        if recovered:
            parts.append(", and finite again afterwards")
        severity = "warning" if recovered else None
        return self.finding("".join(parts), confidence=confidence, series=loss, index=first_bad, evidence=evidence, causes=causes, severity=severity)


ACCURACY_HELD = 0.95  # the accuracy at the NaN over its level before, from which the predictions held


def accuracy_held(accuracy: Series | None, step: int) -> float | None:
    """The train accuracy logged at `step`, when it is finite and at least ACCURACY_HELD of the median of the
    (up to 3) points before it; None otherwise."""
    if accuracy is None or len(accuracy) < 2:
        return None
    at = np.flatnonzero(accuracy.steps == step)
    if at.size == 0 or at[0] == 0:
        return None
    value = float(accuracy.values[at[0]])
    before = accuracy.values[max(0, at[0] - 3) : at[0]]
    before = before[np.isfinite(before)]
    if not np.isfinite(value) or before.size == 0 or not value > 0:
        return None
    return value if value >= ACCURACY_HELD * float(np.median(before)) else None


def first_nonfinite_series(run: Run, loss: Series) -> tuple[list[str], int | None]:
    """The series that went non-finite earliest (a sub-loss or gradient norm before the total), and that step.

    When the total loss and some of its parts turn non-finite at the same step, the parts are named:
    they say where the fault is (threads/020: `giou_loss` nan while `conf_loss` is still 10.89).
    """
    earliest: dict[str, int] = {}
    for series in run.series:
        if series.role not in _CULPRIT_ROLES or len(series) == 0:
            continue
        index = first_nonfinite_index(series.values)
        if index is not None:
            earliest[series.name] = int(series.steps[index])
    if not earliest:
        return [], None
    step = min(earliest.values())
    names = [name for name, first in earliest.items() if first == step]
    if len(names) > 1 and loss.name in names:
        names.remove(loss.name)
    return names, step
