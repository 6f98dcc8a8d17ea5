"""The terminal report for people: per run its status, causes with fixes, findings, sources and series."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..api import Analysis
from ..model import Diagnosis
from .json import series_summary

STATUS_STYLE = {"failed": "bold red", "warning": "bold yellow", "healthy": "bold green"}
SEVERITY_STYLE = {"error": "red", "warning": "yellow", "info": "cyan"}


def render(analysis: Analysis, *, color: bool = False, width: int | None = None, verbose: int = 0, quiet: bool = False, **_: Any) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=color, no_color=not color, width=width or 120, highlight=False, emoji=False)
    for diagnosis in analysis.diagnoses:
        if quiet and diagnosis.status != "failed":
            continue
        render_run(console, diagnosis, verbose)
    console.print(Text(closing_line(analysis), style="bold"))
    return buffer.getvalue()


def render_run(console: Console, diagnosis: Diagnosis, verbose: int) -> None:
    run = diagnosis.run
    header = Text()
    header.append(f"{run.id}", style="bold")
    header.append("  ")
    header.append(diagnosis.status.upper(), style=STATUS_STYLE[diagnosis.status])
    if run.framework:
        header.append(f"  ({run.framework})", style="dim")
    console.print(header)
    for rank, cause in enumerate(diagnosis.causes, start=1):
        console.print(Text(f"  {rank}. {cause.title} [{cause.id}] score {cause.score:.2f}  ({', '.join(cause.findings)})"))
        if rank <= 2:
            for fix in cause.fixes[:3]:
                console.print(Text(f"       fix: {fix}", style="green"))
    for finding in diagnosis.findings:
        line = Text("  ")
        line.append(f"{finding.rule_id} {finding.slug}", style=SEVERITY_STYLE.get(finding.severity, ""))
        line.append(f" [{finding.severity}, {finding.confidence:.2f}] {finding.message}")
        console.print(line)
    for error in diagnosis.errors:
        console.print(Text(f"  error: {error}", style="red"))
    for source in run.sources:
        console.print(Text(f"  source: {source.path} ({source.format})", style="dim"))
        for warning in source.warnings:
            console.print(Text(f"    warning: {warning}", style="yellow"))
    console.print(series_table(diagnosis))
    if verbose and diagnosis.not_applicable:
        console.print(Text(f"  not applicable: {', '.join(diagnosis.not_applicable)}", style="dim"))
    console.print()


def series_table(diagnosis: Diagnosis) -> Table:
    table = Table(box=None, padding=(0, 1), show_edge=False, pad_edge=False)
    for column in ("series", "role", "points", "steps", "last", "non-finite", "first non-finite"):
        table.add_column(column, justify="right" if column not in ("series", "role") else "left")
    run = diagnosis.run
    for series in run.series:
        summary = series_summary(series)
        name = series.name + (" *" if series.name in (run.train_loss, run.val_loss) else "")
        steps = "-" if not summary["points"] else f"{summary['first_step']}..{summary['last_step']}"
        last = summary["last_value"]
        table.add_row(
            name,
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
