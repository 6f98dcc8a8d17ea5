"""A file of a run that cannot be read is reported once, and the run it belongs to says so (LOG004),
by the rule that groups readable logs into runs: an MLflow run's metric files (nested names
included), the files of a run folder, the event files of a Keras `train/`/`validation/` folder."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest

import nandoctor.discover as discover_module
from nandoctor.discover import discover
from tests.hostile.helpers import SAMPLES, analyse, assert_no_traceback, findings_of, nandoctor
from tests.hostile.test_paths_hostile import _analyse_with_one_file_locked
from tests.readers.test_mlflow import FINISHED, FileStore, mlruns_with_two_runs, train

EVENTS = SAMPLES / "tb-healthy" / "events.out.tfevents.1700000000.sample"
KERAS_LOG = SAMPLES / "keras-csv-healthy" / "training.log"


@pytest.fixture
def unopenable(monkeypatch):
    """The paths whose open fails with EACCES, as chmod 000 makes it fail (whoever runs the tests)."""
    locked: set[str] = set()
    real = discover_module.read_head

    def read_head(path):
        if str(path) in locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(discover_module, "read_head", read_head)
    return locked


def unreadable_by_run(specs) -> dict[str, list[str]]:
    """Run id -> the paths of its files that could not be read."""
    return {spec.id: [problem.path for problem in spec.unreadable] for spec in specs}


# ---------------------------------------------------------------- MLflow file store runs


def test_a_metric_file_without_read_permission_is_one_line_and_a_finding_of_its_mlflow_run(tmp_path):
    """The real CLI, the file really chmod 000: stderr names it, the run keeps its other metrics and says one is missing."""
    _, healthy, diverged = mlruns_with_two_runs(tmp_path / "mlruns")
    locked = healthy / "metrics" / "lr"
    result, report = _analyse_with_one_file_locked(tmp_path / "mlruns", locked)
    assert report["errors"] == [{"path": str(locked), "message": "permission denied"}]
    runs = {run["id"]: run for run in report["runs"]}
    assert set(runs) == {f"0/{healthy.name}", f"0/{diverged.name}"}
    analysed = runs[f"0/{healthy.name}"]
    assert sorted(series["name"] for series in analysed["series"]) == ["train/loss", "val_loss"]
    integrity = [(finding["rule"], finding["source"]) for finding in analysed["findings"] if finding["rule"].startswith("LOG")]
    assert integrity == [("LOG004", str(locked))]
    assert not [finding for finding in runs[f"0/{diverged.name}"]["findings"] if finding["rule"] == "LOG004"]
    assert result.returncode == 1  # the diverged run's NaN is an error finding; the locked file is not a crash


@pytest.mark.parametrize("metric", ["lr", "val_loss", "train/loss"], ids=["flat", "val", "nested-under-train"])
def test_an_unreadable_metric_belongs_to_its_own_mlflow_run_only(tmp_path, unopenable, metric):
    """`metrics/train/loss` lies in a folder named `train`: it is still the MLflow run's, not a Keras split folder's."""
    _, healthy, diverged = mlruns_with_two_runs(tmp_path / "mlruns")
    locked = diverged / "metrics" / metric
    unopenable.add(str(locked))
    specs, problems = discover(str(tmp_path / "mlruns"))
    assert [(problem.path, problem.message) for problem in problems] == [(str(locked), "permission denied")]
    assert unreadable_by_run(specs) == {f"0/{healthy.name}": [], f"0/{diverged.name}": [str(locked)]}


@pytest.mark.parametrize("given", ["run", "metrics"])
def test_an_unreadable_nested_metric_is_the_runs_when_the_run_or_its_metrics_folder_is_given(tmp_path, unopenable, given):
    _, healthy, _ = mlruns_with_two_runs(tmp_path / "mlruns")
    locked = healthy / "metrics" / "train" / "loss"
    unopenable.add(str(locked))
    specs, _ = discover(str(healthy if given == "run" else healthy / "metrics"))
    (spec,) = specs
    assert [problem.path for problem in spec.unreadable] == [str(locked)]
    assert sorted(log.path.relative_to(healthy / "metrics").as_posix() for log in spec.files) == ["lr", "val_loss"]


def test_a_run_whose_train_loss_could_not_be_read_is_not_called_healthy_without_a_word(tmp_path, unopenable):
    """The diagnosis covers lr and val_loss only: the report must say the loss file was left out."""
    _, healthy, _ = mlruns_with_two_runs(tmp_path / "mlruns")
    locked = healthy / "metrics" / "train" / "loss"
    unopenable.add(str(locked))
    analysis = analyse(tmp_path / "mlruns")
    (finding,) = findings_of(analysis, "LOG004")
    assert finding.source == str(locked) and "permission denied" in finding.message
    owner = next(diagnosis for diagnosis in analysis.diagnoses if finding in diagnosis.findings)
    assert owner.run.id == f"0/{healthy.name}" and owner.status == "warning"


# ---------------------------------------------------------------- the other layouts keep their rule


def test_an_unreadable_file_beside_one_text_log_is_that_runs(tmp_path, unopenable):
    run = tmp_path / "runs" / "exp1"
    run.mkdir(parents=True)
    shutil.copy(KERAS_LOG, run / "training.log")
    shutil.copy(KERAS_LOG, run / "metrics.csv")
    unopenable.add(str(run / "metrics.csv"))
    specs, _ = discover(str(tmp_path / "runs"))
    assert unreadable_by_run(specs) == {"exp1": [str(run / "metrics.csv")]}


def test_an_unreadable_file_among_several_text_logs_is_no_other_files_run(tmp_path, unopenable):
    """Several text logs in a folder are one run per file: the unreadable one would have been its own run."""
    folder = tmp_path / "logs"
    folder.mkdir()
    for name in ("a.csv", "b.csv", "c.csv"):
        shutil.copy(KERAS_LOG, folder / name)
    unopenable.add(str(folder / "c.csv"))
    specs, problems = discover(str(folder))
    assert unreadable_by_run(specs) == {"a.csv": [], "b.csv": []}
    assert [problem.path for problem in problems] == [str(folder / "c.csv")]


def test_an_unreadable_event_file_of_a_keras_split_folder_is_the_parent_runs(tmp_path, unopenable):
    run = tmp_path / "runs" / "exp1"
    for split in ("train", "validation"):
        (run / split).mkdir(parents=True)
        shutil.copy(EVENTS, run / split / "events.out.tfevents.1700000000.host")
    locked = run / "validation" / "events.out.tfevents.1700000001.host"
    shutil.copy(EVENTS, locked)
    unopenable.add(str(locked))
    specs, _ = discover(str(tmp_path / "runs"))
    assert unreadable_by_run(specs) == {"exp1": [str(locked)]}


def test_a_split_folder_that_is_a_run_of_its_own_keeps_its_unreadable_file(tmp_path, unopenable):
    """`validation/` holding a text log is its own run: a file it cannot read is that run's, not the parent's."""
    run = tmp_path / "runs" / "exp1"
    (run / "validation").mkdir(parents=True)
    shutil.copy(EVENTS, run / "events.out.tfevents.1700000000.host")
    shutil.copy(KERAS_LOG, run / "validation" / "training.log")
    locked = run / "validation" / "metrics.csv"
    shutil.copy(KERAS_LOG, locked)
    unopenable.add(str(locked))
    specs, _ = discover(str(tmp_path / "runs"))
    assert unreadable_by_run(specs) == {"exp1": [], "exp1/validation": [str(locked)]}


def test_an_unreadable_file_in_the_folder_given_is_the_runs_of_that_folder(tmp_path, unopenable):
    shutil.copy(EVENTS, tmp_path / "events.out.tfevents.1700000000.host")
    locked = tmp_path / "events.out.tfevents.1700000001.host"
    shutil.copy(EVENTS, locked)
    unopenable.add(str(locked))
    (spec,), _ = discover(str(tmp_path))
    assert [problem.path for problem in spec.unreadable] == [str(locked)]


# ---------------------------------------------------------------- links that lead nowhere

GONE = "a symbolic link to nothing (its target is gone); not read"
LOOP = os.strerror(errno.ELOOP)  # "Too many levels of symbolic links"


def dangling(path: Path) -> Path:
    """`path` (a file written, or none yet) made a link whose target is gone, as a cleaned-up scratch disk leaves it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    os.symlink(path.parent / f"deleted-{path.name}", path)
    return path


def looping(path: Path) -> Path:
    """`path` made a link to itself: opening it fails with ELOOP, as it does for a two-link loop."""
    path.unlink(missing_ok=True)
    os.symlink(path.name, path)
    return path


def test_a_dangling_metric_link_is_one_line_and_a_finding_of_its_mlflow_run(tmp_path):
    """The real CLI: the run keeps its other metrics and says it lost one; the error is reported once."""
    _, healthy, diverged = mlruns_with_two_runs(tmp_path / "mlruns")
    lost = dangling(healthy / "metrics" / "lr")
    result = nandoctor("analyze", tmp_path / "mlruns", "--format", "json")
    assert_no_traceback(result.stderr)
    assert result.stderr.splitlines() == [f"nandoctor: {lost}: {GONE}"]
    report = json.loads(result.stdout)
    assert report["errors"] == [{"path": str(lost), "message": GONE}]
    runs = {run["id"]: run for run in report["runs"]}
    analysed = runs[f"0/{healthy.name}"]
    assert sorted(series["name"] for series in analysed["series"]) == ["train/loss", "val_loss"]
    assert [(finding["rule"], finding["source"]) for finding in analysed["findings"]] == [("LOG004", str(lost))]
    assert analysed["status"] == "warning"
    assert not [finding for finding in runs[f"0/{diverged.name}"]["findings"] if finding["rule"] == "LOG004"]
    assert result.returncode == 1  # the diverged run's NaN is the error; a lost metric is a warning


def test_a_run_that_lost_a_metric_to_a_dangling_link_fails_a_gate_on_warnings(tmp_path):
    """The text report names the lost metric in the run, and `--fail-on warning` stops on it (exit 0 before)."""
    store = FileStore(tmp_path / "mlruns")
    run = store.create_run("0", "calm-owl-12")
    train(store, run)
    store.end_run(run, FINISHED, 1700000060000)
    lost = dangling(run / "metrics" / "lr")
    result = nandoctor("analyze", tmp_path / "mlruns", "--fail-on", "warning")
    assert result.stderr.splitlines() == [f"nandoctor: {lost}: {GONE}"]
    assert f"LOG004 unreadable-part (warning, 0.90): {lost} could not be read" in result.stdout
    assert result.returncode == 1


@pytest.mark.parametrize("metric", ["lr", "val_loss", "train/loss"], ids=["flat", "val", "nested-under-train"])
@pytest.mark.parametrize(("break_link", "message"), [(dangling, GONE), (looping, LOOP)], ids=["dangling", "loop"])
def test_a_metric_link_that_leads_nowhere_belongs_to_its_own_mlflow_run_only(tmp_path, metric, break_link, message):
    """A link loop fails where a dangling link does, when the walk asks what the entry is: both lose the metric."""
    _, healthy, diverged = mlruns_with_two_runs(tmp_path / "mlruns")
    lost = break_link(diverged / "metrics" / metric)
    specs, problems = discover(str(tmp_path / "mlruns"))
    assert [(problem.path, problem.message) for problem in problems] == [(str(lost), message)]
    assert unreadable_by_run(specs) == {f"0/{healthy.name}": [], f"0/{diverged.name}": [str(lost)]}


@pytest.mark.parametrize("given", ["run", "metrics"])
def test_a_dangling_nested_metric_is_the_runs_when_the_run_or_its_metrics_folder_is_given(tmp_path, given):
    _, healthy, _ = mlruns_with_two_runs(tmp_path / "mlruns")
    lost = dangling(healthy / "metrics" / "train" / "loss")
    (spec,), _ = discover(str(healthy if given == "run" else healthy / "metrics"))
    assert [problem.path for problem in spec.unreadable] == [str(lost)]
    assert sorted(log.path.relative_to(healthy / "metrics").as_posix() for log in spec.files) == ["lr", "val_loss"]


def test_only_links_in_metrics_are_lost_metrics_the_stale_ones_around_stay_lines_of_their_own(tmp_path):
    """A sweep with a stale `last.ckpt` in a Lightning run, a dangling link beside event files and in an
    MLflow run's `artifacts/`: each is one line, and only the metric link makes its run incomplete."""
    _, healthy, _ = mlruns_with_two_runs(tmp_path / "mlruns")
    lost = dangling(healthy / "metrics" / "lr")
    stale = [dangling(healthy / "artifacts" / "model.pkl")]
    lightning = tmp_path / "lightning_logs" / "version_0"
    lightning.mkdir(parents=True)
    shutil.copy(KERAS_LOG, lightning / "metrics.csv")
    stale += [dangling(lightning / "last.ckpt"), dangling(lightning / "checkpoints" / "last.ckpt")]
    tensorboard = tmp_path / "tb" / "exp1"
    tensorboard.mkdir(parents=True)
    shutil.copy(EVENTS, tensorboard / "events.out.tfevents.1700000000.host")
    stale += [dangling(tensorboard / "events.out.tfevents.1700000001.host"), looping(tensorboard / "last.ckpt")]
    specs, problems = discover(str(tmp_path))
    assert sorted(problem.path for problem in problems) == sorted(map(str, [lost, *stale]))
    assert unreadable_by_run(specs) == {
        **{spec.id: [] for spec in specs},
        f"mlruns/0/{healthy.name}": [str(lost)],
    }
    assert {"lightning_logs/version_0", "tb/exp1"} <= {spec.id for spec in specs}


@pytest.mark.parametrize("place", ["lightning/last.ckpt", "lightning/checkpoints/last.ckpt", "tensorboard/last.ckpt", "tensorboard/validation/events.out.tfevents.1700000001.host"])
def test_a_dangling_link_outside_mlflow_metrics_is_one_error_line_and_no_finding(tmp_path, place):
    """Usually a stale checkpoint: calling the run incomplete for it would be a false warning."""
    kind, _, name = place.partition("/")
    run = tmp_path / "runs" / "exp1"
    run.mkdir(parents=True)
    if kind == "lightning":
        shutil.copy(KERAS_LOG, run / "metrics.csv")
    else:
        shutil.copy(EVENTS, run / "events.out.tfevents.1700000000.host")
    stale = dangling(run / name)
    analysis = analyse(tmp_path / "runs")
    assert [(problem.path, problem.message) for problem in analysis.problems] == [(str(stale), GONE)]
    assert [diagnosis.run.id for diagnosis in analysis.diagnoses] == ["exp1"]
    assert findings_of(analysis, "LOG004") == []
