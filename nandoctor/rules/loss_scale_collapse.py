"""AMP001: the fp16 dynamic loss scale keeps halving - every step overflows, whatever the scale."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Iterable

import numpy as np

from ..features import Facts
from ..model import Finding, Run, RunEvent, Series
from . import Param, Rule

# Every dynamic loss scaler (apex, GradScaler, DeepSpeed, fairseq, Megatron) moves by factors of 2.
POWER_OF_TWO_TOLERANCE = 0.05  # in log2 units: also accepts scales printed with 3 decimals (0.062)
_SCALE_IN_MESSAGE = re.compile(r"(?:reducing(?: loss scale)? to|loss scale to:?|loss scale of)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)", re.IGNORECASE)
_MINIMUM_IN_MESSAGE = re.compile(r"minimum loss scale reached|loss scale already at minimum", re.IGNORECASE)


@dataclass(frozen=True)
class Streak:
    """Halvings on consecutive logged points (or consecutive steps) with no growth in between."""

    start_step: int
    end_step: int
    halvings: int
    start_index: int | None  # first halved point: index into the loss-scale series, or into the overflow events


@dataclass(frozen=True)
class ScaleHistory:
    """What the dynamic loss scale did over a run, from its series or from overflow messages."""

    halving_steps: np.ndarray  # one entry per halving (an interval that dropped 3x holds 3)
    streaks: tuple[Streak, ...]
    first_step: int
    last_step: int
    warmup_end_step: int  # halvings before this step are the scaler searching for its level
    steps_known: bool  # False when overflow messages carry no step (apex): positions stand in for steps
    lowest_scale: float | None
    floor_step: int | None  # where the scale fell to the floor (or a "minimum reached" message)
    floor_index: int | None  # index into the series, or into the overflow events
    series: Series | None
    events: tuple[RunEvent, ...]
    restart_steps: tuple[int, ...] = ()  # a resumed run's scaler searches for its level again

    @property
    def halvings(self) -> int:
        return int(self.halving_steps.size)

    def in_warmup(self, steps: np.ndarray) -> np.ndarray:
        """Per step: does it fall in the warm-up at the start of the run, or right after a restart?"""
        steps = np.asarray(steps, dtype=np.int64)
        length = self.warmup_end_step - self.first_step
        inside = steps < self.warmup_end_step
        for restart in self.restart_steps:
            inside |= (steps >= restart) & (steps < restart + length)
        return inside

    def halvings_after_warmup(self) -> int:
        return int(np.count_nonzero(~self.in_warmup(self.halving_steps)))


def scale_history(run: Run, facts: Facts, min_scale: float, warmup_steps: float, warmup_fraction: float) -> ScaleHistory | None:
    """The loss scale's story from the run's loss-scale series, else from its overflow events; None if neither."""
    series = facts.loss_scale
    overflows = tuple(event for event in run.events if event.kind == "overflow")
    minimum_messages = tuple(event for event in run.events if _MINIMUM_IN_MESSAGE.search(event.message or ""))
    if series is not None and len(series) > 0 and looks_like_dynamic_scale(series.values):
        history = _from_series(series, run, min_scale, warmup_steps, warmup_fraction)
    elif overflows or minimum_messages:
        history = _from_events(overflows, run, min_scale, warmup_steps, warmup_fraction)
    else:
        return None
    if history.floor_step is None and minimum_messages:
        step = minimum_messages[0].step
        history = replace(history, floor_step=step if step is not None else history.last_step)
    restarts = tuple(int(event.step) for event in run.events if event.kind in ("restart", "rewind") and event.step is not None)
    return replace(history, restart_steps=restarts)


def looks_like_dynamic_scale(values: np.ndarray) -> bool:
    """Are (nearly) all finite values powers of two or zero, as a dynamic loss scaler produces?

    A series merely named `scale` may be something else entirely (an augmentation scale).
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return False
    positive = finite[finite > 0]
    with np.errstate(all="ignore"):
        exponents = np.log2(positive)
    powers = np.abs(exponents - np.round(exponents)) <= POWER_OF_TWO_TOLERANCE
    return (int(np.count_nonzero(powers)) + int(np.count_nonzero(finite == 0))) >= 0.8 * finite.size


def _run_span(run: Run, extra_steps: list[int]) -> tuple[int, int]:
    firsts = [int(series.steps[0]) for series in run.series if len(series)] + extra_steps
    lasts = [int(series.steps[-1]) for series in run.series if len(series)] + extra_steps
    return (min(firsts), max(lasts)) if firsts else (0, 0)


def _warmup_end(first: int, last: int, warmup_steps: float, warmup_fraction: float) -> int:
    return first + int(max(warmup_steps, warmup_fraction * (last - first)))


def _from_series(series: Series, run: Run, min_scale: float, warmup_steps: float, warmup_fraction: float) -> ScaleHistory:
    keep = np.isfinite(series.values) & (series.values >= 0)
    indices = np.flatnonzero(keep)
    steps, values = series.steps[keep], series.values[keep]
    first, last = _run_span(run, [])
    # every fall of the scale, and the halvings it makes; consecutive falls make one streak
    drops = np.flatnonzero(values[1:] < values[:-1]) + 1
    counts = [_halvings(before, after) for before, after in zip(values[drops - 1].tolist(), values[drops].tolist())]
    halving_steps = np.repeat(steps[drops], counts).astype(np.int64)
    streaks: list[Streak] = []
    breaks = np.flatnonzero(np.diff(drops) != 1) + 1
    for begin, end in zip([0, *breaks.tolist()], [*breaks.tolist(), drops.size]):
        if end > begin:
            streaks.append(Streak(int(steps[drops[begin]]), int(steps[drops[end - 1]]), sum(counts[begin:end]), int(indices[drops[begin]])))
    at_floor = drops[values[drops] <= min_scale]
    floor_step = int(steps[at_floor[0]]) if at_floor.size else None
    floor_index = int(indices[at_floor[0]]) if at_floor.size else None
    lowest = float(values.min()) if values.size else None
    return ScaleHistory(halving_steps, tuple(streaks), first, last, _warmup_end(first, last, warmup_steps, warmup_fraction), True, lowest, floor_step, floor_index, series, ())


def _halvings(before: float, after: float) -> int:
    """How many halvings take the scale from `before` to `after` (a fall to 0 counts as one)."""
    if after <= 0 or before <= 0:
        return 1
    return max(1, int(round(math.log2(before / after))))


def _from_events(overflows: tuple[RunEvent, ...], run: Run, min_scale: float, warmup_steps: float, warmup_fraction: float) -> ScaleHistory:
    known_steps = [event.step for event in overflows if event.step is not None]
    first, last = _run_span(run, known_steps)
    # Without steps, the order of the messages is all there is: treat them as consecutive.
    steps = [event.step if event.step is not None else first + position for position, event in enumerate(overflows)]
    streaks: list[Streak] = []
    start = 0
    for position in range(1, len(steps) + 1):
        if position == len(steps) or steps[position] - steps[position - 1] > 1:
            if position > start:
                streaks.append(Streak(int(steps[start]), int(steps[position - 1]), position - start, start))
            start = position
    scales = [_scale_in(event.message) for event in overflows]
    known = [scale for scale in scales if scale is not None]
    lowest = min(known) if known else None
    # Every overflow message reports a scale being lowered, so one at or below the floor has hit it.
    at_floor = [position for position, scale in enumerate(scales) if scale is not None and scale <= min_scale]
    floor_index = at_floor[0] if at_floor else None
    floor_step = steps[floor_index] if floor_index is not None else None
    steps_known = bool(overflows) and all(event.step is not None for event in overflows)
    return ScaleHistory(np.asarray(steps, dtype=np.int64), tuple(streaks), first, last, _warmup_end(first, last, warmup_steps, warmup_fraction), steps_known, lowest, floor_step, floor_index, None, overflows)


def _scale_in(message: str) -> float | None:
    match = _SCALE_IN_MESSAGE.search(message or "")
    if not match:
        return None
    try:
        value = float(match.group(1))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def collapse_streak(history: ScaleHistory, min_halvings: int) -> Streak | None:
    """The longest streak of at least `min_halvings` halvings that starts after the warm-up (or a restart's)."""
    def after_warmup(streak: Streak) -> bool:
        if not history.steps_known:  # apex prints no step: the streak at the first message is the start-up search
            return bool(streak.start_index)
        return not bool(history.in_warmup(np.array([streak.start_step]))[0])

    late = [streak for streak in history.streaks if streak.halvings >= min_halvings and after_warmup(streak)]
    return max(late, key=lambda streak: streak.halvings) if late else None


def late_decline(history: ScaleHistory, facts: Facts, tail_fraction: float, min_halvings: float, loss_rise: float) -> dict | None:
    """Evidence that the scale drifts down over the run's last stretch while the loss or the gradient rises."""
    series = history.series
    if series is None:
        return None
    span = history.last_step - history.first_step
    if span <= 0:
        return None
    tail_start = history.last_step - tail_fraction * span
    previous_start = tail_start - tail_fraction * span
    keep = np.isfinite(series.values) & (series.values > 0) & (series.steps >= tail_start)
    tail = series.values[keep]
    if tail.size < 2:
        return None
    dropped = math.log2(float(tail[0]) / float(tail[-1]))
    if dropped < min_halvings or bool(np.any(np.diff(tail) > 0)):
        return None
    for name, other, needed in (("loss", facts.loss, loss_rise), ("grad_norm", facts.grad_norm, 2.0)):
        if other is None:
            continue
        recent = other.values[other.steps >= tail_start]
        before = other.values[(other.steps >= previous_start) & (other.steps < tail_start)]
        recent, before = recent[np.isfinite(recent)], before[np.isfinite(before)]
        if recent.size == 0 or before.size == 0:
            continue
        level_before = float(np.median(before))
        if level_before > 0 and float(np.median(recent)) >= needed * level_before:
            return {"rising": name, "rise": float(np.median(recent)) / level_before, "halvings_in_tail": dropped, "tail_start_step": int(math.ceil(tail_start))}
    return None


def _at_step(history: ScaleHistory, step: int) -> str:
    return f" at step {step}" if history.steps_known or history.series is not None else ""


class LossScaleCollapse(Rule):
    """The fp16 dynamic loss scale collapses: it halves again and again and never recovers.

    ## What it detects
    From a logged loss-scale series (or, when a reader provides them, `overflow` events parsed from
    apex / DeepSpeed / fairseq messages): a streak of at least `min_halvings` consecutive halvings
    that starts after the warm-up (the first `warmup_steps` steps or `warmup_fraction` of the run,
    whichever is longer, and as long again after a restart, where the scaler searches anew); a
    scale that falls to `min_scale` or below (below 1 in apex/GradScaler, DeepSpeed's floor of 1,
    fairseq's 1e-4, or a "minimum loss scale reached" message); or a scale that drifts down by
    `tail_halvings` or more over the last `tail_fraction` of the run while the loss or gradient
    norm rises. A streak the scale later grows back from is a warning; the others are errors.

    ## Why it matters
    A dynamic loss scaler halves its scale and skips the step whenever the fp16 gradients overflow.
    A few halvings at the start are the scaler finding its level (AMP002). Halving on step after
    step means the gradients overflow at *every* scale - NaN/inf in the forward pass, or a real
    divergence underneath - and every one of those steps is skipped: the run has stopped training
    even if its logged loss still looks plausible, and DeepSpeed and fairseq abort at their floor.

    ## Signature
    `>= 5` consecutive halvings after warm-up, or `s <= 1` reached by falling, or `log2 s` falling by
    `>= 2` with no growth over the last 10 % of steps while the loss rises `>= 5 %` (or the gradient
    norm doubles) - catalog S11 (b). The catalog's trend test is a slope below 0; ours asks two
    halvings, because one isolated halving in the tail is the normal scaler behaviour. A series is
    only read as a loss scale when its values are powers of two, as every dynamic scaler's are.
    Examples: fairseq `loss_scale 0.500` then 12 `overflow detected` halvings to 0.000122 and an
    abort; DeepSpeed 64 -> 2 on 5 consecutive steps while the loss rose 1.67 -> 2.05; apex halving
    every step to 1e-206.

    ## Suggested fixes
    - Train in bf16 (or fp32) instead of fp16, especially for models pretrained in bf16 (T5, LLaMA).
    - Lower the learning rate and clip gradients; a bigger batch also helps (fairseq's own advice).
    - Look for NaN/inf already in the forward pass or the data: a scale that halves on every step
      means the gradients are non-finite at any scale.
    - With apex, make sure the backward pass runs through `amp.scale_loss(...)`.

    ## Parameters
    - `min_halvings`: consecutive halvings after warm-up that make a collapse (catalog: 5).
    - `min_scale`: a scale that falls to this value or below has hit the floor (catalog: 1).
    - `warmup_steps`: steps at the start where halvings are the scaler searching for its level (catalog: 200).
    - `warmup_fraction`: the same as a fraction of the run, when that is longer (catalog: 1 %).
    - `tail_fraction`: final fraction of the run examined for a downward drift (catalog: 10 %).
    - `tail_halvings`: net halvings in that tail that count as a drift.
    - `loss_rise`: loss over its level just before the tail that counts as rising.

    ## References
    - research catalog S11 (fp16 dynamic loss scaling: benign overflow skips vs. a collapsing loss scale) and S12.
    - threads/014 (facebookresearch/fairseq#512), threads/015 (NVIDIA/apex#318), threads/016
      (ymcui/Chinese-LLaMA-Alpaca#534, DeepSpeed "Current loss scale already at minimum").
    - NVIDIA/apex#452 (non-finite gradients halve the scale on every step), NVIDIA/apex#747.
    """

    id = "AMP001"
    slug = "loss-scale-collapse"
    severity = "error"
    requires = ()
    optional = ("loss_scale", "train_loss", "grad_norm", "lr")
    causes = ("loss_scale_overflow",)
    params = {
        "min_halvings": Param(5, "consecutive halvings after warm-up that make a collapse"),
        "min_scale": Param(1.0, "a scale falling to this value or below has hit the floor"),
        "warmup_steps": Param(200, "steps at the start where halvings are normal"),
        "warmup_fraction": Param(0.01, "fraction of the run where halvings are normal, when longer"),
        "tail_fraction": Param(0.1, "final fraction of the run examined for a drift"),
        "tail_halvings": Param(2.0, "net halvings in the tail that count as a drift"),
        "loss_rise": Param(1.05, "loss over its level before the tail that counts as rising"),
    }

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        history = scale_history(run, facts, self.min_scale, self.warmup_steps, self.warmup_fraction)
        if history is None:
            return
        streak = collapse_streak(history, int(self.min_halvings))
        evidence: dict = {"halvings": history.halvings, "halvings_after_warmup": history.halvings_after_warmup()}
        if history.lowest_scale is not None:
            evidence["lowest_scale"] = history.lowest_scale
        longest = max((item.halvings for item in history.streaks), default=0)
        evidence["longest_streak"] = longest

        if history.floor_step is not None:
            step = history.floor_step
            if history.steps_known:
                self._add_lr(evidence, facts, step)
                evidence["floor_step"] = step
            lowest = f" (lowest {history.lowest_scale:.3g})" if history.lowest_scale is not None else ""
            in_a_row = f", {longest} of them in a row" if 2 <= longest < history.halvings else (" in a row" if longest == history.halvings > 1 else "")
            message = f"The fp16 loss scale fell to the floor of {self.min_scale:g} or below{_at_step(history, step)}{lowest} after {history.halvings} halvings{in_a_row}: gradients overflow at every scale and steps are being skipped."
            yield self._at(message, 0.9, history, step, history.floor_index, evidence)
            return
        if streak is not None:
            evidence["streak_halvings"] = streak.halvings
            if history.steps_known:
                self._add_lr(evidence, facts, streak.start_step)
                evidence.update(streak_start_step=streak.start_step, streak_end_step=streak.end_step)
            recovered = self._recovered(history, streak)
            after = "it grew again later, but those steps were skipped" if recovered else "it never grew back: gradients overflow at every scale"
            where = f"between steps {streak.start_step} and {streak.end_step}, after warm-up" if history.steps_known else "on consecutive overflow messages"
            message = f"The fp16 loss scale halved {streak.halvings} times in a row {where}; {after}."
            yield self._at(message, min(0.9, 0.6 + 0.03 * streak.halvings), history, streak.start_step, streak.start_index, evidence, severity="warning" if recovered else None)
            return
        decline = late_decline(history, facts, self.tail_fraction, self.tail_halvings, self.loss_rise)
        if decline is not None:
            step = decline["tail_start_step"]
            self._add_lr(evidence, facts, step)
            evidence.update(decline)
            message = f"The fp16 loss scale fell by {decline['halvings_in_tail']:.0f} halvings over the last {self.tail_fraction:.0%} of the run while the {decline['rising'].replace('_', ' ')} rose {decline['rise']:.2f}x: the run is heading into overflow."
            index = int(np.searchsorted(history.series.steps, step)) if history.series is not None else None
            yield self._at(message, 0.6, history, step, index, evidence, severity="warning")

    @staticmethod
    def _recovered(history: ScaleHistory, streak: Streak) -> bool:
        """Did the scale grow again after the streak? Then it was a burst the scaler survived, not the end."""
        series = history.series
        if series is None:
            return False
        later = series.values[(series.steps >= streak.end_step) & np.isfinite(series.values)]
        return bool(np.any(np.diff(later) > 0))

    @staticmethod
    def _add_lr(evidence: dict, facts: Facts, step: int) -> None:
        lr = facts.lr_at(step)
        if lr is not None and math.isfinite(lr):
            evidence["lr"] = lr

    def _at(self, message: str, confidence: float, history: ScaleHistory, step: int, index: int | None, evidence: dict, severity: str | None = None) -> Finding:
        if history.series is not None and index is not None:
            return self.finding(message, confidence=confidence, series=history.series, index=index, evidence=evidence, severity=severity)
        finding = self.finding(message, confidence=confidence, onset_step=step if history.steps_known else None, evidence=evidence, severity=severity)
        if not history.events:
            return finding
        event = history.events[index] if index is not None and 0 <= index < len(history.events) else history.events[0]
        return replace(finding, source=event.source or None, line=event.line)
