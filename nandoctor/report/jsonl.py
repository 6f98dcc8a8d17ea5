"""JSON Lines: one line per run, written as each run is diagnosed, then one closing summary line.

A run line is `{"schema_version", "run": {...}}` (the same run object as `--format json`); the last
line is `{"schema_version", "summary": {...}, "errors": [...]}`.
"""

from __future__ import annotations

import json
from typing import Any

from ..api import Analysis
from ..model import Diagnosis
from .json import SCHEMA_VERSION, report_dict, run_dict


def run_line(diagnosis: Diagnosis) -> str:
    return json.dumps({"schema_version": SCHEMA_VERSION, "run": run_dict(diagnosis)}, allow_nan=False) + "\n"


def end_line(analysis: Analysis) -> str:
    report = report_dict(analysis)
    return json.dumps({"schema_version": SCHEMA_VERSION, "summary": report["summary"], "errors": report["errors"]}, allow_nan=False) + "\n"


def render(analysis: Analysis, **_: Any) -> str:
    return "".join(run_line(diagnosis) for diagnosis in analysis.diagnoses) + end_line(analysis)
