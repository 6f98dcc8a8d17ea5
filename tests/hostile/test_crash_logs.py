"""A run that crashed before it logged a metric: the log is only a stack trace (or a Caffe net set-up
that fails a check). There is nothing to diagnose, so the exit is 2, but the one line says what the
log does show, the crash, never "not a log format" nor a "healthy" run with no points.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from nandoctor.crashlog import TAIL_BYTES

from ..conftest import REALWORLD
from .helpers import SAMPLES, assert_no_traceback, nandoctor

FAILED_LAUNCH = REALWORLD / "caffe" / "006-caffenet-benchmark-caffenet128_lsuv_adadelta1e-5.log"
HEALTHY_CAFFE = (SAMPLES / "caffe-healthy" / "caffe.log").read_bytes()
CAFFE_SET_UP = HEALTHY_CAFFE[: HEALTHY_CAFFE.index(b"Iteration 0")].rsplit(b"\n", 1)[0] + b"\n"  # every line before the first iteration

GLOG_SIGNAL_DUMP = b"""*** Aborted at 1453637010 (unix time) try "date -d @1453637010" if you are using GNU date ***
PC: @     0x7f3d0b5c1c37 (unknown)
*** SIGTERM (@0x3e800001b9c) received by PID 7061 (TID 0x7f3d0c8a4a40) from PID 7068; stack trace: ***
    @     0x7f3d0b5c1cb0 (unknown)
    @     0x7f3d0b6854a3 caffe::Solver<>::Step()
    @           0x408d51 main
"""
GLOG_CHECK_FAILED = b"""F1103 14:02:15.912345 18342 layer.hpp:349] Check failed: ExactNumBottomBlobs() == bottom.size() (2 vs. 1) SoftmaxWithLoss Layer takes 2 bottom blob(s) as input.
*** Check failure stack trace: ***
    @     0x7f02fd7c985d  google::LogMessage::Fail()
    @     0x7f02fd7cb623  google::LogMessage::SendToLog()
    @           0x405877  main
"""
CHECK_LINE = "layer.hpp:349 Check failed: ExactNumBottomBlobs() == bottom.size() (2 vs. 1) SoftmaxWithLoss Layer takes 2 bottom blob(s) as input."


def python_crash(script: str) -> bytes:
    """What a training script that dies prints: a real traceback from a real interpreter."""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert result.returncode == 1 and b"Traceback (most recent call last):" in result.stderr
    return b"loading the data set...\nbuilding the model...\n" + result.stderr


OUT_OF_MEMORY = "def train_step():\n    raise RuntimeError('CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 15.78 GiB total capacity)')\ntrain_step()\n"
# Two functions calling each other: Python prints every frame (it folds only a line repeated in a row).
DEEP = "import sys\nsys.setrecursionlimit(5000)\ndef forward(n):\n    return backward(n - 1) if n else 1 / 0\ndef backward(n):\n    return forward(n - 1)\nforward(2000)\n"


def expect_crash_line(result, path, crash: str) -> None:
    assert result.returncode == 2
    assert_no_traceback(result.stderr)
    assert result.stderr.splitlines() == [f"nandoctor: {path}: no metrics nandoctor reads: the log ends in a crash ({crash})"]


@pytest.mark.parametrize(
    "name, content, crash",
    [
        ("train.log", lambda: python_crash(OUT_OF_MEMORY), "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 15.78 GiB total capacity)"),
        ("caffe.log", lambda: GLOG_SIGNAL_DUMP, "SIGTERM received; only a stack trace follows"),
        ("caffe.INFO", lambda: GLOG_CHECK_FAILED, CHECK_LINE),
    ],
    ids=["python-traceback", "glog-signal-dump", "glog-check-failed"],
)
def test_a_log_of_only_a_stack_trace_names_the_crash_in_one_line_and_exits_2(tmp_path, name, content, crash):
    path = tmp_path / name
    path.write_bytes(content())
    expect_crash_line(nandoctor("analyze", path), path, crash)


def test_a_crash_after_a_long_set_up_is_read_from_the_file_end(tmp_path):
    path = tmp_path / "train.log"
    chatter = b"".join(b"building block %d of the model...\n" % block for block in range(3000))
    path.write_bytes(chatter + python_crash(DEEP))
    assert path.stat().st_size > 100 * 1024 > 64 * 1024 > TAIL_BYTES  # the traceback is beyond the head read to sniff
    expect_crash_line(nandoctor("analyze", path), path, "ZeroDivisionError: division by zero")


def test_the_real_failed_launch_at_the_top_of_a_caffe_log_names_its_check(tmp_path):
    if not FAILED_LAUNCH.exists():
        pytest.skip("../shared/realworld is not here")
    path = tmp_path / "caffe.log"
    path.write_bytes(b"".join(FAILED_LAUNCH.read_bytes().splitlines(keepends=True)[:12]))  # the launch that failed, up to its last frame
    expect_crash_line(nandoctor("analyze", path), path, "io.cpp:36 Check failed: fd != -1 (-1 vs. -1) File not found: caffenet128_lsuv_adadelta.prototxt")


def test_a_caffe_run_that_fails_a_check_while_setting_up_is_no_metrics_not_healthy(tmp_path):
    """The Caffe reader claims this log (its solver lines), but no iteration was ever logged: it was
    reported HEALTHY with exit 0 before; now it is the problem of its file, naming the failed check."""
    path = tmp_path / "caffe.log"
    path.write_bytes(CAFFE_SET_UP + GLOG_CHECK_FAILED)
    result = nandoctor("analyze", path, "--format", "json")
    assert result.returncode == 2
    message = "no metrics in it: Caffe stopped before training: " + CHECK_LINE.split(" ", 1)[1]
    assert result.stderr.splitlines() == [f"nandoctor: {path}: {message}"]
    report = json.loads(result.stdout)
    assert report["runs"] == [] and report["errors"] == [{"path": str(path), "message": message}]


def test_a_crashed_run_beside_a_readable_one_is_one_error_and_the_other_is_analysed(tmp_path):
    crashed = tmp_path / "sweep" / "crashed" / "caffe.log"
    crashed.parent.mkdir(parents=True)
    crashed.write_bytes(CAFFE_SET_UP + GLOG_CHECK_FAILED)
    shutil.copytree(SAMPLES / "keras-csv-healthy", tmp_path / "sweep" / "ok")
    result = nandoctor("analyze", tmp_path / "sweep", "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [run["id"] for run in report["runs"]] == ["ok"]
    assert [error["path"] for error in report["errors"]] == [str(crashed)]
    assert result.stderr.splitlines() == [f"nandoctor: {crashed}: {report['errors'][0]['message']}"]


def test_a_job_that_crashed_before_its_first_metric_is_named_in_a_sweep_not_dropped(tmp_path):
    """In a sweep, a job's folder holding only its config and a console log ending in a traceback is one
    error line; the other runs are analysed. A crash log inside a run's own folder, and stray files at
    the sweep's top, are not searched: the run speaks for itself."""
    sweep = tmp_path / "sweep"
    shutil.copytree(SAMPLES / "keras-csv-healthy", sweep / "ok")
    (sweep / "ok" / "logs").mkdir()
    (sweep / "ok" / "logs" / "stderr.txt").write_bytes(python_crash(OUT_OF_MEMORY))  # inside a run: its metrics tell
    shutil.copytree(SAMPLES / "keras-tf2-overfitting", sweep / "keras")  # a run of train/ and validation/ event files
    (sweep / "keras" / "logs").mkdir()
    (sweep / "keras" / "logs" / "stderr.txt").write_bytes(python_crash(OUT_OF_MEMORY))  # inside that run too
    (sweep / "crash-at-top.log").write_bytes(python_crash(OUT_OF_MEMORY))  # beside the runs, not a run of its own
    job = sweep / "job-7"
    job.mkdir()
    (job / "config.yaml").write_text("lr: 0.1\nbatch_size: 64\n")
    (job / "stdout.txt").write_bytes(python_crash(OUT_OF_MEMORY))
    (sweep / "scripts").mkdir()
    (sweep / "scripts" / "launch.sh").write_text("#!/bin/sh\npython train.py --lr 0.1\n")
    result = nandoctor("analyze", sweep, "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [run["id"] for run in report["runs"]] == ["keras", "ok"]
    message = "no metrics nandoctor reads: the log ends in a crash (RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 15.78 GiB total capacity))"
    assert report["errors"] == [{"path": str(job / "stdout.txt"), "message": message}]
    assert result.stderr.splitlines() == [f"nandoctor: {job / 'stdout.txt'}: {message}"]


def test_a_damaged_entry_beside_a_crashed_console_log_does_not_hide_the_crash(tmp_path):
    run = tmp_path / "job-8"
    run.mkdir()
    (run / "stdout.txt").write_bytes(python_crash(OUT_OF_MEMORY))
    (run / "last.ckpt").symlink_to(tmp_path / "gone.ckpt")
    result = nandoctor("analyze", run)
    assert result.returncode == 2
    assert_no_traceback(result.stderr)
    assert result.stderr.splitlines() == [
        f"nandoctor: {run / 'last.ckpt'}: a symbolic link to nothing (its target is gone); not read",
        f"nandoctor: {run / 'stdout.txt'}: no metrics nandoctor reads: the log ends in a crash (RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 15.78 GiB total capacity))",
    ]


def test_a_run_folder_of_only_a_crashed_console_log_names_the_crash_not_no_logs_found(tmp_path):
    """The job died before logging a metric: its folder holds a config and a console log ending in a
    traceback. Pointed at the folder, nandoctor says what crashed, once, and still exits 2."""
    run = tmp_path / "job-7"
    run.mkdir()
    (run / "config.yaml").write_text("lr: 0.1\nbatch_size: 64\n")
    (run / "stdout.txt").write_bytes(python_crash(OUT_OF_MEMORY))
    expect_crash_line(nandoctor("analyze", run), run / "stdout.txt", "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 15.78 GiB total capacity)")


def test_a_folder_without_logs_or_crashes_still_says_no_training_logs_found(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing was run here\n")
    result = nandoctor("analyze", tmp_path)
    assert result.returncode == 2
    assert_no_traceback(result.stderr)
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"nandoctor: {tmp_path}: no training logs found")
