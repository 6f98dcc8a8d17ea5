"""SAT003: the loss stays at ln C, the cross-entropy of a uniform prediction: the network outputs chance."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ..features import Facts, learning_rate_near, longest_run, relative_slope
from ..model import Finding, Run, Series
from . import Param, Rule

# Class counts so common that a plateau at their ln C is telling without an accuracy to confirm it:
# CIFAR-100, ImageNet-1k, and the vocabularies of LLaMA, GPT-2, GPT-NeoX and LLaMA-3 (catalog constants).
KNOWN_CLASS_COUNTS = (100, 1000, 32000, 50257, 50304, 128256)
# Below this class count ln C and ln(C +/- 1) are further apart than the band, so the level alone names C.
_ISOLATED_CLASS_COUNT = 25
# No classifier or vocabulary has more classes than this: a smaller accuracy names no C at all.
_MAX_CLASSES = 10_000_000


class UniformPredictionPlateau(Rule):
    """The loss stays at ln C, the loss of a uniform prediction: the network outputs chance for every input.

    ## What it detects
    A train or validation loss that stays within a band around ln C for at least `min_points`
    consecutive points, or for `min_fraction` of the run, with no trend across the band, and
    never learns its way below it afterwards. C comes from `run.meta["num_classes"]` when a
    reader knows it; otherwise from the level itself when C is small (up to 24 classes ln C is
    unambiguous: ln 2 = 0.6931, ln 10 = 2.3026), from accuracy at chance (about 1/C, or a
    single class's frequency) when it is logged, or from a class count so common it is telling
    (100, 1000, LM vocabularies). Without accuracy or meta, the run must also have started near
    ln C (within 10 %): a loss that came down from far above and settled near some ln C is a
    converged loss (of any kind) that happens to sit there. An accuracy clearly above chance contradicts the story and the
    rule stays quiet (soft labels can make ln 2 the optimum). A plateau the run later leaves for
    good is reported as `info`; at step 0, ln C is what a good initialisation gives and is never
    reported by itself. A short log can still show persistence when it starts late: if every
    point logged is at ln C (at least two), the accuracy names C at chance, and the first point
    is `late_start_steps` optimizer steps or more into the run, the net has been at chance all
    that time (`warning`, lower confidence).

    ## Why it matters
    A loss of ln C means the softmax is uniform (or the net predicts one class): no information
    from the input reaches the output. It does not fix itself: the usual reasons are a bad
    initialisation, data or labels that do not reach the model, a ReLU on the logits, or a
    learning rate that is far too low (or so high it killed the units).

    ## Signature
    |L - ln C| <= max(`band_floor`, `band_fraction` x ln C) for >= `min_points` consecutive
    points or >= `min_fraction` of the points, the fitted line moving less than the band's
    half-width across the stretch (catalog S03/S04, proposed thresholds, as is; the floor of
    `min_fraction_points` on a short run is ours). The late start: the catalog's persistence
    test in iterations, "if there is no increment after 5000 iterations … restart it" (BVLC/caffe#401
    citing BVLC/caffe#59, catalog S03 cause 1); it needs the accuracy at chance (or C from the
    reader) because the level alone cannot tell a stuck net from one passing ln C, and steps that
    count optimizer updates (Caffe iterations, global steps; never epochs). Binary (ln 2) without an accuracy series, and
    a common class count named by nothing else, are a `warning` at lower confidence (the
    catalog's soft-label caveat). Margin-softmax losses sit above ln C (threads/006: 9.35-9.52
    against ln 10575 = 9.27) and are outside the band: PLT001 covers them when they do not move.

    ## Suggested fixes
    Overfit one small batch: if the loss will not go below ln C even there, the data, labels or
    loss wiring are broken; check that labels reach the model and match the output size; use
    He/MSRA init and small final-layer weights; remove any activation on the logits; adjust the
    learning rate (both directions are reported); add normalisation; restart a stalled run.

    ## Parameters
    - `band_floor`: smallest half-width of the band around ln C (0.02).
    - `band_fraction`: half-width of the band as a fraction of ln C (0.01).
    - `min_points`: consecutive points in the band that make a plateau (10).
    - `min_fraction`: share of the run in the band that also makes one (0.2).
    - `min_fraction_points`: fewest points a plateau made by `min_fraction` may have (4).
    - `late_start_steps`: first logged step from which a short log at ln C with chance accuracy counts as persistent (5000).

    ## References
    - research catalog S03 (plateau at ln C), S04 (binary plateau at ln 2 and the soft-label caveat), S21, S23.
    - threads/005 (BVLC/caffe#59: 6.906-6.907 after 78k iterations, ImageNet), threads/006
      (wy1iu/sphereface#30), threads/009 (snf/keras-fractalnet#3: 2.3028-2.3030 with acc 0.10).
    - BVLC/caffe#3243 and #2085 (initialisation fixed it), WeiTang114/MVCNN-TensorFlow#14 (ReLU on fc8),
      pytorch/pytorch#26310 (lr nan, loss constant at 2.302585), Karpathy "A Recipe for Training Neural Networks".
    """

    id = "SAT003"
    slug = "uniform-prediction-plateau"
    severity = "error"
    requires = ("train_loss",)
    optional = ("val_loss", "accuracy", "val_accuracy", "lr")
    causes = ("vanishing_or_stalled", "bad_init", "bad_input")
    params = {
        "band_floor": Param(0.02, "smallest half-width of the band around ln C"),
        "band_fraction": Param(0.01, "half-width of the band as a fraction of ln C"),
        "min_points": Param(10, "consecutive points in the band that make a plateau"),
        "min_fraction": Param(0.2, "share of the run in the band that also makes one"),
        "min_fraction_points": Param(4, "fewest points a plateau made by min_fraction may have"),
        "late_start_steps": Param(5000, "first logged step from which a short log at ln C with chance accuracy counts as persistent"),
    }

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        for loss in (facts.loss, facts.val_loss):
            if loss is None or not len(loss):
                continue
            plateau = chance_plateau(loss, accuracy_for(facts, loss), run.meta.get("num_classes"), self.values)
            if plateau is not None:
                yield self._finding(run, facts, loss, plateau)

    def _finding(self, run: Run, facts: Facts, loss: Series, plateau: "ChancePlateau") -> Finding:
        step = int(loss.steps[plateau.start])
        unit = loss.step_unit
        lr = learning_rate_near(facts, step)
        evidence = {"classes": plateau.classes, "ln_classes": round(math.log(plateau.classes), 4), "level": plateau.level, "points": plateau.length, "fraction_of_run": round(plateau.fraction, 3), "evidence_for_classes": plateau.source}
        if plateau.accuracy is not None:
            evidence["accuracy"] = plateau.accuracy
        if lr is not None:
            evidence["lr"] = lr
        chance = f", accuracy {plateau.accuracy:.3g} (chance)" if plateau.accuracy is not None else ""
        causes = {"vanishing_or_stalled": 1.0, "bad_init": 0.4, "bad_input": 0.3}
        if plateau.late:
            evidence["first_step"] = step
            message = f"{loss.name} is at {plateau.level:.4f} = ln {plateau.classes} (uniform prediction) at all {plateau.length} points logged, the first at {unit} {step}{chance}: still at chance that far into the run, the output does not depend on the input."
            return self.finding(message, confidence=0.6, series=loss, index=plateau.start, evidence=evidence, causes=causes, severity="warning")
        if plateau.escaped:
            message = f"{loss.name} sat at ln {plateau.classes} = {math.log(plateau.classes):.4f} (uniform prediction) for {plateau.length} points from {unit} {step}{chance}, then learned its way below it."
            return self.finding(message, confidence=0.6, series=loss, index=plateau.start, evidence=evidence, causes=causes, severity="info")
        message = f"{loss.name} stays at {plateau.level:.4f} = ln {plateau.classes} (uniform prediction) for {plateau.length} points ({plateau.fraction:.0%} of the run) from {unit} {step}{chance}: the output does not depend on the input."
        corroborated = plateau.source in ("accuracy", "meta")
        if plateau.classes == 2 and not corroborated:
            return self.finding(message, confidence=0.5, series=loss, index=plateau.start, evidence=evidence, causes=causes, severity="warning")
        if plateau.source == "known count":
            return self.finding(message, confidence=0.6, series=loss, index=plateau.start, evidence=evidence, causes=causes, severity="warning")
        confidence = 0.9 if corroborated else 0.75
        return self.finding(message, confidence=confidence, series=loss, index=plateau.start, evidence=evidence, causes=causes)


@dataclass(frozen=True)
class ChancePlateau:
    """A stretch of a loss at ln C."""

    start: int
    length: int
    fraction: float  # of the run's finite points
    level: float  # median loss over the stretch
    classes: int
    source: str  # what names C: meta, accuracy, level, known count
    accuracy: float | None  # median accuracy over the stretch, when logged
    escaped: bool  # the loss later went well below ln C for good
    late: bool = False  # too short by points, persistent by steps: every point at ln C, the first far into the run


def accuracy_for(facts: Facts, loss: Series) -> Series | None:
    """The accuracy that speaks for a loss: its own side's first, else the other side's (Caffe logs test accuracy only)."""
    validation = loss is facts.val_loss and loss is not facts.loss
    ordered = (facts.val_accuracy, facts.accuracy) if validation else (facts.accuracy, facts.val_accuracy)
    for accuracy in ordered:
        if accuracy is not None and len(accuracy):
            return accuracy
    return None


def band_half_width(classes: int, values: dict) -> float:
    return max(float(values["band_floor"]), float(values["band_fraction"]) * math.log(classes))


def chance_plateau(loss: Series, accuracy: Series | None, meta_classes, values: dict) -> ChancePlateau | None:
    """The longest plateau of `loss` at some ln C, with its class count, or None; `values` are SAT003's parameters."""
    if np.count_nonzero(np.isfinite(loss.values)) < 2:
        return None
    best = None
    for classes, source in candidate_class_counts(loss.values, accuracy, meta_classes, values):
        plateau = _plateau_at(loss, classes, source, accuracy, values)
        if plateau is not None and (best is None or plateau.length > best.length):
            best = plateau
    return best


def candidate_class_counts(losses: np.ndarray, accuracy: Series | None, meta_classes, values: dict) -> list[tuple[int, str]]:
    """Class counts worth testing, each with what names it: meta, the level (small C), accuracy at chance, a common count."""
    candidates: list[tuple[int, str]] = []
    try:
        declared = int(meta_classes) if meta_classes is not None else 0
    except (TypeError, ValueError, OverflowError):
        declared = 0
    if declared >= 2:
        candidates.append((declared, "meta"))
    seen = {classes for classes, _ in candidates}
    finite = losses[np.isfinite(losses)]
    for classes in range(2, _ISOLATED_CLASS_COUNT):
        if classes not in seen and np.any(np.abs(finite - math.log(classes)) <= band_half_width(classes, values)):
            candidates.append((classes, "level"))
            seen.add(classes)
    # larger C: ln C is too dense to read off the level; it takes an accuracy at chance or a common count
    chance_accuracy = _typical_accuracy(accuracy)
    if chance_accuracy is not None and 1.0 / _MAX_CLASSES <= chance_accuracy <= 1.0 / _ISOLATED_CLASS_COUNT:
        classes = int(round(1.0 / chance_accuracy))
        if classes not in seen:
            candidates.append((classes, "accuracy"))
            seen.add(classes)
    candidates += [(classes, "known count") for classes in KNOWN_CLASS_COUNTS if classes not in seen]
    return candidates


def _plateau_at(loss: Series, classes: int, source: str, accuracy: Series | None, values: dict) -> ChancePlateau | None:
    target = math.log(classes)
    half_width = band_half_width(classes, values)
    finite = np.isfinite(loss.values)
    total = int(np.count_nonzero(finite))
    with np.errstate(invalid="ignore"):
        inside = finite & (np.abs(loss.values - target) <= half_width)
    start, length = longest_run(inside)
    needed = min(int(values["min_points"]), max(int(values["min_fraction_points"]), math.ceil(float(values["min_fraction"]) * total)))
    late = length < needed and _late_and_whole(loss, finite, start, length, total, float(values["late_start_steps"]))
    if length < needed and not late:
        return None
    stretch = loss.values[start : start + length]
    trend = abs(relative_slope(stretch)) * np.mean(np.abs(stretch)) * (length - 1)
    if trend > half_width:
        return None  # the line crosses the band: a loss passing through ln C, not sitting on it
    median_accuracy = _accuracy_over(accuracy, int(loss.steps[start]), int(loss.steps[start + length - 1]))
    # chance is 1/C for a uniform guess, up to one class's share when the net always predicts that class
    chance_ceiling = min(2.5 / classes, 1.0 / classes + 0.25)
    if median_accuracy is not None and median_accuracy > chance_ceiling:
        return None  # clearly above chance: the net learns, ln C is a coincidence (or soft labels)
    at_chance = median_accuracy is not None and 0.4 / classes <= median_accuracy
    if source == "accuracy" and not at_chance:
        return None
    if source == "level" and at_chance:
        source = "accuracy"
    if late and not (at_chance or source == "meta"):
        return None  # a short late log: only an accuracy at chance (or C from the reader) says it is stuck, not passing by
    if source in ("level", "known count") and not _started_at(loss.values, target, half_width):
        return None  # it came down from far above: a loss that converged near ln C, not one stuck there
    later = loss.values[start + length :]
    later = later[np.isfinite(later)]
    escape_level = target - max(3 * half_width, 0.1 * target)
    with np.errstate(over="ignore", invalid="ignore"):
        escaped = bool(later.size) and float(np.median(later[-max(1, later.size // 5) :])) < escape_level
    return ChancePlateau(start, length, length / max(1, total), float(np.median(stretch)), classes, source, median_accuracy if at_chance else None, escaped, late)


def _late_and_whole(loss: Series, finite: np.ndarray, start: int, length: int, total: int, late_start: float) -> bool:
    """Every finite point (two or more) is in the band and the first is `late_start` optimizer steps into the run."""
    if length < 2 or length != total or loss.step_unit != "step":
        return False
    first = int(np.argmax(finite))
    return start == first and float(loss.steps[first]) >= late_start


def _started_at(values: np.ndarray, target: float, half_width: float) -> bool:
    """Did the run start near `target` (ln C)? A well-initialised net starts at ln C; a stuck one never leaves it."""
    finite = values[np.isfinite(values)]
    return bool(finite.size) and abs(float(finite[0]) - target) <= 0.1 * target + half_width


def _typical_accuracy(accuracy: Series | None) -> float | None:
    """The median of the last half of an accuracy series (where a stalled net has settled)."""
    if accuracy is None or not len(accuracy):
        return None
    values = accuracy.values[np.isfinite(accuracy.values)]
    if not values.size:
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.median(values[values.size // 2 :]))


def _accuracy_over(accuracy: Series | None, first_step: int, last_step: int) -> float | None:
    """Median accuracy logged within [first_step, last_step], else after first_step, else None."""
    if accuracy is None or not len(accuracy):
        return None
    finite = np.isfinite(accuracy.values)
    within = finite & (accuracy.steps >= first_step) & (accuracy.steps <= last_step)
    if not within.any():
        within = finite & (accuracy.steps >= first_step)
    if not within.any():
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        value = float(np.median(accuracy.values[within]))
    return value / 100.0 if value > 1.0 else value  # percent-scale accuracies (mmdetection's acc: 95.1)
