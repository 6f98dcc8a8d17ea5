"""LR005: the learning rate fell to almost nothing early in the run, and the loss stopped moving."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from ..features import Facts, median_without_overflow
from ..model import Finding, Run
from . import Param, Rule


class LrCollapsed(Rule):
    """The learning rate decayed to almost nothing early in the run and the loss froze: a schedule stepped too often.

    ## What it detects
    A logged learning rate that falls below `collapse_ratio` times its peak before `early_fraction`
    of the run has passed, and stays there, while the train loss over the rest of the run moves by
    less than `stall_change` (relative).

    ## Why it matters
    A decay meant per epoch but stepped per batch (`StepLR` in the batch loop, a Keras
    `LearningRateScheduler` whose condition is always true) multiplies the learning rate by gamma
    hundreds of times: within a few epochs it is 1e-8 and training silently stops. The loss then
    looks like a stall or a plateau, but nothing about the model is wrong.

    ## Signature
    lr < `collapse_ratio` x peak lr from a point before `early_fraction` of the logged steps to the
    end; the median of the train loss over the last quarter after that point differs by less than
    `stall_change` from its median over the first quarter (batch noise does not count as progress). A cosine
    or linear decay that reaches 0 only at the end of the run does not fire.

    ## Suggested fixes
    Step the scheduler once per epoch (or set its step size in optimizer steps); check gamma and
    step size; print the learning rate at every log step.

    ## Parameters
    - `collapse_ratio`: lr over its peak below which it has collapsed (0.001).
    - `early_fraction`: the collapse must happen before this fraction of the run (0.5).
    - `stall_change`: relative change of the loss after the collapse below which it is frozen (0.05).

    ## References
    - research catalog S09 (learning-rate schedule bugs: lr = 0 while training "runs"; a scheduler misused).
    - tensorflow/tensorflow#48308 ("Problem was the scheduler"), tflearn/tflearn#126.
    """

    id = "LR005"
    slug = "lr-collapsed"
    severity = "warning"
    requires = ("train_loss", "lr")
    causes = ("lr_schedule_bug",)
    params = {
        "collapse_ratio": Param(0.001, "lr over its peak below which it has collapsed"),
        "early_fraction": Param(0.5, "the collapse must happen before this fraction of the run"),
        "stall_change": Param(0.05, "relative change of the loss after the collapse below which it is frozen"),
    }

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        lr, loss = facts.lr, facts.loss
        values = lr.values
        finite = np.isfinite(values)
        if values.size < 4 or not finite.any():
            return
        peak = float(np.max(values[finite]))
        if peak <= 0:
            return
        collapsed = finite & (values < self.collapse_ratio * peak)
        # The collapse point: from here to the end, every logged lr is collapsed.
        not_collapsed = np.flatnonzero(~collapsed)
        start = 0 if not_collapsed.size == 0 else int(not_collapsed[-1]) + 1
        if start >= values.size:
            return
        first_step, last_step = int(lr.steps[0]), int(lr.steps[-1])
        collapse_step = int(lr.steps[start])
        if last_step <= first_step or (collapse_step - first_step) > self.early_fraction * (last_step - first_step):
            return
        after = loss.values[(loss.steps >= collapse_step) & np.isfinite(loss.values)]
        if after.size < 4:
            return
        # Compare the loss's level at the start and the end of the frozen stretch (medians: batch noise stays).
        quarter = max(1, after.size // 4)
        before_level, end_level = median_without_overflow(after[:quarter]), median_without_overflow(after[-quarter:])
        change = abs(end_level - before_level) / (abs(before_level) or 1.0)
        if change >= self.stall_change:
            return
        evidence = {"peak_lr": peak, "lr_at_collapse": float(values[start]), "collapse_step": collapse_step, "loss_change_after": change, "lr": float(values[start])}
        message = f"lr fell from its peak {peak:.3g} to {values[start]:.3g} by step {collapse_step} ({(collapse_step - first_step) / (last_step - first_step):.0%} into the run) and stayed there; the loss then moved only {change:.1%}"
        yield self.finding(message, confidence=0.85, series=lr, index=start, evidence=evidence)
