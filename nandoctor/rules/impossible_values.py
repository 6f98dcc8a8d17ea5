"""IMP002: values a loss or metric cannot take with valid data: a negative cross-entropy, an accuracy outside [0, 1]."""

from __future__ import annotations

import re
from typing import Iterable

import numpy as np

from ..features import Facts, accuracy_scale, learning_rate_near, loss_series
from ..model import Finding, Run, Series
from . import Param, Rule

# Names of losses that are >= 0 by construction (cross-entropies, negative log-likelihoods of discrete targets).
_CROSS_ENTROPY_WORDS = re.compile(r"cross.?entropy|crossentropy|xent|\bnll|nll_|logloss|log_loss|\bce\b|\bbce|_ce\b|_bce\b|softmax|sigmoid|\bppl\b|perplexity")
# Names of losses that may legitimately go below 0: critics, likelihood bounds of continuous data, similarities, rewards.
_MAY_BE_NEGATIVE_WORDS = re.compile(r"wasserstein|wgan|critic|disc|\bgen|gan\b|elbo|kl\b|cos|similar|gauss|likelihood|mdn|reward|advantage|policy|value|entropy_bonus|\bmi\b|mutual|score|energy|contrast|margin|dice|iou|r2")


class ImpossibleValues(Rule):
    """A loss or accuracy takes a value valid data cannot produce: a negative cross-entropy, an accuracy above 1.

    ## What it detects
    Any loss series (train, validation, Caffe outputs) with a value below `negative_level`, and any
    accuracy series with a value outside [0, 1] (or outside [0, 100] for accuracies logged in
    percent, as mmdetection does: a series whose median is above 2 cannot be a fraction). How sure the finding is depends on the loss's name: a
    cross-entropy, NLL, BCE or perplexity cannot be negative at all (`error`); a plain `loss`
    usually cannot (`warning`); names of losses that can be negative by design (a WGAN critic, an
    ELBO or Gaussian likelihood on continuous data, a cosine similarity) are only `info`.

    ## Why it matters
    A negative cross-entropy means the targets are outside the loss's domain: digit labels 0-9
    fed to a binary cross-entropy gave `loss: -55.0254`. An accuracy above 1 means the metric
    compares the wrong tensors. Every other number the run logs is then meaningless.

    ## Signature
    L < -1e-6 on any loss, accuracy < 0 or > 1 (catalog S08/S20, proposed, as is); confidence by
    the loss's name as above (our refinement: some custom losses are negative by design).

    ## Suggested fixes
    Check that targets match the loss: 0/1 (or probabilities) for binary cross-entropy, class
    indices in 0..C-1 for sparse categorical cross-entropy, one-hot rows for categorical
    cross-entropy; check the output activation (sigmoid for BCE, softmax for CE); check the
    accuracy metric receives predictions and labels of the same shape.

    ## Parameters
    - `negative_level`: a loss below this is negative (-1e-6).
    - `accuracy_slack`: how far outside [0, 1] an accuracy may round before it counts (1e-6).

    ## References
    - research catalog S08 (negative cross-entropy is impossible with valid targets), S20 (impossible values).
    - https://datascience.stackexchange.com/questions/38604 (`loss: -55.0254` from digit labels fed to binary_crossentropy).
    """

    id = "IMP002"
    slug = "impossible-values"
    severity = "error"
    requires = ("train_loss",)
    optional = ("val_loss", "accuracy", "val_accuracy")
    causes = ("bad_input",)
    params = {
        "negative_level": Param(-1e-6, "a loss below this is negative"),
        "accuracy_slack": Param(1e-6, "how far outside [0, 1] an accuracy may round before it counts"),
    }

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        negative = [(item, first_index_below(item.values, float(self.negative_level))) for item in loss_series(run)]
        negative = [(item, index) for item, index in negative if index is not None]
        if negative:
            item, index = min(negative, key=lambda pair: (-_name_certainty(pair[0].name), int(pair[0].steps[pair[1]])))
            yield self._negative_loss(facts, item, index, len(negative))
        for accuracy in [item for item in run.series if item.role in ("accuracy", "val_accuracy") and len(item)]:
            index, scale = accuracy_out_of_range(accuracy.values, float(self.accuracy_slack))
            if index is not None:
                yield self._bad_accuracy(facts, accuracy, index, scale)
                return

    def _negative_loss(self, facts: Facts, item: Series, index: int, series_count: int) -> Finding:
        values = item.values
        with np.errstate(invalid="ignore"):
            below = np.count_nonzero(values < float(self.negative_level))
        lowest = float(np.nanmin(values))
        step = int(item.steps[index])
        certainty = _name_certainty(item.name)
        evidence = {"first_negative_value": float(values[index]), "lowest": lowest, "negative_points": int(below), "series_with_negative_values": series_count}
        lr = learning_rate_near(facts, step)
        if lr is not None:
            evidence["lr"] = lr
        meaning = {
            2: "a cross-entropy cannot be negative, so the targets are outside its domain",
            1: "a loss that cannot be negative with valid targets, so the targets are likely outside its domain",
            0: "its name suggests a loss that may be negative by design; check it if it should not",
        }[certainty]
        message = f"{item.name} goes negative ({float(values[index]):.4g} at {item.step_unit} {step}, lowest {lowest:.4g}, {below} points): {meaning}."
        severity, confidence = {2: ("error", 0.9), 1: ("warning", 0.6), 0: ("info", 0.3)}[certainty]
        return self.finding(message, confidence=confidence, series=item, index=index, evidence=evidence, causes={"bad_input": 1.0}, severity=severity)

    def _bad_accuracy(self, facts: Facts, accuracy: Series, index: int, scale: float) -> Finding:
        value = float(accuracy.values[index])
        step = int(accuracy.steps[index])
        bound = "[0, 100]" if scale == 100 else "[0, 1]"
        evidence = {"value": value, "scale": scale}
        message = f"{accuracy.name} is {value:.4g} at {accuracy.step_unit} {step}, outside {bound}: the metric compares the wrong tensors or the labels are malformed."
        return self.finding(message, confidence=0.75, series=accuracy, index=index, evidence=evidence, causes={"bad_input": 1.0})


def first_index_below(values: np.ndarray, level: float) -> int | None:
    with np.errstate(invalid="ignore"):
        below = np.flatnonzero(np.isfinite(values) & (values < level))
    return int(below[0]) if below.size else None


def accuracy_out_of_range(values: np.ndarray, slack: float) -> tuple[int | None, float]:
    """The first accuracy outside its range, and the range's top (1, or 100 for a series logged in percent)."""
    scale = accuracy_scale(values)  # 1 when no value is finite: then nothing is outside
    with np.errstate(invalid="ignore"):
        outside = np.flatnonzero(np.isfinite(values) & ((values < -slack) | (values > scale * (1 + slack))))
    return (int(outside[0]) if outside.size else None), scale


def _name_certainty(name: str) -> int:
    """2: a cross-entropy by name; 1: a plain loss; 0: a loss that may be negative by design."""
    lowered = name.lower()
    if _CROSS_ENTROPY_WORDS.search(lowered):
        return 2
    if _MAY_BE_NEGATIVE_WORDS.search(lowered):
        return 0
    return 1
