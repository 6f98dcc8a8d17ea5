"""The MLflow file-store reader and its discovery, on mlruns trees written in MLflow's FileStore layout."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import uuid
from pathlib import Path

import numpy as np
import pytest

from nandoctor.api import run_analysis
from nandoctor.discover import discover
from nandoctor.load import load_paths
from nandoctor.readers import ReadError, read_head, reader_for
from nandoctor.readers import mlflow as mlflow_reader

# ---------------------------------------------------------------- a writer, as MLflow's FileStore does it

RUNNING, FINISHED, FAILED, KILLED = 1, 3, 4, 5


def safe_dump(data: dict) -> str:
    """yaml.safe_dump(data, default_flow_style=False) for the values MLflow's meta.yaml holds."""

    def scalar(value) -> str:
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, list):
            return "[]"
        if value == "" or value.isdigit() or value in ("null", "true", "false") or ": " in value:
            return "'" + value.replace("'", "''") + "'"  # strings YAML would read as something else
        return value

    return "".join(f"{key}: {scalar(data[key])}\n" for key in sorted(data))


class FileStore:
    """mlflow.store.tracking.file_store.FileStore's writes: meta.yaml per experiment and run, one file per
    metric (appended `"{timestamp} {value} {step}\\n"`), param and tag (their value, no newline)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / ".trash").mkdir(parents=True, exist_ok=True)
        self.create_experiment("0", "Default")

    def create_experiment(self, experiment_id: str, name: str) -> None:
        folder = self.root / experiment_id
        folder.mkdir(parents=True, exist_ok=True)
        meta = {"artifact_location": f"file:///tmp/mlruns/{experiment_id}", "creation_time": 1700000000000, "experiment_id": experiment_id, "last_update_time": 1700000000000, "lifecycle_stage": "active", "name": name}
        (folder / "meta.yaml").write_text(safe_dump(meta), encoding="utf-8")

    def create_run(self, experiment_id: str, run_name: str, start_time: int = 1700000000000) -> Path:
        run_id = uuid.uuid4().hex
        folder = self.root / experiment_id / run_id
        for sub in ("metrics", "params", "artifacts"):
            (folder / sub).mkdir(parents=True)
        self._write_run_meta(folder, run_id, experiment_id, run_name, RUNNING, start_time, None, deleted_time=True)
        self.set_tag(folder, "mlflow.runName", run_name)
        self.set_tag(folder, "mlflow.user", "researcher")
        self.set_tag(folder, "mlflow.source.name", "train.py")
        self.set_tag(folder, "mlflow.source.type", "LOCAL")
        return folder

    def _write_run_meta(self, folder: Path, run_id: str, experiment_id: str, run_name: str, status: int, start_time: int, end_time: int | None, deleted_time: bool = False) -> None:
        meta = {
            "artifact_uri": f"file:///tmp/mlruns/{experiment_id}/{run_id}/artifacts", "end_time": end_time, "entry_point_name": "",
            "experiment_id": experiment_id, "lifecycle_stage": "active", "run_id": run_id, "run_name": run_name, "run_uuid": run_id,
            "source_name": "", "source_type": 4, "source_version": "", "start_time": start_time, "status": status, "tags": [], "user_id": "researcher",
        }
        if deleted_time:
            meta["deleted_time"] = None  # create_run writes it; later rewrites of meta.yaml do not
        (folder / "meta.yaml").write_text(safe_dump(meta), encoding="utf-8")

    def end_run(self, folder: Path, status: int, end_time: int) -> None:
        meta = mlflow_reader.parse_meta_yaml((folder / "meta.yaml").read_text())
        self._write_run_meta(folder, meta["run_id"], meta["experiment_id"], meta["run_name"], status, meta["start_time"], end_time)

    def log_metric(self, folder: Path, key: str, value: float, step: int = 0, timestamp: int = 1700000000000) -> None:
        path = folder / "metrics" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as handle:
            handle.write(f"{timestamp} {value} {step}\n")

    def log_param(self, folder: Path, key: str, value) -> None:
        path = folder / "params" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("" if value is None else str(value))

    def set_tag(self, folder: Path, key: str, value: str) -> None:
        path = folder / "tags" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value)


def train(store: FileStore, folder: Path, steps: int = 50, nan_from: int | None = None, growth: float = 0.97) -> None:
    """A training loop logging train/loss every step, val_loss every 10, lr, with mlflow.log_metric(..., step=)."""
    store.log_param(folder, "lr", 0.001)
    store.log_param(folder, "batch_size", 32)
    store.log_param(folder, "optimizer", "Adam")
    for step in range(steps):
        loss = float("nan") if nan_from is not None and step >= nan_from else 2.3 * growth**step
        store.log_metric(folder, "train/loss", loss, step, timestamp=1700000000000 + 250 * step)
        store.log_metric(folder, "lr", 0.001, step, timestamp=1700000000000 + 250 * step)
        if step % 10 == 9:
            store.log_metric(folder, "val_loss", 2.4 * growth**step, step, timestamp=1700000000000 + 250 * step + 100)


def mlruns_with_two_runs(root: Path) -> tuple[FileStore, Path, Path]:
    store = FileStore(root)
    healthy = store.create_run("0", "calm-owl-12")
    train(store, healthy)
    store.end_run(healthy, FINISHED, 1700000060000)
    diverged = store.create_run("0", "bold-fox-7")
    train(store, diverged, nan_from=30, growth=1.2)
    store.end_run(diverged, FAILED, 1700000030000)
    return store, healthy, diverged


# ---------------------------------------------------------------- discovery: one run per run folder


def test_an_experiment_with_two_runs_is_two_runs_each_with_all_its_metrics(tmp_path):
    _, healthy, diverged = mlruns_with_two_runs(tmp_path / "mlruns")
    runs, problems = load_paths([str(tmp_path / "mlruns")])
    assert problems == []
    assert sorted(run.id for run in runs) == sorted(f"0/{folder.name}" for folder in (healthy, diverged))
    for run in runs:
        assert sorted(series.name for series in run.series) == ["lr", "train/loss", "val_loss"]
        assert {source.format for source in run.sources} == {"mlflow"} and len(run.sources) == 3
        assert run.train_loss == "train/loss" and run.val_loss == "val_loss" and run.get("lr").role == "lr"
    by_name = {run.meta["run_name"]: run for run in runs}
    assert by_name["calm-owl-12"].meta["status"] == "FINISHED" and by_name["bold-fox-7"].meta["status"] == "FAILED"


def test_the_diverged_run_is_diagnosed_and_the_healthy_one_is_not(tmp_path):
    _, healthy, diverged = mlruns_with_two_runs(tmp_path / "mlruns")
    analysis = run_analysis([str(tmp_path / "mlruns")])
    status = {diagnosis.run.id: diagnosis.status for diagnosis in analysis.diagnoses}
    assert status == {f"0/{healthy.name}": "healthy", f"0/{diverged.name}": "failed"}
    failed = next(diagnosis for diagnosis in analysis.diagnoses if diagnosis.status == "failed")
    first_nan = next(finding for finding in failed.findings if finding.rule_id.startswith("NAN"))
    assert first_nan.source.endswith(os.path.join("metrics", "train", "loss")) and first_nan.line is not None


def test_a_run_folder_its_metrics_folder_or_one_metric_file_can_be_given(tmp_path):
    _, healthy, _ = mlruns_with_two_runs(tmp_path / "mlruns")
    (run,), _ = load_paths([str(healthy)])
    assert run.id == healthy.name and len(run.series) == 3
    (run,), _ = load_paths([str(healthy / "metrics")])
    assert sorted(series.name for series in run.series) == ["lr", "train/loss", "val_loss"]
    (run,), _ = load_paths([str(healthy / "metrics" / "train" / "loss")])
    assert [series.name for series in run.series] == ["train/loss"] and run.meta["run_name"] == "calm-owl-12"


def test_two_experiments_keep_their_runs_apart(tmp_path):
    store, _, _ = mlruns_with_two_runs(tmp_path / "mlruns")
    store.create_experiment("417", "ablation")
    other = store.create_run("417", "quiet-cat-3")
    train(store, other, steps=20)
    specs, problems = discover(str(tmp_path / "mlruns"))
    assert problems == [] and len(specs) == 3
    assert [len(spec.files) for spec in specs if spec.id.startswith("417/")] == [3]


# ---------------------------------------------------------------- reading one metric file


def test_points_steps_wall_time_and_lines_are_read_as_logged(tmp_path):
    _, healthy, _ = mlruns_with_two_runs(tmp_path / "mlruns")
    part = mlflow_reader.read(healthy / "metrics" / "val_loss")
    (series,) = part.series
    lines = (healthy / "metrics" / "val_loss").read_text().split("\n")
    assert series.name == "val_loss" and series.steps.tolist() == list(range(9, 50, 10))
    for step, value, wall_time, line in zip(series.steps, series.values, series.wall_time, series.locations):
        timestamp, written_value, written_step = lines[line - 1].split(" ")
        assert int(written_step) == step and float(written_value) == value and int(timestamp) / 1000 == wall_time
    assert part.warnings == [] and part.events == []


def test_nan_and_infinities_are_kept_as_mlflow_writes_them(tmp_path):
    store = FileStore(tmp_path / "mlruns")
    folder = store.create_run("0", "spiky")
    for step, value in enumerate([1.5, float("inf"), float("nan"), float("-inf"), 1e-05]):
        store.log_metric(folder, "loss", value, step)
    assert (folder / "metrics" / "loss").read_text().split("\n")[1:4] == ["1700000000000 inf 1", "1700000000000 nan 2", "1700000000000 -inf 3"]
    (series,) = mlflow_reader.read(folder / "metrics" / "loss").series
    assert series.values[0] == 1.5 and series.values[1] == math.inf and np.isnan(series.values[2]) and series.values[3] == -math.inf
    assert series.values[4] == 1e-05


def test_nested_metric_names_are_their_path_below_metrics(tmp_path):
    store = FileStore(tmp_path / "mlruns")
    folder = store.create_run("0", "nested")
    store.log_metric(folder, "train/loss", 1.0, 0)
    store.log_metric(folder, "eval/squad/f1", 71.5, 0)
    store.log_metric(folder, "metrics/loss", 0.5, 0)  # a metric whose own name starts with the folder's
    (run,), _ = load_paths([str(folder)])
    assert sorted(series.name for series in run.series) == ["eval/squad/f1", "metrics/loss", "train/loss"]


def test_a_truncated_last_line_is_dropped_with_a_warning_and_the_points_before_it_kept(tmp_path):
    store = FileStore(tmp_path / "mlruns")
    folder = store.create_run("0", "killed")
    for step in range(5):
        store.log_metric(folder, "loss", 2.0 - 0.1 * step, step)
    path = folder / "metrics" / "loss"
    path.write_bytes(path.read_bytes() + b"1700000000000 1.4")  # the writer was killed mid-line
    part = mlflow_reader.read(path)
    assert part.series[0].values.tolist() == [2.0, 1.9, 1.8, 1.7, 1.6]
    assert part.warnings == ["line 6 was cut off mid-write; its point was dropped"]
    assert [(event.kind, event.line) for event in part.events] == [("truncated", 6)]
    (diagnosis,) = run_analysis([str(folder)]).diagnoses
    assert "LOG001" in [finding.rule_id for finding in diagnosis.findings]


def test_malformed_lines_are_skipped_with_one_warning(tmp_path):
    store = FileStore(tmp_path / "mlruns")
    folder = store.create_run("0", "damaged")
    path = folder / "metrics" / "loss"
    path.write_bytes(b"1700000000000 2.0 0\n\x00\x00\x00\n1700000000000 1.8 1\nnot a number\n1700000000000 1.6 2\n")
    part = mlflow_reader.read(path)
    assert part.series[0].steps.tolist() == [0, 1, 2] and part.series[0].locations.tolist() == [1, 3, 5]
    assert part.warnings == ["2 malformed lines skipped (first at line 2: '\\x00\\x00\\x00')"]


def test_windows_line_endings_are_read(tmp_path):
    store = FileStore(tmp_path / "mlruns")
    folder = store.create_run("0", "windows")
    (folder / "metrics" / "loss").write_bytes(b"1700000000000 2.0 0\r\n1700000000000 nan 1\r\n")
    (series,) = mlflow_reader.read(folder / "metrics" / "loss").series
    assert series.steps.tolist() == [0, 1] and series.values[0] == 2.0 and np.isnan(series.values[1])


def test_old_two_field_lines_are_numbered_by_their_index(tmp_path):
    store = FileStore(tmp_path / "mlruns")
    folder = store.create_run("0", "mlflow-0.9")
    (folder / "metrics" / "loss").write_text("1550000000000 2.5\n1550000000500 2.1\n1550000001000 1.9\n")
    part = mlflow_reader.read(folder / "metrics" / "loss")
    assert part.series[0].steps.tolist() == [0, 1, 2] and part.warnings == []


def test_points_logged_without_a_step_are_numbered_in_logging_order(tmp_path):
    store = FileStore(tmp_path / "mlruns")
    folder = store.create_run("0", "no-steps")
    for epoch, value in enumerate([1.0, 0.8, 0.7]):
        store.log_metric(folder, "val_loss", value, timestamp=1700000000000 + epoch)  # mlflow.log_metric(key, value): step 0
    part = mlflow_reader.read(folder / "metrics" / "val_loss")
    assert part.series[0].steps.tolist() == [0, 1, 2] and part.series[0].values.tolist() == [1.0, 0.8, 0.7]
    assert part.warnings == ["all 3 points were logged at step 0; they are numbered 0-2 in logging order"]


@pytest.mark.parametrize(("content", "reason"), [(b"", "empty metric file"), (b"1700000000000 0.5", "no complete metric line"), (b"garbage\n", "no complete metric line")])
def test_files_with_nothing_to_read_raise_a_short_read_error(tmp_path, content, reason):
    store = FileStore(tmp_path / "mlruns")
    folder = store.create_run("0", "empty")
    (folder / "metrics" / "loss").write_bytes(content)
    with pytest.raises(ReadError, match=reason):
        mlflow_reader.read(folder / "metrics" / "loss")


# ---------------------------------------------------------------- the run folder: meta.yaml, params, tags


def test_meta_yaml_params_and_tags_become_meta(tmp_path):
    _, _, diverged = mlruns_with_two_runs(tmp_path / "mlruns")
    meta = mlflow_reader.read(diverged / "metrics" / "lr").meta
    assert meta["run_name"] == "bold-fox-7" and meta["run_id"] == diverged.name and meta["experiment_id"] == "0"
    assert meta["status"] == "FAILED" and meta["start_time"] == 1700000000000 and meta["end_time"] == 1700000030000
    assert meta["params"] == {"lr": 0.001, "batch_size": 32, "optimizer": "Adam"}
    assert meta["source_name"] == "train.py" and "framework" not in meta


def test_param_values_are_numbers_when_they_are_numbers(tmp_path):
    store = FileStore(tmp_path / "mlruns")
    folder = store.create_run("0", "params")
    values = {"lr": 3e-05, "epochs": 10, "dropout": 0.1, "warmup": -1, "fp16": True, "model/name": "bert-base", "schedule": "linear", "max_grad_norm": float("inf"), "seed_list": "[1, 2]", "empty": None}
    for key, value in values.items():
        store.log_param(folder, key, value)
    params = mlflow_reader.run_meta(folder)["params"]
    assert params == {"lr": 3e-05, "epochs": 10, "dropout": 0.1, "warmup": -1, "fp16": "True", "model/name": "bert-base", "schedule": "linear", "max_grad_norm": math.inf, "seed_list": "[1, 2]", "empty": ""}


def test_the_framework_comes_from_the_autologging_tag_or_the_hf_trainer_params(tmp_path):
    store = FileStore(tmp_path / "mlruns")
    lightning = store.create_run("0", "autolog")
    store.set_tag(lightning, "mlflow.autologging", "pytorch")
    hf = store.create_run("0", "hf")
    for key, value in {"per_device_train_batch_size": 8, "logging_nan_inf_filter": True, "learning_rate": 5e-05}.items():
        store.log_param(hf, key, value)
    plain = store.create_run("0", "plain")
    for folder in (lightning, hf, plain):
        store.log_metric(folder, "loss", 1.0, 0)
    assert mlflow_reader.read(lightning / "metrics" / "loss").meta["framework"] == "lightning"
    assert mlflow_reader.read(hf / "metrics" / "loss").meta["framework"] == "hf"
    assert "framework" not in mlflow_reader.read(plain / "metrics" / "loss").meta


def test_the_small_yaml_parser_reads_what_safe_dump_writes(tmp_path):
    text = "artifact_uri: file:///data/mlruns/3/abc/artifacts\ndeleted_time: null\nend_time: null\nentry_point_name: ''\nexperiment_id: '3'\nrun_name: 'it''s: a run'\nsource_type: 4\nstatus: 1\ntags: []\nuser_id: \"r\\u00e9mi\"\n"
    assert mlflow_reader.parse_meta_yaml(text) == {
        "artifact_uri": "file:///data/mlruns/3/abc/artifacts", "deleted_time": None, "end_time": None, "entry_point_name": "",
        "experiment_id": "3", "run_name": "it's: a run", "source_type": 4, "status": 1, "tags": [], "user_id": "rémi",
    }


def test_an_edited_run_folder_is_read_again(tmp_path):
    store = FileStore(tmp_path / "mlruns")
    folder = store.create_run("0", "live")
    store.log_metric(folder, "loss", 1.0, 0)
    assert mlflow_reader.read(folder / "metrics" / "loss").meta["status"] == "RUNNING"
    store.end_run(folder, KILLED, 1700000001000)
    os.utime(folder / "meta.yaml", ns=(1, 1))  # a new modification time even on a coarse clock
    assert mlflow_reader.read(folder / "metrics" / "loss").meta["status"] == "KILLED"


# ---------------------------------------------------------------- sniffing


def test_sniff_claims_metric_files_and_nothing_else_of_the_store(tmp_path):
    _, healthy, _ = mlruns_with_two_runs(tmp_path / "mlruns")
    (healthy / "tags" / "mlflow.log-model.history").write_text(json.dumps([{"run_id": healthy.name, "artifact_path": "model"}]))
    (healthy / "artifacts" / "notes.txt").write_text("1700000000000 0.5 0\n")  # metric-like, but not under metrics/
    for path in sorted(p for p in (tmp_path / "mlruns").rglob("*") if p.is_file()):
        relative = path.relative_to(tmp_path / "mlruns")
        is_metric = "metrics" in relative.parts
        assert mlflow_reader.sniff(path, read_head(path)) == is_metric, relative
        if is_metric:
            assert reader_for(path, read_head(path)) is mlflow_reader, relative


def test_sniff_needs_a_run_folder_above_metrics(tmp_path):
    loose = tmp_path / "metrics" / "loss"
    loose.parent.mkdir()
    loose.write_text("1700000000000 0.5 0\n")
    assert not mlflow_reader.sniff(loose, read_head(loose))
    (tmp_path / "params").mkdir()
    assert mlflow_reader.sniff(loose, read_head(loose))


def test_sniff_claims_no_file_of_the_realworld_corpus(realworld):
    for path in sorted(realworld.rglob("*")):
        if path.is_file():
            assert not mlflow_reader.sniff(path, read_head(path)), path.relative_to(realworld)


# ---------------------------------------------------------------- MLflow itself, when it happens to be installed


@pytest.mark.skipif(importlib.util.find_spec("mlflow") is None, reason="mlflow is not installed (it is not a dependency)")
def test_a_store_written_by_mlflow_itself_reads_the_same(tmp_path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    run = client.create_run("0", run_name="real-mlflow")
    client.log_param(run.info.run_id, "lr", 0.01)
    for step, value in enumerate([2.0, 1.5, float("nan")]):
        client.log_metric(run.info.run_id, "train/loss", value, step=step)
    client.set_terminated(run.info.run_id, "FAILED")
    (loaded,), problems = load_paths([str(tmp_path / "mlruns")])
    loss = loaded.get("train/loss")
    assert problems == [] and loss.steps.tolist() == [0, 1, 2] and np.isnan(loss.values[2])
    assert loaded.meta["run_name"] == "real-mlflow" and loaded.meta["status"] == "FAILED" and loaded.meta["params"] == {"lr": 0.01}
