"""The real CLI, through click's runner and as a subprocess, on the healthy and broken sample runs."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from nandoctor.cli import cli, schema_text

from .hostile.helpers import nandoctor  # the real CLI in a child process

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_logs"
BROKEN = SAMPLES / "tb-lr-too-high"
HEALTHY = SAMPLES / "keras-csv-healthy"
SCHEMA = json.loads(schema_text())


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.parametrize("output_format", ["text", "json", "jsonl", "markdown", "github", "junit"])
@pytest.mark.parametrize("run, expected_exit", [(BROKEN, 1), (HEALTHY, 0)])
def test_every_format_on_a_broken_and_a_healthy_run(output_format, run, expected_exit):
    result = invoke("analyze", str(run), "--format", output_format)
    assert result.exit_code == expected_exit, result.output
    output = result.stdout
    if output_format == "json":
        report = json.loads(output)
        jsonschema.validate(report, SCHEMA)
        assert report["runs"][0]["status"] == ("failed" if expected_exit else "healthy")
    elif output_format == "jsonl":
        lines = [json.loads(line) for line in output.splitlines()]
        assert len(lines) == 2 and "run" in lines[0] and "summary" in lines[-1]
    elif output_format == "junit":
        root = ET.fromstring(output)
        failures = int(root.get("failures"))
        assert failures >= 1 if expected_exit else failures == 0
    elif output_format == "github":
        assert all(line.startswith("::") for line in output.splitlines())
    else:
        assert output.strip()


def test_a_broken_run_is_diagnosed_with_its_cause_and_a_fix():
    report = json.loads(invoke("analyze", str(BROKEN), "--format", "json").stdout)
    run = report["runs"][0]
    assert run["causes"][0]["id"] == "lr_too_high"
    assert any("0.8" in fix for fix in run["causes"][0]["fixes"])
    assert run["series"][0]["first_nonfinite_step"] is not None


def test_the_sample_folder_gives_the_closing_line_and_exit_1():
    result = invoke("analyze", str(SAMPLES))
    assert result.exit_code == 1
    assert result.stdout.rstrip().splitlines()[-1].startswith("7 runs: 3 failed, 1 warning, 3 healthy in ")


def test_fail_on_and_exit_zero_gate_the_exit_code():
    assert invoke("analyze", str(SAMPLES), "--fail-on", "never").exit_code == 0
    assert invoke("analyze", str(SAMPLES), "--exit-zero").exit_code == 0
    assert invoke("analyze", str(SAMPLES / "keras-tf2-overfitting")).exit_code == 0
    assert invoke("analyze", str(SAMPLES / "keras-tf2-overfitting"), "--fail-on", "warning").exit_code == 1


def test_select_and_ignore_take_ids_slugs_and_families():
    assert invoke("analyze", str(BROKEN), "--ignore", "NAN,LR,DIV,SPK").exit_code == 0
    assert invoke("analyze", str(BROKEN), "--select", "nan-after-growth").exit_code == 1
    report = json.loads(invoke("analyze", str(BROKEN), "--select", "NAN002", "--format", "json").stdout)
    assert {finding["rule"] for finding in report["runs"][0]["findings"]} == {"NAN002"}


def test_min_confidence_drops_weak_findings():
    report = json.loads(invoke("analyze", str(SAMPLES), "--min-confidence", "1", "--format", "json").stdout)
    assert all(not run["findings"] for run in report["runs"])


@pytest.mark.parametrize("args", [["analyze"], ["analyze", ".", "--format", "yaml"], ["analyze", ".", "--fail-on", "sometimes"], ["explain", "NOPE999"], ["bogus"]])
def test_usage_errors_exit_2(args):
    assert nandoctor(*args).returncode == 2


def test_nothing_readable_exits_2_with_one_line_naming_the_path(tmp_path):
    missing = tmp_path / "no-such-run"
    result = nandoctor("analyze", str(missing))
    assert result.returncode == 2
    assert result.stderr.strip() == f"nandoctor: {missing}: no such file or directory"
    (tmp_path / "empty").mkdir()
    result = nandoctor("analyze", str(tmp_path / "empty"))
    assert result.returncode == 2 and "no training logs found" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreadable_path_beside_a_readable_one_is_reported_and_the_rest_analysed(tmp_path):
    result = nandoctor("analyze", str(HEALTHY), str(tmp_path / "missing"), "--format", "json")
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert report["summary"]["runs"] == 1 and report["errors"][0]["message"] == "no such file or directory"
    assert result.stderr.count("\n") == 1


def test_output_file_holds_the_report_and_stdout_stays_empty(tmp_path):
    target = tmp_path / "report.json"
    result = nandoctor("analyze", str(BROKEN), "--format", "json", "-o", str(target))
    assert result.returncode == 1 and result.stdout == ""
    jsonschema.validate(json.loads(target.read_text()), SCHEMA)


def test_json_pipes_cleanly_while_a_progress_bar_draws_on_an_interactive_stderr(tmp_path):
    for index in range(3):
        shutil.copytree(SAMPLES, tmp_path / f"sweep{index}")
    controller, terminal = pty.openpty()
    env = {key: value for key, value in os.environ.items() if key not in ("CI", "NO_COLOR")}
    report_path = tmp_path / "report.json"
    with open(report_path, "w") as report_file:  # a file, not a pipe: nobody reads stdout until the end
        process = subprocess.Popen([sys.executable, "-m", "nandoctor", "analyze", str(tmp_path / "sweep0"), str(tmp_path / "sweep1"), str(tmp_path / "sweep2"), "--format", "json", "-j", "1"], stdout=report_file, stderr=terminal, cwd=REPO, env=env, start_new_session=True)
    os.close(terminal)
    stderr_bytes = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:
            break
        if not chunk:
            break
        stderr_bytes += chunk
    process.wait()
    os.close(controller)
    assert process.returncode == 1
    assert json.loads(report_path.read_text())["summary"]["runs"] == 21
    assert b"reading runs" in stderr_bytes
    piped = subprocess.run(f"{sys.executable} -m nandoctor analyze {tmp_path}/sweep* --format json | {sys.executable} -c 'import json,sys; json.load(sys.stdin)'", shell=True, cwd=REPO)
    assert piped.returncode == 0


def test_jobs_give_the_same_report_as_one_process(tmp_path):
    for index in range(3):
        shutil.copytree(SAMPLES, tmp_path / f"sweep{index}")
    one = json.loads(invoke("analyze", str(tmp_path), "--format", "json", "-j", "1").stdout)
    two = json.loads(invoke("analyze", str(tmp_path), "--format", "json", "-j", "2").stdout)
    for report in (one, two):
        report["summary"].pop("seconds")
    assert one == two


def test_pyproject_defaults_apply_and_the_command_line_wins(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.nandoctor]\nfail-on = "never"\nformat = "json"\n')
    monkeypatch.chdir(tmp_path)
    result = invoke("analyze", str(BROKEN))
    assert result.exit_code == 0 and json.loads(result.stdout)["runs"]
    assert invoke("analyze", str(BROKEN), "--fail-on", "error").exit_code == 1


def test_a_bad_pyproject_is_a_one_line_error(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.nandoctor]\nfail_on_typo = 1\n')
    result = nandoctor("analyze", str(BROKEN.resolve()), cwd=tmp_path)
    assert result.returncode == 2 and "unknown [tool.nandoctor] keys: fail_on_typo" in result.stderr


def test_rules_and_explain_list_and_document_every_rule():
    listed = json.loads(invoke("rules", "--format", "json").stdout)
    assert {"NAN001", "SAT001", "OVF001", "LOG001"} <= {rule["id"] for rule in listed}
    explained = json.loads(invoke("explain", "sudden-nan", "--format", "json").stdout)
    assert explained["id"] == "NAN001" and "## What it detects" in explained["explanation"]
    text = invoke("explain", "NAN001").stdout
    assert "sudden-nan (NAN001)" in text and "Family: NAN" in text
    assert "NAN001" in invoke("rules").stdout


def test_schema_command_prints_the_published_schema():
    assert json.loads(invoke("schema").stdout)["title"] == "nandoctor report"


def test_text_report_has_no_colour_when_piped_and_honours_force_color():
    assert "\x1b[" not in nandoctor("analyze", str(BROKEN)).stdout
    assert "\x1b[" in nandoctor("analyze", str(BROKEN), env={**os.environ, "FORCE_COLOR": "1"}).stdout
    assert "\x1b[" not in nandoctor("analyze", str(BROKEN), "--color", "never", env={**os.environ, "FORCE_COLOR": "1"}).stdout


def test_quiet_shows_only_failed_runs():
    lines = invoke("analyze", str(SAMPLES), "-q").stdout
    assert "HEALTHY" not in lines and "FAILED" in lines


def test_github_summary_appends_markdown(tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    nandoctor("analyze", str(BROKEN), "--github-summary", "--format", "github", env={**os.environ, "GITHUB_STEP_SUMMARY": str(summary)})
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "## nandoctor:" in text


def test_python_api_gives_the_same_diagnoses_as_the_cli():
    import nandoctor

    diagnoses = nandoctor.analyze(SAMPLES)
    report = json.loads(invoke("analyze", str(SAMPLES), "--format", "json").stdout)
    assert [(d.run.id, d.status, [c.id for c in d.causes]) for d in diagnoses] == [(r["id"], r["status"], [c["id"] for c in r["causes"]]) for r in report["runs"]]
