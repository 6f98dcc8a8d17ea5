"""The terminal report for people: per run its status, a sparkline, ranked causes with evidence and fixes."""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..api import Analysis
from ..discover import one_line
from ..features import first_nonfinite_index
from ..model import Diagnosis, Finding, Series
from .json import series_summary
from .sparkline import marker_line, sparkline

STATUS_STYLE = {"failed": "bold red", "warning": "bold yellow", "healthy": "bold green"}
SEVERITY_STYLE = {"error": "red", "warning": "yellow", "info": "cyan"}
FIXES_SHOWN_FOR_TOP_CAUSES = 2
SPARK_WIDTH = 48


def render(analysis: Analysis, *, color: bool = False, width: int | None = None, verbose: int = 0, quiet: bool = False, **_: Any) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=color, no_color=not color, color_system="standard" if color else None, width=width or 100, highlight=False, emoji=False, soft_wrap=True)
    for diagnosis in analysis.diagnoses:
        if quiet and diagnosis.status != "failed":
            continue
        render_run(console, diagnosis, verbose)
    console.print(Text(closing_line(analysis), style="bold"))
    return buffer.getvalue()


def sources_with_integrity_note(diagnosis: Diagnosis) -> set[str]:
    """The files an integrity finding (LOG family) already names, so their damage is told once."""
    return {finding.source for finding in diagnosis.findings if finding.family == "LOG" and finding.source}


def render_run(console: Console, diagnosis: Diagnosis, verbose: int) -> None:
    run = diagnosis.run
    header = Text()
    header.append(f"{diagnosis.status.upper():<8}", style=STATUS_STYLE[diagnosis.status])
    header.append(f" {one_line(run.id)}", style="bold")
    if run.framework:
        header.append(f"  ({run.framework})", style="dim")
    console.print(header)
    top_finding = diagnosis.findings[0] if diagnosis.findings and diagnosis.status != "healthy" else None
    for series in (run.get(run.train_loss), run.get(run.val_loss)):
        if series is not None and len(series) > 0:
            _print_sparkline(console, series, top_finding)
    findings_by_rule = {finding.rule_id: finding for finding in reversed(diagnosis.findings)}
    shown: set[str] = set()
    for rank, cause in enumerate(diagnosis.causes, start=1):
        line = Text(f"  {rank}. ")
        line.append(one_line(cause.title), style="bold" if rank == 1 else "")
        line.append(f"  [{cause.id}] score {cause.score:.2f}", style="dim")
        already_shown = [rule_id for rule_id in cause.findings if rule_id in shown]
        if already_shown:
            line.append(f"  (also {', '.join(already_shown)})", style="dim")
        console.print(line)
        for rule_id in cause.findings:
            finding = findings_by_rule.get(rule_id)
            if finding is not None and rule_id not in shown:
                console.print(_finding_line(finding, indent="     "))
                shown.add(rule_id)
        if rank <= FIXES_SHOWN_FOR_TOP_CAUSES:
            for fix in cause.fixes[:3]:
                console.print(Text(f"     → {one_line(fix)}", style="green"))
    notes = [finding for finding in diagnosis.findings if finding.rule_id not in shown and (finding.severity != "info" or verbose or finding.family == "LOG")]
    for finding in notes:
        console.print(_finding_line(finding, indent="  note: "))
    for error in diagnosis.errors:
        console.print(Text(f"  error: {one_line(error)}", style="red"))
    told = sources_with_integrity_note(diagnosis)
    for source in run.sources:
        if verbose:
            console.print(Text(f"  source: {one_line(source.path)} ({source.format})", style="dim"))
        if source.path in told and not verbose:
            continue  # its integrity note already says what was lost there; -v lists each warning
        for warning in source.warnings:
            console.print(Text(f"  warning: {one_line(source.path)}: {one_line(warning)}", style="yellow"))
    if verbose:
        console.print(series_table(diagnosis))
        if diagnosis.not_applicable:
            console.print(Text(f"  not applicable (series missing): {', '.join(diagnosis.not_applicable)}", style="dim"))
    console.print()


def _finding_line(finding: Finding, indent: str) -> Text:
    line = Text(indent)
    line.append(f"{finding.rule_id} {finding.slug}", style=SEVERITY_STYLE.get(finding.severity, ""))
    line.append(f" ({finding.severity}, {finding.confidence:.2f}): {one_line(finding.message)}")
    if finding.source and finding.line is not None:
        line.append(f"  [{one_line(finding.source)}:{finding.line}]", style="dim")
    return line


def _print_sparkline(console: Console, series: Series, top_finding: Finding | None) -> None:
    bars, log_scale = sparkline(series, SPARK_WIDTH)
    finite = series.values[np.isfinite(series.values)]
    first, last = (finite[0], finite[-1]) if finite.size else (math.nan, math.nan)
    label = f"  {one_line(series.name)[:18]:<18} "
    line = Text(label)
    line.append(bars, style="cyan")
    line.append(f"  {first:.4g} → {last:.4g}" + (" (log scale)" if log_scale else ""), style="dim")
    console.print(line)
    marks = []
    bad = first_nonfinite_index(series.values)
    if top_finding is not None and top_finding.onset_step is not None and top_finding.series in (series.name, None):
        marks.append((top_finding.onset_step, "^"))
    if bad is not None:
        marks.append((int(series.steps[bad]), "×"))
    if marks:
        legend = []
        if top_finding is not None and any(mark == "^" for _, mark in marks):
            legend.append(f"^ {top_finding.rule_id} onset step {top_finding.onset_step}")
        if bad is not None:
            legend.append(f"× first non-finite step {int(series.steps[bad])}")
        under = marker_line(series, marks, SPARK_WIDTH)
        console.print(Text(" " * len(label) + f"{under:<{min(SPARK_WIDTH, len(series))}}  " + "; ".join(legend), style="dim"))


def series_table(diagnosis: Diagnosis) -> Table:
    table = Table(box=None, padding=(0, 1), show_edge=False, pad_edge=False)
    for column in ("series", "role", "points", "steps", "last", "non-finite", "first non-finite"):
        table.add_column(column, justify="right" if column not in ("series", "role") else "left")
    run = diagnosis.run
    for series in run.series:
        summary = series_summary(series)
        name = one_line(series.name) + (" *" if series.name in (run.train_loss, run.val_loss) else "")
        steps = "-" if not summary["points"] else f"{summary['first_step']}..{summary['last_step']}"
        last = summary["last_value"]
        table.add_row(
            Text("  " + name),  # Text, not str: a str cell is read as rich markup, and `[bold]` in a name is not
            series.role,
            str(summary["points"]),
            steps,
            f"{last:.6g}" if isinstance(last, float) else str(last),
            str(summary["nonfinite"]),
            "-" if summary["first_nonfinite_step"] is None else str(summary["first_nonfinite_step"]),
        )
    return table


def closing_line(analysis: Analysis) -> str:
    """pytest-style: `3 runs: 1 failed, 1 warning, 1 healthy in 0.42s`."""
    statuses = [diagnosis.status for diagnosis in analysis.diagnoses]
    count = len(statuses)
    parts = [f"{statuses.count(status)} {status}" for status in ("failed", "warning", "healthy") if statuses.count(status)]
    errors = len(analysis.problems) + len(analysis.rule_errors)
    if errors:
        parts.append(f"{errors} error{'s' if errors != 1 else ''}")
    body = ", ".join(parts) if parts else "nothing read"
    return f"{count} run{'s' if count != 1 else ''}: {body} in {analysis.seconds:.2f}s"
