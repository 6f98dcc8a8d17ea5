"""PLT001: a train loss that never really moved over a whole run, at no known constant: stalled optimisation."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ..features import FLT_MIN_LOG, KERAS_CLIP_LOSSES, Facts, learning_rate_near
from ..model import Finding, Run, Series
from . import Param, Rule
from .caffe_softmax_floor import ceiling_multipliers, floor_stretches
from .constant_loss import ConstantLoss, frozen_stretch
from .keras_clip_saturation import KerasClipSaturation, flat_at_clip_level, saturated_match
from .oscillation import Oscillation, fitted_line, swings
from .uniform_prediction_plateau import UniformPredictionPlateau, accuracy_for, chance_plateau


# A stall names no cause of its own: the catalog's stalls were fixed by a new initialisation as often as by
# repairing the data (S03 confirmed causes: MSRA init / smaller biases / restart in three threads, the data
# pipeline in three, one of them a framework regression; S22 lists He/MSRA init among the fixes), the same
# secondary weights as SAT003's plateau at ln C.
STALL_CAUSES = {"vanishing_or_stalled": 1.0, "bad_init": 0.4, "bad_input": 0.3}


class StalledLoss(Rule):
    """The train loss never really moved: from its start to its end it stayed within a few percent.

    ## What it detects
    A train loss whose level at the end (the median of its last fifth) is within `max_change` of
    its start (the median of its first tenth, so one noisy batch does not decide), whose fitted
    trend over the whole run moves less than `max_change` of the level or is lost in the noise
    (|t| < 2), and that never dipped below (1 - 2 x `max_change`) of where it started (its 5th
    percentile). Runs of fewer than `min_points` points are too short to expect progress; runs
    of fewer than 10 points must also stay within `short_spread` from end to end (twice that when
    they span `long_span_steps` optimizer steps or more: with no progress over that many updates,
    a wander of a couple of percent is the batch noise of a stuck loss). Stalls at a
    known constant are left to the rule that names it (SAT001 87.3365, SAT002 Keras clip, SAT003
    ln C), float-identical losses to PLT002, and large swings without a trend to OSC001. A run
    whose accuracy is already near 1 has converged, not stalled.

    ## Why it matters
    A loss that does not move means the weights do not move usefully: vanishing gradients in a
    deep sigmoid/tanh stack, a learning rate that is far too small (or zero), a backward pass that
    never reaches the parameters (apex without `amp.scale_loss`), or bf16 rounding away the
    updates. Every further epoch is wasted compute.

    ## Signature
    |L_end / L_start - 1| < `max_change`; |fitted change| < `max_change` or its |t| < 2;
    P5(L) >= (1 - 2 `max_change`) L_start (catalog S22 without gradients: a plateau at no known
    constant with slope ~ 0; the catalog's last/first > 0.9, as is; the t-test is ours, so a
    noisy per-batch loss with no trend counts as unmoved). L_0 must be positive.

    A stall does not say which of its usual causes it has: the finding supports vanishing or
    stalled optimisation first, and a bad initialisation and bad input data as secondary causes
    (catalog S03, whose confirmed stalls were fixed by a new initialisation in three threads and by
    repairing the data pipeline in as many; the same weights as SAT003's).

    ## Suggested fixes
    Check the learning rate is neither ~0 nor far too high; overfit one small batch to test the
    wiring; use ReLU-family activations, residual connections and BatchNorm/LayerNorm; use
    He/MSRA initialisation; with mixed precision make sure the loss is scaled before backward.

    ## Parameters
    - `max_change`: largest relative change of the level over the run that still counts as unmoved (0.1).
    - `min_points`: fewest finite points for a run to be judged at all (4).
    - `short_spread`: largest (max - min) / L_0 allowed in a run of fewer than 10 points (0.01).
    - `long_span_steps`: optimizer steps a short log must span to be allowed twice `short_spread` (1000).
    - `converged_accuracy`: an accuracy at or above this at the end means the run converged (0.99).

    ## References
    - research catalog S22 (vanishing gradients / stalled optimisation), S09 (lr = 0), S12 (bf16 rounding).
    - threads/006 (wy1iu/sphereface#30: softmax_loss 9.35-9.52 from iteration 800 to 2600 at lr 0.1, above ln 10575).
    - NVIDIA/apex#747 (no scale_loss: "the train loss doesn't decrease"), BVLC/caffe#3243 (MSRA init),
      jay-mahadeokar/pynetbuilder#8 (BatchNorm), Ray Tune TrialPlateauStopper (std < 0.01 over 4 results).
    """

    id = "PLT001"
    slug = "stalled-loss"
    severity = "warning"
    requires = ("train_loss",)
    optional = ("lr", "accuracy", "val_accuracy")
    causes = ("vanishing_or_stalled", "bad_init", "bad_input")
    params = {
        "max_change": Param(0.1, "largest relative change of the level over the run that still counts as unmoved"),
        "min_points": Param(4, "fewest finite points for a run to be judged at all"),
        "short_spread": Param(0.01, "largest (max - min) / L_0 allowed in a run of fewer than 10 points"),
        "long_span_steps": Param(1000, "optimizer steps a short log must span to be allowed twice short_spread"),
        "converged_accuracy": Param(0.99, "an accuracy at or above this at the end means the run converged"),
    }

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        loss = facts.loss
        if loss is None:
            return
        stall = stalled(loss.values, self.values, optimizer_steps_spanned(loss))
        if stall is None or _converged(facts, float(self.converged_accuracy)) or known_constant(run, facts, loss):
            return
        lr = learning_rate_near(facts, int(loss.steps[stall.first_index]))
        evidence = {"first": stall.first, "last": stall.last, "last_over_first": round(stall.ratio, 4), "trend_over_run": round(stall.trend, 4), "points": stall.points}
        if lr is not None:
            evidence["lr"] = lr
        at_lr = f" at lr {lr:.3g}" if lr is not None else ""
        message = f"{loss.name} started near {stall.first:.5g} and ended near {stall.last:.5g} ({stall.ratio - 1:+.1%}) over {stall.points} points to {loss.step_unit} {int(loss.steps[-1])}{at_lr}: it never really moved."
        confidence = 0.7 if stall.points >= 20 and abs(stall.ratio - 1) < 0.03 else 0.6
        yield self.finding(message, confidence=confidence, series=loss, index=stall.first_index, evidence=evidence, causes=STALL_CAUSES)


@dataclass(frozen=True)
class Stall:
    first_index: int
    first: float
    last: float
    ratio: float  # last / first
    trend: float  # fitted change over the run, as a fraction of the level
    points: int


def optimizer_steps_spanned(loss: Series) -> int:
    """How many optimizer steps the loss's points span (0 when its steps count epochs or anything else)."""
    if loss.step_unit != "step" or len(loss) < 2:
        return 0
    return int(loss.steps[-1] - loss.steps[0])


def stalled(values: np.ndarray, params: dict, steps_spanned: int = 0) -> Stall | None:
    """The stall of a loss over its whole run by PLT001's parameters, or None when it moved.

    `steps_spanned`: the optimizer steps the points cover; a short log that covers `long_span_steps`
    or more may wander twice `short_spread`.
    """
    finite_index = np.flatnonzero(np.isfinite(values))
    finite = values[finite_index]
    if finite.size < int(params["min_points"]) or finite[0] <= 0:
        return None
    max_change = float(params["max_change"])
    with np.errstate(over="ignore", invalid="ignore"):
        first = float(np.median(finite[: max(1, finite.size // 10)]))  # the start, robust to one noisy batch
        last = float(np.median(finite[-max(1, finite.size // 5) :]))
    if not (math.isfinite(first) and math.isfinite(last)) or first <= 0:
        return None
    ratio = last / first
    with np.errstate(over="ignore", invalid="ignore"):
        relative = finite / first  # in units of the start, so 1e-3 and 1e300 losses behave alike
    if not np.all(np.isfinite(relative)):
        return None  # points beyond the float range of the start: it moved by ~300 orders of magnitude
    line = fitted_line(relative)
    trend = line.change
    if not abs(ratio - 1) < max_change or not (abs(trend) < max_change or abs(line.trend_t) < 2.0):
        return None  # it moved: the level changed, or a trend stands out of the noise
    if float(np.percentile(relative, 5)) < 1 - 2 * max_change:
        return None  # it did go down at some point: a later rise or a swing, not a stall
    if finite.size < 10:
        allowed = float(params["short_spread"]) * (2.0 if steps_spanned >= int(params["long_span_steps"]) else 1.0)
        if float(np.max(relative) - np.min(relative)) > allowed:
            return None
    return Stall(int(finite_index[0]), first, last, ratio, float(trend), int(finite.size))


def known_constant(run: Run, facts: Facts, loss: Series) -> bool:
    """Is this loss's stall owned by a rule that names it: a saturation constant, ln C, identical values or swings?"""
    if at_saturation_constant(run, facts, loss):
        return True
    if frozen_stretch(loss.values, ConstantLoss().values) is not None:
        return True
    # swings without progress on the train or the validation loss: oscillation is the more specific story
    oscillation = Oscillation().values
    return any(item is not None and swings(item.values, oscillation) is not None for item in (loss, facts.val_loss))


def at_saturation_constant(run: Run, facts: Facts, loss: Series) -> bool:
    """Does this loss sit at a constant a SAT rule names: 87.3365 x w or x (1 - acc) (SAT001), K x (1 - acc) (SAT002), ln C (SAT003)?"""
    if any(stretch.length >= 2 for stretch in floor_stretches(loss.values, ceiling_multipliers(run), 0.0005)):
        return True
    clip = KerasClipSaturation().values
    accuracy = facts.accuracy
    if accuracy is not None and len(accuracy):
        match = saturated_match(loss, accuracy, clip, KERAS_CLIP_LOSSES + (FLT_MIN_LOG,))  # SAT002, and SAT001's 87.3365 x (1 - acc)
        if match is not None and match.length >= int(clip["min_epochs"]):
            return True
    elif flat_at_clip_level(loss.values, int(clip["flat_points"])) is not None:
        return True
    plateau = chance_plateau(loss, accuracy_for(facts, loss), run.meta.get("num_classes"), UniformPredictionPlateau().values)
    return plateau is not None and not plateau.escaped


def _converged(facts: Facts, level: float) -> bool:
    accuracy = facts.accuracy
    if accuracy is None or not len(accuracy):
        return False
    finite = accuracy.values[np.isfinite(accuracy.values)]
    if not finite.size:
        return False
    with np.errstate(over="ignore", invalid="ignore"):
        tail = float(np.median(finite[-max(1, finite.size // 5) :]))
    return (tail / 100.0 if tail > 1.0 else tail) >= level
