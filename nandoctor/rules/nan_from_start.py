"""NAN003: the train loss is non-finite from its first logged points (bad input or bad initialisation)."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from ..features import Facts, learning_rate_near, median_without_overflow, nonfinite_count, nonfinite_kind
from ..model import Finding, Run
from . import Param, Rule
from .nan_after_growth import NanAfterGrowth, growth_before_nonfinite


class NanFromStart(Rule):
    """The loss is NaN/inf from the first logged points: the forward pass fails before learning can.

    ## What it detects
    A train loss whose first non-finite value comes at its first logged point, or within its first
    few points and first few optimizer steps, without a growth before it (a growth ending in NaN is
    NAN002's).

    ## Why it matters
    Before the optimiser has taken more than a handful of steps it cannot have broken the weights,
    so a non-finite loss here comes from the data, the labels, the loss set-up or the initial
    weights. The learning-rate-0 test separates them: "try running with a learning rate 0 to see if
    any nan errors pop up (they shouldn't, since no learning takes place)". A NaN logged with lr 0
    is surely the forward pass, and this rule says so.

    ## Signature
    The first non-finite train loss is the first logged point, or it is among the first
    `start_points` points of a log that begins within `start_steps` optimizer steps of step 0 and
    at most `start_steps` steps after the first point (catalog S08). With a coarser logging interval the growth before it could not be seen, which is
    NAN001's case. When the first logged point itself already sums up many updates (one point per
    epoch, or a log whose first point is more than `start_steps` steps into training) a growth
    inside it is not observable either (catalog S05's coarse-logging note): the finding says so,
    lowers its confidence and supports `lr_too_high` a little more than `bad_input`, unless the
    logged lr is 0. When another metric of the run (a mean absolute error, a validation loss) is
    finite at that first point but `companion_ratio` times its later level or more (an MAE of 2.6e34
    in the first epoch, ~0.95 after), the outputs blew up inside the first point: data with NaN in
    it gives NaN or sane metrics, not astronomic ones, so the finding supports a too-high learning
    rate and divergence first. When instead the train accuracy (an average over the first epoch's batches; a validation
    accuracy is measured after the epoch and says nothing of it) holds the same value from the first point
    to the last (0.1049 in every epoch), that first epoch was already broken throughout: the
    outputs failed from the first batch, before an update could grow anything, and the finding
    supports bad input first. The finding is an error when the loss stays non-finite; a single non-finite
    first point after which the loss is finite for good is a warning.

    ## Suggested fixes
    Run one forward pass with lr 0 and assert that inputs, labels and outputs are finite; scan the
    data for NaN/inf and constant columns (a zero std in normalisation); check labels are in
    0..C-1 and match the output layer; normalise inputs and targets; re-initialise (He/Xavier, a
    small final layer so that the first loss is about ln C) and check that pretrained weights match.

    ## Parameters
    - `start_points`: logged points that count as the start (3).
    - `start_steps`: optimizer steps after the first logged point that still count as the start (50).
    - `companion_ratio`: another metric's first value over its later median that shows a blow-up inside the first point (1000).

    ## References
    - research catalog S08 (non-finite loss from the very first step) and S05 (coarse-logging note).
    - threads/004 (BVLC/caffe#5986: `Iteration 0 ... loss = nan` with `lr = 0`).
    - Yangqing Jia on the lr-0 test, quoted in BVLC/caffe#5986 from BVLC/caffe#409.
    """

    id = "NAN003"
    slug = "nan-from-start"
    severity = "error"
    requires = ("train_loss",)
    optional = ("lr",)
    causes = ("bad_input", "bad_init")
    params = {
        "start_points": Param(3, "logged points that count as the start"),
        "start_steps": Param(50, "optimizer steps after the first logged point that still count as the start"),
        "companion_ratio": Param(1000.0, "another metric's first value over its later median that shows a blow-up inside the first point"),
    }

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        loss = facts.loss
        first_bad = facts.loss_nonfinite_index
        if loss is None or first_bad is None:
            return
        if not at_start(loss.steps, first_bad, int(self.start_points), int(self.start_steps), loss.step_unit):
            return
        if growth_before_nonfinite(loss.values, first_bad, NanAfterGrowth().values) is not None:
            return  # a growth ending in NaN is NAN002's
        values = loss.values
        step = int(loss.steps[first_bad])
        unit = loss.step_unit
        kind = nonfinite_kind(float(values[first_bad]))
        after = values[first_bad:]
        bad_after = nonfinite_count(after)
        recovered = bool(np.isfinite(values[-1])) and bad_after <= max(1, after.size // 10)
        lr = learning_rate_near(facts, step)
        evidence: dict = {"first_nonfinite_step": step, "first_nonfinite_index": first_bad, "nonfinite_kind": kind, "nonfinite_points": bad_after, "points": int(values.size)}
        causes = {"bad_input": 1.0, "bad_init": 0.5}
        confidence = 0.9 if first_bad == 0 else 0.75
        where = f"from the first logged point ({unit} {step})" if first_bad == 0 else f"from {unit} {step} (logged point {first_bad + 1})"
        lr_text = ""
        if lr is not None:
            evidence["lr"] = lr
            lr_text = f" (lr {lr:.3g})"
        lr_only = lr_text
        summarised = unit != "step" or int(loss.steps[0]) > int(self.start_steps)
        evidence["growth_observable"] = not summarised
        if summarised:
            # the first point already covers many updates: a blow-up inside it cannot be told from bad data
            confidence, causes = 0.6, {"lr_too_high": 0.7, "bad_input": 0.6, "divergence": 0.3, "bad_init": 0.3}
            span = "a whole epoch" if unit != "step" else f"{int(loss.steps[0])} steps"
            lr_text += f"; that first point already sums up {span} of updates, so a growth inside it is not observable (an lr-0 run tells data from learning rate)"
        blowup = companion_blowup(run, loss.name, float(self.companion_ratio))
        if blowup is not None and lr != 0.0:
            # another metric was finite but astronomically large at the first point, then fell back: the
            # outputs grew inside the first stretch (bad data gives NaN or sane metrics, not 1e34)
            name, first_value, later = blowup
            evidence["companion_blowup"] = {"series": name, "first": first_value, "later_median": later}
            confidence, causes = 0.7, {"lr_too_high": 1.0, "divergence": 0.6, "bad_input": 0.3, "bad_init": 0.2}
            lr_text = lr_only + f"; {name} was {first_value:.3g} at that first point and {later:.3g} after it: the outputs blew up inside the first {'epoch' if unit != 'step' else 'logged stretch'}"
        frozen = frozen_accuracy(run) if summarised and blowup is None else None
        if frozen is not None and lr != 0.0:
            # the accuracy of that first point is already the frozen value of every later one: the outputs were
            # broken from the first batch, before an update could grow anything (a blow-up inside it shows as a
            # different first value)
            name, value = frozen
            evidence["frozen_accuracy"] = {"series": name, "value": value}
            confidence, causes = 0.7, {"bad_input": 1.0, "bad_init": 0.5, "lr_too_high": 0.3}
            lr_text = lr_only + f"; {name} is {value:.4g} at that first point and at every point after it: the outputs were broken from the first batch on"
        if lr == 0.0:
            confidence, causes = 0.97, {"bad_input": 1.0, "bad_init": 0.4}
            lr_text = " with lr 0, so the forward pass itself fails"
        if recovered:
            message = f"{loss.name} is {kind} at its first logged points ({unit} {step}){lr_text}, then finite for the rest of the run"
            yield self.finding(message, confidence=min(confidence, 0.5), series=loss, index=first_bad, evidence=evidence, causes=causes, severity="warning")
            return
        message = f"{loss.name} is {kind} {where}, non-finite at {bad_after} of its {after.size} points from there{lr_text}"
        yield self.finding(message, confidence=confidence, series=loss, index=first_bad, evidence=evidence, causes=causes)


COMPANION_ROLES_SKIPPED = ("train_loss", "lr", "loss_scale", "accuracy", "val_accuracy")  # the loss itself, set values, bounded values


def companion_blowup(run: Run, loss_name: str, ratio: float) -> tuple[str, float, float] | None:
    """(name, first value, median after it) of another metric that was finite at its first point and at least
    `ratio` times its later median, which shows a blow-up inside the first logged stretch; None if none did."""
    for series in run.series:
        if series.name == loss_name or series.role in COMPANION_ROLES_SKIPPED or len(series) < 3:
            continue
        values = series.values
        first = float(values[0])
        later = values[1:][np.isfinite(values[1:])]
        if not (np.isfinite(first) and first > 0) or later.size < 2:
            continue
        typical = median_without_overflow(np.abs(later))
        if typical > 0 and first >= ratio * typical:
            return series.name, first, typical
    return None


def frozen_accuracy(run: Run) -> tuple[str, float] | None:
    """(name, value) of a train accuracy that holds one value from its first point to its last (3 points or more).

    Only the train accuracy counts: its first point averages the first epoch's batches, so it shows a model
    that worked for part of that epoch; a validation accuracy is measured after the epoch, blow-up or not.
    """
    for series in run.series:
        if series.role != "accuracy" or len(series) < 3:
            continue
        values = series.values
        if np.all(np.isfinite(values)) and float(np.max(values) - np.min(values)) <= 1e-6 * max(1e-12, float(np.max(np.abs(values)))):
            return series.name, float(values[0])
    return None


def at_start(steps: np.ndarray, index: int, start_points: int, start_steps: int, step_unit: str = "step") -> bool:
    """Is a logged point at the start of the run: the first one, or among the first few within a few steps of it?

    Shared with NAN001, which covers non-finite values after the start.
    """
    if index == 0:
        return True
    if index >= start_points or step_unit != "step":
        return False  # one point per epoch: an epoch of updates lies between two points
    # the log must begin at the start of training (not an excerpt or a resumed run) and the point be near it
    return int(steps[0]) <= start_steps and int(steps[index]) - int(steps[0]) <= start_steps
