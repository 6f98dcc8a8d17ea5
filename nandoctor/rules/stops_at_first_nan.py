"""LOG003: the train loss log ends at its first non-finite value - what came after is not in the log."""

from __future__ import annotations

from typing import Iterable

from ..features import Facts, nonfinite_kind
from ..model import Finding, Run
from . import Rule

GUARD_KINDS = ("early_stop", "terminated", "aborted")


class StopsAtFirstNan(Rule):
    """The log stops at the first NaN: it cannot show whether the run would have recovered.

    ## What it detects
    A train loss whose last point is also its first non-finite one: the run was stopped by a NaN
    guard (Keras `TerminateOnNaN`, Lightning `detect_anomaly` / `check_finite`, a custom check) or
    the log simply ends there. Always `info`: the NaN itself is reported by the NAN rules; this note
    says what the log cannot tell.

    ## Why it matters
    A guard that stops at the first NaN saves compute, but it also hides whether the NaN was one
    bad batch the run would have survived (fp16 skips, a single corrupt sample) or the start of a
    collapse - and several guards exit with status 0, so a CI job sees a "successful" run. Knowing
    that the log ends at the NaN tells the reader to look at the data and step that produced it
    rather than at a trend afterwards.

    ## Signature
    `first_nonfinite_index(loss) == len(loss) - 1`. The evidence says whether other series (the
    learning rate, the validation loss) go on past that step, and whether the readers saw a stop
    message (`early_stop`, `terminated`, `aborted`). It supports no cause.

    ## Suggested fixes
    - Rerun from the last checkpoint with the guard off (or in warn mode) for a few hundred steps
      to see whether the loss recovers.
    - Log the batch index or sample ids at the failing step so the data can be inspected.

    ## Parameters
    None.

    ## References
    - research catalog S07 and the "Framework log lines" section (Keras `Batch 12: Invalid loss,
      terminating training`, Lightning EarlyStopping `... is not finite`).
    - research/anchors-mission.md, summary point 4 (guards that stop gracefully and exit 0).
    """

    id = "LOG003"
    slug = "stops-at-first-nan"
    severity = "info"
    requires = ()
    optional = ("train_loss",)
    causes = ()
    params = {}

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        loss = facts.loss
        index = facts.loss_nonfinite_index
        if loss is None or index is None or index != len(loss) - 1:
            return
        step = int(loss.steps[index])
        kind = nonfinite_kind(float(loss.values[index]))
        later = [int(series.steps[-1]) for series in run.series if series is not loss and len(series) and int(series.steps[-1]) > step]
        guards = [event for event in run.events if event.kind in GUARD_KINDS]
        evidence = {"step": step, "finite_points_before": int(index)}
        if later:
            evidence["other_series_until_step"] = max(later)
            tail = f"; other series go on to step {max(later)}, so the loss itself stopped being logged"
        elif guards:
            tail = f"; the log records a stop ({guards[0].message})"
        else:
            tail = ""
        unit = loss.step_unit if loss.step_unit in ("step", "epoch") else "step"
        message = f"The train loss log ends at its first non-finite value ({kind} at {unit} {step}){tail}: whether the run would have recovered is not in the log."
        yield self.finding(message, confidence=0.9, series=loss, index=index, evidence=evidence, causes={})
