"""The command line: `nandoctor analyze PATH...` and its companions."""

from __future__ import annotations

import os
import sys

import click

from . import __version__

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
FAIL_ON = ("error", "warning", "info", "never")
SEVERITY_RANK = {"error": 3, "warning": 2, "info": 1}


def _use_color(choice: str, stream) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return hasattr(stream, "isatty") and stream.isatty()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nandoctor")
def cli() -> None:
    """Diagnose failed neural-network training runs from the logs they left behind."""


@cli.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Report format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write the report to this file instead of stdout.")
@click.option("--fail-on", type=click.Choice(FAIL_ON), default="error", show_default=True, help="Exit 1 when a finding is at or above this severity.")
@click.option("--select", multiple=True, help="Only these rules (ids, slugs or family prefixes); repeatable or comma-separated.")
@click.option("--ignore", multiple=True, help="Skip these rules (ids, slugs or family prefixes); repeatable or comma-separated.")
@click.option("--min-confidence", type=click.FloatRange(0.0, 1.0), default=0.0, show_default=True, help="Drop findings below this confidence.")
@click.option("-q", "--quiet", is_flag=True, help="Only failed runs and the closing line.")
@click.option("-v", "--verbose", count=True, help="Also rules that did not apply.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True, help="Colour in the text report (NO_COLOR and FORCE_COLOR are honoured).")
def analyze(paths, output_format, output, fail_on, select, ignore, min_confidence, quiet, verbose, color) -> None:
    """Read the runs under PATH (event files, CSV metrics, Caffe logs) and diagnose each."""
    from .api import run_analysis

    analysis = run_analysis(list(paths), select=_split(select), ignore=_split(ignore), min_confidence=min_confidence)
    for problem in analysis.problems:
        click.echo(f"nandoctor: {problem}", err=True)
    for error in analysis.rule_errors:
        click.echo(f"nandoctor: {error}", err=True)
    stream = open(output, "w", encoding="utf-8") if output else sys.stdout
    try:
        if output_format == "json":
            from .report.json import render
            stream.write(render(analysis))
        else:
            from .report.text import render
            stream.write(render(analysis, color=_use_color(color, stream), verbose=verbose, quiet=quiet))
    finally:
        if output:
            stream.close()
    sys.exit(exit_code(analysis, fail_on))


def _split(values) -> tuple[str, ...]:
    return tuple(item.strip() for value in values for item in value.split(",") if item.strip())


def exit_code(analysis, fail_on: str) -> int:
    """0 clean, 1 findings at or above --fail-on, 2 nothing readable or a rule crashed."""
    if not analysis.diagnoses or analysis.rule_errors:
        return EXIT_ERROR
    if fail_on == "never":
        return EXIT_OK
    threshold = SEVERITY_RANK[fail_on]
    for diagnosis in analysis.diagnoses:
        if any(SEVERITY_RANK.get(finding.severity, 0) >= threshold for finding in diagnosis.findings):
            return EXIT_FINDINGS
    return EXIT_OK


def main() -> None:
    try:
        cli.main(standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("nandoctor: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
