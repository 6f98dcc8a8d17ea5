"""Damage that hides data is told three times and no more: one line on stderr, one entry in JSON
`errors[]`, one integrity finding (LOG001 cut, LOG004 unreadable) naming the file in the run's report.

One folder holds a run per kind of damage; the real CLI reads it once as JSON and once as text, so
the cases cost two processes, not two per case.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from ..conftest import REALWORLD
from .helpers import SAMPLES, assert_no_traceback, nandoctor, record_starts, scalar_event_file

HF_STATE = REALWORLD / "hf_trainer_state" / "040-qlora-fine-tune-trainer_state.json"
CONSOLE_LOG = REALWORLD / "stdout" / "046-ssd-pytorch-train.log"
CASES = ("tb-cut", "tb-checksum", "tb-empty-validation", "tb-not-events", "csv-ragged", "csv-junk", "csv-cut", "csv-unparsable-record", "caffe-binary-junk", "caffe-nul-tail", "hf-cut", "console-nul-tail")


def _event_bytes(tmp: Path) -> bytes:
    return scalar_event_file(tmp / "whole" / "events.out.tfevents.1", steps=40).read_bytes()


def _damaged_runs(root: Path, tmp: Path) -> dict[str, tuple[Path, str]]:
    """run name -> (the damaged file, the LOG rule that must name it)."""
    events = _event_bytes(tmp)
    starts = record_starts(events)
    flipped = bytearray(events)
    flipped[starts[20] + 15] ^= 0x20  # a payload byte: its data checksum fails
    caffe = (SAMPLES / "caffe-healthy" / "caffe.log").read_bytes()
    lines = caffe.split(b"\n")
    half = len(lines) // 2
    files = {
        # name: (relative path, bytes, rule), plus intact companions below
        "tb-cut": ("events.out.tfevents.1", events[: starts[-1] + 9], "LOG001"),
        "tb-checksum": ("events.out.tfevents.1", bytes(flipped), "LOG004"),
        "tb-empty-validation": ("validation/events.out.tfevents.1", b"", "LOG004"),
        "tb-not-events": ("events.out.tfevents.2", b"epoch,loss\n0,1\n1,2\n", "LOG004"),
        "csv-ragged": ("training.log", b"epoch,loss,val_loss\n0,1.0,2.0\n1,0.9\n2,0.8,1.5,7,8\n3,0.7,1.4\n", "LOG004"),
        "csv-junk": ("training.log", b"epoch,loss,val_loss\n0,1.0,2.0\n1,abc,1.9\n2,0.8,1.7\n3,0.7,1.4\n", "LOG004"),
        "csv-cut": ("training.log", b"epoch,loss,val_loss\n0,1.0,2.0\n1,0.9,1.9\n2,0.8", "LOG001"),
        "csv-unparsable-record": ("metrics.csv", b'epoch,loss\n0,1.0\n1,"' + b"x" * 300_000 + b'"\n2,0.8\n', "LOG004"),
        "caffe-binary-junk": ("caffe.log", b"\n".join(lines[:half]) + b"\n" + random.Random(2).randbytes(200_000) + b"\n" + b"\n".join(lines[half:]), "LOG004"),
        "caffe-nul-tail": ("caffe.log", caffe + b"\x00" * 8192, "LOG004"),
    }
    if HF_STATE.exists():
        state = HF_STATE.read_bytes()
        files["hf-cut"] = ("trainer_state.json", state[: len(state) * 2 // 3], "LOG001")
    if CONSOLE_LOG.exists():
        console = CONSOLE_LOG.read_bytes()
        files["console-nul-tail"] = ("train.log", console[: len(console) // 2] + b"\x00" * 4096, "LOG001")
    damaged = {}
    for name, (relative, data, rule) in files.items():
        path = root / name / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        damaged[name] = (path, rule)
    (root / "tb-empty-validation" / "train").mkdir()
    (root / "tb-empty-validation" / "train" / "events.out.tfevents.1").write_bytes(events)
    (root / "tb-not-events" / "events.out.tfevents.1").write_bytes(events)
    return damaged


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    root = tmp_path_factory.mktemp("damaged")
    damaged = _damaged_runs(root, tmp_path_factory.mktemp("scratch"))
    as_json = nandoctor("analyze", root, "--format", "json")
    as_text = nandoctor("analyze", root, "--format", "text", "--color", "never")
    return damaged, as_json, as_text


@pytest.mark.parametrize("name", CASES)
def test_damage_that_hides_data_is_one_stderr_line_one_json_error_and_one_integrity_finding(reports, name):
    damaged, as_json, as_text = reports
    if name not in damaged:
        pytest.skip(f"the real-world log for {name} is not in ../shared/realworld")
    path, rule = damaged[name]
    for result in (as_json, as_text):
        assert result.returncode in (0, 1), result.stderr
        assert_no_traceback(result.stderr)
    report = json.loads(as_json.stdout)
    (error,) = [error for error in report["errors"] if error["path"] == str(path)]
    assert "\n" not in error["message"]
    for result in (as_json, as_text):
        assert [line for line in result.stderr.splitlines() if str(path) in line] == [f"nandoctor: {path}: {error['message']}"]
    (run,) = [run for run in report["runs"] if run["id"] == name]
    assert any(series["points"] for series in run["series"]), "the readable part is analysed"
    integrity = [(finding["rule"], finding["source"]) for finding in run["findings"] if finding["rule"] in ("LOG001", "LOG004")]
    assert integrity == [(rule, str(path))], run["findings"]
    notes = [line for line in as_text.stdout.splitlines() if f"{rule} " in line and str(path) in line]
    assert len(notes) == 1, as_text.stdout


def test_every_damaged_run_is_in_the_report_and_nothing_else_is_an_error(reports):
    damaged, as_json, _ = reports
    report = json.loads(as_json.stdout)
    assert sorted(run["id"] for run in report["runs"]) == sorted(damaged)
    assert sorted(error["path"] for error in report["errors"]) == sorted(str(path) for path, _ in damaged.values())
