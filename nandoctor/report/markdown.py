"""Markdown: a summary table and per-run details, for a pull request or `$GITHUB_STEP_SUMMARY`."""

from __future__ import annotations

import html
import re
from typing import Any

from ..api import Analysis
from ..discover import one_line
from ..model import Diagnosis
from .text import closing_line

STATUS_ICON = {"failed": "❌ failed", "warning": "⚠️ warning", "healthy": "✅ healthy"}


# What can start Markdown or HTML in running text; `_` only at a word's edge (GFM leaves `base_lr` alone).
_MARKUP = re.compile(r"[\\`*\[\]<>|~&]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def cell(text: str) -> str:
    """Text shown as it is, on one line, in running Markdown and in a table cell: a run, path or
    series name holding `|`, `[x](y)`, `<i>` or a newline must not make a table column, link or tag."""
    return _MARKUP.sub(lambda match: "\\" + match.group(0), one_line(text))


def code(text: str, *, in_table: bool = False) -> str:
    """`text` as an inline code span that shows it literally, whatever backticks it holds.

    Inside a code span only backticks matter, and a table's `|` (GFM splits cells first, honouring `\\|`).
    """
    text = one_line(text)
    if in_table:
        text = text.replace("|", "\\|")
    fence = "`" * (max((len(ticks) for ticks in re.findall("`+", text)), default=0) + 1)
    padded = text.startswith("`") or text.endswith("`") or (text.startswith(" ") and text.endswith(" ") and text.strip() != "")
    return f"{fence} {text} {fence}" if padded else f"{fence}{text}{fence}"


def render(analysis: Analysis, **_: Any) -> str:
    lines = [f"## nandoctor: {closing_line(analysis)}", ""]
    if analysis.diagnoses:
        lines += ["| status | run | diagnosis | evidence |", "|---|---|---|---|"]
        for diagnosis in analysis.diagnoses:
            lines.append(f"| {STATUS_ICON[diagnosis.status]} | {code(diagnosis.run.id, in_table=True)} | {_diagnosis_text(diagnosis)} | {_evidence_text(diagnosis)} |")
        lines.append("")
    for diagnosis in analysis.diagnoses:
        if diagnosis.status != "healthy":
            lines += _details(diagnosis)
    if analysis.problems or analysis.rule_errors:
        lines += ["### Errors", ""]
        lines += [f"- {code(problem.path)}: {cell(problem.message)}" for problem in analysis.problems]
        lines += [f"- {cell(error)}" for error in analysis.rule_errors]
        lines.append("")
    return "\n".join(lines) + "\n"


def _diagnosis_text(diagnosis: Diagnosis) -> str:
    if not diagnosis.causes:
        return "—" if diagnosis.status == "healthy" else "no cause ranked"
    top = diagnosis.causes[0]
    return f"**{cell(top.title)}** ({top.score:.2f})"


def _evidence_text(diagnosis: Diagnosis) -> str:
    alarms = [finding for finding in diagnosis.findings if finding.severity != "info"]
    return f"{alarms[0].rule_id}: {cell(alarms[0].message)}" if alarms else ""


def _details(diagnosis: Diagnosis) -> list[str]:
    lines = [f"<details><summary><code>{html.escape(one_line(diagnosis.run.id))}</code>: {diagnosis.status}</summary>", ""]  # raw HTML: no Markdown escapes here
    for rank, cause in enumerate(diagnosis.causes, start=1):
        lines.append(f"{rank}. **{cell(cause.title)}** (`{cause.id}`, score {cause.score:.2f})")
        for fix in cause.fixes[:3]:
            lines.append(f"   - {cell(fix)}")
    lines.append("")
    for finding in diagnosis.findings:
        where = f" ({code(f'{finding.source}:{finding.line}')})" if finding.source and finding.line is not None else ""
        lines.append(f"- `{finding.rule_id}` {finding.slug} [{finding.severity}, {finding.confidence:.2f}]: {cell(finding.message)}{where}")
    lines += ["", "</details>", ""]
    return lines
