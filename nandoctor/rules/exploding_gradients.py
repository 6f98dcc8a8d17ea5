"""GRD001: the gradient norm jumps by an order of magnitude before the loss does."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ..features import Facts, previous_medians, step_ratios, true_runs
from ..model import Finding, Run, Series
from . import Param, Rule


@dataclass(frozen=True)
class GradientJump:
    """Where the gradient norm left its recent level, and by how much."""

    index: int  # first point of the jump in the grad-norm series
    baseline: float  # median grad norm before the jump (the value before a doubling streak)
    peak: float  # the jumped value (the end of a doubling streak)
    doublings: int = 0  # consecutive 2x increases, when that is how it jumped

    @property
    def ratio(self) -> float:
        return self.peak / self.baseline

    def describe(self) -> str:
        how = f"doubled {self.doublings} times in a row" if self.doublings else "jumped"
        return f"The gradient norm {how} to {_times(self.ratio)} its recent level ({_num(self.baseline)} -> {_num(self.peak)})"


class ExplodingGradients(Rule):
    """The gradient norm explodes while the loss still looks fine, then the loss follows.

    ## What it detects
    A logged gradient norm that jumps to at least `jump_ratio` times its median over the previous
    `window` points (or doubles on `doubling_points` consecutive points) at a moment when the train
    loss has not risen yet. It is reported as an error when the loss then jumps by `loss_rise`
    times its earlier level (or goes non-finite) within `max_lead_points` loss points and does not
    come back, and as a warning when the log ends while the gradient is still exploding and the
    loss has not had time to react. The lead (steps between the gradient jump and the loss jump)
    is reported. A run that logs no loss gets a low-confidence warning only when the jump is still
    in progress at the end of the log or the gradient keeps growing.

    ## Why it matters
    Gradient norms grow by orders of magnitude *before* the loss does, so the gradient series
    names the failure earlier and more precisely than the loss: the updates became huge, not the
    data bad. Large but *steady* gradient norms are not an explosion: some fp16 set-ups log norms of
    1e5-4e6 on every step while the loss falls normally, so the rule only looks at jumps relative to
    the run's own recent level. A gradient spike that the loss rides out (it jumps and comes back)
    is left to the loss-spike rules.

    ## Signature
    `g_t / median(g over the previous 50 points) >= 10`, or at least 3 consecutive increases each
    by 2x or more, while `L_t <= 1.3 x` its recent median; then the loss jumps `>= 1.3x` (or turns
    non-finite) and its median after the jump stays there. Non-finite gradient norms are ignored:
    sporadic NaN/inf norms are fp16 loss-scaler skips (see NAN005). Example: fairseq fconv
    `gnorm` 2.05, 1.71, 2.75 then 100615.9 at update 4000 while the loss was still 6.87 (falling),
    and the loss was 10405 at the next log line.

    ## Suggested fixes
    - Clip the gradient norm (1.0 is a common start; fairseq `--clip-norm 0.1`).
    - Lower the learning rate; use a smaller init std; for Adam, try beta2 = 0.95.
    - Check that clipping is actually active (fairseq printing `clip=100%` means every update is
      clipped and the threshold protects nothing).

    ## Parameters
    - `jump_ratio`: how many times its recent median the gradient norm must reach (catalog: 10).
    - `window`: how many previous points the recent median covers (catalog: 50).
    - `doubling_points`: consecutive increases of 2x or more that also count as a jump (catalog: 3).
    - `min_history`: finite gradient points needed before a jump can be judged.
    - `loss_rise`: how many times its recent median the loss must reach to count as having jumped.
    - `max_lead_points`: loss points after the gradient jump within which the loss must jump.
    - `tail_points`: a jump within this many final gradient points, with no loss reaction yet, is
      reported as an explosion in progress.

    ## References
    - research catalog S06 (gradient-norm growth as the precursor of divergence) and S05.
    - threads/013 (facebookresearch/fairseq#41: gnorm 100615.9 one log line before the loss explodes).
    - realworld hf_trainer_state 042 (grad_norm 1e5-4e6 on every step while the loss falls: not an explosion).
    - OLMo-2 observation that gradient-norm spikes precede loss spikes (https://matheart.github.io/note/loss_spike).
    """

    id = "GRD001"
    slug = "exploding-gradients"
    severity = "error"
    requires = ("grad_norm",)
    optional = ("train_loss", "lr")
    causes = ("exploding_gradients", "lr_too_high")
    params = {
        "jump_ratio": Param(10.0, "gradient norm over its recent median that counts as a jump"),
        "window": Param(50, "previous points in the recent median"),
        "doubling_points": Param(3, "consecutive 2x increases that also count as a jump"),
        "min_history": Param(3, "finite gradient points needed before a jump is judged"),
        "loss_rise": Param(1.3, "loss over its recent median that counts as the loss jumping"),
        "max_lead_points": Param(10, "loss points after the gradient jump within which the loss must jump"),
        "tail_points": Param(5, "final gradient points where a jump without loss reaction is still in progress"),
    }

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        grad = facts.grad_norm
        baseline = facts.grad_norm_baseline(int(self.window))
        for jump in gradient_jumps(grad.values, int(self.window), self.jump_ratio, int(self.doubling_points), int(self.min_history), baseline):
            finding = self._judge(jump, grad, facts)
            if finding is not None:
                yield finding
                return

    def _judge(self, jump: GradientJump, grad: Series, facts: Facts) -> Finding | None:
        onset_step = int(grad.steps[jump.index])
        loss = facts.loss
        evidence = {"grad_norm": jump.peak, "baseline_grad_norm": jump.baseline, "ratio": jump.ratio}
        lr = facts.lr_at(onset_step)
        if lr is not None and math.isfinite(lr):
            evidence["lr"] = lr
        points_after = len(grad) - jump.index  # steps are in order: the jump and every point after it
        if loss is None or len(loss) == 0:
            # Nothing to confirm it with: only a jump still in progress at the end, or still growing, is reported.
            if not _still_exploding(grad.values, jump, self.jump_ratio) or (points_after > self.tail_points and _last_finite(grad.values) < jump.peak):
                return None
            message = f"{jump.describe()} from step {onset_step} and stays there; no loss is logged to confirm the explosion."
            return self.finding(message, confidence=0.4, series=grad, index=jump.index, evidence=evidence, severity="warning", causes={"exploding_gradients": 1.0, "lr_too_high": 0.4})

        reaction = loss_reaction(loss, onset_step, int(self.window), self.loss_rise, int(self.max_lead_points))
        if reaction is None:  # no loss logged before the jump, or it had already risen: not a precursor
            return None
        loss_before, loss_baseline, jump_index, recovered = reaction
        evidence["loss"] = loss_before
        evidence["loss_baseline"] = loss_baseline
        if jump_index is not None:
            if recovered:  # the loss rode the spike out: a loss spike, not a failed run
                return None
            jump_step = int(loss.steps[jump_index])
            evidence["loss_jump_step"] = jump_step
            evidence["lead_steps"] = jump_step - onset_step
            jumped_to = float(loss.values[jump_index])
            confidence = 0.75 + 0.2 * min(1.0, math.log10(max(jump.ratio, 10.0)) / 4.0)
            message = f"{jump.describe()} from step {onset_step} while the loss was still {_num(loss_before)}, {jump_step - onset_step} steps before the loss jumped to {_num(jumped_to)}."
            return self.finding(message, confidence=confidence, series=grad, index=jump.index, evidence=evidence, causes={"exploding_gradients": 1.0, "lr_too_high": 0.4})

        if points_after > self.tail_points or not _still_exploding(grad.values, jump, self.jump_ratio):
            return None
        message = f"{jump.describe()} from step {onset_step}, within the last {points_after} logged points, while the loss was still {_num(loss_before)}: an explosion in progress when the log ends."
        return self.finding(message, confidence=0.55, series=grad, index=jump.index, evidence=evidence, severity="warning", causes={"exploding_gradients": 1.0, "lr_too_high": 0.4})


def gradient_jumps(values: np.ndarray, window: int, jump_ratio: float, doubling_points: int, min_history: int, baseline: np.ndarray | None = None) -> list[GradientJump]:
    """Every point where a finite, positive gradient norm leaves its recent median, in order.

    `baseline` is `features.previous_medians` of the usable norms (`Facts.grad_norm_baseline`) when the caller has it already.
    """
    usable = np.where(np.isfinite(values) & (values > 0), values, np.nan)
    if usable.size < 2:
        return []
    if baseline is None:
        baseline = previous_medians(usable, max(1, window))
    history = np.concatenate([[0], np.cumsum(np.isfinite(usable))[:-1]])
    jumps: dict[int, GradientJump] = {}
    with np.errstate(all="ignore"):
        ratio = usable / baseline
    for index in np.flatnonzero((ratio >= jump_ratio) & (history >= min_history)):
        jumps[int(index)] = GradientJump(int(index), float(baseline[index]), float(usable[index]))
    with np.errstate(all="ignore"):  # denormal neighbours overflow the ratio: that is just "a big jump"
        doubled = step_ratios(usable) >= 2.0
    for position in _streak_ends(doubled, doubling_points).tolist():
        first = position + 1 - doubling_points  # the last point before the doubling started
        onset = first + 1
        if onset not in jumps and history[onset] >= 1:
            jumps[onset] = GradientJump(onset, float(usable[first]), float(usable[position + 1]), doubling_points)
    return [jumps[index] for index in sorted(jumps)]


def _streak_ends(flags: np.ndarray, length: int) -> np.ndarray:
    """Positions where a run of True reaches `length` in a row (once per run), in order."""
    if length < 1:  # a streak of none ends at every position outside a run; a negative one never
        return np.flatnonzero(~flags) if length == 0 else np.empty(0, dtype=np.int64)
    starts, lengths = true_runs(flags)
    return (starts + length - 1)[lengths >= length]


def loss_reaction(loss: Series, onset_step: int, window: int, rise: float, max_lead_points: int) -> tuple[float, float, int | None, bool] | None:
    """How the loss behaved around a gradient jump at `onset_step`.

    Returns (loss at the jump, its recent median, index of the first later loss jump or None,
    whether the loss came back after that jump), or None when the loss cannot show a lead: nothing
    finite logged before the jump, or the loss had already risen by then.
    """
    steps, values = loss.steps, loss.values
    at_or_before = int(np.searchsorted(steps, onset_step, side="right"))
    if at_or_before == 0:
        return None
    earlier = values[max(0, at_or_before - 1 - window): at_or_before - 1]
    earlier = earlier[np.isfinite(earlier)]
    current = float(values[at_or_before - 1])
    if earlier.size == 0 or not math.isfinite(current):
        return None
    baseline = float(np.median(earlier))
    if baseline <= 0 or current >= rise * baseline:
        return None
    following = values[at_or_before: at_or_before + max_lead_points]
    jumped = np.flatnonzero(~np.isfinite(following) | (following >= rise * baseline))
    if jumped.size == 0:
        return current, baseline, None, False
    jump_index = at_or_before + int(jumped[0])
    after = values[jump_index:]
    stays_up = (not np.all(np.isfinite(after))) or float(np.median(after)) >= rise * baseline
    return current, baseline, jump_index, not stays_up


def _last_finite(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite[-1]) if finite.size else math.nan


def _still_exploding(values: np.ndarray, jump: GradientJump, jump_ratio: float) -> bool:
    """Is the last finite gradient norm still far above the level before the jump?"""
    return _last_finite(values[jump.index:]) >= 0.5 * jump_ratio * jump.baseline


def _times(ratio: float) -> str:
    return f"{ratio:.3g}x"


def _num(value: float) -> str:
    return f"{value:.3g}"
