"""Hostile paths: missing, unreadable, link loops, fifos, 10^5 empty files, names no shell likes."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import time

import pytest

from .helpers import SAMPLES, analyse, assert_no_traceback, nandoctor, problems_of

HEALTHY_CSV = SAMPLES / "keras-csv-healthy" / "training.log"
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2


def test_a_missing_path_is_one_line_and_exit_2(tmp_path):
    missing = tmp_path / "nope" / "events.out.tfevents.1"
    result = nandoctor("analyze", missing)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"nandoctor: {missing}: no such file or directory"]


def _without_root_file_access():
    """In the child before exec: drop the capabilities that let root read any file, so chmod 000
    denies root too (they leave the bounding set, so the exec'd Python never has them)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _as_a_user_without_access(*args):
    """The CLI run so that file permissions apply: as is for a normal user; as root, with root's
    override capabilities dropped in the child (root ignores chmod 000 otherwise)."""
    if os.geteuid() != 0:
        return nandoctor(*args)
    return nandoctor(*args, preexec_fn=_without_root_file_access)


def _analyse_with_one_file_locked(runs, locked):
    """Analyse `runs` (JSON) while `locked` cannot be read; the one stderr line it must give is checked here."""
    locked.chmod(0)
    try:
        result = _as_a_user_without_access("analyze", runs, "--format", "json")
    finally:
        locked.chmod(0o644)
    assert_no_traceback(result.stderr)
    assert result.stderr.splitlines() == [f"nandoctor: {locked}: permission denied"]
    return result, json.loads(result.stdout)


def test_a_file_without_read_permission_is_one_line_and_the_rest_is_analysed(tmp_path):
    locked = tmp_path / "runs" / "locked" / "training.log"
    locked.parent.mkdir(parents=True)
    shutil.copy(HEALTHY_CSV, locked)
    shutil.copytree(SAMPLES / "keras-csv-healthy", tmp_path / "runs" / "open")
    result, report = _analyse_with_one_file_locked(tmp_path / "runs", locked)
    assert [run["id"] for run in report["runs"]] == ["open"] and result.returncode == 0
    assert report["errors"] == [{"path": str(locked), "message": "permission denied"}]


@pytest.mark.parametrize("locked_name", ["events.out.tfevents.1700000001.host", "validation/events.out.tfevents.1700000001.host"], ids=["beside", "keras-validation"])
def test_a_locked_file_of_a_readable_run_is_one_line_and_an_integrity_finding_in_that_run(tmp_path, locked_name):
    """The run is analysed from what can be read, and its report says a file of it could not be (LOG004)."""
    run = tmp_path / "runs" / "exp1"
    readable = run / ("events.out.tfevents.1700000000.host" if "/" not in locked_name else "train/events.out.tfevents.1700000000.host")
    locked = run / locked_name
    for path in (readable, locked):
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SAMPLES / "tb-healthy" / "events.out.tfevents.1700000000.sample", path)
    result, report = _analyse_with_one_file_locked(tmp_path / "runs", locked)
    assert report["errors"] == [{"path": str(locked), "message": "permission denied"}]
    (analysed,) = report["runs"]
    assert analysed["id"] == "exp1" and all(series["points"] for series in analysed["series"])
    log_findings = [(finding["rule"], finding["source"]) for finding in analysed["findings"] if finding["rule"].startswith("LOG")]
    assert log_findings == [("LOG004", str(locked))]
    assert result.returncode == 0  # a warning: the default --fail-on error is not reached


def test_a_folder_without_permission_is_one_line(tmp_path):
    locked = tmp_path / "runs" / "locked"
    shutil.copytree(SAMPLES / "keras-csv-healthy", locked)
    locked.chmod(0)
    try:
        result = _as_a_user_without_access("analyze", tmp_path / "runs")
    finally:
        locked.chmod(0o755)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"nandoctor: {locked}: permission denied"]


def test_the_permission_code_path_in_process_when_the_open_fails(tmp_path, monkeypatch):
    """The same handler reached in this process: the open of one log fails with EACCES (whoever runs
    the tests), the other log is read."""
    import nandoctor.discover as discover

    shutil.copytree(SAMPLES / "keras-csv-healthy", tmp_path / "open")
    shutil.copytree(SAMPLES / "keras-csv-healthy", tmp_path / "locked")
    real = discover.read_head

    def read_head(path):
        if "locked" in str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(discover, "read_head", read_head)
    analysis = analyse(tmp_path)
    assert [diagnosis.run.id for diagnosis in analysis.diagnoses] == ["open"]
    assert problems_of(analysis, tmp_path / "locked" / "training.log") == ["permission denied"]


def test_symlink_loops_are_reported_or_walked_once_never_followed_forever(tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(SAMPLES / "keras-csv-healthy", runs / "run")
    (runs / "run" / "again").symlink_to("..")  # a folder loop
    (runs / "a.log").symlink_to("b.log")
    (runs / "b.log").symlink_to("a.log")  # a file loop
    (runs / "gone.log").symlink_to("deleted.log")  # dangling
    result = nandoctor("analyze", runs, "--format", "json", timeout=60)
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert [run["id"] for run in report["runs"]] == ["run"]
    assert sorted(result.stderr.splitlines()) == sorted([
        f"nandoctor: {runs / 'a.log'}: Too many levels of symbolic links",
        f"nandoctor: {runs / 'b.log'}: Too many levels of symbolic links",
        f"nandoctor: {runs / 'gone.log'}: a symbolic link to nothing (its target is gone); not read",
    ])
    result = nandoctor("analyze", runs / "a.log")
    assert result.returncode == 2 and result.stderr.splitlines() == [f"nandoctor: {runs / 'a.log'}: Too many levels of symbolic links"]


def test_a_fifo_never_blocks_given_or_found(tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(SAMPLES / "keras-csv-healthy", runs / "run")
    fifo = runs / "run" / "metrics.csv"
    os.mkfifo(fifo)
    named_like_events = runs / "events.out.tfevents.1700000000.host"
    os.mkfifo(named_like_events)
    result = nandoctor("analyze", runs, timeout=30)  # nobody ever writes to the fifos: a read would hang
    assert result.returncode == 0
    assert sorted(result.stderr.splitlines()) == sorted(f"nandoctor: {path}: a named pipe (fifo), not a log file; not read" for path in (fifo, named_like_events))
    result = nandoctor("analyze", fifo, timeout=30)
    assert result.returncode == 2 and result.stderr.splitlines() == [f"nandoctor: {fifo}: a named pipe (fifo), not a log file; not read"]


def test_a_folder_of_100000_empty_files_finishes_in_seconds(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    names = ("metrics.csv", "train.log", "output.txt", "caffe.INFO", "notes")
    empties = [tmp_path / f"empty-{name}" for name in names]  # 20,000 links each: ext4 allows 65,000
    for empty in empties:
        empty.touch()
    for index in range(100_000):
        # Hard links to empty files: to the walker each is an empty regular file it must stat, as
        # 10^5 separate files are, but making one costs a directory entry, not an inode (5x faster).
        os.link(empties[index % len(names)], folder / f"{index:06d}-{names[index % len(names)]}")
    shutil.copy(HEALTHY_CSV, folder / "zz-training.log")
    started = time.perf_counter()
    analysis = analyse(folder)
    seconds = time.perf_counter() - started
    assert [diagnosis.run.path for diagnosis in analysis.diagnoses] == [str(folder)]
    assert [source.path for source in analysis.diagnoses[0].run.sources] == [str(folder / "zz-training.log")]
    assert analysis.problems == []
    assert seconds < 10, f"{seconds:.1f} s"


@pytest.mark.parametrize("name", ["with space", "ünïcødé ✓ 日本", "new\nline", "tab\there", "-dash-first", "semi;colon,comma"])
def test_odd_names_are_read_and_any_message_about_them_stays_one_line(tmp_path, name):
    run = tmp_path / name
    shutil.copytree(SAMPLES / "keras-csv-healthy", run)
    (run / "training.log").rename(run / f"{name}.log")
    broken = run / f"events.out.tfevents.{name}"
    broken.write_bytes(b"")  # an empty event file: one problem line naming the odd path
    result = nandoctor("analyze", "--format", "json", "--", run)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report["runs"]) == 1 and report["runs"][0]["series"]
    escaped = str(broken).replace("\n", "\\n").replace("\t", "\\t")
    assert result.stderr.splitlines() == [f"nandoctor: {escaped}: empty file: nothing was written to it"]
    assert report["errors"] == [{"path": str(broken), "message": "empty file: nothing was written to it"}]  # JSON keeps the real name
    missing = tmp_path / f"{name} missing"
    result = nandoctor("analyze", missing)
    assert result.returncode == 2
    escaped = str(missing).replace("\n", "\\n").replace("\t", "\\t")
    assert result.stderr.splitlines() == [f"nandoctor: {escaped}: no such file or directory"]
