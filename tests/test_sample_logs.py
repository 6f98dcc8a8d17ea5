"""sample_logs/: the committed runs are byte for byte what the script writes, valid in their formats, and readable."""

from __future__ import annotations

import csv
import importlib
import importlib.util
import math
import re
import sys
from pathlib import Path
from types import ModuleType
from unittest import mock

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util

from nandoctor.load import load_paths

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "make_sample_logs.py"
SAMPLE_LOGS = REPO / "sample_logs"
MAX_TOTAL_BYTES = 1_000_000
MAX_RUN_BYTES = 64 * 1024


def load_script() -> ModuleType:
    """scripts/ is not a package: load the generator from its file."""
    spec = importlib.util.spec_from_file_location("make_sample_logs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


make_sample_logs = load_script()
SAMPLES = make_sample_logs.SAMPLES


def files_under(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def test_the_committed_samples_are_exactly_what_the_script_writes(tmp_path):
    make_sample_logs.write_samples(tmp_path)
    written = files_under(tmp_path)
    committed = files_under(SAMPLE_LOGS)
    assert sorted(committed) == sorted(written), "sample_logs/ and the script disagree on which files exist: run `make samples`"
    drifted = [name for name in written if committed[name] != written[name]]
    assert not drifted, f"these samples differ from the script's output (run `make samples`): {drifted}"


def test_the_script_writes_the_same_bytes_every_time(tmp_path):
    make_sample_logs.write_samples(tmp_path / "first")
    make_sample_logs.write_samples(tmp_path / "second")
    assert files_under(tmp_path / "first") == files_under(tmp_path / "second")


def test_the_samples_are_small():
    sizes = {sample.name: sum(len(data) for data in files_under(SAMPLE_LOGS / sample.name).values()) for sample in SAMPLES}
    assert sum(sizes.values()) < MAX_TOTAL_BYTES
    assert all(0 < size <= MAX_RUN_BYTES for size in sizes.values()), sizes


def test_the_readme_lists_every_run():
    readme = (SAMPLE_LOGS / "README.md").read_text(encoding="utf-8")
    assert all(f"`{sample.name}/`" in readme for sample in SAMPLES)


@pytest.mark.parametrize("name, events_of", [("tb-healthy", "tb_healthy_events"), ("tb-lr-too-high", "tb_lr_too_high_events")])
def test_event_files_are_byte_for_byte_what_event_file_writer_writes(name, events_of, tmp_path):
    sample = next(sample for sample in SAMPLES if sample.name == name)
    events = getattr(make_sample_logs, events_of)(np.random.default_rng(sample.seed))
    # EventFileWriter stamps its first record with time.time(): pin the clock it reads.
    with mock.patch("time.time", return_value=make_sample_logs.START_WALL_TIME):
        writer = EventFileWriter(str(tmp_path))
    for event in events:
        writer.add_event(event)
    writer.close()
    (written,) = tmp_path.glob("events.out.tfevents.*")
    assert written.read_bytes() == (SAMPLE_LOGS / name / make_sample_logs.EVENT_FILE_NAME).read_bytes()


def scalars_by_tag(event_file: Path) -> dict[str, list[float]]:
    """Read an event file with TensorBoard's own loader, which checks every record's CRC."""
    values: dict[str, list[float]] = {}
    for event in EventFileLoader(str(event_file)).Load():
        for value in event.summary.value:
            values.setdefault(value.tag, []).append(float(tensor_util.make_ndarray(value.tensor)))
    return values


def test_tensorboard_itself_reads_a_loss_that_grows_geometrically_then_goes_nan():
    (event_file,) = (SAMPLE_LOGS / "tb-lr-too-high").glob("events.out.tfevents.*")
    scalars = scalars_by_tag(event_file)
    loss = np.array(scalars["train/loss"])
    finite = loss[np.isfinite(loss)]
    assert np.isnan(loss[-1]) and finite.size + np.isnan(loss).sum() == loss.size
    assert np.all(finite[2:] / finite[1:-1] > 1.3), "15 points of geometric growth before the NaN"
    assert np.allclose(scalars["lr"], 0.8)


def test_keras_tf2_validation_loss_rises_while_train_loss_falls():
    run = SAMPLE_LOGS / "keras-tf2-overfitting"
    train = scalars_by_tag(next((run / "train").glob("events.out.tfevents.*")))
    validation = scalars_by_tag(next((run / "validation").glob("events.out.tfevents.*")))
    assert set(train) == set(validation) == {"epoch_loss", "epoch_accuracy"}
    best_epoch = int(np.argmin(validation["epoch_loss"]))
    assert train["epoch_loss"][-1] < train["epoch_loss"][best_epoch]
    assert validation["epoch_loss"][-1] > 1.5 * validation["epoch_loss"][best_epoch]


def test_lightning_csv_has_sparse_rows_sorted_columns_and_a_literal_nan():
    with open(SAMPLE_LOGS / "lightning-sudden-nan" / "metrics.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    header = list(rows[0])
    assert header == sorted(header) == ["epoch", "lr-Adam", "step", "train_loss_epoch", "train_loss_step", "val_loss"]
    assert all(sum(bool(row[key]) for key in ("lr-Adam", "train_loss_step", "train_loss_epoch", "val_loss")) == 1 for row in rows)
    step_losses = [row["train_loss_step"] for row in rows if row["train_loss_step"]]
    first_nan = step_losses.index("nan")
    assert all(0.3 < float(value) < 0.6 for value in step_losses[first_nan - 5 : first_nan]), "stable, then NaN at once"


def test_keras_csv_has_epoch_first_then_sorted_metrics():
    with open(SAMPLE_LOGS / "keras-csv-healthy" / "training.log", "rb") as handle:
        header = handle.readline()
    assert header == b"epoch,accuracy,loss,val_accuracy,val_loss\r\n"


GLOG_LINE = re.compile(r"^I\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ [a-z_]+\.cpp:\d+\] ")
SOLVER_DUMP_LINE = re.compile(r'^(\w+: .+|train_state \{|  \w+: .*|\})$')


@pytest.mark.parametrize("name", ["caffe-healthy", "caffe-saturated-softmax"])
def test_caffe_logs_are_glog_lines_and_the_solver_dump(name):
    lines = (SAMPLE_LOGS / name / "caffe.log").read_text(encoding="utf-8").splitlines()
    assert all(GLOG_LINE.match(line) or SOLVER_DUMP_LINE.match(line) for line in lines)
    assert any("solver.cpp:279] Solving " in line for line in lines)
    assert lines[-1].endswith("Optimization Done.")


def test_a_caffe_log_stuck_at_87_3365_with_accuracy_0():
    text = (SAMPLE_LOGS / "caffe-saturated-softmax" / "caffe.log").read_text(encoding="utf-8")
    losses = [float(value) for value in re.findall(r"\] Iteration \d+, loss = (\S+)", text)]
    first_saturated = losses.index(87.3365)
    assert first_saturated > 5 and set(losses[first_saturated:]) == {87.3365}
    assert losses[first_saturated - 1] < 5, "a jump, not a slow climb"
    assert "Train net output #0: accuracy = 0\n" in text
    assert math.isclose(make_sample_logs.CAFFE_SATURATED_LOSS, 87.3365, abs_tol=5e-5)


# ---------------------------------------------------------------- through nandoctor's own readers


def reader_is_placeholder(reader: str) -> bool:
    """A reader still being written says so in its docstring; its samples cannot be read yet."""
    module = importlib.import_module(f"nandoctor.readers.{reader}")
    return (module.__doc__ or "").startswith("Placeholder")


def readable(sample) -> pytest.param:
    waiting = pytest.mark.skipif(reader_is_placeholder(sample.reader), reason=f"nandoctor.readers.{sample.reader} is still a placeholder")
    return pytest.param(sample, id=sample.name, marks=waiting)


@pytest.mark.parametrize("sample", [readable(sample) for sample in SAMPLES])
def test_nandoctor_reads_each_sample_as_one_run_with_a_train_loss(sample):
    runs, problems = load_paths([str(SAMPLE_LOGS / sample.name)])
    assert [str(problem) for problem in problems] == []
    assert len(runs) == 1
    train_loss = runs[0].primary("train_loss")
    assert train_loss is not None and len(train_loss) > 0
    if sample.expected in ("lr_too_high", "sudden_nan"):
        assert np.isnan(train_loss.values).any(), "the NaN is the signal: a reader must keep it"
    if sample.expected == "saturated_output":
        assert np.isclose(train_loss.values, 87.3365, atol=5e-4).sum() >= 2


@pytest.mark.skipif(any(reader_is_placeholder(sample.reader) for sample in SAMPLES), reason="a reader is still a placeholder")
def test_the_demo_folder_holds_one_run_per_sample_and_nothing_else():
    runs, problems = load_paths([str(SAMPLE_LOGS)])
    assert problems == []
    assert sorted(run.id for run in runs) == sorted(sample.name for sample in SAMPLES), "README.md or .gitattributes was taken for a log"
