"""IMP001: a train loss of exactly 0 early in a run, or while the validation loss is large: a degenerate set-up."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from ..features import Facts, learning_rate_near, true_runs, value_at_step
from ..model import Finding, Run, Series
from . import Param, Rule


class ZeroLoss(Rule):
    """The train loss is exactly 0 early on, or while the validation loss is large: the task is degenerate, not solved.

    ## What it detects
    A train loss at or below `zero_level` for `min_points` consecutive points starting in the first
    `early_fraction` of the run; or at least `min_points_with_val` such points while the
    validation loss logged at those steps is at least `val_ratio` times its first value. A loss
    that reaches 0 at the end of a long decrease, with a validation loss that stayed sane, is
    convergence and is not reported. A zero loss next to a non-finite gradient norm is left to the
    hidden-NaN rules (the HF Trainer writes 0.0 when every step in the window was NaN).

    ## Why it matters
    A cross-entropy of exactly 0 from the start means every prediction is certain and right
    before anything was learned: a single class (a softmax over one unit always outputs 1), labels
    that leak into the inputs, batches of one class (unshuffled data), or everything masked out.
    With a large validation loss beside it, the model fits a train set that does not represent
    the task (train/test label mismatch).

    ## Signature
    L <= 1e-7 for >= 3 consecutive points before 10 % of the run, or L <= 1e-7 while
    V >= 3 x V_0 (catalog S20, proposed; the catalog writes V >> ln C, and we use the validation
    loss's own start because C is rarely known). The validation branch counts zero points that
    need not be consecutive (threads/007 alternates 3.6e-8, 1.30, 0).

    ## Suggested fixes
    Check the label cardinality and that the output layer matches the loss (one sigmoid unit +
    binary cross-entropy, or C softmax units + categorical cross-entropy); shuffle the training
    data; check that train and test labels use the same mapping; check masking (all tokens
    masked gives 0 or NaN); make sure the targets are not among the inputs.

    ## Parameters
    - `zero_level`: largest loss counted as zero (1e-7).
    - `min_points`: consecutive zero points that make the early finding (3).
    - `early_fraction`: share of the run (by step) within which the zero stretch must start (0.1).
    - `min_points_with_val`: zero points needed beside a large validation loss (2).
    - `val_ratio`: validation loss over its first value that counts as large (3.0).

    ## References
    - research catalog S20 (loss exactly 0), S13 (HF Trainer hidden NaN), S08.
    - threads/007 (BVLC/caffe#5127: train loss 3.6e-08 and 0 while test loss is 37.5 and 38.0 at chance accuracy).
    - jindongwang/transferlearning#36 ("softmax Loss always show: 0.000000"), keras-team/keras#17102 and #17029 (one class).
    """

    id = "IMP001"
    slug = "zero-loss"
    severity = "error"
    requires = ("train_loss",)
    optional = ("val_loss", "accuracy", "grad_norm", "lr")
    causes = ("bad_input",)
    params = {
        "zero_level": Param(1e-7, "largest loss counted as zero"),
        "min_points": Param(3, "consecutive zero points that make the early finding"),
        "early_fraction": Param(0.1, "share of the run within which the zero stretch must start"),
        "min_points_with_val": Param(2, "zero points needed beside a large validation loss"),
        "val_ratio": Param(3.0, "validation loss over its first value that counts as large"),
    }

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        loss = facts.loss
        if loss is None or not len(loss):
            return
        with np.errstate(invalid="ignore"):
            zero = np.isfinite(loss.values) & (np.abs(loss.values) <= float(self.zero_level))
        if not zero.any() or _hidden_nan(facts, loss, zero):
            return
        start, length = longest_early_stretch(loss.steps, zero, float(self.early_fraction))
        if length >= int(self.min_points):
            yield self._early(run, facts, loss, start, length)
            return
        beside = zero_beside_large_validation(loss, zero, facts.val_loss, float(self.val_ratio))
        if beside.size >= int(self.min_points_with_val):
            yield self._beside_validation(run, facts, loss, beside)

    def _early(self, run: Run, facts: Facts, loss: Series, start: int, length: int) -> Finding:
        step = int(loss.steps[start])
        unit = loss.step_unit
        evidence: dict = {"zero_points": length, "first_zero_step": step, "last_step": int(loss.steps[-1])}
        accuracy = facts.accuracy
        head = accuracy.values[: max(1, len(accuracy) // 10 + 1)] if accuracy is not None else np.empty(0)
        head = head[~np.isnan(head)]
        perfect = bool(head.size) and bool(np.min(head) >= 0.999)
        if perfect:
            evidence["accuracy_from_start"] = 1.0
        lr = learning_rate_near(facts, step)
        if lr is not None:
            evidence["lr"] = lr
        also = ", with accuracy 1.0 from the start" if perfect else ""
        message = f"{loss.name} is exactly 0 for {length} consecutive points from {unit} {step} of {int(loss.steps[-1])}{also}: nothing was left to learn, so the task or the labels are degenerate."
        return self.finding(message, confidence=0.85 if perfect or length >= 5 else 0.75, series=loss, index=start, evidence=evidence, causes={"bad_input": 1.0})

    def _beside_validation(self, run: Run, facts: Facts, loss: Series, indices: np.ndarray) -> Finding:
        first = int(indices[0])
        step = int(loss.steps[first])
        validation = facts.val_loss
        val_first = float(validation.values[np.isfinite(validation.values)][0])
        val_then = value_at_step(validation, step)
        evidence: dict = {"zero_points": int(indices.size), "first_zero_step": step, "val_loss": val_then, "val_loss_first": val_first}
        lr = learning_rate_near(facts, step)
        if lr is not None:
            evidence["lr"] = lr
        message = f"{loss.name} is 0 at {indices.size} points from {loss.step_unit} {step} while {validation.name} is {val_then:.4g}, {val_then / val_first:.1f}x its first value {val_first:.4g}: the model fits a train set that does not represent the task."
        return self.finding(message, confidence=0.65, series=loss, index=first, evidence=evidence, causes={"bad_input": 1.0}, severity="warning")


def longest_early_stretch(steps: np.ndarray, mask: np.ndarray, early_fraction: float) -> tuple[int, int]:
    """(start, length) of the longest run of True that starts within the first `early_fraction` of the steps (the first such if tied)."""
    span = float(steps[-1] - steps[0]) if steps.size else 0.0
    early_until = steps[0] + early_fraction * span if steps.size else 0
    starts, lengths = true_runs(mask)
    early = starts[steps[starts] <= early_until] if starts.size else starts
    if not early.size:
        return (0, 0)
    lengths = lengths[steps[starts] <= early_until]
    longest = int(np.argmax(lengths))
    return int(early[longest]), int(lengths[longest])


def values_in_force(series: Series, steps: np.ndarray) -> np.ndarray:
    """Per step, the series' value at its last point at or before it (NaN before its first point): value_at_step, vectorised."""
    index = np.searchsorted(series.steps, steps, side="right") - 1
    return np.where(index >= 0, series.values[np.maximum(index, 0)], np.nan)


def zero_beside_large_validation(loss: Series, zero: np.ndarray, validation: Series | None, ratio: float) -> np.ndarray:
    """Indices of zero train-loss points where the validation loss in force is >= `ratio` x its first value."""
    if validation is None or not len(validation):
        return np.empty(0, dtype=np.int64)
    finite = validation.values[np.isfinite(validation.values)]
    if not finite.size or finite[0] <= 0:
        return np.empty(0, dtype=np.int64)
    first = float(finite[0])
    indices = np.flatnonzero(zero)
    steps = loss.steps[indices]
    value = values_in_force(validation, steps)
    with np.errstate(invalid="ignore"):
        large = np.isfinite(value) & (value >= ratio * first) & (steps > validation.steps[0])
    return indices[large].astype(np.int64)


def _hidden_nan(facts: Facts, loss: Series, zero: np.ndarray) -> bool:
    """A zero loss logged beside a non-finite gradient norm: the HF Trainer's NaN filter, not a real 0."""
    grad = facts.grad_norm
    if grad is None or not len(grad):
        return False
    index = np.searchsorted(grad.steps, loss.steps[np.flatnonzero(zero)], side="right") - 1
    logged = index >= 0  # a zero before the first gradient norm has none beside it
    return bool(np.any(~np.isfinite(grad.values[index[logged]])))
