"""Run ids, paths and series names are data, never markup: each report shows them literally, on one line.

Three runs whose folder names attack the report formats: rich markup, a table pipe, backticks and an
HTML tag (`run [bold]x[/] |a| `b` <i>`, nested folders make the `/`); a newline, a terminal escape
and a bell; and bytes that are not UTF-8. Each format is read back with a real parser where there is
one (markdown-it for Markdown, ElementTree for JUnit).
"""

from __future__ import annotations

import html
import os
import re
import xml.etree.ElementTree as ET

import pytest
from markdown_it import MarkdownIt

from nandoctor.discover import one_line

from .helpers import SAMPLES, assert_no_traceback, nandoctor

MARKUP_ID = "run [bold]x[/] |a| `b` <i>"
CONTROL_ID = "new\nline\x1b[31mred\x07"
BYTES_ID = os.fsdecode(b"bytes\xff\xfe")
ODD_SERIES = "[bold]w[/] |x|"
SGR = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The three hostile runs, each the real Lightning sample that fails with a sudden NaN; the
    markup run also logs a column whose name is markup."""
    root = tmp_path_factory.mktemp("hostile names")
    sample = (SAMPLES / "lightning-sudden-nan" / "metrics.csv").read_text().splitlines()
    for run_id in (MARKUP_ID, CONTROL_ID, BYTES_ID):
        folder = root / run_id
        folder.mkdir(parents=True)
        lines = sample if run_id != MARKUP_ID else [sample[0] + f",{ODD_SERIES}"] + [line + ",1.0" for line in sample[1:]]
        (folder / "metrics.csv").write_text("\n".join(lines) + "\n")
    return root


def _report(runs, output_format: str, *extra: str) -> str:
    result = nandoctor("analyze", runs, "--format", output_format, *extra)
    assert result.returncode == 1, result.stderr
    assert_no_traceback(result.stderr)
    assert result.stderr == ""
    return result.stdout


@pytest.mark.parametrize("color", ["never", "always"])
def test_the_text_report_prints_every_name_literally_on_one_line(runs, color):
    shown = SGR.sub("", _report(runs, "text", "-v", "--color", color))
    assert "\x1b" not in shown and "\x07" not in shown  # the name's escape is shown, not obeyed
    headers = [line for line in shown.splitlines() if line.startswith("FAILED ")]
    assert sorted(header.split("  (")[0] for header in headers) == sorted(f"FAILED   {one_line(run_id)}" for run_id in (MARKUP_ID, CONTROL_ID, BYTES_ID))
    assert "FAILED   new\\nline\\x1b[31mred\\x07" in [header.split("  (")[0] for header in headers]
    assert "FAILED   bytes\\xff\\xfe" in [header.split("  (")[0] for header in headers]
    assert any(line.strip().startswith(ODD_SERIES) for line in shown.splitlines()), shown  # the -v series table
    assert not any(line.startswith("line") for line in shown.splitlines())
    sources = [line for line in shown.splitlines() if "metrics.csv:" in line]
    assert any(f"{one_line(str(runs / CONTROL_ID))}/metrics.csv:" in line for line in sources), sources


def test_markdown_keeps_names_inside_their_cells_and_code_spans(runs):
    report = _report(runs, "markdown")
    rendered = MarkdownIt("commonmark").enable("table").render(report)
    rows = re.findall(r"<tr>\n(.*?)</tr>", rendered, re.DOTALL)[1:]  # the header row aside
    assert len(rows) == 3 and all(row.count("<td>") == 4 for row in rows), rows
    shown_ids = [html.unescape(code) for code in re.findall(r"<td><code>(.*?)</code></td>", rendered)]
    assert sorted(shown_ids) == sorted(one_line(run_id) for run_id in (MARKUP_ID, CONTROL_ID, BYTES_ID))
    summaries = [html.unescape(code) for code in re.findall(r"<summary><code>(.*?)</code>", rendered)]
    assert sorted(summaries) == sorted(shown_ids)
    assert "<i>" not in rendered and "<strong>run" not in rendered and "<a " not in rendered
    where = [html.unescape(code) for code in re.findall(r"\(<code>(.*?)</code>\)", rendered)]
    assert f"{runs / MARKUP_ID}/metrics.csv:45" in where, where
    assert "\x1b" not in report and "\x07" not in report


def test_github_annotations_are_one_command_each_and_decode_to_the_names(runs):
    report = _report(runs, "github")
    assert "\x1b" not in report and "\x07" not in report
    messages = []
    for line in report.splitlines():
        match = re.fullmatch(r"::(error|warning|notice) ([^:]*)::(.*)", line)
        assert match, line
        messages.append(match.group(3).replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%"))
    run_ids = {message.split(": ", 1)[0] for message in messages}
    assert run_ids == {MARKUP_ID, "new\nline\\x1b[31mred\\x07", "bytes\\xff\\xfe"}  # the runner turns %0A back into the newline


def test_junit_parses_as_xml_whatever_the_names_hold(runs):
    root = ET.fromstring(_report(runs, "junit"))
    suites = {suite.get("name"): suite.get("file") for suite in root}
    assert suites == {one_line(run_id): one_line(str(runs / run_id)) for run_id in (MARKUP_ID, CONTROL_ID, BYTES_ID)}
    failures = [failure.get("message") for failure in root.iter("failure")]
    assert len(failures) == 3 and all("\n" not in message for message in failures)


@pytest.mark.parametrize("output_format", ["text", "json", "jsonl", "markdown", "github", "junit"])
def test_a_name_that_is_not_utf8_is_written_to_a_report_file_too(runs, tmp_path, output_format):
    """The report file is UTF-8: the bytes of a non-UTF-8 name are escaped, never a crash."""
    report = tmp_path / f"report.{output_format}"
    result = nandoctor("analyze", runs / BYTES_ID, "--format", output_format, "-o", report)
    assert result.returncode == 1, result.stderr
    assert_no_traceback(result.stderr)
    text = report.read_bytes().decode("utf-8")
    assert "bytes\\xff\\xfe" in text or "bytes\\udcff\\udcfe" in text  # JSON writes its own \u escapes
