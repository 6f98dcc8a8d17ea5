"""Damaged Caffe (glog) text logs: non-UTF-8 bytes, CRLF, a 50 MB line, binary junk (a bare stack trace: test_crash_logs)."""

from __future__ import annotations

import json
import random

import pytest

from nandoctor.readers import NOT_A_LOG, caffe

from .helpers import SAMPLES, analyse, assert_no_traceback, exit_status, findings_of, nandoctor, points, problems_of

HEALTHY = (SAMPLES / "caffe-healthy" / "caffe.log").read_bytes()
LINES = HEALTHY.split(b"\n")
HALF = len(LINES) // 2


@pytest.fixture(scope="module")
def intact():
    analysis = analyse(SAMPLES / "caffe-healthy" / "caffe.log")
    return {series.name: (series.steps.tolist(), series.values.tolist()) for series in analysis.diagnoses[0].run.series}


def write(tmp_path, content: bytes, name: str = "caffe.log"):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def with_inserted(lines_inserted: bytes) -> bytes:
    """The healthy log with some bytes as extra lines in its middle."""
    return b"\n".join(LINES[:HALF]) + b"\n" + lines_inserted + b"\n" + b"\n".join(LINES[HALF:])


def same_series(analysis, intact) -> None:
    run = analysis.diagnoses[0].run
    assert {series.name: (series.steps.tolist(), series.values.tolist()) for series in run.series} == intact


def test_crlf_line_ends_read_the_same(tmp_path, intact):
    analysis = analyse(write(tmp_path, HEALTHY.replace(b"\n", b"\r\n")))
    same_series(analysis, intact)
    assert analysis.problems == []


def test_non_utf8_bytes_in_other_lines_change_nothing(tmp_path, intact):
    path = write(tmp_path, with_inserted(b"I1103 14:02:15.590095 18342 net.cpp:100] Creating Layer \xff\xfe\x80 conv\xc3\x28"))
    analysis = analyse(path)
    same_series(analysis, intact)
    assert analysis.problems == []


def test_a_damaged_iteration_line_is_left_out_not_misread(tmp_path, intact):
    path = write(tmp_path, with_inserted(b"I1103 14:02:16.000000 18342 solver.cpp:228] Iteration 5\xff, loss = 1.\xff5"))
    analysis = analyse(path)
    same_series(analysis, intact)


def test_a_50_mb_line_is_skipped_in_bounded_memory_and_reported_once(tmp_path, intact):
    path = write(tmp_path, with_inserted(b"x" * (50 << 20)))
    result = nandoctor("analyze", path, "--format", "json")
    assert result.returncode in (0, 1)
    assert_no_traceback(result.stderr)
    assert result.stderr.splitlines() == [f"nandoctor: {path}: line {HALF + 1} is {50 << 20:,} bytes long, too long for a log line; skipped unread"]
    report = json.loads(result.stdout)
    assert report["errors"] == [{"path": str(path), "message": f"line {HALF + 1} is {50 << 20:,} bytes long, too long for a log line; skipped unread"}]
    assert [finding["rule"] for finding in report["runs"][0]["findings"] if finding["rule"].startswith("LOG")] == ["LOG004"]
    analysis = analyse(path)
    same_series(analysis, intact)
    (unreadable,) = findings_of(analysis, "LOG004")
    assert unreadable.line == HALF + 1


def test_a_50_mb_last_line_without_a_line_end_is_skipped_too(tmp_path):
    path = write(tmp_path, b"\n".join(LINES[:HALF]) + b"\n" + b"Iteration " * (5 << 20))
    analysis = analyse(path)
    steps, _ = points(analysis, "loss")
    assert steps and max(steps) < 3000
    assert problems_of(analysis, path) == [f"line {HALF + 1} is {50 << 20:,} bytes long, too long for a log line; skipped unread"]


def test_caffe_block_reading_bounds_a_line_at_max_line_bytes(tmp_path, monkeypatch):
    """The same with small limits, so the boundaries are exercised without 50 MB: a line just over
    the limit is skipped, a line just under it is read."""
    monkeypatch.setattr(caffe, "BLOCK_BYTES", 1000)
    monkeypatch.setattr(caffe, "MAX_LINE_BYTES", 5000)
    for length, skipped in ((4000, False), (6000, True)):
        path = write(tmp_path, with_inserted(b"y" * length), f"caffe{length}.log")
        part = caffe.read(path)
        assert any("too long for a log line" in warning for warning in part.warnings) == skipped
        assert len(next(series for series in part.series if series.name == "loss")) == 31


def test_a_file_of_binary_junk_is_one_line_and_exit_2(tmp_path):
    path = write(tmp_path, random.Random(1).randbytes(200_000), "train.log")
    result = nandoctor("analyze", path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"nandoctor: {path}: {NOT_A_LOG}"]


@pytest.mark.parametrize("junk", [random.Random(2).randbytes(200_000), b"\x00" * 100_000], ids=["random-bytes", "nul-block"])
def test_binary_junk_inside_a_log_is_read_around_and_reported(tmp_path, intact, junk):
    path = write(tmp_path, with_inserted(junk))
    analysis = analyse(path)
    same_series(analysis, intact)
    (problem,) = problems_of(analysis, path)
    assert problem.endswith("skipped unread") or "of binary data, not text" in problem
    assert len(findings_of(analysis, "LOG004")) == 1
    assert exit_status(analysis) in (0, 1)


def test_a_nul_filled_tail_left_by_a_crash_is_reported_not_fatal(tmp_path, intact):
    path = write(tmp_path, HEALTHY + b"\x00" * 8192)
    analysis = analyse(path)
    same_series(analysis, intact)
    assert problems_of(analysis, path) == [f"1 line of binary data, not text (first at line {len(LINES)}); skipped"]


def test_a_readme_quoting_caffe_lines_is_not_taken_for_a_log(tmp_path):
    readme = write(tmp_path, b"# Notes\nCaffe prints `solver.cpp:228] Iteration N, loss = x` lines.\n", "README.md")
    assert not caffe.sniff(readme, readme.read_bytes())
