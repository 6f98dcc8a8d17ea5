"""DIV003: a healthy loss jumps several-fold in one step and then sits on a dead-flat plateau (divergence into saturation)."""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from ..features import FLT_MIN_LOG, KERAS_CLIP_LOSSES, Facts, flat_run_end, learning_rate_near, nearest_ln_classes, value_at_step
from ..model import Finding, Run
from . import Param, Rule

CAFFE_LOSS_WEIGHTS = (0.1, 0.2, 0.25, 0.5)  # besides whole numbers: loss_weight values seen on Caffe heads


class JumpToPlateau(Rule):
    """A decreasing loss jumps several-fold in one step, then stays flat to 3-4 digits: the network saturated.

    ## What it detects
    A train loss that was going down, then jumped by `jump_ratio` or more within one or a few
    logged points, and from there sits on a plateau whose values agree to 3-4 significant digits
    until the end of the log (or until it turns non-finite).

    ## Why it matters
    A plateau that flat means the outputs no longer depend on the input: one update threw the
    weights into a region where the softmax saturates (every sample confidently wrong, the loss
    clipped at a constant) or the network collapsed to a constant (uniform) prediction. Nothing
    trains out of it: "Training more hasn't helped at all".

    ## Signature
    At least `min_before` points before the jump whose trend is not upward; a rise of at least
    `jump_ratio` times from the last pre-jump point to the plateau level, reached within
    `max_climb_points` points; then at least `min_plateau_points` points within a relative band of
    `plateau_tolerance` of the last value, running to the end (catalog S16). When the plateau is a
    known saturation constant (87.3365 x a Caffe loss weight, or 16.1181 / 15.9424 / 15.4249 /
    15.3332 x (1 - accuracy)) the SAT rules report it; this rule then lowers its confidence and
    weights. A plateau at ln C for a small class count C (C <= 1000) is noted as a collapse to the
    uniform prediction.

    ## Suggested fixes
    Restart from a checkpoint before the jump with the learning rate lowered 10x or more; add
    gradient clipping; compute the loss on logits (from_logits=True / SoftmaxWithLoss) rather
    than on probabilities; check the labels' range against the output layer.

    ## Parameters
    - `jump_ratio`: plateau level over the last pre-jump value (5).
    - `max_climb_points`: logged points the climb from the pre-jump value to the plateau may take (2).
    - `min_before`: points before the jump (3).
    - `min_plateau_points`: points on the plateau (3).
    - `plateau_tolerance`: relative band the plateau's values stay within (0.001, i.e. 3-4 significant digits).

    ## References
    - research catalog S16 (jump to a flat high plateau), S01 and S02 (the saturation constants), S03 (ln C).
    - threads/012 (keras-team/keras#21: 0.7407 -> 13.3614 -> 26.6396, 26.6453, 26.6462, 26.6461).
    - chuckcho/video-caffe#11 (test loss 3.31 -> 87.3366 with top-1 0.24 -> 0.008).
    """

    id = "DIV003"
    slug = "jump-to-plateau"
    severity = "error"
    requires = ("train_loss",)
    optional = ("accuracy", "lr")
    causes = ("saturated_output", "divergence")
    params = {
        "jump_ratio": Param(5.0, "plateau level over the last pre-jump value"),
        "max_climb_points": Param(2, "logged points the climb to the plateau may take"),
        "min_before": Param(3, "points before the jump"),
        "min_plateau_points": Param(3, "points on the plateau"),
        "plateau_tolerance": Param(0.001, "relative band the plateau's values stay within"),
    }

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        loss = facts.loss
        if loss is None:
            return
        end = facts.loss_end
        values, steps, unit = loss.values[:end], loss.steps[:end], loss.step_unit
        if values.size < int(self.min_before) + int(self.min_plateau_points) or np.any(values <= 0):
            return
        plateau_points = flat_run_end(values, float(self.plateau_tolerance))
        if plateau_points < int(self.min_plateau_points) or plateau_points == values.size:
            return
        plateau_start = values.size - plateau_points
        level = float(np.median(values[plateau_start:]))
        before = last_point_below(values, plateau_start, level / self.jump_ratio, int(self.max_climb_points))
        if before is None or before + 1 < int(self.min_before):
            return
        if not trend_not_upward(values[: before + 1]):
            return
        jump = level / float(values[before])
        jump_step = int(steps[before + 1])
        accuracy = value_at_step(facts.accuracy, int(steps[-1]))
        constant = saturation_constant(level, accuracy)
        classes, distance = nearest_ln_classes(level, max_classes=1000)
        evidence: dict = {
            "pre_jump_value": float(values[before]),
            "jump_step": jump_step,
            "jump_ratio": jump,
            "plateau_level": level,
            "plateau_points": plateau_points,
            "plateau_relative_spread": float((np.max(values[plateau_start:]) - np.min(values[plateau_start:])) / level),
        }
        note = ""
        causes = {"saturated_output": 1.0, "divergence": 0.5}
        confidence = 0.9 if plateau_points >= 5 else 0.8
        if constant is not None:
            evidence["saturation_constant"] = constant
            note = f": {constant}, a saturation constant (the SAT rules' signature)"
            causes = {"saturated_output": 0.5, "divergence": 0.25}
            confidence = 0.5
        elif classes and distance <= 1e-3:
            evidence["near_ln_classes"] = classes
            note = f": ln {classes}, the loss of a uniform prediction over {classes} classes"
        lr = learning_rate_near(facts, jump_step)
        lr_text = ""
        if lr is not None:
            evidence["lr"] = lr
            lr_text = f" (lr {lr:.3g})"
        message = (
            f"{loss.name} jumped x{jump:.3g} from {float(values[before]):.4g} at {unit} {jump_step} and sat flat at {level:.6g} "
            f"for the last {plateau_points} points (relative spread {evidence['plateau_relative_spread']:.1e}){note}{lr_text}"
        )
        yield self.finding(message, confidence=confidence, series=loss, index=before + 1, evidence=evidence, causes=causes)


def last_point_below(values: np.ndarray, plateau_start: int, ceiling: float, max_climb_points: int) -> int | None:
    """The last point before the plateau at or under `ceiling`, if the climb from it takes at most `max_climb_points` points."""
    for index in range(plateau_start - 1, max(-1, plateau_start - 2 - max_climb_points), -1):
        if values[index] <= ceiling:
            return index
    return None


def trend_not_upward(values: np.ndarray) -> bool:
    """Was the loss before the jump healthy: its last third no higher than its first (5 % slack for noise)?"""
    third = max(1, math.ceil(values.size / 3))
    return float(np.median(values[-third:])) <= 1.05 * float(np.median(values[:third]))


def saturation_constant(level: float, accuracy: float | None) -> str | None:
    """Name the saturation constant a plateau level matches (Caffe 87.3365 x w, Keras 16.1181 x (1 - acc)), if any."""
    weight = level / FLT_MIN_LOG
    candidates = [float(round(weight))] if weight >= 0.75 else []
    candidates += list(CAFFE_LOSS_WEIGHTS)
    for candidate in candidates:
        if candidate > 0 and abs(weight - candidate) <= 5e-4 * candidate:
            return "87.3365" if candidate == 1 else f"87.3365 x {candidate:g}"
    for clip in KERAS_CLIP_LOSSES:
        if abs(level - clip) <= 1e-3 * clip:
            return f"{clip:g}"
        if accuracy is not None and math.isfinite(accuracy) and 0 <= accuracy < 1 and abs(level - clip * (1 - accuracy)) <= 0.01 * level:
            return f"{clip:g} x (1 - accuracy {accuracy:.3g})"
    return None
