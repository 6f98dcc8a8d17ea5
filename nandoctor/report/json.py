"""The versioned JSON report: one object on stdout, for tools. Non-finite numbers are strings."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from .. import __version__
from ..api import Analysis
from ..features import first_nonfinite_index, nonfinite_count
from ..model import Cause, Diagnosis, Finding, Series

SCHEMA_VERSION = "1.0"


def number(value: Any) -> Any:
    """A JSON-safe number: NaN and infinities become "nan", "inf", "-inf"; numpy scalars become Python ones."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {str(key): number(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [number(item) for item in value]
    return value


def plain_data(value: Any) -> bool:
    """True for what JSON can carry as it is: scalars, and lists or string-keyed dicts of them (solver
    params, HF summaries, MLflow params); anything else a reader kept is for Python callers only."""
    if value is None or isinstance(value, (str, bool, int, float, np.integer, np.floating)):
        return True
    if isinstance(value, dict):
        return all(isinstance(key, str) and plain_data(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return all(plain_data(item) for item in value)
    return False


def series_summary(series: Series) -> dict[str, Any]:
    points = len(series)
    bad = first_nonfinite_index(series.values)
    return {
        "name": series.name,
        "role": series.role,
        "points": points,
        "first_step": int(series.steps[0]) if points else None,
        "last_step": int(series.steps[-1]) if points else None,
        "last_value": number(series.values[-1]) if points else None,
        "nonfinite": nonfinite_count(series.values),
        "first_nonfinite_step": int(series.steps[bad]) if bad is not None else None,
    }


def finding_dict(finding: Finding) -> dict[str, Any]:
    return {
        "rule": finding.rule_id,
        "slug": finding.slug,
        "severity": finding.severity,
        "confidence": round(finding.confidence, 3),
        "message": finding.message,
        "onset_step": finding.onset_step,
        "series": finding.series,
        "source": finding.source,
        "line": finding.line,
        "causes": {key: round(value, 3) for key, value in finding.causes.items()},
        "evidence": number(dict(finding.evidence)),
    }


def cause_dict(cause: Cause) -> dict[str, Any]:
    return {"id": cause.id, "score": cause.score, "title": cause.title, "findings": list(cause.findings), "fixes": list(cause.fixes)}


def run_dict(diagnosis: Diagnosis) -> dict[str, Any]:
    run = diagnosis.run
    return {
        "id": run.id,
        "path": run.path,
        "status": diagnosis.status,
        "framework": run.framework,
        "train_loss": run.train_loss,
        "val_loss": run.val_loss,
        "causes": [cause_dict(cause) for cause in diagnosis.causes],
        "findings": [finding_dict(finding) for finding in diagnosis.findings],
        "not_applicable": list(diagnosis.not_applicable),
        "series": [series_summary(series) for series in run.series],
        "sources": [{"path": source.path, "format": source.format, "warnings": list(source.warnings)} for source in run.sources],
        "events": [{"kind": event.kind, "message": event.message, "step": event.step, "source": event.source or None, "line": event.line} for event in run.events],
        "meta": number({key: value for key, value in run.meta.items() if plain_data(value)}),
    }


def summary_dict(analysis: Analysis) -> dict[str, Any]:
    statuses = [diagnosis.status for diagnosis in analysis.diagnoses]
    return {
        "runs": len(statuses),
        "failed": statuses.count("failed"),
        "warning": statuses.count("warning"),
        "healthy": statuses.count("healthy"),
        "errors": len(analysis.problems) + len(analysis.rule_errors),
        "seconds": round(analysis.seconds, 3),
    }


def report_dict(analysis: Analysis) -> dict[str, Any]:
    errors = [{"path": problem.path, "message": problem.message} for problem in analysis.problems]
    errors += [{"path": diagnosis.run.path, "message": error} for diagnosis in analysis.diagnoses for error in diagnosis.errors]
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "nandoctor", "version": __version__},
        "summary": summary_dict(analysis),
        "runs": [run_dict(diagnosis) for diagnosis in analysis.diagnoses],
        "errors": errors,
    }


def render(analysis: Analysis, **_: Any) -> str:
    return json.dumps(report_dict(analysis), indent=2, allow_nan=False) + "\n"
