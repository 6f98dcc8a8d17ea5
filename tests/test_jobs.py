"""`--jobs N`: runs read in worker processes give the same report, byte for byte, as one process; a
worker that dies or crashes is one line on stderr; chunking and the worker count are what they say."""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nandoctor.api import MAX_RUNS_PER_TASK, run_analysis, task_chunks, worker_count
from nandoctor.discover import RunSpec

from .conftest import REPO
from .hostile import helpers as hostile_helpers

SAMPLES = REPO / "sample_logs"
# The only fields that may differ between two analyses of the same files: how long they took.
TIMINGS = (re.compile(r'"seconds": [0-9.eE+-]+'), re.compile(r" in [0-9.]+s$", re.MULTILINE))


nandoctor = functools.partial(hostile_helpers.nandoctor, timeout=300)  # a sweep of real-world logs takes a while


def without_timings(report: str) -> str:
    for timing in TIMINGS:
        report = timing.sub("<timing>", report)
    return report


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """28 runs of every sample format (TensorBoard event files from the real writer, a Keras
    train/validation pair, Keras and Lightning CSVs, Caffe logs), healthy and broken, in 4 copies."""
    root = tmp_path_factory.mktemp("sweep")
    for copy in range(4):
        for sample in sorted(path for path in SAMPLES.iterdir() if path.is_dir()):
            shutil.copytree(sample, root / f"{sample.name}-{copy}")
    return root


@pytest.mark.parametrize("output_format", ["json", "jsonl", "text"])
def test_two_and_three_workers_write_the_report_one_process_writes(sweep, output_format):
    reports = {}
    for jobs in (1, 2, 3):
        result = nandoctor("analyze", sweep, "--format", output_format, "--jobs", jobs, "--color", "never")
        assert result.returncode == 1, result.stderr  # some sample runs fail
        reports[jobs] = without_timings(result.stdout)
    assert reports[1].count("lightning-sudden-nan") >= 4  # the report covers the sweep, not an error page
    assert reports[2] == reports[1]
    assert reports[3] == reports[1]


def test_the_real_world_logs_give_the_same_report_with_workers(realworld):
    one = nandoctor("analyze", realworld, "--format", "json", "--jobs", "1")
    two = nandoctor("analyze", realworld, "--format", "json", "--jobs", "2")
    assert one.returncode in (0, 1) and one.stderr == two.stderr
    assert json.loads(one.stdout)["summary"]["runs"] >= 20  # a sweep of many formats, not an error
    assert without_timings(two.stdout) == without_timings(one.stdout)


def test_the_api_hears_the_total_first_then_each_run_in_report_order(sweep):
    heard: list = []
    analysis = run_analysis(sweep, jobs=2, on_total=lambda total: heard.append(total), on_run=lambda diagnosis: heard.append(diagnosis.run.id))
    serial = run_analysis(sweep, jobs=1)
    assert heard[0] == len(serial.diagnoses) == 28
    assert heard[1:] == [diagnosis.run.id for diagnosis in serial.diagnoses] == [diagnosis.run.id for diagnosis in analysis.diagnoses]
    assert [(d.status, [f.rule_id for f in d.findings], [c.id for c in d.causes]) for d in analysis.diagnoses] == [(d.status, [f.rule_id for f in d.findings], [c.id for c in d.causes]) for d in serial.diagnoses]


def _patched_cli(sweep: Path, jobs: int, what_the_reader_does: str) -> subprocess.CompletedProcess:
    """The CLI with the CSV reader replaced, for the run named `victim` only (workers are forked: they inherit it)."""
    program = (
        "import os, signal, sys, nandoctor.readers.csv as reader\n"
        "real = reader.read\n"
        "def read(path, *args, **kwargs):\n"
        f"    if 'victim' in str(path): {what_the_reader_does}\n"
        "    return real(path, *args, **kwargs)\n"
        "reader.read = read\n"
        "from nandoctor.cli import main\n"
        f"sys.argv = ['nandoctor', 'analyze', {str(sweep)!r}, '--jobs', '{jobs}']\n"
        "main()\n"
    )
    return subprocess.run([sys.executable, "-c", program], cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.fixture
def sweep_with_victim(tmp_path) -> Path:
    for index in range(6):
        shutil.copytree(SAMPLES / "keras-csv-healthy", tmp_path / f"run-{index}")
    shutil.copytree(SAMPLES / "lightning-sudden-nan", tmp_path / "run-3-victim")
    return tmp_path


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the patched reader reaches workers only when they are forked")
def test_a_worker_killed_by_the_system_is_one_line_and_exit_2(sweep_with_victim):
    result = _patched_cli(sweep_with_victim, 2, "os.kill(os.getpid(), signal.SIGKILL)")
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == ["nandoctor: a worker process died while reading runs (killed, or out of memory?); --jobs 1 reads them in one process"]
    assert result.stdout == ""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the patched reader reaches workers only when they are forked")
@pytest.mark.parametrize("jobs", [1, 2])
def test_a_bug_in_a_worker_is_the_same_one_line_as_in_one_process(sweep_with_victim, jobs):
    result = _patched_cli(sweep_with_victim, jobs, "raise RuntimeError('simulated bug')")
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["nandoctor: internal error (RuntimeError: simulated bug); please report this with the command you ran"]


def _specs(count: int) -> list[RunSpec]:
    return [RunSpec(id=f"run-{index}", display=f"run-{index}") for index in range(count)]


@pytest.mark.parametrize("runs, workers", [(1, 2), (7, 2), (28, 2), (1000, 2), (1001, 3), (50, 8)])
def test_chunks_keep_every_run_once_in_order_and_leave_work_for_every_worker(runs, workers):
    specs = _specs(runs)
    chunks = task_chunks(specs, workers)
    assert [spec for chunk in chunks for spec in chunk] == specs
    assert max(len(chunk) for chunk in chunks) <= MAX_RUNS_PER_TASK
    assert len(chunks) >= min(runs, 4 * workers)  # the last chunks spread over the workers


def test_the_worker_count_is_the_usable_cores_by_default_and_never_more_than_the_runs(monkeypatch):
    import os

    monkeypatch.setattr(os, "cpu_count", lambda: 64)  # the host's cores: not what this process may use
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert worker_count(0, 10_000) == 3
    assert worker_count(3, 10_000) == 3
    assert worker_count(3, 2) == 2
    assert worker_count(4, 0) == 1
