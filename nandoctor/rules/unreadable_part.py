"""LOG004: a file of the run, or some of its records, could not be read."""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable

from ..features import Facts
from ..model import Finding, Run, RunEvent
from . import Rule

UNREADABLE_KINDS = ("unreadable", "corrupt")


class UnreadablePart(Rule):
    """Part of the run could not be read: the diagnosis covers only what could.

    ## What it detects
    `unreadable` events (a whole file of the run that no reader could open or parse) and `corrupt`
    events (records inside a file that failed their checksum or could not be decoded). One warning
    per file, naming its path and how many problems it had.

    ## Why it matters
    A run is diagnosed from everything it logged. When one of its files - say the `validation/`
    event file, or the second half of a restarted run - cannot be read, rules that need that data
    are silently not applicable and the verdict may be "healthy" for want of evidence. Saying so
    keeps the report honest.

    ## Signature
    Raised by the loader (a file of the run that failed to read, or that could not even be opened
    while the run's folder was walked, such as one without read permission) and by readers (records
    with a bad CRC or an undecodable payload, which they skip and read around). It supports no cause.

    ## Suggested fixes
    - Check the file named: permissions, a partial download or copy, a disk that filled up.
    - For corrupt TensorBoard records, re-copy the file from the training machine; the writer's
      copy is often intact.
    - If the format is not one nandoctor reads, export the metrics as CSV.

    ## Parameters
    None.

    ## References
    - TensorBoard event-file record format (masked CRC32C per record).
    - research/anchors-mission.md (parsers that lose data silently: EventAccumulator sampling,
      Caffe's parse_log.py choking on `-nan`).
    """

    id = "LOG004"
    slug = "unreadable-part"
    severity = "warning"
    requires = ()
    causes = ()
    params = {}

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        by_source: dict[str, list[RunEvent]] = {}
        for event in run.events:
            if event.kind in UNREADABLE_KINDS:
                by_source.setdefault(event.source or "", []).append(event)
        for source, events in by_source.items():
            first = events[0]
            name = source or "a file of this run"
            unreadable = sum(1 for event in events if event.kind == "unreadable")
            corrupt = len(events) - unreadable
            detail = _without_prefix(first.message or "", source)
            if unreadable:
                message = f"{name} could not be read ({detail}): the diagnosis leaves out everything in it."
            else:
                records = "record" if corrupt == 1 else "records"
                message = f"{name} has {corrupt} corrupt {records}, skipped (first: {detail}): points in them are missing from the diagnosis."
            evidence = {"unreadable_files": unreadable, "corrupt_records": corrupt}
            finding = self.finding(message, confidence=0.9, onset_step=first.step, evidence=evidence, causes={})
            yield replace(finding, source=source or None, line=first.line)


def _without_prefix(message: str, source: str) -> str:
    """The loader writes `path: reason`; the path is already named, so keep the reason."""
    prefix = f"{source}: "
    return message[len(prefix):] if source and message.startswith(prefix) else message
