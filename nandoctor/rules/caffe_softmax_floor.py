"""SAT001: a Caffe loss pinned at 87.3365 = -ln(FLT_MIN), the SoftmaxWithLoss ceiling of a saturated softmax."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ..features import FLT_MIN_LOG, Facts, learning_rate_near, loss_series, output_name, true_runs
from ..model import Finding, Run, Series
from . import Param, Rule
from .keras_clip_saturation import ClipMatch, saturated_match

# A smoothed total is k x 87.3365 when k unit-weight outputs saturate at once; more heads than this is implausible.
_MAX_SATURATED_OUTPUTS = 16


class CaffeSoftmaxFloor(Rule):
    """A Caffe loss is pinned at 87.3365, the SoftmaxWithLoss ceiling: the softmax has saturated.

    ## What it detects
    Any loss series of a run (the smoothed total `Iteration N, loss = X`, each
    `Train net output` and each `Test net output`) sitting at 87.3365 (printed 87.3362 to
    87.3366), or at 87.3365 x w for a `loss_weight` w (Caffe prints `87.3365 (* 20 = 1746.73
    loss)`), or at k x 87.3365 for a smoothed total of k saturated outputs, for at least
    `min_displays` consecutive displays. A single saturated display after the start is reported
    as `info` (a transient); a single one at iteration 0 is not reported at all, because an
    untrained net can print it once (a healthy ResNet-20 log prints a test loss of 87.3361 at
    iteration 0 and 2.9 at the next test). In Caffe runs, raw per-output losses of at least
    `partial_floor` that agree to 4 significant digits for `partial_displays` displays, below the
    ceiling, are reported as partial saturation (`warning`, lower confidence). In any framework, a
    loss equal to 87.3365 x (1 - accuracy) within `rate_tolerance` for `min_displays` consecutive
    points is reported too: every wrong answer of the batch is saturated, every right one certain
    (a softmax clamped at FLT_MIN, as Caffe does and as `torch.finfo(torch.float32).tiny` does).

    ## Why it matters
    `SoftmaxWithLoss` computes `-log(max(p, FLT_MIN))`: 87.3365 means the true-class probability
    underflowed to 0, so the pre-softmax activations have blown up (or hold inf). Nothing trains
    out of this state: the gradient of a clamped probability carries no useful signal and the
    run is wasted until it is restarted with a change.

    ## Signature
    |L - m x 87.33654| <= `tolerance` x max(1, m) for m in {1, each loss weight, their sum,
    2..16}, for >= `min_displays` consecutive displays (catalog S01, proposed threshold, as is).
    Partial saturation: `partial_floor` <= L <= the ceiling and consecutive relative changes
    below 5e-4 (flat to 4 digits) over `partial_displays` displays of a per-output series (the
    catalog proposes it for any loss >= 30; the smoothed total is left out because heavy
    `average_loss` smoothing can make a healthy total flat to 4 digits). Partial saturation with
    an accuracy: |L - 87.3365 (1 - acc)| <= `rate_tolerance` x 87.3365 (1 - acc) for
    >= `min_displays` consecutive points (catalog S01's partial saturation p x 87.34 + (1 - p) x
    normal, with p the error rate and the right answers at ~0; the S02 form K x (1 - acc) with
    K = -ln(FLT_MIN); its tolerance and the guards against chance matches are SAT002's: an error
    rate of at least `min_error_rate`, and predictions stuck, accuracy <= `max_accuracy` or
    identical at every matched point). Such a batch mean is not flat: it jumps between k/B x
    87.3365 for a batch of B as the number k of wrong answers changes, and tracks the accuracy.

    ## Suggested fixes
    Lower `base_lr` by 10x or more and restart from a snapshot before the jump; check that labels
    lie in [0, num_output) and that `num_output` matches the classes; in TEST phase give
    BatchNorm `use_global_stats: true` and a sane eps; normalise the inputs (mean subtraction and
    scale); set `clip_gradients` in the solver; when it starts at iteration 0, check the fillers
    (MSRA/xavier) and the data layer.

    ## Parameters
    - `tolerance`: half-width of the match around 87.3365 per unit of multiplier (0.0005).
    - `min_displays`: consecutive saturated displays that make the finding (2).
    - `partial_floor`: lowest loss considered partial saturation (30).
    - `partial_displays`: consecutive flat displays for partial saturation (3).
    - `rate_tolerance`: relative tolerance of the match to 87.3365 x (1 - accuracy) (0.01).
    - `min_error_rate`: smallest 1 - accuracy considered, so converged runs cannot match by chance (0.05).
    - `max_accuracy`: highest accuracy a saturated net is taken to have, unless its accuracy is frozen (0.75).

    ## References
    - research catalog S01 (Caffe softmax saturation), constants table (87.33654475 = -ln(FLT_MIN)).
    - threads/001 (BVLC/caffe#5137: 5.08 -> 87.3365 at lr 0.1), threads/002
      (peteanderson80/Up-Down-Captioner#2: `87.3365 (* 20 = 1746.73 loss)`), threads/003
      (yaringal/DropoutUncertaintyCaffeModels#3: train and test pinned, test accuracy 0.1).
    - liuzhuang13/DenseNetCaffe#20 (learning rate, BatchNorm variance), BVLC/caffe#4670 and #3782 (labels out of range).
    """

    id = "SAT001"
    slug = "caffe-softmax-floor"
    severity = "error"
    requires = ("train_loss",)
    optional = ("val_loss", "lr", "accuracy", "val_accuracy")
    causes = ("saturated_output", "lr_too_high")
    params = {
        "tolerance": Param(0.0005, "half-width of the match around 87.3365 per unit of multiplier"),
        "min_displays": Param(2, "consecutive saturated displays that make the finding"),
        "partial_floor": Param(30.0, "lowest loss considered partial saturation"),
        "partial_displays": Param(3, "consecutive flat displays for partial saturation"),
        "rate_tolerance": Param(0.01, "relative tolerance of the match to 87.3365 x (1 - accuracy)"),
        "min_error_rate": Param(0.05, "smallest 1 - accuracy considered"),
        "max_accuracy": Param(0.75, "highest accuracy of a saturated net unless the accuracy is frozen"),
    }

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        multipliers = ceiling_multipliers(run)
        series_list = loss_series(run)
        pinned = [(item, stretch) for item in series_list for stretch in floor_stretches(item.values, multipliers, float(self.tolerance))]
        lasting = [(item, stretch) for item, stretch in pinned if stretch.length >= int(self.min_displays)]
        if lasting:
            item, stretch = min(lasting, key=lambda pair: (int(pair[0].steps[pair[1].start]), -pair[1].length))
            yield self._pinned(run, facts, item, stretch, series_count=len({id(series) for series, _ in lasting}))
            return
        errors = saturated_errors(facts, self.values)
        if errors is not None:
            yield self._saturated_errors(run, facts, errors)
            return
        partial = self._partial(run, facts, series_list)
        if partial is not None:
            yield partial
            return
        transient = [(item, stretch) for item, stretch in pinned if stretch.start > 0]
        if transient:
            item, stretch = min(transient, key=lambda pair: int(pair[0].steps[pair[1].start]))
            yield self._transient(run, facts, item, stretch, count=len(transient))

    def _pinned(self, run: Run, facts: Facts, item: Series, stretch: "FloorStretch", series_count: int) -> Finding:
        step = int(item.steps[stretch.start])
        before = _finite_before(item.values, stretch.start)
        lr = learning_rate_near(facts, step)
        evidence = {"value": stretch.value, "multiplier": stretch.multiplier, "displays": stretch.length, "last_step": int(item.steps[stretch.start + stretch.length - 1]), "series_saturated": series_count}
        if before is not None:
            evidence["value_before"] = before
        if lr is not None:
            evidence["lr"] = lr
        ceiling = "" if stretch.multiplier == 1 else f" = {stretch.multiplier:g} x 87.3365"
        notes = [f"jumping from {before:.4g}"] if before is not None and before < 0.5 * stretch.value else []
        notes += [f"lr {lr:.3g}"] if lr is not None else []
        aside = f" ({', '.join(notes)})" if notes else ""
        message = f"{item.name} is pinned at {stretch.value:.6g}{ceiling}, Caffe's -ln(FLT_MIN) softmax ceiling, for {stretch.length} consecutive displays from {_unit(run, item)} {step}{aside}."
        confidence = 0.95 if stretch.length >= 3 else 0.85
        return self.finding(message, confidence=confidence, series=item, index=stretch.start, evidence=evidence, causes={"saturated_output": 1.0, "lr_too_high": 0.4})

    def _saturated_errors(self, run: Run, facts: Facts, match: ClipMatch) -> Finding:
        lr = learning_rate_near(facts, match.onset_step)
        evidence = {"clip_loss": FLT_MIN_LOG, "accuracy": match.accuracy, "loss": match.loss_value, "points": match.length, "relative_error": round(match.relative_error, 5)}
        if lr is not None:
            evidence["lr"] = lr
        unit = _unit(run, match.loss)
        message = (
            f"{match.loss.name} sits at 87.3365 x (1 - accuracy) ({match.loss_value:.5g} at accuracy {match.accuracy:.4g}) for {match.length} consecutive {unit}s "
            f"from {unit} {match.onset_step}: every wrong answer is saturated at -ln(FLT_MIN), the clamp of a softmax probability at FLT_MIN, and every right one is certain."
        )
        confidence = 0.9 if match.length >= 3 else 0.8
        return self.finding(message, confidence=confidence, series=match.loss, index=match.onset_index, evidence=evidence, causes={"saturated_output": 1.0, "lr_too_high": 0.4})

    def _partial(self, run: Run, facts: Facts, series_list: list[Series]) -> Finding | None:
        if run.framework != "caffe":
            return None  # 87.3365 is Caffe's ceiling; elsewhere a flat high loss means something else
        weights = run.meta.get("loss_weights") or {}
        best = None
        for item in series_list:
            if output_name(item.name) == item.name:
                continue  # the smoothed total: heavy averaging can make a healthy total flat to 4 digits
            weight = _positive_float(weights.get(output_name(item.name))) or 1.0
            ceiling = FLT_MIN_LOG * max(1.0, weight) * (1 + 1e-5)  # raw or weighted values
            start, length = flat_high_stretch(item.values, float(self.partial_floor), ceiling)
            if length >= int(self.partial_displays) and (best is None or item.steps[start] < best[0].steps[best[1]]):
                best = (item, start, length)
        if best is None:
            return None
        item, start, length = best
        step = int(item.steps[start])
        level = float(np.median(item.values[start : start + length]))
        weight = _positive_float(weights.get(output_name(item.name))) or 1.0
        fraction = level / (FLT_MIN_LOG if level <= FLT_MIN_LOG * 1.00001 else FLT_MIN_LOG * weight)
        lr = learning_rate_near(facts, step)
        evidence = {"value": level, "displays": length, "saturated_fraction": round(fraction, 3)}
        if lr is not None:
            evidence["lr"] = lr
        message = f"{item.name} sits flat to 4 digits at {level:.6g} for {length} displays from {_unit(run, item)} {step}, {fraction:.0%} of the 87.3365 softmax ceiling: part of every batch looks saturated."
        return self.finding(message, confidence=0.5, series=item, index=start, evidence=evidence, causes={"saturated_output": 1.0, "lr_too_high": 0.4}, severity="warning")

    def _transient(self, run: Run, facts: Facts, item: Series, stretch: "FloorStretch", count: int) -> Finding:
        step = int(item.steps[stretch.start])
        lr = learning_rate_near(facts, step)
        evidence = {"value": stretch.value, "displays": 1, "transient_displays": count}
        if lr is not None:
            evidence["lr"] = lr
        message = f"{item.name} touched the 87.3365 softmax ceiling once at {_unit(run, item)} {step} ({stretch.value:.6g}) and left it ({count} such display{'s' if count > 1 else ''} in all)."
        return self.finding(message, confidence=0.5, series=item, index=stretch.start, evidence=evidence, causes={"saturated_output": 1.0, "lr_too_high": 0.4}, severity="info")


@dataclass(frozen=True)
class FloorStretch:
    """Consecutive displays at one multiple of the softmax ceiling."""

    start: int
    length: int
    value: float  # the first value of the stretch, as logged
    multiplier: float


def saturated_errors(facts: Facts, params: dict) -> ClipMatch | None:
    """The earliest stretch of the train or validation loss at 87.3365 x (1 - accuracy), `min_displays` long, with stuck predictions."""
    rate = {"tolerance": params["rate_tolerance"], "min_error_rate": params["min_error_rate"], "max_accuracy": params["max_accuracy"]}
    matches = [saturated_match(loss, accuracy, rate, (FLT_MIN_LOG,)) for loss, accuracy in ((facts.loss, facts.accuracy), (facts.val_loss, facts.val_accuracy)) if loss is not None and len(loss)]
    lasting = [match for match in matches if match is not None and match.length >= int(params["min_displays"])]
    return min(lasting, key=lambda match: match.onset_step) if lasting else None


def ceiling_multipliers(run: Run) -> list[float]:
    """Multiples of 87.3365 a saturated loss can show: 1, each loss weight, their sum, and k saturated heads."""
    weights = [weight for weight in (_positive_float(value) for value in (run.meta.get("loss_weights") or {}).values()) if weight]
    candidates = {1.0, *weights, *(float(k) for k in range(2, _MAX_SATURATED_OUTPUTS + 1))}
    if weights:
        candidates.add(float(sum(weights)))
    return sorted(candidates)


def floor_mask(values: np.ndarray, multipliers: list[float], tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Which points sit at m x 87.3365 for some multiplier m, and that m per point (NaN elsewhere)."""
    at_floor = np.zeros(values.shape, dtype=bool)
    matched = np.full(values.shape, np.nan)
    if not multipliers:
        return at_floor, matched
    lowest = min(multipliers) * FLT_MIN_LOG - tolerance * max(1.0, min(multipliers))
    with np.errstate(invalid="ignore", over="ignore"):
        near = np.flatnonzero(values >= lowest)  # only these can sit at any multiple (most losses are far below 87)
        if not near.size:
            return at_floor, matched
        candidates = values[near]
        found = np.zeros(near.size, dtype=bool)
        which = np.full(near.size, np.nan)
        for multiplier in multipliers:
            close = np.abs(candidates - multiplier * FLT_MIN_LOG) <= tolerance * max(1.0, multiplier)
            which[close & ~found] = multiplier
            found |= close
    at_floor[near] = found
    matched[near] = which
    return at_floor, matched


def floor_stretches(values: np.ndarray, multipliers: list[float], tolerance: float) -> list[FloorStretch]:
    """Every stretch of consecutive points pinned at one multiple of the softmax ceiling."""
    at_floor, matched = floor_mask(values, multipliers, tolerance)
    # a stretch starts at a pinned point whose predecessor is not pinned at the same multiple
    continues = np.zeros(values.shape, dtype=bool)
    continues[1:] = at_floor[1:] & at_floor[:-1] & (matched[1:] == matched[:-1])
    starts = np.flatnonzero(at_floor & ~continues)
    if not starts.size:
        return []
    boundaries = np.flatnonzero(~continues)  # every point that does not continue a stretch; the starts are among them
    ends = np.append(boundaries, values.size)[np.searchsorted(boundaries, starts, side="right")]  # the next one, or the end
    return [FloorStretch(int(start), int(end - start), float(values[start]), float(matched[start])) for start, end in zip(starts, ends)]


def flat_high_stretch(values: np.ndarray, floor: float, ceiling: float) -> tuple[int, int]:
    """(start, length) of the longest run of points in [floor, ceiling] whose consecutive values agree to 4 digits."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        high = np.isfinite(values) & (values >= floor) & (values <= ceiling)
        steady = np.abs(np.diff(values)) <= 5e-4 * np.abs(values[1:])
    linked = high[:-1] & high[1:] & steady  # point i and i+1 are one flat pair
    starts, lengths = true_runs(linked)
    if not starts.size:
        return 0, 0
    longest = int(np.argmax(lengths))  # the first of the longest
    return int(starts[longest]), int(lengths[longest]) + 1


def _finite_before(values: np.ndarray, index: int) -> float | None:
    earlier = values[:index]
    earlier = earlier[np.isfinite(earlier)]
    return float(earlier[-1]) if earlier.size else None


def _positive_float(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _unit(run: Run, series: Series) -> str:
    if run.framework == "caffe":
        return "iteration"
    return series.step_unit
