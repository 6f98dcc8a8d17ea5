"""SAT002: a Keras/TF cross-entropy pinned at K x (1 - accuracy), K = -ln(epsilon): clipped, confidently wrong predictions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ..features import KERAS_CLIP_LOSSES, Facts, common_steps, learning_rate_near, longest_run
from ..model import Finding, Run, Series
from . import Param, Rule

# Where each ceiling comes from, for the message (catalog S02 and its constants table).
CLIP_ORIGINS = {
    16.1181: "-ln(1e-7), Keras' probability clip",
    15.9424: "-ln(float32 eps), the Theano-era clip",
    15.4249: "-ln(2e-7), TF 2.2's double-epsilon binary cross-entropy",
    15.3332: "TF 2.6's float32-rounded binary cross-entropy clip",
}
_MAX_CLASSES_WITHOUT_ACCURACY = 100  # beyond this K x (1 - 1/C) is too dense to name a C
# Fewest matched points before one prediction held all run also counts as a stalled network (PLT001's min_points).
_MIN_STALLED_POINTS = 4
# Weight of vanishing_or_stalled beside saturated_output then: S02's third confirmed cause, a dead final layer (S21).
_STALLED_WEIGHT = 0.5


class KerasClipSaturation(Rule):
    """A Keras/TF cross-entropy sits at K x (1 - accuracy): every wrong prediction is clipped at full confidence.

    ## What it detects
    Epochs where the loss equals K x (1 - accuracy) within `tolerance`, K being one of the clip
    ceilings of Keras/TF cross-entropy (16.1181, 15.9424, 15.4249, 15.3332), for at least
    `min_epochs` consecutive logged points of the same K, or at one point on both the train
    pair (loss, accuracy) and the validation pair (val_loss, val_accuracy) within a tighter
    0.2 %. Typical readouts: `loss: 14.5063 - acc: 0.1000` (10 classes, one predicted),
    `loss: 8.0590 - acc: 0.5000` (balanced binary). Without an accuracy series, a loss flat
    (within 0.2 % for `flat_points` points) at exactly K x (1 - 1/C) for a class count C up to 100,
    or at K itself, is reported as weaker evidence (`warning`) when the loss got there by rising
    or sat there from its first point: a loss descending through a clip level is learning (a
    smoothed detector loss passes 7.7082 = 15.4249 / 2 flat to 0.2 %). When the accuracy is one
    and the same value at every point logged and the match starts at the first, the finding also
    supports vanishing_or_stalled (weight 0.5): one constant prediction all run is a stalled net.

    ## Why it matters
    Keras clips probabilities to [1e-7, 1 - 1e-7] before the log, so a confidently wrong sample
    costs exactly -ln(1e-7) = 16.1181; when the loss is that ceiling times the error rate, every
    wrong answer is saturated and every right one is certain: the output layer is stuck (a dead
    final layer, probabilities fed where logits belong, or a learning rate that blew the logits
    up). The loss stays flat because clipped probabilities pass almost no gradient.

    ## Signature
    |L - K (1 - acc)| <= `tolerance` x K (1 - acc) for K in {16.1181, 15.9424, 15.4249, 15.3332},
    with 1 - acc >= `min_error_rate`, sustained >= `min_epochs` (catalog S02 proposes 1 % over
    >= 2 epochs). Ours: the error-rate floor (near convergence K x (1 - acc) is tiny and a healthy
    loss can match it by chance); the stuck-predictions guard, accuracy <= `max_accuracy` or
    identical at every matched point (a slowly learning net's L / (1 - acc) drifts up through
    15-16 on its way: 15.86 at accuracy 0.895 in a healthy sigmoid MNIST run); and the
    train-and-validation single-epoch match (two data sets at the same ceiling in the same epoch
    are two observations). Without accuracy, the arrival from below or from the first point is
    the catalog's own shape of saturation: "a jump from a normal value to the constant" (S02, S16;
    or a slow rise, wy1iu/sphereface#103). The stalled secondary cause is S02's third confirmed
    cause, a dead final layer or ReLU on the logits giving a constant argmax (S21's label); it
    needs the same accuracy at every one of at least 4 points (PLT001's shortest judged run).

    ## Suggested fixes
    Compute the loss on logits (`from_logits=True` with a linear last layer); pair the output
    activation with the loss (softmax + categorical cross-entropy, sigmoid + binary
    cross-entropy; a softmax over one unit is always 1); lower the learning rate or switch
    RMSprop to Adam / SGD with momentum; normalise the inputs; remove a ReLU on the logits.

    ## Parameters
    - `tolerance`: relative tolerance of the match to K x (1 - accuracy) (0.01).
    - `min_epochs`: consecutive matching points of one K that make the finding (2).
    - `min_error_rate`: smallest 1 - accuracy considered, so converged runs cannot match by chance (0.05).
    - `flat_points`: consecutive flat points needed without an accuracy series (3).
    - `max_accuracy`: highest accuracy a saturated net is taken to have, unless its accuracy is frozen (0.75).

    ## References
    - research catalog S02 (Keras/TF clipped cross-entropy saturation) and its constants table.
    - tensorflow/tensorflow#41595 (16.1181 and the 15.4249 double epsilon), keras-team/keras#15249
      (15.9424 vs 15.3332), keras-team/keras#3425 ("suddenly drop to 15+ with an accuracy of less
      than 2%"), keras-team/keras#6983 (raw logits fixed it), keras-team/keras#4897 (Adam instead of RMSprop).
    - threads/012 (keras-team/keras#21: jump to a flat plateau, pre-epsilon constant).
    """

    id = "SAT002"
    slug = "keras-clip-saturation"
    severity = "error"
    requires = ("train_loss",)
    optional = ("accuracy", "val_loss", "val_accuracy", "lr")
    causes = ("saturated_output", "vanishing_or_stalled")
    params = {
        "tolerance": Param(0.01, "relative tolerance of the match to K x (1 - accuracy)"),
        "min_epochs": Param(2, "consecutive matching points of one K that make the finding"),
        "min_error_rate": Param(0.05, "smallest 1 - accuracy considered"),
        "flat_points": Param(3, "consecutive flat points needed without an accuracy series"),
        "max_accuracy": Param(0.75, "highest accuracy of a saturated net unless the accuracy is frozen"),
    }

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        pairs = [(loss, accuracy) for loss, accuracy in ((facts.loss, facts.accuracy), (facts.val_loss, facts.val_accuracy)) if loss is not None and len(loss)]
        matches = [saturated_match(loss, accuracy, self.values) for loss, accuracy in pairs]
        sustained = [match for match in matches if match is not None and match.length >= int(self.min_epochs)]
        if sustained:
            yield self._sustained(run, facts, min(sustained, key=lambda match: match.onset_step))
            return
        both = train_and_validation_agree(matches)
        if both is not None:
            yield self._both(run, facts, both)
            return
        for (loss, accuracy), match in zip(pairs, matches):
            if accuracy is None or not len(accuracy):
                flat = flat_at_clip_level(loss.values, int(self.flat_points))
                if flat is not None:
                    yield self._without_accuracy(run, facts, loss, *flat)
                    return

    def _sustained(self, run: Run, facts: Facts, match: "ClipMatch") -> Finding:
        lr = learning_rate_near(facts, match.onset_step)
        evidence = {"clip_loss": match.ceiling, "accuracy": match.accuracy, "loss": match.loss_value, "points": match.length, "relative_error": round(match.relative_error, 5)}
        if lr is not None:
            evidence["lr"] = lr
        unit = match.loss.step_unit
        message = (
            f"{match.loss.name} sits at {match.ceiling} x (1 - accuracy) ({match.loss_value:.5g} at accuracy {match.accuracy:.4g}) "
            f"for {match.length} consecutive {unit}s from {unit} {match.onset_step}: every wrong prediction is clipped at {CLIP_ORIGINS[match.ceiling]}."
        )
        confidence = 0.9 if match.length >= 3 else 0.8
        causes = {"saturated_output": 1.0}
        if match.frozen_whole_run and match.length >= _MIN_STALLED_POINTS:
            # one constant prediction from the first point to the last: the network never learned anything (catalog
            # S02 cause 3, a dead final layer or ReLU on the logits, S21), not a net that blew up after learning (S16)
            causes["vanishing_or_stalled"] = _STALLED_WEIGHT
            evidence["accuracy_frozen_all_run"] = True
            message = message[:-1] + f"; the accuracy never left {match.accuracy:.4g}, so one prediction held all run (a stalled, dead output)."
        return self.finding(message, confidence=confidence, series=match.loss, index=match.onset_index, evidence=evidence, causes=causes)

    def _both(self, run: Run, facts: Facts, pair: tuple["ClipMatch", "ClipMatch"]) -> Finding:
        train, validation = pair
        lr = learning_rate_near(facts, train.onset_step)
        evidence = {"clip_loss": train.ceiling, "accuracy": train.accuracy, "loss": train.loss_value, "val_accuracy": validation.accuracy, "val_loss": validation.loss_value}
        if lr is not None:
            evidence["lr"] = lr
        message = (
            f"{train.loss.name} ({train.loss_value:.5g} at accuracy {train.accuracy:.4g}) and {validation.loss.name} ({validation.loss_value:.5g} at {validation.accuracy:.4g}) "
            f"both equal {train.ceiling} x (1 - accuracy) at {train.loss.step_unit} {train.onset_step}: wrong predictions are clipped at {CLIP_ORIGINS[train.ceiling]}."
        )
        return self.finding(message, confidence=0.7, series=train.loss, index=train.onset_index, evidence=evidence, causes={"saturated_output": 1.0})

    def _without_accuracy(self, run: Run, facts: Facts, loss: Series, start: int, length: int, ceiling: float, classes: int) -> Finding:
        step = int(loss.steps[start])
        level = float(np.median(loss.values[start : start + length]))
        lr = learning_rate_near(facts, step)
        evidence = {"clip_loss": ceiling, "level": level, "points": length}
        if classes:
            evidence["classes"] = classes
        if lr is not None:
            evidence["lr"] = lr
        shape = f"{ceiling} x (1 - 1/{classes})" if classes else f"{ceiling}"
        message = f"{loss.name} is flat at {level:.5g} = {shape} for {length} {loss.step_unit}s from {loss.step_unit} {step}, the loss of clipped, confidently wrong predictions ({CLIP_ORIGINS[ceiling]}); no accuracy was logged to confirm it."
        return self.finding(message, confidence=0.45, series=loss, index=start, evidence=evidence, causes={"saturated_output": 1.0}, severity="warning")


@dataclass(frozen=True)
class ClipMatch:
    """The longest stretch where a loss equals one clip ceiling times the error rate."""

    loss: Series
    onset_index: int  # index into the loss series
    onset_step: int
    length: int  # consecutive matching points
    ceiling: float
    accuracy: float  # at the onset
    loss_value: float  # at the onset
    relative_error: float  # |L - K (1 - acc)| / (K (1 - acc)) at the onset
    accuracy_high: float  # the highest accuracy over the stretch
    accuracy_frozen: bool  # the accuracy is identical at every point of the stretch: the predictions do not change
    frozen_whole_run: bool = False  # ... and at every point logged, the stretch starting at the first: one prediction all run


def clip_match(loss: Series, accuracy: Series, tolerance: float, min_error_rate: float, ceilings: tuple[float, ...] = KERAS_CLIP_LOSSES) -> ClipMatch | None:
    """Where `loss` equals K x (1 - accuracy) at the steps both logged, as its longest stretch of one K of `ceilings`."""
    steps, loss_index, accuracy_index = common_steps(loss.steps, accuracy.steps)
    if steps.size == 0:
        return None
    values = loss.values[loss_index]
    accuracies = accuracy.values[accuracy_index]
    with np.errstate(invalid="ignore"):
        error_rate = 1.0 - accuracies
        usable = np.isfinite(values) & np.isfinite(accuracies) & (accuracies >= 0) & (error_rate >= min_error_rate)
    best = None
    for ceiling in ceilings:
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            predicted = ceiling * error_rate
            relative = np.abs(values - predicted) / predicted
        matched = usable & (relative <= tolerance)
        start, length = longest_run(matched)
        if length and (best is None or (length, -relative[start]) > (best.length, -best.relative_error)):
            index = int(loss_index[start])
            stretch = accuracies[start : start + length]
            frozen = length >= 2 and bool(np.all(stretch == stretch[0]))
            # the whole run: the stretch starts at the first step both logged and the accuracy never
            # took another value anywhere (a single constant prediction from start to end)
            logged = accuracy.values[np.isfinite(accuracy.values)]
            whole_run = frozen and start == 0 and bool(np.all(logged == stretch[0]))
            best = ClipMatch(loss, index, int(steps[start]), length, ceiling, float(accuracies[start]), float(values[start]), float(relative[start]), float(np.max(stretch)), frozen, whole_run)
    return best


def saturated_match(loss: Series, accuracy: Series | None, params: dict, ceilings: tuple[float, ...] = KERAS_CLIP_LOSSES) -> ClipMatch | None:
    """The loss's longest stretch at K x (1 - accuracy) with stuck predictions, or None.

    `params` holds `tolerance`, `min_error_rate` and `max_accuracy` (SAT002's parameters, or SAT001's for 87.3365).
    """
    if accuracy is None or not len(accuracy):
        return None
    match = clip_match(loss, accuracy, float(params["tolerance"]), float(params["min_error_rate"]), ceilings)
    return match if match is not None and stuck(match, float(params["max_accuracy"])) else None


def stuck(match: ClipMatch, max_accuracy: float) -> bool:
    """Saturated predictions are pinned: accuracy at a single class's share, or the very same accuracy epoch after epoch."""
    return match.accuracy_high <= max_accuracy or match.accuracy_frozen


def train_and_validation_agree(matches: list[ClipMatch | None], tight: float = 0.002) -> tuple[ClipMatch, ClipMatch] | None:
    """A train and a validation match on the same ceiling at the same step, both within `tight`."""
    if len(matches) < 2 or matches[0] is None or matches[1] is None:
        return None
    train, validation = matches[0], matches[1]
    if train.ceiling == validation.ceiling and train.onset_step == validation.onset_step and max(train.relative_error, validation.relative_error) <= tight:
        return train, validation
    return None


def clip_levels(max_classes: int = _MAX_CLASSES_WITHOUT_ACCURACY) -> list[tuple[float, float, int]]:
    """(level, K, C) for every K x (1 - 1/C) with C up to `max_classes`, and K itself (C = 0: all wrong)."""
    levels = [(ceiling, ceiling, 0) for ceiling in KERAS_CLIP_LOSSES]
    levels += [(ceiling * (1 - 1 / classes), ceiling, classes) for ceiling in KERAS_CLIP_LOSSES for classes in range(2, max_classes + 1)]
    return levels


def flat_at_clip_level(values: np.ndarray, min_points: int, tolerance: float = 0.002) -> tuple[int, int, float, int] | None:
    """(start, length, K, C) of the first flat stretch sitting at a clip level that the loss reached by rising, or None.

    A stretch is `min_points` or more consecutive values within `tolerance` of its first value, its
    median within `tolerance` of some K x (1 - 1/C). Saturation is reached by a jump up from a
    normal loss or is there from the first point (catalog S02, S16): a loss that arrives from
    above, descending slowly through a clip level, is training through it, and is passed over.
    """
    values = np.asarray(values, dtype=np.float64)
    min_points = max(1, int(min_points))
    if values.size < min_points:
        return None
    levels = clip_levels()
    level_values = np.array([level for level, _, _ in levels])
    highest = float(level_values.max()) * (1 + tolerance)
    finite = np.isfinite(values)
    with np.errstate(invalid="ignore", over="ignore"):
        masked = np.where(finite & (values <= highest), values, np.nan)  # no clip level above K
        lowest, largest = _window_extremes(masked, min_points)  # NaN where a window holds one
        flat_start = (lowest > 0) & (largest <= lowest * (1 + tolerance))
    candidates = np.flatnonzero(flat_start)
    if not candidates.size:
        return None
    # per point, the index of the last finite value before it (-1: none)
    last_finite_before = np.concatenate([[-1], np.maximum.accumulate(np.where(finite, np.arange(values.size), -1))[:-1]])
    position = 0
    while position < candidates.size:
        index = int(candidates[position])
        first = masked[index]
        end = _band_end(masked, index + min_points, first, tolerance * first)
        level = float(np.median(masked[index:end]))
        nearest = int(np.argmin(np.abs(level_values - level)))
        if abs(level - level_values[nearest]) <= tolerance * level_values[nearest] and _reached_from_below(values, int(last_finite_before[index]), level, tolerance):
            _, ceiling, classes = levels[nearest]
            return index, end - index, ceiling, classes
        position = int(np.searchsorted(candidates, end))
    return None


def _window_extremes(values: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Per window of `width` consecutive values, its min and max (NaN where it holds one): a few
    element-wise passes, many times faster than reducing a sliding-window view of narrow rows."""
    count = values.size - width + 1
    lowest, largest = values[:count].copy(), values[:count].copy()
    for offset in range(1, width):
        np.minimum(lowest, values[offset : offset + count], out=lowest)
        np.maximum(largest, values[offset : offset + count], out=largest)
    return lowest, largest


def _band_end(values: np.ndarray, begin: int, center: float, half_width: float) -> int:
    """The first index from `begin` on whose value is not finite or leaves center +/- half_width (len if none)."""
    chunk = 64
    while begin < values.size:
        block = values[begin : begin + chunk]
        with np.errstate(invalid="ignore"):
            outside = np.flatnonzero(~(np.abs(block - center) <= half_width))
        if outside.size:
            return begin + int(outside[0])
        begin += block.size
        chunk *= 4
    return int(values.size)


def _reached_from_below(values: np.ndarray, before: int, level: float, tolerance: float) -> bool:
    """Is a stretch there from the first finite point (`before` -1), or did the loss rise into it (the value before below the band)?"""
    return before < 0 or float(values[before]) < level * (1 - tolerance)
