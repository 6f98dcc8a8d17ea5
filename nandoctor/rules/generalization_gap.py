"""OVF002: at the end of the run the model fits its training data far better than its validation data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ..features import Facts
from ..model import Finding, Run, Series
from . import Param, Rule
from .overfitting import mann_kendall_z


class GeneralizationGap(Rule):
    """The model fits its training data far better than its validation data, and the gap does not close.

    ## What it detects
    Over the last third of the evaluations (at least `min_evals`): the train accuracy is high
    (its error at most `max_train_error`), the validation accuracy is at least `min_accuracy_gap`
    below it and its error at least `min_error_ratio` times the train error, the validation loss
    is at least `min_loss_ratio` times the train loss, and the validation loss is not trending down
    (a Mann-Kendall z above -`trend_z` over all evaluations). It sees overfitting where the log
    does not show the validation minimum (an excerpt, or a gap there from the first evaluation),
    which OVF001 needs.

    ## Why it matters
    A model that is right on 95 % of its training samples and 65 % of its validation samples has
    memorised its training set rather than learned the task; more epochs widen the gap. The
    validation numbers, not the training ones, are what the model is worth.

    ## Signature
    Catalog S18's second recognition line: "a large persistent gap: train acc 0.94-0.97 vs val acc
    0.56-0.70, val loss 3.2-4.7 vs train 0.1-0.5". All tests are on accuracies (bounded, so
    scale-free) and on the ratio of the two losses; medians over the compared stretch, so one
    noisy evaluation does not decide. A healthy run can end with a small gap (train accuracy 1.0,
    validation 0.98: a ratio of errors but no gap) or a large loss ratio at a near-zero train loss:
    both the accuracy gap and the error ratio are required.

    ## Suggested fixes
    Add regularisation (data augmentation, dropout, weight decay), get more data or use a smaller
    model; stop early on the validation loss (keep the best checkpoint); check that the training and
    validation sets come from the same distribution (the same preprocessing for both).

    ## Parameters
    - `min_evals`: fewest evaluations to compare (3).
    - `max_train_error`: largest train error (1 - accuracy) for the model to fit its training data (0.2).
    - `min_accuracy_gap`: train accuracy minus validation accuracy (0.2).
    - `min_error_ratio`: validation error over train error (3).
    - `min_loss_ratio`: validation loss over train loss (2).
    - `trend_z`: a Mann-Kendall z of the validation loss below minus this is a validation loss still falling (2).

    ## References
    - research catalog S18 (overfitting: a large persistent gap).
    - threads/011 (the-deep-learners/deep-learning-illustrated#15: val loss 3.2-4.7 vs train 0.1-0.5, val acc 0.56-0.70 vs 0.94-0.97).
    """

    id = "OVF002"
    slug = "generalization-gap"
    severity = "warning"
    requires = ("train_loss", "val_loss", "accuracy", "val_accuracy")
    causes = ("overfitting",)
    params = {
        "min_evals": Param(3, "fewest evaluations to compare"),
        "max_train_error": Param(0.2, "largest train error (1 - accuracy) for the model to fit its training data"),
        "min_accuracy_gap": Param(0.2, "train accuracy minus validation accuracy"),
        "min_error_ratio": Param(3.0, "validation error over train error"),
        "min_loss_ratio": Param(2.0, "validation loss over train loss"),
        "trend_z": Param(2.0, "Mann-Kendall z below minus this is a validation loss still falling"),
    }

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        gap = final_gap(facts.loss, facts.val_loss, facts.accuracy, facts.val_accuracy, int(self.min_evals))
        if gap is None:
            return
        train_error, val_error = 1.0 - gap.train_accuracy, 1.0 - gap.val_accuracy
        if train_error > self.max_train_error or gap.train_accuracy - gap.val_accuracy < self.min_accuracy_gap:
            return
        if val_error < self.min_error_ratio * max(train_error, 1e-12) or gap.val_loss < self.min_loss_ratio * gap.train_loss:
            return
        val = facts.val_loss
        finite = val.values[np.isfinite(val.values)]
        trend = mann_kendall_z(finite)
        if trend < -self.trend_z:
            return  # the validation loss is still coming down: the gap may yet close
        unit = val.step_unit if val.step_unit in ("step", "epoch") else "step"
        evidence = {
            "from_step": gap.from_step,
            "evaluations": gap.evaluations,
            "train_accuracy": gap.train_accuracy,
            "val_accuracy": gap.val_accuracy,
            "train_loss": gap.train_loss,
            "val_loss": gap.val_loss,
            "loss_ratio": gap.val_loss / gap.train_loss,
            "val_loss_trend_z": trend,
        }
        message = (
            f"Over the last {gap.evaluations} evaluations (from {unit} {gap.from_step}) the train accuracy is {gap.train_accuracy:.3g} "
            f"but the validation accuracy {gap.val_accuracy:.3g}, and the validation loss {gap.val_loss:.4g} is "
            f"{gap.val_loss / gap.train_loss:.3g}x the train loss {gap.train_loss:.4g}: the model memorised its training data."
        )
        strength = min(1.0, (gap.train_accuracy - gap.val_accuracy) / 0.4)
        confidence = 0.5 + 0.25 * strength
        yield self.finding(message, confidence=confidence, series=val, index=int(np.flatnonzero(val.steps >= gap.from_step)[0]), evidence=evidence)


@dataclass(frozen=True)
class Gap:
    """Train and validation levels over the same final stretch of a run (medians)."""

    from_step: int
    evaluations: int
    train_accuracy: float
    val_accuracy: float
    train_loss: float
    val_loss: float


def final_gap(train: Series, val: Series, accuracy: Series, val_accuracy: Series, min_evals: int) -> Gap | None:
    """The medians of the four series over the last third of the validation points (None if too few or not finite)."""
    finite = np.isfinite(val.values)
    steps = val.steps[finite]
    if steps.size < max(1, min_evals):
        return None
    evaluations = max(min_evals, steps.size // 3)
    from_step = int(steps[-evaluations])
    levels = [tail_median(series, from_step) for series in (train, val, accuracy, val_accuracy)]
    if any(level is None for level in levels):
        return None
    train_loss, val_loss, train_accuracy, val_accuracy_level = levels
    if not train_loss > 0:
        return None
    return Gap(from_step, evaluations, as_fraction(train_accuracy), as_fraction(val_accuracy_level), train_loss, val_loss)


def tail_median(series: Series, from_step: int) -> float | None:
    """The median of a series' finite points at or after `from_step` (its last point when none is)."""
    values = series.values[series.steps >= from_step]
    values = values[np.isfinite(values)]
    if values.size == 0:
        finite = series.values[np.isfinite(series.values)]
        values = finite[-1:]
    return float(np.median(values)) if values.size else None


def as_fraction(accuracy: float) -> float:
    """An accuracy as a fraction of 1 (some loggers write percent)."""
    return accuracy / 100.0 if accuracy > 1.5 else accuracy
