"""AMP002: fp16 loss-scale halvings that are the scaler doing its job, or skipping more steps than it should."""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable

import numpy as np

from ..features import Facts
from ..model import Finding, Run
from . import Param, Rule
from .loss_scale_collapse import LossScaleCollapse, ScaleHistory, scale_history


class BenignOverflow(Rule):
    """Occasional fp16 overflow skips: normal dynamic loss scaling, unless they eat a share of the steps.

    ## What it detects
    A dynamic loss scale (series or `overflow` events) that halved, but never collapsed the way
    AMP001 means: a handful of halvings while the scaler searched for its level at the start
    (the first `warmup_steps` steps or `warmup_fraction` of the run), then isolated halvings. This
    is reported as `info`. It becomes a `warning` when, after the warm-up, at least
    `min_late_halvings` halvings skipped more than `max_skip_fraction` of the steps - overflow that
    is frequent although the scale has not collapsed. Whenever AMP001 reports a collapse, this rule
    stays silent.

    ## Why it matters
    "Gradient overflow. Skipping step, ... reducing loss scale" is alarming to read and usually
    harmless: apex, GradScaler and DeepSpeed start from a high scale on purpose and halve it until
    the gradients fit, and later an isolated overflow now and then is how the scaler probes whether
    it can grow. Saying so prevents a false alarm. Every halving is a skipped update, though: when a
    few percent of all updates are skipped, training is wasting compute and drifting towards AMP001.

    ## Signature
    Catalog S11 (a): up to ~20 halvings within the first 1 % of steps (or the first 200), then single
    halvings separated by at least the growth interval (1000-2000 steps). Example: DeepSpeed
    `step=10, skipped=6` then `step=510, skipped=8`. The warning threshold (more than 2 % of the
    post-warm-up steps skipped, at least 5 halvings) is ours: a healthy scaler skips about one step
    per growth interval, i.e. 0.05-0.1 %.

    ## Suggested fixes
    - Nothing, when it is info: this is how dynamic loss scaling works.
    - When it warns: train in bf16 if the hardware allows; lower the learning rate or clip
      gradients; look for layers whose activations approach the fp16 maximum of 65504.

    ## Parameters
    - `warmup_steps`: steps at the start where halvings are the scaler searching for its level (catalog: 200).
    - `warmup_fraction`: the same as a fraction of the run, when that is longer (catalog: 1 %).
    - `growth_interval`: clean steps a scaler waits before growing; halvings at least this far apart are isolated.
    - `max_skip_fraction`: share of post-warm-up steps skipped above which overflow is too frequent.
    - `min_late_halvings`: post-warm-up halvings needed before that share is judged.

    ## References
    - research catalog S11 (fp16 dynamic loss scaling: benign overflow skips vs. a collapsing loss scale) and S23.
    - NVIDIA/apex#318 (maintainer: occasional overflow messages, mostly in the first iterations, are normal),
      deepspeedai/DeepSpeed#931, zai-org/CogVideo#233, microsoft/Swin-Transformer#47.
    - PyTorch GradScaler defaults (init_scale 2^16, growth_interval 2000).
    """

    id = "AMP002"
    slug = "benign-overflow"
    severity = "info"
    requires = ()
    optional = ("loss_scale",)
    causes = ("loss_scale_overflow",)
    params = {
        "warmup_steps": Param(200, "steps at the start where halvings are normal"),
        "warmup_fraction": Param(0.01, "fraction of the run where halvings are normal, when longer"),
        "growth_interval": Param(1000, "clean steps before a scaler grows; halvings this far apart are isolated"),
        "max_skip_fraction": Param(0.02, "share of post-warm-up steps skipped above which overflow is too frequent"),
        "min_late_halvings": Param(5, "post-warm-up halvings needed before the share is judged"),
    }

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        collapse = LossScaleCollapse()
        if any(True for _ in collapse.check(run, facts)):
            return  # AMP001's business
        history = scale_history(run, facts, collapse.min_scale, self.warmup_steps, self.warmup_fraction)
        if history is None or history.halvings == 0:
            return
        if not history.steps_known:  # apex prints no steps: how often it overflowed cannot be judged
            message = f"The fp16 loss scale halved {history.halvings} times (the messages carry no step) without reaching the floor: steps skipped on overflow, as dynamic loss scaling does."
            evidence = {"halvings": history.halvings} | ({"lowest_scale": history.lowest_scale} if history.lowest_scale is not None else {})
            yield self._emit(message, 0.5, history, None, 0, evidence, "info", {})
            return
        late_steps = history.halving_steps[~history.in_warmup(history.halving_steps)]
        early = history.halvings - late_steps.size
        late_span = max(1, history.last_step - history.warmup_end_step)
        skipped_fraction = late_steps.size / late_span
        gaps = np.diff(np.unique(late_steps))
        closest = int(gaps.min()) if gaps.size else None
        first_step = int(history.halving_steps.min())
        evidence = {
            "halvings": history.halvings,
            "warmup_halvings": int(early),
            "later_halvings": int(late_steps.size),
            "skipped_fraction_after_warmup": float(skipped_fraction),
            "warmup_end_step": history.warmup_end_step,
        }
        if closest is not None:
            evidence["closest_later_halvings_steps"] = closest
        if history.lowest_scale is not None:
            evidence["lowest_scale"] = history.lowest_scale
        index = None
        if history.series is not None:
            index = int(np.searchsorted(history.series.steps, first_step))
            index = min(index, len(history.series) - 1)

        if late_steps.size >= self.min_late_halvings and skipped_fraction > self.max_skip_fraction:
            message = (
                f"The fp16 loss scale halved {late_steps.size} times after warm-up, skipping about {skipped_fraction:.1%} of the "
                f"{late_span} steps since step {history.warmup_end_step}: overflow is frequent although the scale has not collapsed."
            )
            confidence = min(0.8, 0.4 + 5.0 * skipped_fraction)
            onset = int(late_steps[0])
            late_index = None if history.series is None else min(int(np.searchsorted(history.series.steps, onset)), len(history.series) - 1)
            yield self._emit(message, confidence, history, onset, late_index, evidence, "warning", {"loss_scale_overflow": 0.5})
            return

        isolated = "isolated" if closest is None or closest >= self.growth_interval else f"at least {closest} steps apart"
        later = f", then {late_steps.size} {isolated} ones" if late_steps.size else ", none afterwards"
        message = f"The fp16 loss scale halved {history.halvings} times ({early} in the first {history.warmup_end_step - history.first_step} steps while the scaler found its level{later}): normal dynamic loss scaling, steps skipped on overflow."
        yield self._emit(message, 0.8, history, first_step, index, evidence, "info", {})

    def _emit(self, message: str, confidence: float, history: ScaleHistory, step: int | None, index: int | None, evidence: dict, severity: str, causes: dict) -> Finding:
        """A finding located at a point of the scale series, or at the overflow message of that step."""
        if history.series is not None and index is not None:
            return self.finding(message, confidence=confidence, series=history.series, index=index, evidence=evidence, severity=severity, causes=causes)
        finding = self.finding(message, confidence=confidence, onset_step=step, evidence=evidence, severity=severity, causes=causes)
        event = next((item for item in history.events if item.step == step), history.events[0] if history.events else None)
        if event is None:
            return finding
        return replace(finding, source=event.source or None, line=event.line)

