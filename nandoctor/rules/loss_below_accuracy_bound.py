"""IMP003: a loss lower than any cross-entropy can be at the accuracy logged beside it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ..features import Facts, accuracy_scale, common_steps
from ..model import Finding, Run, Series
from . import Param, Rule, has_role


class LossBelowAccuracyBound(Rule):
    """The loss is lower than a cross-entropy can be at the accuracy logged beside it: it is not a cross-entropy.

    ## What it detects
    Train loss against train accuracy, and validation loss against validation accuracy, at the
    steps both were logged: a point whose accuracy is more than `margin` below the least accuracy a
    cross-entropy of that value allows, 2·exp(-loss) - 1. The rule fires when at least
    `min_points` points are compared and at least `min_share` of them break the bound. Negative
    losses are IMP002's; accuracies in percent are read as fractions. A run that logs no accuracy
    beside a loss (train or validation pair) is not applicable.

    ## Why it matters
    By Jensen's inequality a mean cross-entropy L means a mean probability of the true class of at
    least exp(-L); a sample whose true class has probability above 1/2 is classified right, so the
    accuracy is at least 2·exp(-L) - 1 (0.85 at L = 0.08, 0.48 at L = 0.3). A lower accuracy at that
    loss means the loss is not a cross-entropy of the predictions the accuracy scores: a mean
    absolute or squared error on softmax outputs (bounded by 2/C per sample, with gradients that
    vanish as outputs saturate, so training crawls), a loss scaled down, or loss and accuracy
    computed on different targets. Nothing else in the curves shows it: they look like a slow,
    healthy run.

    ## Signature
    accuracy < 2·exp(-L) - 1 - margin on most compared points (our derivation from the bound above;
    it holds for any cross-entropy, binary or categorical, label smoothing and weight decay only
    raise L). Hinge losses never break it (their error rate is at most L). DeepFD's seeded
    `loss -> mean_absolute_error` MNIST runs sit 0.18-0.22 below the bound at every epoch (MAE
    0.128 at accuracy 0.58, where a cross-entropy would need 0.76).

    ## Suggested fixes
    Train a classifier with cross-entropy on logits (Keras: `categorical_crossentropy` for one-hot
    labels, `sparse_categorical_crossentropy` for class ids; PyTorch: `nn.CrossEntropyLoss` on the
    raw outputs), not MAE/MSE on probabilities; check that the logged loss is not divided by a
    constant (gradient accumulation, a loss weight) and that the accuracy scores the same targets.

    ## Parameters
    - `margin`: how far below the bound an accuracy must be to count (0.05).
    - `min_points`: fewest points logged by both series (3).
    - `min_share`: share of the compared points that must break the bound (0.5).

    ## References
    - Jensen's inequality on -ln p (our derivation; not in the research catalog).
    - papers/deepfd-cov MANIFEST: seeded fault type 'loss' -> mean_absolute_error (runs 1ed98a53, 4ad0c8af).
    """

    id = "IMP003"
    slug = "loss-below-accuracy-bound"
    severity = "warning"
    requires = ("train_loss",)
    optional = ("accuracy", "val_loss", "val_accuracy")
    causes = ("bad_input", "vanishing_or_stalled")
    fix_topics = ("loss",)
    params = {
        "margin": Param(0.05, "how far below the bound an accuracy must be to count"),
        "min_points": Param(3, "fewest points logged by both series"),
        "min_share": Param(0.5, "share of the compared points that must break the bound"),
    }

    def applicable(self, run: Run) -> bool:
        """Needs a loss with the accuracy logged beside it: train loss and accuracy, or the validation pair."""
        pairs = (("train_loss", "accuracy"), ("val_loss", "val_accuracy"))
        return super().applicable(run) and any(all(has_role(run, role) for role in pair) for pair in pairs)

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        breaches = [compare(loss, accuracy, float(self.margin)) for loss, accuracy in ((facts.loss, facts.accuracy), (facts.val_loss, facts.val_accuracy))]
        breaches = [item for item in breaches if item is not None and item.compared >= int(self.min_points) and item.share >= float(self.min_share)]
        if not breaches:
            return
        worst = max(breaches, key=lambda item: item.median_gap)
        evidence = {
            "loss_series": worst.loss.name,
            "accuracy_series": worst.accuracy.name,
            "compared_points": worst.compared,
            "points_below_bound": worst.below,
            "loss": worst.loss_value,
            "accuracy": worst.accuracy_value,
            "least_accuracy_for_cross_entropy": worst.bound,
            "median_gap": worst.median_gap,
        }
        unit = worst.loss.step_unit if worst.loss.step_unit in ("step", "epoch") else "step"
        message = (
            f"{worst.loss.name} is {worst.loss_value:.4g} at {unit} {worst.step} while {worst.accuracy.name} is {worst.accuracy_value:.3g}; "
            f"a cross-entropy that low needs an accuracy of at least {worst.bound:.3g} ({worst.below} of {worst.compared} points fall short): "
            "the loss is not a cross-entropy of these predictions (MAE/MSE on probabilities learns slowly) or it scores other targets."
        )
        confidence = min(0.85, 0.45 + 0.4 * worst.share * min(1.0, worst.median_gap / 0.15))
        yield self.finding(message, confidence=confidence, series=worst.loss, index=worst.index, evidence=evidence, causes={"bad_input": 1.0, "vanishing_or_stalled": 0.5})


@dataclass(frozen=True)
class Breach:
    """How a loss series and its accuracy compare with the cross-entropy bound, at their common steps."""

    loss: Series
    accuracy: Series
    compared: int
    below: int
    median_gap: float  # over the points below the bound
    index: int  # in the loss series: the first point below the bound
    loss_value: float
    accuracy_value: float
    bound: float

    @property
    def share(self) -> float:
        return self.below / self.compared

    @property
    def step(self) -> int:
        return int(self.loss.steps[self.index])


def least_accuracy(loss: np.ndarray) -> np.ndarray:
    """The least accuracy a mean cross-entropy `loss` allows: 2·exp(-loss) - 1 (0 or less above ln 2)."""
    return 2.0 * np.exp(-loss) - 1.0


def compare(loss: Series | None, accuracy: Series | None, margin: float) -> Breach | None:
    """The points where `accuracy` falls more than `margin` below the bound its loss sets (None when none does)."""
    if loss is None or accuracy is None or not len(loss) or not len(accuracy):
        return None
    _, at_loss, at_accuracy = common_steps(loss.steps, accuracy.steps)
    losses = loss.values[at_loss]
    fractions = accuracy.values[at_accuracy] / accuracy_scale(accuracy.values)
    usable = np.isfinite(losses) & np.isfinite(fractions) & (losses >= 0)
    at_loss, losses, fractions = at_loss[usable], losses[usable], fractions[usable]
    if not losses.size:
        return None
    bounds = least_accuracy(losses)
    gaps = bounds - fractions
    below = np.flatnonzero(gaps > margin)
    if not below.size:
        return None
    first = int(below[0])
    index = int(at_loss[first])
    return Breach(loss, accuracy, int(losses.size), int(below.size), float(np.median(gaps[below])), index, float(losses[first]), float(fractions[first]), float(bounds[first]))
