"""GitHub Actions workflow commands: one annotation per finding at the log line where it starts.

GitHub shows at most 10 error and 10 warning annotations per step, so more are summed up in one notice.
Annotations point at a line only for text logs (CSV, Caffe); an event file gets a file-level annotation.
"""

from __future__ import annotations

from typing import Any

from ..api import Analysis
from ..discover import one_line
from ..model import Diagnosis, Finding

COMMAND = {"error": "error", "warning": "warning", "info": "notice"}
MAX_PER_COMMAND = 10
BINARY_FORMATS = {"tensorboard"}


def escape_data(text: str) -> str:
    """The runner's own escaping (%, CR, LF), then any other control character shown as `\\xNN`:
    an annotation stays one workflow command, and an ESC in a run name cannot reach the log viewer."""
    return one_line(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(diagnosis: Diagnosis, finding: Finding) -> str:
    properties = []
    if finding.source:
        properties.append(f"file={escape_property(finding.source)}")
        if finding.line is not None and _source_format(diagnosis, finding.source) not in BINARY_FORMATS:
            properties.append(f"line={finding.line}")
    properties.append(f"title={escape_property(f'{finding.rule_id} {finding.slug}')}")
    message = f"{diagnosis.run.id}: {finding.message}"
    return f"::{COMMAND[finding.severity]} {','.join(properties)}::{escape_data(message)}"


def _source_format(diagnosis: Diagnosis, path: str) -> str | None:
    for source in diagnosis.run.sources:
        if source.path == path:
            return source.format
    return None


def render(analysis: Analysis, **_: Any) -> str:
    lines = []
    counts = {command: 0 for command in COMMAND.values()}
    left_out = 0
    for diagnosis in analysis.diagnoses:
        for finding in diagnosis.findings:
            command = COMMAND[finding.severity]
            if counts[command] >= MAX_PER_COMMAND:
                left_out += 1
                continue
            counts[command] += 1
            lines.append(annotation(diagnosis, finding))
    for problem in analysis.problems:
        lines.append(f"::error file={escape_property(problem.path)},title=nandoctor::{escape_data(problem.message)}")
    if left_out:
        lines.append(f"::notice title=nandoctor::{left_out} more findings not annotated (GitHub shows 10 per kind); see the full report")
    return "".join(line + "\n" for line in lines)
