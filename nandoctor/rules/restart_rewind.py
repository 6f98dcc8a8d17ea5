"""LOG002: the run restarted and its steps went back, so later points superseded earlier ones."""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable

from ..features import Facts
from ..model import Finding, Run, RunEvent
from . import Param, Rule

REWIND_KINDS = ("restart", "rewind")


class RestartRewind(Rule):
    """The run restarted: its steps went back and the points logged last replaced earlier ones.

    ## What it detects
    `restart` events from readers (a second process in one Caffe log, an epoch counter that resets
    in a CSV, a new TensorBoard file that starts at a lower step) and `rewind` events from the
    loader (a series whose steps go back; like TensorBoard, nandoctor keeps what was logged last).
    Always `info`: a restart is not a training failure, and the attempt logged last is the one
    diagnosed. The message says when a rewind superseded at least `max_superseded_share` of the
    points a series had logged - then most of what the log holds is not what is analysed.

    ## Why it matters
    Resuming from a checkpoint is normal, and a diagnosis should read the attempt that counts.
    But a restart also means an earlier attempt ended - perhaps in the very failure being looked
    for - and its points are no longer part of the curve. When most points were superseded (a
    log file appended to by several runs, a resume from an old checkpoint), the verdict describes
    only the last attempt.

    ## Signature
    One finding per run, with the number of restarts, the earliest step the run went back to, and
    the largest share of a series' points that were superseded. It supports no cause.

    ## Suggested fixes
    - If the earlier attempt failed, analyse its log on its own (nandoctor can read each file separately).
    - Give each run its own log file or directory (Keras `CSVLogger(append=False)`, a new
      TensorBoard `log_dir` per run) so attempts are not mixed.

    ## Parameters
    - `max_superseded_share`: share of a series' logged points superseded by a rewind from which the message says the diagnosis covers only the last attempt.

    ## References
    - research catalog, "Trajectory features a detector needs" item 17 (resumes: discontinuities or repeated steps).
    - TensorBoard's purge of points at or after a restart step (`purge_step`, as nandoctor's loader does).
    - realworld keras_csv 034 (four runs appended to one CSVLogger file) and caffe 015 (two processes in one log).
    """

    id = "LOG002"
    slug = "restart-rewind"
    severity = "info"
    requires = ()
    causes = ()
    params = {"max_superseded_share": Param(0.5, "share of a series' points superseded from which the message says only the last attempt is diagnosed")}

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        events = [event for event in run.events if event.kind in REWIND_KINDS]
        if not events:
            return
        restarts = sum(1 for event in events if event.kind == "restart")
        worst_share, worst_name, worst_count = 0.0, None, 0
        for event in events:
            share, name, count = _superseded_share(event, run)
            if share > worst_share:
                worst_share, worst_name, worst_count = share, name, count
        stepped = [event.step for event in events if event.step is not None]
        earliest = min(stepped) if stepped else None
        evidence = {"restarts": restarts, "rewinds": len(events) - restarts, "superseded_share": worst_share, "superseded_points": worst_count}
        if earliest is not None:
            evidence["earliest_step"] = earliest
        back_to = f" (back to step {earliest})" if earliest is not None else ""
        first = min(events, key=lambda event: event.step if event.step is not None else float("inf"))
        if worst_share >= self.max_superseded_share:
            message = f"The run restarted{back_to} and {worst_count} earlier points of {worst_name!r} ({worst_share:.0%} of what it logged) were superseded: this diagnosis covers only the last attempt."
        else:
            superseded = f"; {worst_count} earlier points of {worst_name!r} were superseded" if worst_count else ""
            times = max(restarts, len({event.step for event in events if event.kind == "rewind"}))
            message = f"The run restarted {times} time{'s' if times > 1 else ''}{back_to}{superseded}; the points logged last are the ones analysed."
        finding = self.finding(message, confidence=0.9, onset_step=earliest, evidence=evidence, causes={})
        yield replace(finding, source=first.source or None, line=first.line)


def _superseded_share(event: RunEvent, run: Run) -> tuple[float, str | None, int]:
    """(share of a series' logged points this rewind superseded, the series' name, how many points)."""
    superseded = int(event.data.get("superseded", 0))
    name = event.data.get("series")
    if not superseded:
        return 0.0, None, 0
    series = run.get(name) if name is not None else None
    kept = len(series) if series is not None else 0
    total = superseded + kept
    return (superseded / total if total else 0.0), name, superseded
