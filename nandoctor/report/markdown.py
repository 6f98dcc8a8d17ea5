"""Markdown: a summary table and per-run details, for a pull request or `$GITHUB_STEP_SUMMARY`."""

from __future__ import annotations

from typing import Any

from ..api import Analysis
from ..model import Diagnosis
from .text import closing_line

STATUS_ICON = {"failed": "❌ failed", "warning": "⚠️ warning", "healthy": "✅ healthy"}


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render(analysis: Analysis, **_: Any) -> str:
    lines = [f"## nandoctor: {closing_line(analysis)}", ""]
    if analysis.diagnoses:
        lines += ["| status | run | diagnosis | evidence |", "|---|---|---|---|"]
        for diagnosis in analysis.diagnoses:
            lines.append(f"| {STATUS_ICON[diagnosis.status]} | `{cell(diagnosis.run.id)}` | {cell(_diagnosis_text(diagnosis))} | {cell(_evidence_text(diagnosis))} |")
        lines.append("")
    for diagnosis in analysis.diagnoses:
        if diagnosis.status != "healthy":
            lines += _details(diagnosis)
    if analysis.problems or analysis.rule_errors:
        lines += ["### Errors", ""]
        lines += [f"- `{cell(problem.path)}`: {cell(problem.message)}" for problem in analysis.problems]
        lines += [f"- {cell(error)}" for error in analysis.rule_errors]
        lines.append("")
    return "\n".join(lines) + "\n"


def _diagnosis_text(diagnosis: Diagnosis) -> str:
    if not diagnosis.causes:
        return "—" if diagnosis.status == "healthy" else "no cause ranked"
    top = diagnosis.causes[0]
    return f"**{top.title}** ({top.score:.2f})"


def _evidence_text(diagnosis: Diagnosis) -> str:
    alarms = [finding for finding in diagnosis.findings if finding.severity != "info"]
    return f"{alarms[0].rule_id}: {alarms[0].message}" if alarms else ""


def _details(diagnosis: Diagnosis) -> list[str]:
    lines = [f"<details><summary><code>{diagnosis.run.id}</code>: {diagnosis.status}</summary>", ""]
    for rank, cause in enumerate(diagnosis.causes, start=1):
        lines.append(f"{rank}. **{cause.title}** (`{cause.id}`, score {cause.score:.2f})")
        for fix in cause.fixes[:3]:
            lines.append(f"   - {cell(fix)}")
    lines.append("")
    for finding in diagnosis.findings:
        where = f" (`{finding.source}:{finding.line}`)" if finding.source and finding.line is not None else ""
        lines.append(f"- `{finding.rule_id}` {finding.slug} [{finding.severity}, {finding.confidence:.2f}]: {cell(finding.message)}{where}")
    lines += ["", "</details>", ""]
    return lines
