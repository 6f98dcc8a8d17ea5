"""Each reporter renders a fixed analysis exactly as its snapshot shows (UPDATE_SNAPSHOTS=1 rewrites them)."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from nandoctor.api import Analysis
from nandoctor.discover import Problem
from nandoctor.model import Cause, Diagnosis, Finding, Run, Source, make_series
from nandoctor.report import github, json as json_report, jsonl, junit, markdown, text
from nandoctor.cli import schema_text

SNAPSHOTS = Path(__file__).parent / "snapshots"


def _run(run_id: str, values, framework="caffe", source_format="caffe") -> Run:
    path = f"runs/{run_id}/train.log"
    loss = make_series("loss", np.arange(len(values)) * 10, values, role="train_loss", source=path, locations=np.arange(len(values)) * 3 + 7)
    lr = make_series("lr", np.arange(len(values)) * 10, np.full(len(values), 0.1), role="lr", source=path)
    return Run(id=run_id, path=f"runs/{run_id}", series=(loss, lr), sources=(Source(path, source_format, ("1 ragged row skipped",) if run_id == "warned" else ()),), meta={"framework": framework}, train_loss="loss")


def fixed_analysis() -> Analysis:
    growth = [2.3, 2.1, 2.0, 3.1, 5.2, 9.8, 19.0, 41.0, float("nan"), float("nan")]
    failed_run = _run("diverged", growth)
    nan_finding = Finding("NAN002", "nan-after-growth", "error", 0.9, "loss grew x2.0 per point for 5 points from step 20, then NaN at step 80 (lr 0.1)", onset_step=20, series="loss", evidence={"growth_per_point": 2.0, "lr": 0.1, "first_nonfinite_step": 80}, causes={"lr_too_high": 1.0, "divergence": 0.4}, source="runs/diverged/train.log", line=13)
    log_finding = Finding("LOG003", "stops-at-first-nan", "info", 0.8, "the log continues 1 point past the first NaN", onset_step=80, series="loss", causes={}, source="runs/diverged/train.log", line=31)
    failed = Diagnosis(failed_run, "failed", (nan_finding, log_finding), (
        Cause("lr_too_high", 0.9, "Learning rate too high", ("NAN002",), ("Lower base_lr in solver.prototxt from 0.1 to 0.01 or below.", "Set clip_gradients (e.g. 10) in solver.prototxt.")),
        Cause("divergence", 0.36, "Training diverged", ("NAN002",), ("Roll back to a checkpoint before the rise.",)),
    ), not_applicable=("GRD001",))
    warned_run = _run("warned", [1.0, 0.8, 0.7, 0.72, 0.71, 0.73, 0.72, 0.72], framework="keras", source_format="csv")
    plateau = Finding("PLT001", "stalled-loss", "warning", 0.6, "loss moved only 3 % over 70 steps", onset_step=20, series="loss", causes={"vanishing_or_stalled": 1.0}, source="runs/warned/train.log", line=13)
    warned = Diagnosis(warned_run, "warning", (plateau,), (Cause("vanishing_or_stalled", 0.36, "Training stalled", ("PLT001",), ("Overfit one small batch first.",)),))
    healthy = Diagnosis(_run("healthy", [2.3, 1.5, 1.0, 0.7, 0.5, 0.4]), "healthy")
    return Analysis([failed, warned, healthy], [Problem("runs/broken.csv", "permission denied")], seconds=0.42, rules=[("NAN002", "nan-after-growth"), ("PLT001", "stalled-loss"), ("GRD001", "exploding-gradients"), ("LOG003", "stops-at-first-nan")])


def check_snapshot(name: str, rendered: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("UPDATE_SNAPSHOTS") or not path.exists():
        path.write_text(rendered, encoding="utf-8")
    assert rendered == path.read_text(encoding="utf-8"), f"{name} changed; rerun with UPDATE_SNAPSHOTS=1 if that is intended"


@pytest.mark.parametrize("name, module, options", [
    ("text.txt", text, {}),
    ("text-verbose.txt", text, {"verbose": 1}),
    ("text-quiet.txt", text, {"quiet": True}),
    ("markdown.md", markdown, {}),
    ("github.txt", github, {}),
    ("junit.xml", junit, {"fail_on": "error"}),
    ("jsonl.jsonl", jsonl, {}),
    ("json.json", json_report, {}),
])
def test_reporter_matches_snapshot(name, module, options):
    check_snapshot(name, module.render(fixed_analysis(), **options))


def test_json_report_validates_against_the_published_schema():
    report = json.loads(json_report.render(fixed_analysis()))
    jsonschema.validate(report, json.loads(schema_text()))
    assert report["runs"][0]["series"][0]["last_value"] == "nan"
    assert report["runs"][0]["causes"][0]["id"] == "lr_too_high"


def test_jsonl_lines_each_hold_a_schema_valid_run():
    schema = json.loads(schema_text())
    run_schema = {"$defs": schema["$defs"], **schema["$defs"]["run"]}
    lines = [json.loads(line) for line in jsonl.render(fixed_analysis()).splitlines()]
    for line in lines[:-1]:
        jsonschema.validate(line["run"], run_schema)
    assert lines[-1]["summary"]["runs"] == 3


def test_github_annotations_escape_and_point_at_the_onset_line():
    lines = github.render(fixed_analysis()).splitlines()
    assert lines[0].startswith("::error file=runs/diverged/train.log,line=13,title=NAN002 nan-after-growth::diverged: ")
    assert any(line.startswith("::notice ") for line in lines)


def test_github_annotations_are_capped_with_an_overflow_notice():
    analysis = fixed_analysis()
    many = [analysis.diagnoses[0]] * 15
    lines = github.render(Analysis(many, [], 0.1, analysis.rules)).splitlines()
    assert sum(line.startswith("::error ") for line in lines) == github.MAX_PER_COMMAND
    assert "more findings not annotated" in lines[-1]


def test_junit_fails_rules_at_or_above_fail_on_and_skips_not_applicable():
    root = ET.fromstring(junit.render(fixed_analysis(), fail_on="error"))
    suites = {suite.get("name"): suite for suite in root}
    assert suites["diverged"].get("failures") == "1" and suites["diverged"].get("skipped") == "1"
    assert suites["warned"].get("failures") == "0"
    warned_by_warning = ET.fromstring(junit.render(fixed_analysis(), fail_on="warning"))
    assert {suite.get("name"): suite.get("failures") for suite in warned_by_warning}["warned"] == "1"


def test_text_closing_line_is_pytest_style():
    assert text.render(fixed_analysis()).rstrip().splitlines()[-1] == "3 runs: 1 failed, 1 warning, 1 healthy, 1 error in 0.42s"


def test_text_has_no_colour_codes_unless_asked():
    assert "\x1b[" not in text.render(fixed_analysis())
    assert "\x1b[" in text.render(fixed_analysis(), color=True)
