"""NAN004: the validation loss is NaN or inf while the train loss around that evaluation is finite."""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from ..features import Facts, nonfinite_kind
from ..model import Finding, Run, Series
from . import Rule


class NonfiniteValidation(Rule):
    """The validation loss went NaN/inf while training itself still produced finite losses.

    ## What it detects
    An evaluation whose loss is NaN or inf although every train-loss point logged since the
    previous evaluation (and the next one after it) is finite. It is an error when the validation
    loss stays non-finite at every later evaluation, and a warning when a later evaluation is
    finite again. Train losses that are exactly 0.0 do not count as finite here: that is the
    HF Trainer hiding NaN steps (NAN005).

    ## Why it matters
    Training looks fine, yet the model that is evaluated is broken, and so is the checkpoint a user
    would ship. The usual reasons are specific to evaluation: BatchNorm running statistics that
    became NaN (batch size 1 per device, or a bad batch seen in training mode), fp16 overflow in
    evaluation (long sequences), or an empty / all-padding validation batch giving 0/0.

    ## Signature
    Catalog S17: V non-finite at an evaluation step while all L in the surrounding window are
    finite. The first such evaluation is the onset; the evidence gives the last finite train loss
    next to it and how many evaluations are non-finite.

    ## Suggested fixes
    - Use a batch size of at least 2 per device with BatchNorm (or GroupNorm / SyncBatchNorm), and
      check the BN running_mean / running_var for NaN.
    - Evaluate in bf16 or fp32 instead of fp16.
    - Guard empty or all-padding validation batches (drop_last, masks that cannot sum to zero).

    ## Parameters
    None.

    ## References
    - research catalog S17 (validation loss NaN while training looks fine) and S13.
    - pytorch/pytorch#1206 (NaN BatchNorm running stats), facebookresearch/SparseConvNet#190 (batch size 1),
      hiyouga/LlamaFactory#3474 (fp16 eval loss NaN, fixed by bf16), xiaolai-sqlai/mobilenetv3#22.
    """

    id = "NAN004"
    slug = "nonfinite-validation"
    severity = "error"
    requires = ("train_loss", "val_loss")
    optional = ("lr",)
    causes = ("sudden_nan",)
    params = {}

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        val, train = facts.val_loss, facts.loss
        for index in _finite_training_beside(train, val, np.flatnonzero(~np.isfinite(val.values))):
            neighbours = _train_around(train, val, index)
            # A train loss of exactly 0.0 beside it is the HF filter hiding NaN steps (NAN005), not finite training.
            if neighbours.size == 0 or not np.all(np.isfinite(neighbours)) or np.any(neighbours == 0.0):
                continue
            step = int(val.steps[index])
            later = val.values[index:]
            bad_later = int(np.count_nonzero(~np.isfinite(later)))
            persistent = bad_later == later.size
            train_value = float(neighbours[-1])
            kind = nonfinite_kind(float(val.values[index]))
            unit = val.step_unit if val.step_unit in ("step", "epoch") else "step"
            evidence = {"first_nonfinite_eval_step": step, "nonfinite_evals": int(np.count_nonzero(~np.isfinite(val.values))), "evals": len(val), "train_loss": train_value}
            lr = facts.lr_at(step)
            if lr is not None and math.isfinite(lr):
                evidence["lr"] = lr
            if persistent:
                tail = f"and at all {later.size - 1} evaluations after it" if later.size > 1 else "at the last evaluation"
                message = f"The validation loss is {kind} at {unit} {step} {tail} while the train loss around it is finite ({train_value:.4g}): the evaluated model is broken although training looks fine."
                yield self.finding(message, confidence=0.85 if later.size > 1 else 0.7, series=val, index=index, evidence=evidence)
            else:
                message = f"The validation loss is {kind} at {unit} {step} ({evidence['nonfinite_evals']} of {len(val)} evaluations) while the train loss around it is finite ({train_value:.4g}); later evaluations are finite again."
                yield self.finding(message, confidence=0.6, series=val, index=index, evidence=evidence, severity="warning")
            return


def _finite_training_beside(train: Series, val: Series, candidates: np.ndarray) -> list[int]:
    """The candidate evaluations whose train losses around them (see `_train_around`) are all finite
    and non-zero, in order: judged for all at once where the train steps are in order."""
    steps = train.steps
    if steps.size > 1 and not bool(np.all(steps[1:] >= steps[:-1])):
        return candidates.tolist()  # each is judged on its own
    evaluated = val.steps[candidates]
    end = np.searchsorted(steps, evaluated, side="right")
    previous = val.steps[np.maximum(candidates - 1, 0)]
    since_previous = (candidates > 0) & (previous < evaluated)
    begin = np.where(since_previous, np.searchsorted(steps, previous, side="right"), 0)
    # the window since the previous evaluation (else the nearest point before) and the point after: one slice
    first = np.where(end > begin, begin, np.maximum(end - 1, 0))
    last = np.minimum(end + 1, steps.size)
    unusable = ~np.isfinite(train.values) | (train.values == 0.0)
    unusable_so_far = np.concatenate([[0], np.cumsum(unusable)])
    usable = (last > first) & (unusable_so_far[last] == unusable_so_far[first])
    return candidates[usable].tolist()


def _train_around(train: Series, val: Series, index: int) -> np.ndarray:
    """Train-loss values logged since the previous evaluation up to this one, plus the next one after it."""
    step = val.steps[index]
    previous_step = val.steps[index - 1] if index > 0 else None
    steps = train.steps
    if steps.size > 1 and not bool(np.all(steps[1:] >= steps[:-1])):
        return _train_around_unsorted(train, step, previous_step)
    # steps in order (as every loaded series is): the window is one slice, found by bisection
    end = int(np.searchsorted(steps, step, side="right"))  # points at or before the evaluation
    begin = int(np.searchsorted(steps, previous_step, side="right")) if previous_step is not None and previous_step < step else 0
    if end > begin:
        window = np.arange(begin, end)
    else:  # sparse train logging: the nearest point before
        window = np.arange(end - 1, end) if end else np.empty(0, dtype=np.int64)
    after = np.arange(end, min(end + 1, steps.size))
    chosen = np.concatenate([window, after]).astype(np.int64)
    return train.values[chosen]


def _train_around_unsorted(train: Series, step, previous_step) -> np.ndarray:
    since = train.steps <= step
    if previous_step is not None and previous_step < step:
        since &= train.steps > previous_step
    window = np.flatnonzero(since)
    if window.size == 0:  # sparse train logging: the nearest point before
        before = np.flatnonzero(train.steps <= step)
        window = before[-1:]
    after = np.flatnonzero(train.steps > step)[:1]
    chosen = np.concatenate([window, after]).astype(np.int64)
    return train.values[chosen]
