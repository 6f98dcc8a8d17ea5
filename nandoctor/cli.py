"""The command line: `nandoctor analyze PATH...`, `rules`, `explain ID`, `schema`.

stdout carries only the report; messages and the progress bar go to stderr. Exit codes: 0 nothing at or
above --fail-on, 1 findings at or above it, 2 usage error / nothing readable / a rule crashed, 130 on Ctrl-C.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from . import __version__

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
FAIL_ON = ("error", "warning", "info", "never")
FORMATS = ("text", "json", "jsonl", "markdown", "github", "junit")
SEVERITY_RANK = {"error": 3, "warning": 2, "info": 1}


def use_color(choice: str, stream) -> bool:
    """--color always/never wins; then NO_COLOR, then FORCE_COLOR; else colour only on a terminal."""
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return hasattr(stream, "isatty") and stream.isatty()


class NandoctorGroup(click.Group):
    """Loads [tool.nandoctor] defaults before any command parses its options."""

    def make_context(self, info_name, args, parent=None, **extra):
        from .config import ConfigError, analyze_defaults, load_config

        try:
            table, _ = load_config()
        except ConfigError as error:
            click.echo(f"nandoctor: config: {error}", err=True)
            sys.exit(EXIT_ERROR)
        extra.setdefault("default_map", {"analyze": analyze_defaults(table)})
        context = super().make_context(info_name, args, parent=parent, **extra)
        context.meta["nandoctor.config"] = table
        return context


@click.group(cls=NandoctorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nandoctor")
def cli() -> None:
    """Diagnose failed neural-network training runs from the logs they left behind."""


@cli.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--format", "output_format", type=click.Choice(FORMATS), default="text", show_default=True, help="Report format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the report to this file instead of stdout.")
@click.option("--fail-on", type=click.Choice(FAIL_ON), default="error", show_default=True, help="Exit 1 when a finding is at or above this severity.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when findings are at or above --fail-on (errors still exit 2).")
@click.option("--select", multiple=True, help="Only these rules: ids, slugs or family prefixes (repeatable, or comma-separated).")
@click.option("--ignore", multiple=True, help="Skip these rules: ids, slugs or family prefixes (repeatable, or comma-separated).")
@click.option("--min-confidence", type=click.FloatRange(0.0, 1.0), default=0.0, show_default=True, help="Drop findings below this confidence.")
@click.option("-q", "--quiet", is_flag=True, help="Text: only failed runs and the closing line.")
@click.option("-v", "--verbose", count=True, help="Text: also series, sources and rules that did not apply.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True, help="Colour in the text report (NO_COLOR and FORCE_COLOR are honoured).")
@click.option("--github-summary", is_flag=True, help="Also append a Markdown summary to $GITHUB_STEP_SUMMARY.")
@click.option("-j", "--jobs", type=click.IntRange(min=0), default=0, show_default="0: one per core", help="Analyse runs in this many processes.")
@click.option("--no-crc", is_flag=True, help="Skip the checksums of TensorBoard event records: faster, but a damaged record is not caught.")
@click.pass_context
def analyze(context, paths, output_format, output, fail_on, exit_zero, select, ignore, min_confidence, quiet, verbose, color, github_summary, jobs, no_crc) -> None:
    """Read the runs under PATH (event files, CSV metrics, Caffe logs) and diagnose each.

    PATH may also be a URL: s3://, gs://, az:// or any fsspec protocol (README: "Remote logdirs").
    """
    from .api import WorkerDied, run_analysis
    from .config import ConfigError, rule_params
    from .discover import one_line

    try:
        params = rule_params(context.meta.get("nandoctor.config", {}))
    except ConfigError as error:
        raise click.UsageError(str(error)) from error
    if output:
        from .discover import overwritten_log

        if (log := overwritten_log(output, paths)) is not None:
            raise click.UsageError(f"-o {output} would overwrite {log}, a log being analysed; choose another file")
    stream = _open_output(output)
    streaming = output_format == "jsonl"
    progress = _Progress()
    try:
        def on_run(diagnosis):
            progress.advance()
            if streaming:
                from .report.jsonl import run_line
                stream.write(run_line(diagnosis))
                stream.flush()

        analysis = run_analysis(list(paths), select=_split(select), ignore=_split(ignore), min_confidence=min_confidence, rule_params=params, jobs=jobs, verify_crc=not no_crc, on_total=progress.start, on_run=on_run)
    except WorkerDied as error:  # not a bug to report: the system stopped a process (out of memory, most often)
        progress.stop()
        click.echo(f"nandoctor: {error}", err=True)
        sys.exit(EXIT_ERROR)
    finally:
        progress.stop()
    for problem in analysis.problems:
        click.echo(f"nandoctor: {problem}", err=True)
    for error in analysis.rule_errors:
        click.echo(f"nandoctor: {one_line(error)}", err=True)
    try:
        stream.write(_render(analysis, output_format, stream, verbose=verbose, quiet=quiet, color=color, fail_on=fail_on))
        stream.flush()
    finally:
        if output:
            stream.close()
    if github_summary:
        _append_step_summary(analysis)
    code = exit_code(analysis, fail_on)
    sys.exit(EXIT_OK if exit_zero and code == EXIT_FINDINGS else code)


def _open_output(output: str | None):
    if not output:
        return sys.stdout
    try:
        return open(output, "w", encoding="utf-8")
    except OSError as error:
        raise click.UsageError(f"cannot write {output}: {error.strerror or error}") from error


def _render(analysis, output_format: str, stream, **options) -> str:
    if output_format == "jsonl":
        from .report.jsonl import end_line
        return end_line(analysis)
    if output_format == "text":
        from .report.text import render
        return render(analysis, color=use_color(options["color"], stream), verbose=options["verbose"], quiet=options["quiet"])
    module = __import__(f"nandoctor.report.{output_format}", fromlist=["render"])
    return module.render(analysis, fail_on=options["fail_on"])


def _append_step_summary(analysis) -> None:
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        click.echo("nandoctor: --github-summary given but $GITHUB_STEP_SUMMARY is not set; skipped", err=True)
        return
    from .report.markdown import render

    with open(path, "a", encoding="utf-8") as handle:
        handle.write(render(analysis))


class _Progress:
    """A transient progress bar on stderr, shown only on an interactive terminal and for several runs."""

    def __init__(self):
        self.bar = None
        self.task = None

    def start(self, total: int) -> None:
        if total < 2 or not sys.stderr.isatty():
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("reading runs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=Console(stderr=True), transient=True, redirect_stdout=False, redirect_stderr=False)
        self.bar.start()
        self.task = self.bar.add_task("runs", total=total)

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.advance(self.task)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


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


@cli.command("rules")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--select", multiple=True, help="Show only what these selectors enable.")
@click.option("--ignore", multiple=True, help="Leave out what these selectors name.")
def rules_command(output_format, select, ignore) -> None:
    """List every rule: id, slug, severity, required series, summary."""
    from .engine import Options, selected_rules

    chosen = selected_rules(Options(select=_split(select) or ("ALL",), ignore=_split(ignore)))
    if output_format == "json":
        click.echo(json.dumps([_rule_dict(type(rule)) for rule in chosen], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, padding=(0, 2), show_edge=False)
    for column in ("id", "slug", "severity", "requires", "summary"):
        table.add_column(column)
    for rule in chosen:
        table.add_row(rule.id, rule.slug, rule.severity, ", ".join(rule.requires) or "-", rule.summary())
    Console(width=160, no_color=not use_color("auto", sys.stdout)).print(table)


@cli.command()
@click.argument("rule_key", metavar="ID|SLUG")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def explain(rule_key, output_format) -> None:
    """Show a rule's documentation, parameters and the series it needs."""
    from .rules import find_rule

    rule = find_rule(rule_key)
    if rule is None:
        raise click.BadParameter(f"no rule with id or slug {rule_key!r} (see `nandoctor rules`)", param_hint="ID|SLUG")
    if output_format == "json":
        click.echo(json.dumps(_rule_dict(rule, full=True), indent=2))
        return
    from rich.console import Console
    from rich.markdown import Markdown

    lines = [f"# {rule.slug} ({rule.id})", "", f"Family: {rule.id.rstrip('0123456789')} · default severity: {rule.severity} · status: {rule.status}", "", f"Requires: {', '.join(rule.requires) or 'nothing'}" + (f" · uses when present: {', '.join(rule.optional)}" if rule.optional else ""), "", rule.documentation()]
    if rule.params:
        lines += ["", "## Parameter defaults", ""] + [f"- `{name}` = {param.default}: {param.doc}" for name, param in rule.params.items()]
    Console(no_color=not use_color("auto", sys.stdout)).print(Markdown("\n".join(lines)))


def _rule_dict(rule, full: bool = False) -> dict:
    entry = {"id": rule.id, "slug": rule.slug, "family": rule.id.rstrip("0123456789"), "severity": rule.severity, "status": rule.status, "requires": list(rule.requires), "optional": list(rule.optional), "causes": list(rule.causes), "summary": rule.summary()}
    if full:
        entry["explanation"] = rule.documentation()
        entry["params"] = {name: {"default": param.default, "doc": param.doc} for name, param in rule.params.items()}
    return entry


@cli.command()
def schema() -> None:
    """Print the JSON Schema of `analyze --format json`."""
    click.echo(schema_text(), nl=False)


def schema_text() -> str:
    return (Path(__file__).parent / "schema" / "report.schema.json").read_text(encoding="utf-8")


def main() -> None:
    """Entry point: never a traceback; Ctrl-C exits 130, an internal error exits 2 with one line."""
    # numpy's OpenBLAS starts a thread per core as it is imported (~50 ms of a 0.5 s start); nandoctor's
    # 1-D arithmetic never uses them. Only the command's own process is told (a library user's is not),
    # and a value the user set wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(EXIT_ERROR)
    except click.Abort:
        click.echo("nandoctor: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        click.echo("nandoctor: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        # The reader of stdout went away (`| head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(EXIT_OK)
    except SystemExit:
        raise
    except Exception as error:  # a crash is a bug: one line, ask for a report
        crash = " ".join(f"{type(error).__name__}: {error}".split())  # one line even when the message has several
        click.echo(f"nandoctor: internal error ({crash}); please report this with the command you ran", err=True)
        sys.exit(EXIT_ERROR)
