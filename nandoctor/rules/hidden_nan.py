"""NAN005: a train loss of exactly 0.0 (or a frozen repeat) next to a NaN gradient norm or eval loss - NaN steps filtered out of the log."""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from ..features import Facts
from ..model import Finding, Run, Series
from . import Param, Rule


class HiddenNan(Rule):
    """The logged train loss hides NaN steps: 0.0 (or a frozen value) beside a NaN gradient norm or eval loss.

    ## What it detects
    Train-loss points that are exactly 0.0 - or at least `min_repeats` identical values in a
    row - while the gradient norm logged at the same step, or the next evaluation loss, is NaN/inf.
    That is an error. Separately, gradient norms that are non-finite now and then while the loss
    stays finite and keeps moving are the fp16 scaler skipping an overflowing step: `info`, or a
    warning when more than `max_skip_share` of the logged gradient norms are non-finite. A log that
    ends on a non-finite gradient norm is not a skip the run got past, and gets no such note.

    ## Why it matters
    The HF Trainer's `logging_nan_inf_filter` (on by default) replaces a NaN step by the running
    average of the window; when *every* step of a logging window is NaN that average is 0, so the
    log shows `'loss': 0.0` while the model is already NaN. A loss of exactly 0.0 is not success:
    training has been dead since the first such point, and the NaN checks that read the loss see
    nothing. The gradient norm and the eval loss are not filtered, so they give it away.

    ## Signature
    Catalog S13: `(loss == 0.0) and (grad_norm non-finite or eval_loss non-finite)`, e.g.
    `{'loss': 0.0, 'grad_norm': nan, 'learning_rate': 5e-05, 'epoch': 0.54}` on every logging step.
    Sporadic `'grad_norm': nan` with normal loss values is the benign fp16 skip pattern
    (Time-MoE/Time-MoE#71). The frozen-repeat variant and the warning share for frequent skips are
    ours: a value that repeats exactly while gradients are NaN is a filter, not a measurement; a
    scaler that skips most logged steps is overflowing, not probing.

    ## Suggested fixes
    - Use bf16 instead of fp16 (`bf16=True, fp16=False`), especially for models pretrained in bf16.
    - Lower the learning rate; raise the per-device batch size (1 is fragile).
    - Rerun with `logging_nan_inf_filter=False` to see the real NaN steps, and scan the data for
      NaN/inf or empty samples.

    ## Parameters
    - `min_repeats`: identical consecutive loss values, each beside a non-finite gradient norm, that count as a frozen filter value.
    - `max_skip_share`: share of non-finite gradient norms above which skips are too frequent to be benign.

    ## References
    - research catalog S13 (HF Trainer hidden NaN) and S11, S12, S17.
    - threads/019 (Time-MoE/Time-MoE#31: `'loss': 0.0, 'grad_norm': nan` on every step), Time-MoE/Time-MoE#71,
      shibing624/MedicalGPT#186, huggingface/transformers#26207, hiyouga/LlamaFactory#3474.
    - transformers Trainer source, `logging_nan_inf_filter`.
    """

    id = "NAN005"
    slug = "hidden-nan"
    severity = "error"
    requires = ("train_loss",)
    optional = ("grad_norm", "val_loss", "lr")
    causes = ("sudden_nan", "loss_scale_overflow")
    params = {
        "min_repeats": Param(3, "identical consecutive losses beside non-finite gradient norms"),
        "max_skip_share": Param(0.5, "share of non-finite gradient norms above which skips are not benign"),
    }

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        loss, grad, val = facts.loss, facts.grad_norm, facts.val_loss
        if grad is None and val is None:
            return
        grad_bad = _grad_nonfinite_at(loss, grad)
        val_bad = _next_eval_nonfinite(loss, val)
        beside_nan = grad_bad | val_bad
        zero = (loss.values == 0.0) & beside_nan
        frozen = _frozen_repeats(loss.values, grad_bad, int(self.min_repeats))
        hidden = np.flatnonzero(zero | frozen)
        if hidden.size:
            yield self._hidden(loss, hidden, zero, grad_bad, val_bad, facts)
            return
        if grad is not None:
            finding = self._skips(loss, grad)
            if finding is not None:
                yield finding

    def _hidden(self, loss: Series, hidden: np.ndarray, zero: np.ndarray, grad_bad: np.ndarray, val_bad: np.ndarray, facts: Facts) -> Finding:
        first = int(hidden[0])
        step = int(loss.steps[first])
        what = "0.0" if zero[first] else f"frozen at {loss.values[first]:.6g}"
        beside = " and ".join(name for name, flags in (("gradient norm", grad_bad), ("eval loss", val_bad)) if flags[hidden].any())
        evidence = {
            "first_hidden_step": step,
            "hidden_points": int(hidden.size),
            "points": len(loss),
            "zero_losses": int(np.count_nonzero(zero)),
            "nonfinite_grad_norms_beside": int(np.count_nonzero(grad_bad[hidden])),
            "nonfinite_eval_losses_beside": int(np.count_nonzero(val_bad[hidden])),
        }
        lr = facts.lr_at(step)
        if lr is not None and math.isfinite(lr):
            evidence["lr"] = lr
        how = "(the HF Trainer's logging_nan_inf_filter writes 0.0 when every step of a window is NaN)" if zero[first] else "(a logger repeating its running mean)"
        message = f"From step {step} the logged train loss is {what} at {hidden.size} of {len(loss)} points while the {beside} beside it is non-finite: NaN steps were filtered out of the loss {how}, so training has been NaN since then."
        # A frozen repeat is weaker evidence than HF's tell-tale 0.0.
        confidence = min(0.95, 0.75 + 0.05 * hidden.size) if zero[first] else 0.6
        return self.finding(message, confidence=confidence, series=loss, index=first, evidence=evidence, causes={"sudden_nan": 1.0, "loss_scale_overflow": 0.4})

    def _skips(self, loss: Series, grad: Series) -> Finding | None:
        bad = np.flatnonzero(~np.isfinite(grad.values))
        if bad.size == 0:
            return None
        finite_loss = loss.values[np.isfinite(loss.values)]
        if finite_loss.size < 2 or np.all(finite_loss == finite_loss[0]):
            return None  # a frozen or missing loss is not "normal losses": leave it to the NaN rules
        if not np.isfinite(grad.values[-1]):
            return None  # the log ends on a non-finite norm: not a skipped step the run got past
        share = bad.size / len(grad)
        step = int(grad.steps[bad[0]])
        evidence = {"nonfinite_grad_norms": int(bad.size), "grad_norms": len(grad), "share": share, "first_step": step}
        if share > self.max_skip_share:
            message = f"The gradient norm is non-finite at {bad.size} of {len(grad)} logged steps ({share:.0%}) from step {step} while the loss stays finite: most steps overflow and are skipped, and the logged loss averages over the few that were not."
            return self.finding(message, confidence=0.6, series=grad, index=int(bad[0]), evidence=evidence, severity="warning", causes={"loss_scale_overflow": 0.6, "sudden_nan": 0.4})
        message = f"The gradient norm is non-finite at {bad.size} of {len(grad)} logged steps (first at step {step}) while the loss stays finite and moving: the fp16 loss scaler skipping overflowing steps, which is normal."
        return self.finding(message, confidence=0.7, series=grad, index=int(bad[0]), evidence=evidence, severity="info", causes={})


def _grad_nonfinite_at(loss: Series, grad: Series | None) -> np.ndarray:
    """Per loss point: is the gradient norm logged at the same step non-finite?"""
    flags = np.zeros(len(loss), dtype=bool)
    if grad is None or len(grad) == 0:
        return flags
    positions = np.searchsorted(grad.steps, loss.steps)
    inside = positions < len(grad)
    matched = np.zeros(len(loss), dtype=bool)
    matched[inside] = grad.steps[positions[inside]] == loss.steps[inside]
    flags[matched] = ~np.isfinite(grad.values[positions[matched]])
    return flags


def _next_eval_nonfinite(loss: Series, val: Series | None) -> np.ndarray:
    """Per loss point: is the next evaluation (at or after it; else the last one) non-finite?"""
    flags = np.zeros(len(loss), dtype=bool)
    if val is None or len(val) == 0:
        return flags
    positions = np.minimum(np.searchsorted(val.steps, loss.steps, side="left"), len(val) - 1)
    return ~np.isfinite(val.values[positions])


def _frozen_repeats(values: np.ndarray, grad_bad: np.ndarray, min_repeats: int) -> np.ndarray:
    """Points inside a run of >= min_repeats identical finite losses, each beside a non-finite gradient norm."""
    flags = np.zeros(values.shape, dtype=bool)
    if values.size < min_repeats or min_repeats < 2:
        return flags
    same_as_previous = np.zeros(values.shape, dtype=bool)
    same_as_previous[1:] = np.isfinite(values[1:]) & (values[1:] == values[:-1])
    # runs of equal values: each starts where a value differs from the one before
    starts = np.flatnonzero(~same_as_previous)
    ends = np.append(starts[1:], values.size)
    bad_so_far = np.concatenate([[0], np.cumsum(grad_bad)])
    frozen = (ends - starts >= min_repeats) & (bad_so_far[ends] - bad_so_far[starts] == ends - starts)
    edges = np.zeros(values.size + 1, dtype=np.int64)
    edges[starts[frozen]] += 1  # runs do not overlap, so each start and end is marked once
    edges[ends[frozen]] -= 1
    return np.cumsum(edges[:-1]) > 0
