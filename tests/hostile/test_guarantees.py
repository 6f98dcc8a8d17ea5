"""What nandoctor promises whatever it is given: it never writes into the logs it reads, Ctrl-C stops
it with one line and exit 130, and a crash (a bug) is one line asking for a report, exit 2."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .helpers import REPO, SAMPLES, assert_no_traceback, fingerprint, nandoctor, record_starts, scalar_event_file

FORMATS = ("text", "json", "jsonl", "markdown", "github", "junit")


@pytest.fixture
def logs(tmp_path):
    """The sample runs plus damaged ones (a cut event file, a CSV with junk, an empty event file)."""
    folder = tmp_path / "logs"
    shutil.copytree(SAMPLES, folder)
    whole = scalar_event_file(tmp_path / "whole" / "events.out.tfevents.1", steps=40).read_bytes()
    cut = folder / "tb-cut" / "events.out.tfevents.1700000000.host"
    cut.parent.mkdir()
    cut.write_bytes(whole[: record_starts(whole)[-1] + 9])
    (folder / "csv-junk").mkdir()
    (folder / "csv-junk" / "metrics.csv").write_text("step,loss\n0,2.3\n1,abc\n2,2.1\n")
    (folder / "tb-empty").mkdir()
    (folder / "tb-empty" / "events.out.tfevents.1700000000.host").write_bytes(b"")
    return folder


@pytest.mark.parametrize("output_format", FORMATS)
def test_the_analysed_folder_is_never_written_to(logs, tmp_path, output_format):
    before = fingerprint(logs)
    runs = ([], ["-o", str(tmp_path / f"report.{output_format}")]) + ((["-j", "2"],) if output_format == "json" else ())
    for extra in runs:
        result = nandoctor("analyze", logs, "--format", output_format, *extra)
        assert result.returncode in (0, 1), result.stderr
        assert_no_traceback(result.stderr)
        assert fingerprint(logs) == before, f"--format {output_format} {' '.join(extra)} changed the analysed folder"
    assert (tmp_path / f"report.{output_format}").stat().st_size > 0


def test_the_python_api_writes_nothing_either(logs):
    import nandoctor as api

    before = fingerprint(logs)
    assert api.analyze(logs)
    assert fingerprint(logs) == before


def test_a_report_is_never_written_over_a_log_being_analysed(logs):
    log = logs / "keras-csv-healthy" / "training.log"
    before = fingerprint(logs)
    for target, given in ((log, log), (log, logs), (logs / "caffe-healthy" / "caffe.log", logs)):
        result = nandoctor("analyze", given, "-o", target)
        assert result.returncode == 2
        assert f"-o {target} would overwrite" in result.stderr
        assert fingerprint(logs) == before


def _wait_until(condition, timeout: float = 60.0, pause: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(pause)


def _has_open(pid: int, path: Path) -> bool:
    """Does process `pid` hold `path` open or mapped (the reader is at work on it)?"""
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                return True
        with open(f"/proc/{pid}/maps") as maps:
            return str(path) in maps.read()
    except OSError:
        return False


def _big_caffe_log(path: Path, megabytes: int) -> Path:
    display = (SAMPLES / "caffe-healthy" / "caffe.log").read_bytes()
    with open(path, "wb") as handle:
        while handle.tell() < megabytes << 20:
            handle.write(display)
    return path


def test_ctrl_c_while_reading_a_big_log_exits_130_with_one_line(tmp_path):
    big = _big_caffe_log(tmp_path / "caffe.log", 300)
    process = subprocess.Popen([sys.executable, "-m", "nandoctor", "analyze", str(big)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_until(lambda: _has_open(process.pid, big) or process.poll() is not None)
    assert process.poll() is None, "finished before it could be interrupted: make the input bigger"
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stderr.strip().splitlines() == ["nandoctor: interrupted"]  # click moves to a new line first (after ^C on a terminal)
    assert stdout == ""


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(child) for child in handle.read().split()]
    except OSError:
        return []


@pytest.mark.parametrize("pause", [0.02, 0.5, 1.0])
def test_ctrl_c_in_a_terminal_reaches_every_worker_and_still_prints_one_line(tmp_path, pause):
    """A terminal's Ctrl-C signals the whole process group. Two runs on two workers: one worker reads
    a big log, the other has finished the small run and waits for work; neither may print a traceback.
    Several pauses: the pool's manager thread once raced the exit hook (an OSError traceback after
    the one line, about 1 run in 20)."""
    sweep = tmp_path / "sweep"
    shutil.copytree(SAMPLES / "keras-csv-healthy", sweep / "small")
    (sweep / "big").mkdir()
    big = _big_caffe_log(sweep / "big" / "caffe.log", 300)
    process = subprocess.Popen([sys.executable, "-m", "nandoctor", "analyze", str(sweep), "-j", "2"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    _wait_until(lambda: any(_has_open(child, big) for child in _children(process.pid)) or process.poll() is not None)
    assert process.poll() is None, "finished before it could be interrupted: make the input bigger"
    time.sleep(pause)  # the small run is done (at the longer pauses): its worker now waits for work
    os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines() == ["nandoctor: interrupted"]


@pytest.mark.parametrize("message, shown", [("simulated bug", "simulated bug"), ("simulated\\n  bug\\non three lines", "simulated bug on three lines")], ids=["one-line", "multi-line"])
def test_a_crash_is_one_line_asking_for_a_report_and_exit_2(tmp_path, message, shown):
    """A bug anywhere (here: a reader that raises) reaches the CLI's top-level handler; an exception
    whose message spans lines is still one line."""
    crash = (
        "import sys, nandoctor.readers.csv as reader\n"
        "def read(*args, **kwargs):\n"
        f"    raise RuntimeError('{message}')\n"
        "reader.read = read\n"
        "from nandoctor.cli import main\n"
        f"sys.argv = ['nandoctor', 'analyze', {str(SAMPLES / 'keras-csv-healthy')!r}]\n"
        "main()\n"
    )
    result = subprocess.run([sys.executable, "-c", crash], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"nandoctor: internal error (RuntimeError: {shown}); please report this with the command you ran"]
