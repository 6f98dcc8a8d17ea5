"""GRD002: the gradient norm has shrunk to a thousandth of its start and the loss no longer moves."""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from ..features import Facts, relative_slope
from ..model import Finding, Run
from . import Param, Rule


class VanishingGradients(Rule):
    """The gradient norm vanished while the loss stalled well above where it started from.

    ## What it detects
    Over the last `tail_fraction` of the logged gradient norms, (almost) every value is below
    `vanish_ratio` times the early gradient norm, while the train loss over the same stretch has
    no trend (relative slope per point below `stall_slope`) and is still above `progress_floor`
    times its initial level - the network stopped learning, it did not converge.

    ## Why it matters
    A stalled loss alone can mean a learning rate that is too small, a plateau, or a dead network;
    a gradient that has vanished says which: no signal reaches the weights any more (saturated
    sigmoid/tanh stacks, dead ReLUs, a broken backward pass, or apex amp without
    `amp.scale_loss`). Tiny gradients at the end of a run that *converged* (loss far below where it
    started) are normal and not reported.

    ## Signature
    `g_t < 1e-3 x g_0` for the last 20 % of points (g_0: median of the first 5 finite norms; the
    90th percentile of the tail is compared, so one stray spike does not hide the stall) and
    `|dL/L| < 1e-3` per logged point over the same steps, with the loss still at least 10 % of its
    initial value. The catalog's threshold compares every tail point; the percentile and the
    progress floor are ours, against one outlier and against converged runs.

    ## Suggested fixes
    - Overfit one small batch: if even that fails, the model, loss or data pipeline is broken.
    - Use ReLU-family activations, residual connections and BatchNorm/LayerNorm in deep stacks.
    - Use He/MSRA initialisation; check that the backward pass is really called (apex:
      `with amp.scale_loss(loss, optimizer) as scaled: scaled.backward()`).
    - If the learning rate is simply far too low, raise it.

    ## Parameters
    - `vanish_ratio`: tail gradient norm over the early norm below which gradients have vanished (catalog: 1e-3).
    - `tail_fraction`: final fraction of the gradient points that must all be vanished (catalog: 0.2).
    - `stall_slope`: largest |relative slope| of the loss per logged point that still counts as stalled (catalog: 1e-3).
    - `progress_floor`: the stalled loss must still be at least this fraction of its initial value (not converged).
    - `min_points`: gradient points needed before the rule judges.

    ## References
    - research catalog S22 (vanishing gradients / stalled optimisation) and S12 (bf16 rounding stall).
    - AUTOTRAINER's vanishing check (gradient ratio first/last layer < 1e-3), cited in research/anchors-mission.md.
    - NVIDIA/apex#747 (missing `amp.scale_loss` makes the loss stop decreasing).
    """

    id = "GRD002"
    slug = "vanishing-gradients"
    severity = "warning"
    requires = ("grad_norm", "train_loss")
    causes = ("vanishing_or_stalled",)
    params = {
        "vanish_ratio": Param(1e-3, "tail gradient norm over the early norm that counts as vanished"),
        "tail_fraction": Param(0.2, "final fraction of gradient points that must be vanished"),
        "stall_slope": Param(1e-3, "largest |relative loss slope| per point that counts as stalled"),
        "progress_floor": Param(0.1, "the stalled loss is at least this fraction of its initial value"),
        "min_points": Param(10, "gradient points needed before judging"),
    }

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        grad, loss = facts.grad_norm, facts.loss
        finite_grad = np.isfinite(grad.values) & (grad.values >= 0)
        grad_steps, grad_values = grad.steps[finite_grad], grad.values[finite_grad]
        if grad_values.size < self.min_points:
            return
        early = float(np.median(grad_values[:5]))
        if not early > 0:
            return
        tail_start = min(grad_values.size - 1, int(math.floor(grad_values.size * (1.0 - self.tail_fraction))))
        tail = grad_values[tail_start:]
        tail_level = float(np.percentile(tail, 90))
        if tail_level >= self.vanish_ratio * early:
            return
        first_tail_step = int(grad_steps[tail_start])
        tail_loss = loss.values[loss.steps >= first_tail_step]
        finite_loss = loss.values[np.isfinite(loss.values)]
        if tail_loss.size < 3 or finite_loss.size < 3 or not np.all(np.isfinite(tail_loss)):
            return  # a non-finite loss is the NaN rules' business, not a stall
        slope = relative_slope(tail_loss)
        initial_loss = float(np.median(finite_loss[:5]))
        level = float(np.median(tail_loss))
        if abs(slope) >= self.stall_slope or initial_loss <= 0 or level < self.progress_floor * initial_loss:
            return
        ratio = tail_level / early
        # Onset: where the gradient went below the threshold for good (or the tail's start after a late spike).
        above = np.flatnonzero(grad_values >= self.vanish_ratio * early)
        vanished_from = int(above[-1]) + 1 if above.size else 0
        onset = vanished_from if vanished_from <= tail_start else tail_start
        onset_index = int(np.flatnonzero(finite_grad)[onset])
        onset_step = int(grad_steps[onset])
        level_text = "is exactly 0" if tail_level == 0 else f"stays below {tail_level:.3g} ({ratio:.2g} of its early {early:.3g})"
        message = (
            f"From step {onset_step} the gradient norm {level_text} "
            f"while the loss sits at {level:.4g} ({level / initial_loss:.0%} of its initial {initial_loss:.4g}) and no longer moves."
        )
        evidence = {"early_grad_norm": early, "tail_grad_norm": tail_level, "ratio": ratio, "loss": level, "initial_loss": initial_loss, "loss_slope_per_point": slope}
        confidence = 0.65 + 0.25 * min(1.0, math.log10(self.vanish_ratio * early / max(tail_level, 1e-300)) / 3.0)
        yield self.finding(message, confidence=confidence, series=grad, index=onset_index, evidence=evidence)
