"""LR003: the logged learning rate is NaN/inf, negative, or stuck at zero while training runs (a schedule bug)."""

from __future__ import annotations

import dataclasses
from typing import Iterable

import numpy as np

from ..features import Facts, true_runs
from ..model import Finding, Run, Series
from . import Param, Rule


class LrNonfiniteOrZero(Rule):
    """The learning rate is NaN/inf, negative, or zero for several logged points: the schedule is broken.

    ## What it detects
    A logged learning rate that is non-finite at any point, negative at any point, or exactly zero
    for several consecutive points after the start of the run; and Caffe's `lr = nan` lines, which
    the Caffe reader reports as `lr_nonfinite` events even when no lr series could be kept.

    ## Why it matters
    With lr = NaN every weight becomes NaN at the next update, or the optimiser skips updates and
    the loss freezes ("Loss is also constant at 2.302585 - no change at all"); with lr = 0 the run
    spends its compute learning nothing; a negative lr climbs the loss. These come from schedule
    parameters that are missing or wrong: Caffe `lr_policy: "poly"` without `max_iter` prints
    `lr = -nan`; a scheduler stepped before the optimiser, or restored wrongly on resume.

    ## Signature
    Any non-finite or negative lr value, or an `lr_nonfinite` event: an error. An lr that is 0 at
    every logged point: an error too (a flat loss then comes from the lr, catalog: "flat loss +
    lr = 0 => S09, not S03"), but only a note (info) when the loss is non-finite anyway: that is
    the lr-0 sanity test, whose NaN is the forward pass's (NAN003). An lr of exactly 0 for at least `min_zero_points` consecutive logged
    points within a run that has a positive lr elsewhere: a warning, unless the zeros are the
    start of a warmup (they lead the run, cover at most `max_leading_share` of it, and the lr rises
    after them: lr 0 at step 0 is healthy) or the end of a decay (they close the run, cover at most
    `max_trailing_share` of it, and the lr fell towards them).
    Catalog S09, proposed: lr <= 0 or non-finite for >= 3 consecutive logged points after step 0.

    ## Suggested fixes
    Print the learning rate at every log step and check the schedule's parameters; for Caffe set
    every parameter the lr_policy needs (max_iter for poly; stepsize/stepvalue and gamma); for
    PyTorch call optimizer.step() before scheduler.step() and restore the scheduler on resume;
    compute warmup in optimizer steps.

    ## Parameters
    - `min_zero_points`: consecutive logged points at lr 0 that make a finding (3).
    - `max_leading_share`: share of the run that leading zeros before a warmup may cover (0.1).
    - `max_trailing_share`: share of the run that trailing zeros after a decay may cover (0.05).

    ## References
    - research catalog S09 (learning-rate schedule bugs).
    - Shai, https://stackoverflow.com/questions/33962226 (poly without max_iter gives lr = nan); pytorch/pytorch#26310.
    - BVLC/caffe#5986 (lr = 0 on purpose), AlexeyAB/darknet#332, huggingface/transformers#14531 (lr logged as 0).
    """

    id = "LR003"
    slug = "lr-nonfinite-or-zero"
    severity = "error"
    requires = ()
    optional = ("lr",)
    causes = ("lr_schedule_bug",)
    params = {
        "min_zero_points": Param(3, "consecutive logged points at lr 0 that make a finding"),
        "max_leading_share": Param(0.1, "share of the run that leading zeros before a warmup may cover"),
        "max_trailing_share": Param(0.05, "share of the run that trailing zeros after a decay may cover"),
    }

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        lr = facts.lr
        events = [event for event in run.events if event.kind == "lr_nonfinite"]
        if lr is None or len(lr) == 0:
            if events:
                first = events[0]
                where = f" at step {first.step}" if first.step is not None else ""
                message = f"the log reports a non-finite learning rate{where} ({len(events)} time{'s' if len(events) != 1 else ''}): {first.message}"
                evidence = {"events": len(events), "first_event_step": first.step}
                finding = self.finding(message, confidence=0.9, onset_step=first.step, evidence=evidence, causes={"lr_schedule_bug": 1.0})
                yield dataclasses.replace(finding, source=first.source or None, line=first.line)
            return
        finding = self._series_finding(lr, len(events), facts.loss_nonfinite_index is not None)
        if finding is not None:
            yield finding

    def _series_finding(self, lr: Series, event_count: int, loss_nonfinite: bool) -> Finding | None:
        values, steps, unit = lr.values, lr.steps, lr.step_unit
        nonfinite = ~np.isfinite(values)
        if nonfinite.any():
            first = int(np.flatnonzero(nonfinite)[0])
            message = f"{lr.name} is {values[first]} from {unit} {int(steps[first])}, non-finite at {int(nonfinite.sum())} of {values.size} logged points"
            evidence = {"first_bad_step": int(steps[first]), "nonfinite_points": int(nonfinite.sum()), "points": int(values.size), "lr_nonfinite_events": event_count}
            confidence = 0.99 if nonfinite.all() else 0.95  # an lr that is never finite is certain to be a bug
            return self.finding(message, confidence=confidence, series=lr, index=first, evidence=evidence, causes={"lr_schedule_bug": 1.0})
        negative = values < 0
        if negative.any():
            first = int(np.flatnonzero(negative)[0])
            message = f"{lr.name} is negative ({values[first]:.3g}) from {unit} {int(steps[first])}, at {int(negative.sum())} of {values.size} logged points"
            evidence = {"first_bad_step": int(steps[first]), "negative_points": int(negative.sum()), "points": int(values.size)}
            return self.finding(message, confidence=0.9, series=lr, index=first, evidence=evidence, causes={"lr_schedule_bug": 1.0})
        if event_count:
            message = f"the log reports a non-finite learning rate {event_count} time{'s' if event_count != 1 else ''} although the logged {lr.name} is finite"
            return self.finding(message, confidence=0.8, series=lr, evidence={"lr_nonfinite_events": event_count}, causes={"lr_schedule_bug": 1.0})
        return self._zero_finding(lr, loss_nonfinite)

    def _zero_finding(self, lr: Series, loss_nonfinite: bool) -> Finding | None:
        values, steps, unit = lr.values, lr.steps, lr.step_unit
        zero = values == 0
        if zero.all():
            if values.size < int(self.min_zero_points):
                return None
            evidence = {"zero_points": int(values.size), "points": int(values.size), "lr": 0.0}
            if loss_nonfinite:  # the lr-0 sanity test: its non-finite loss is the forward pass's (NAN003)
                message = f"{lr.name} is 0 at all {values.size} logged points, yet the loss goes non-finite: with no update the fault is in the data or the forward pass"
                return self.finding(message, confidence=0.8, series=lr, index=0, evidence=evidence, causes={}, severity="info")
            message = f"{lr.name} is 0 at all {values.size} logged points: the run cannot learn (set on purpose as an lr-0 test, or a schedule bug)"
            return self.finding(message, confidence=0.9, series=lr, index=0, evidence=evidence, causes={"lr_schedule_bug": 1.0})
        starts, lengths = true_runs(zero)
        for start, length in zip(starts.tolist(), lengths.tolist()):
            if length < int(self.min_zero_points) or self._benign(values, start, length):
                continue
            first_step, last_step = int(steps[start]), int(steps[start + length - 1])
            message = f"{lr.name} is 0 for {length} consecutive logged points, from {unit} {first_step} to {last_step} ({length / values.size:.0%} of the run)"
            evidence = {"first_zero_step": first_step, "last_zero_step": last_step, "zero_points": int(length), "points": int(values.size)}
            return self.finding(message, confidence=0.75, series=lr, index=start, evidence=evidence, causes={"lr_schedule_bug": 1.0}, severity="warning")
        return None

    def _benign(self, values: np.ndarray, start: int, length: int) -> bool:
        """Zeros that open a warmup (lr 0 at step 0 and rising after) or close a decay to 0."""
        if start == 0:
            return length <= self.max_leading_share * values.size  # what follows is positive: a rise from 0
        if start + length == values.size:
            falling = start < 2 or values[start - 1] <= values[start - 2]
            return falling and length <= self.max_trailing_share * values.size
        return False
