"""LOG001: a log file ends in a cut record - whatever was logged after the cut is missing."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Iterable

from ..features import Facts
from ..model import Finding, Run
from . import Rule

_BYTE_IN_MESSAGE = re.compile(r"byte\s+(\d+)", re.IGNORECASE)


class TruncatedFile(Rule):
    """A log file is cut mid-record: the run's last points may be missing from the log.

    ## What it detects
    A `truncated` event from a reader: a TensorBoard event file whose last record is incomplete
    (its length runs past the end of the file), or a CSV whose last line was cut off mid-write.
    One warning per file, naming the file and the byte (or line) where the cut is, when the reader
    reports it.

    ## Why it matters
    An event file is cut when the writer was killed mid-write - the process crashed, ran out of
    memory, was pre-empted, or the file was copied while training was still running. Everything
    after the cut is lost, and that is often exactly where the failure happened: a diagnosis of
    the points that survive may look healthier than the run was.

    ## Signature
    The reader stops at the first incomplete record and reports it; the points read before it are
    kept. This is a note about the log, not about training: it supports no cause.

    ## Suggested fixes
    - Look at the job's exit status and stderr around the time of the cut (OOM killer, pre-emption).
    - If the file was copied while training ran, copy it again after the writer has flushed and closed it.
    - Flush the summary writer regularly (`SummaryWriter(flush_secs=...)`, `writer.flush()`).

    ## Parameters
    None.

    ## References
    - TensorBoard event-file record format (length, masked CRC32C of length, data, masked CRC32C of data).
    - research/anchors-mission.md (readers that silently drop the very points a diagnosis needs).
    """

    id = "LOG001"
    slug = "truncated-file"
    severity = "warning"
    requires = ()
    causes = ()
    params = {}

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        seen: set[str] = set()
        for event in run.events:
            if event.kind != "truncated" or event.source in seen:
                continue
            seen.add(event.source)
            match = _BYTE_IN_MESSAGE.search(event.message or "")
            if match:
                where = f" at byte {match.group(1)}"
            else:
                where = f" at line {event.line}" if event.line is not None else ""
            name = event.source or "a log file"
            after = f"after step {event.step}" if event.step is not None else "past the cut"
            message = f"{name} is cut off mid-write{where}: anything the run logged {after} is missing from this analysis."
            evidence = {"byte": int(match.group(1))} if match else {}
            finding = self.finding(message, confidence=0.95, onset_step=event.step, evidence=evidence, causes={})
            yield replace(finding, source=event.source or None, line=event.line)
