"""The CSV metrics reader, on files written the way Lightning, Keras, the research tools and people write them."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nandoctor.load import load_paths
from nandoctor.readers import ReadError, read_head
from nandoctor.readers import csv as csv_reader
from tests.conftest import REALWORLD

REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- writers, as the loggers do it


def write_lightning_metrics(path: Path, records: list[dict]) -> None:
    """Lightning's CSVLogger ExperimentWriter: DictWriter over the sorted union of keys, empty when missing."""
    keys = sorted({key for record in records for key in record})
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys)
        writer.writeheader()
        writer.writerows(records)


class KerasCSVLogger:
    """tf.keras CSVLogger: `epoch` then sorted keys; NA for a missing key once training is stopped; the
    header only into an empty file in append mode (so an appended run shows as the epoch going back to 0)."""

    def __init__(self, path: Path, append: bool = False) -> None:
        self.path, self.append, self.keys, self.writer = path, append, None, None

    def fit(self, epoch_logs: list[dict], stop_training_at_last: bool = False) -> None:
        write_header = not (self.append and self.path.exists() and self.path.read_text())
        with open(self.path, "a" if self.append else "w", newline="") as handle:
            for epoch, logs in enumerate(epoch_logs):
                if self.keys is None:
                    self.keys = sorted(logs)
                if stop_training_at_last and epoch == len(epoch_logs) - 1:
                    logs = {key: logs.get(key, "NA") for key in self.keys}
                if self.writer is None or self.writer[0] is not handle:
                    writer = csv.DictWriter(handle, fieldnames=["epoch"] + self.keys)
                    self.writer = (handle, writer)
                    if write_header:
                        writer.writeheader()
                row = {"epoch": epoch}
                row.update((key, logs[key]) for key in self.keys)
                self.writer[1].writerow(row)
        self.keys, self.writer = None, None


def write_research_log(path: Path, rows: list[list[float]]) -> None:
    """AUTOTRAINER/DeepFD log.csv as written on Windows: a text-mode file with the csv module's \\r\\n."""
    with open(path, "w", newline="") as handle:
        handle.write("val_loss,val_accuracy,loss,accuracy\r\r\n")
        for row in rows:
            handle.write(",".join(repr(value) for value in row) + "\r\r\n")


def series_by_name(part) -> dict:
    return {series.name: series for series in part.series}


def cell_at(path: Path, line: int, column: str, delimiter: str = ",") -> str:
    """The raw cell of a column on a physical line, by plain splitting (quote-free files)."""
    text = path.read_bytes().decode("utf-8-sig")
    lines = text.split("\n")
    header = [name.strip() for name in lines[0].rstrip("\r").split(delimiter)]
    return lines[line - 1].rstrip("\r").split(delimiter)[header.index(column)]


def assert_locations_hold_values(path: Path, series, delimiter: str = ",") -> None:
    for location, value in zip(series.locations, series.values):
        written = float(cell_at(path, int(location), series.name, delimiter))
        assert written == value or (math.isnan(written) and math.isnan(value)), (series.name, location)


def assert_same_parts(first, second) -> None:
    assert [s.name for s in first.series] == [s.name for s in second.series]
    for a, b in zip(first.series, second.series):
        assert a.step_unit == b.step_unit
        assert np.array_equal(a.steps, b.steps)
        assert np.array_equal(a.values.view(np.int64), b.values.view(np.int64)), a.name  # bit for bit
        assert np.array_equal(a.locations, b.locations)
        assert (a.wall_time is None) == (b.wall_time is None)
    assert first.events == second.events
    assert first.warnings == second.warnings
    assert first.meta == second.meta


def lightning_run(epochs: int = 3, steps_per_epoch: int = 40, nan_at_step: int | None = None) -> list[dict]:
    """What a LightningModule logs: loss on_step+on_epoch every 10 steps, lr-Adam from LearningRateMonitor
    (no epoch key), val_loss and train/acc at epoch end."""
    records = []
    for epoch in range(epochs):
        for step in range(epoch * steps_per_epoch, (epoch + 1) * steps_per_epoch):
            if step % 10 == 9:
                records.append({"lr-Adam": 1e-3 / (1 + epoch), "step": step})
                loss = float("nan") if step == nan_at_step else 2.0 / (1 + step)
                records.append({"train_loss_step": loss, "epoch": epoch, "step": step})
        last = (epoch + 1) * steps_per_epoch - 1
        records.append({"val_loss": 1.5 / (1 + epoch), "epoch": epoch, "step": last})
        records.append({"train_loss_epoch": 1.8 / (1 + epoch), "train/acc": 0.5 + 0.1 * epoch, "epoch": epoch, "step": last})
    return records


# ---------------------------------------------------------------- sniffing


def _variants(tmp_path: Path) -> dict[str, Path]:
    """One file per variant the reader must claim."""
    files = {}
    files["lightning"] = tmp_path / "metrics.csv"
    write_lightning_metrics(files["lightning"], lightning_run())
    files["keras"] = tmp_path / "training.log"
    KerasCSVLogger(files["keras"]).fit([{"loss": 1.0 / (e + 1), "acc": 0.5, "val_loss": 1.2, "val_acc": 0.4} for e in range(5)])
    files["research"] = tmp_path / "log.csv"
    write_research_log(files["research"], [[0.9, 0.5, 1.0, 0.45], [0.8, 0.6, 0.85, 0.55]])
    files["spaces"] = tmp_path / "model_alpha.csv"
    files["spaces"].write_text("Epoch,Training Loss,Validation Loss,Alpha\n1,3.8,2.8,0.5\n2,2.9,2.5,0.5\n")
    files["tab"] = tmp_path / "metrics.tsv"
    files["tab"].write_text("step\tloss\tlr\n0\t2.3\t0.1\n1\t2.1\t0.1\n")
    files["semicolon"] = tmp_path / "excel_export.csv"
    files["semicolon"].write_text("epoch;loss;accuracy\n1;2,5;0,1\n2;1,5;0,4\n")
    files["bom"] = tmp_path / "bom.csv"
    files["bom"].write_bytes("\ufeffepoch,loss\n0,1.5\n1,1.2\n".encode("utf-8"))
    files["utf16"] = tmp_path / "unicode.txt"
    files["utf16"].write_bytes("epoch\tloss\r\n0\t1.5\r\n1\t1.2\r\n".encode("utf-16"))
    files["quoted"] = tmp_path / "quoted.csv"
    files["quoted"].write_text('"step","loss, train","note"\n"0","2.5","warm, up"\n"1","2.0","ok"\n')
    files["no_extension"] = tmp_path / "metrics"
    files["no_extension"].write_text("epoch,loss\n0,1.5\n")
    files["classic_mac"] = tmp_path / "mac.csv"
    files["classic_mac"].write_bytes(b"epoch,loss\r0,1.5\r1,1.2\r")
    return files


def test_sniff_claims_every_csv_variant(tmp_path):
    for variant, path in _variants(tmp_path).items():
        assert csv_reader.sniff(path, read_head(path)), variant


NOT_CSV = {
    "caffe.log": "I0124 14:03:45.123 12345 solver.cpp:228] Iteration 0, loss = 7.49\nI0124 14:03:46.000 12345 solver.cpp:244]     Train net output #0: loss = 7.49 (* 1 = 7.49 loss)\n",
    "glog.log": "Log file created at: 2016/01/24 14:03:00\nRunning on machine: ljf-ubuntu\nI0124 sgd_solver.cpp:106] Iteration 100, lr = 0.01\n",
    "stdout.log": "Epoch 1/200 | Loss: 0.6931\nEpoch 2/200 | Loss: 0.6802\n",
    "ssd.log": "iter 10 || Loss: 19.5 || timer: 0.1 sec.\niter 20 || Loss: 12.1 ||\n",
    "hf.log": "{'loss': 2.3, 'learning_rate': 5e-05, 'epoch': 0.01}\n{'loss': 2.1, 'learning_rate': 5e-05, 'epoch': 0.02}\n",
    "metrics.txt": '{"loss": 0.5, "step": 1}\n{"loss": 0.4, "step": 2}\n',
    "meta_tags.csv": "key,value\nlr,0.001\nbatch_size,32\n",
    "headerless.csv": "0,2.3,0.1\n1,2.1,0.1\n",
    "header_only.csv": "epoch,loss,val_loss\n",
    "args.log": "Namespace(lr=0.1, epochs=10, loss='ce')\nepoch 1, loss 0.5\n",
    "table.txt": "| epoch | loss |\n|---|---|\n| 1 | 0.5 |\n",
    "trainer_state.json": "epoch,loss\n0,1.5\n",
}


def test_sniff_rejects_logs_that_are_not_csv(tmp_path):
    for name, text in NOT_CSV.items():
        path = tmp_path / name
        path.write_text(text)
        assert not csv_reader.sniff(path, read_head(path)), name
    event_file = tmp_path / "events.out.tfevents.1508627367.brain"
    event_file.write_bytes(b"\x18\x00\x00\x00\x00\x00\x00\x00\xa3\x7fK\x22\t\x00\x00\x00\x00\x00\x00\x00\x00\x1a\rbrain.Event:2")
    assert not csv_reader.sniff(event_file, read_head(event_file))
    binary_csv = tmp_path / "weights.csv"
    binary_csv.write_bytes(b"loss,acc\n\x00\x01\x02\x03")
    assert not csv_reader.sniff(binary_csv, read_head(binary_csv))


def test_sniff_claims_exactly_the_csv_files_of_the_realworld_corpus(realworld):
    for path in sorted(realworld.rglob("*")):
        if not path.is_file() or path.name in ("MANIFEST.tsv", "README.md", "MANIFEST.md"):
            continue
        relative = path.relative_to(realworld)
        is_csv = relative.parts[0] in ("lightning_csv", "keras_csv", "csv_other", "papers")
        assert csv_reader.sniff(path, read_head(path)) == is_csv, relative


# ---------------------------------------------------------------- Lightning


def test_a_sparse_lightning_metrics_csv_reads_each_metric_at_its_own_steps(tmp_path):
    path = tmp_path / "metrics.csv"
    records = lightning_run(nan_at_step=59)
    write_lightning_metrics(path, records)
    part = csv_reader.read(path)
    series = series_by_name(part)

    assert set(series) == {"lr-Adam", "train_loss_step", "train_loss_epoch", "train/acc", "val_loss"}  # no epoch, no step
    for name, item in series.items():
        written = [(record["step"], record[name]) for record in records if name in record]
        assert item.steps.tolist() == [step for step, _ in written], name
        assert np.array_equal(item.values, [value for _, value in written], equal_nan=True), name
        assert item.step_unit == "step"
        assert_locations_hold_values(path, item)
    losses = series["train_loss_step"]
    assert int(losses.steps[np.flatnonzero(np.isnan(losses.values))[0]]) == 59  # the literal nan is a point
    assert part.meta == {"framework": "lightning"}
    assert part.warnings == [] and part.events == []


def test_a_06_era_lightning_metrics_csv_counts_epochs_and_skips_the_timestamp(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("train_loss,epoch,created_at\n17.67,0,2020-02-14 21:53:05.788645\n17.68,1,2020-02-15 00:29:56.642765\n15.81,2,2020-02-15 03:05:28.047441\n")
    part = csv_reader.read(path)
    (loss,) = part.series
    assert (loss.name, loss.steps.tolist(), loss.values.tolist(), loss.step_unit) == ("train_loss", [0, 1, 2], [17.67, 17.68, 15.81], "epoch")
    assert part.meta == {"framework": "lightning"}
    assert part.warnings == []  # a text column is not junk


# ---------------------------------------------------------------- Keras


def test_keras_early_stop_NA_cells_are_not_logged_and_huge_values_are_kept(tmp_path):
    path = tmp_path / "training.log"
    epochs = [{"loss": float("nan"), "mean_absolute_error": 2.6154770585594536e34, "val_loss": 3.0, "lr": 0.01}]
    epochs += [{"loss": float("nan"), "mean_absolute_error": 0.9534672, "val_loss": 2.0 - e / 10, "lr": 0.01} for e in range(1, 5)]
    epochs.append({"loss": float("nan"), "mean_absolute_error": 0.9534672, "lr": 0.001})  # stopped before validation
    KerasCSVLogger(path).fit(epochs, stop_training_at_last=True)
    assert path.read_text().splitlines()[-1].endswith("NA")

    part = csv_reader.read(path)
    series = series_by_name(part)
    assert set(series) == {"loss", "mean_absolute_error", "val_loss", "lr"}
    assert len(series["loss"]) == 6 and np.isnan(series["loss"].values).all()
    assert len(series["val_loss"]) == 5  # NA is "not logged", not a point
    assert series["mean_absolute_error"].values[0] == 2.6154770585594536e34
    assert series["lr"].steps.tolist() == list(range(6)) and series["lr"].step_unit == "epoch"
    assert part.meta == {"framework": "keras"}
    assert part.warnings == []


def test_keras_append_mode_epoch_reset_is_a_restart_and_the_loader_keeps_the_last_run(tmp_path):
    path = tmp_path / "training_log.csv"
    logger = KerasCSVLogger(path, append=True)
    logger.fit([{"accuracy": 0.3 + e / 10, "learning_rate": 1e-4, "loss": 1.2 - e / 10, "val_loss": 1.0} for e in range(5)])
    logger.fit([{"accuracy": 0.6 + e / 20, "learning_rate": 1e-5, "loss": 0.7 - e / 20, "val_loss": 0.6} for e in range(3)])
    assert path.read_text().count("epoch") == 1  # CSVLogger writes no second header

    part = csv_reader.read(path)
    assert [(event.kind, event.step, event.line) for event in part.events] == [("restart", 0, 7)]
    assert len(series_by_name(part)["loss"]) == 8

    (run,), problems = load_paths([str(path)])
    assert problems == [] and run.framework == "keras"
    loss = run.get(run.train_loss)
    assert run.train_loss == "loss" and loss.values.tolist() == [0.7 - e / 20 for e in range(3)] and loss.locations.tolist() == [7, 8, 9]
    assert run.get("learning_rate").role == "lr"


# ---------------------------------------------------------------- research log.csv and generic tables


def test_a_research_log_csv_has_one_row_per_epoch(tmp_path):
    path = tmp_path / "log.csv"
    write_research_log(path, [[1.5e33, 0.099, float("inf"), 0.116], [6.9e35, 0.061, float("inf"), 0.098], [float("nan"), 0.1, float("nan"), 0.1]])
    part = csv_reader.read(path)
    series = series_by_name(part)
    assert list(series) == ["val_loss", "val_accuracy", "loss", "accuracy"]
    assert series["loss"].steps.tolist() == [0, 1, 2] and series["loss"].step_unit == "epoch"
    assert series["loss"].locations.tolist() == [2, 3, 4]  # \r\r\n is one line
    assert np.isinf(series["loss"].values[:2]).all() and np.isnan(series["loss"].values[2])
    assert part.meta == {"framework": "keras"}


def test_custom_headers_with_spaces_are_read_and_the_training_loss_is_found(tmp_path):
    path = tmp_path / "model_alpha_0.50.csv"
    path.write_text("Epoch,Training Loss,Validation Loss,Alpha,Lambda Weight Lvl 1\n1,3.82,2.80,0.5,0.22\n2,2.86,2.54,0.5,0.22\n3,2.65,2.39,0.5,0.22\n")
    (run,), _ = load_paths([str(path)])
    assert (run.train_loss, run.val_loss) == ("Training Loss", "Validation Loss")
    assert run.get("Training Loss").steps.tolist() == [1, 2, 3]
    assert run.get("Epoch") is None and run.framework is None


def test_a_pandas_history_dump_has_an_unnamed_index_column_and_appends_repeat_the_header(tmp_path):
    pandas = pytest.importorskip("pandas")
    path = tmp_path / "training_log.csv"
    pandas.DataFrame({"loss": [1.0186], "acc": [0.7522], "val_loss": [1.0822], "val_acc": [0.7146]}).to_csv(path)
    part = csv_reader.read(path)
    assert [s.name for s in part.series] == ["loss", "acc", "val_loss", "val_acc"]
    assert part.series[0].steps.tolist() == [0] and part.series[0].values.tolist() == [1.0186]
    assert part.meta == {"framework": "keras"} and part.events == []

    pandas.DataFrame({"loss": [0.9, 0.8], "acc": [0.8, 0.82], "val_loss": [1.0, 0.95], "val_acc": [0.7, 0.72]}).to_csv(path, mode="a")
    part = csv_reader.read(path)
    assert series_by_name(part)["loss"].steps.tolist() == [0, 0, 1]
    assert [(event.kind, event.line, event.step) for event in part.events] == [("restart", 3, 0)]
    assert part.warnings == ["a header line again at line 3: runs appended to one file, each read as a restart"]


@pytest.mark.parametrize("variant", ["tab", "semicolon", "bom", "utf16", "quoted", "no_extension", "classic_mac"])
def test_separators_encodings_and_quotes(tmp_path, variant):
    path = _variants(tmp_path)[variant]
    part = csv_reader.read(path)
    assert part.warnings == []
    series = series_by_name(part)
    expected = {
        "tab": ("loss", [0, 1], [2.3, 2.1]),
        "semicolon": ("loss", [1, 2], [2.5, 1.5]),  # decimal commas under a ; separator
        "bom": ("loss", [0, 1], [1.5, 1.2]),
        "utf16": ("loss", [0, 1], [1.5, 1.2]),
        "quoted": ("loss, train", [0, 1], [2.5, 2.0]),
        "no_extension": ("loss", [0], [1.5]),
        "classic_mac": ("loss", [0, 1], [1.5, 1.2]),
    }[variant]
    name, steps, values = expected
    assert series[name].steps.tolist() == steps and series[name].values.tolist() == values


def test_tensor_reprs_written_by_hand_rolled_loggers_are_numbers(tmp_path):
    path = tmp_path / "log.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", "loss"])
        writer.writerow([0, "tensor(0.6931, device='cuda:0', grad_fn=<NllLossBackward0>)"])
        writer.writerow([1, "tensor(0.5120, device='cuda:0')"])
    (loss,) = csv_reader.read(path).series
    assert loss.values.tolist() == [0.6931, 0.512]


def test_the_tensorboard_csv_export_gives_wall_time(tmp_path):
    path = tmp_path / "run-train-tag-epoch_loss.csv"
    path.write_text("Wall time,Step,Value\n1690485354.1,0,0.70\n1690485360.5,1,0.41\n")
    (value,) = csv_reader.read(path).series
    assert value.name == "Value" and value.steps.tolist() == [0, 1] and value.wall_time.tolist() == [1690485354.1, 1690485360.5]


# ---------------------------------------------------------------- the step axis


@pytest.mark.parametrize(
    "header, rows, axis_steps, unit",
    [
        ("epoch,global_step,step,loss", ["0,7,100,2.0", "0,8,200,1.5"], [100, 200], "step"),
        ("epoch,global_step,loss", ["0,7,2.0", "0,8,1.5"], [7, 8], "step"),
        ("iteration,epoch,loss", ["10,0,2.0", "20,1,1.5"], [10, 20], "step"),
        ("iter,loss", ["10,2.0", "20,1.5"], [10, 20], "step"),
        ("loss,epoch", ["2.0,3", "1.5,4"], [3, 4], "epoch"),
        ("epoch,loss", ["0.5,2.0", "1.0,1.5"], [0, 1], "epoch"),  # a fractional epoch cannot number points
        ("loss,val_loss", ["2.0,2.1", "1.5,1.7"], [0, 1], "epoch"),
    ],
)
def test_the_step_axis_is_step_then_global_step_then_iteration_then_epoch_then_the_row(tmp_path, header, rows, axis_steps, unit):
    path = tmp_path / "metrics.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    part = csv_reader.read(path)
    loss = series_by_name(part)["loss"]
    assert loss.steps.tolist() == axis_steps and loss.step_unit == unit
    assert {s.name for s in part.series} <= {"loss", "val_loss"}  # axis-named columns are never series


# ---------------------------------------------------------------- damage


def test_junk_cells_are_skipped_counted_and_warned_once_per_column(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,loss,acc\n0,2.3,0.1\n1,oops,0.2\n2,2.1,#REF!\n3,??,0.4\n4,nan,0.5\n5,-inf,\n")
    part = csv_reader.read(path)
    series = series_by_name(part)
    assert series["loss"].steps.tolist() == [0, 2, 4, 5]
    assert np.isnan(series["loss"].values[2]) and series["loss"].values[3] == -np.inf
    assert series["acc"].steps.tolist() == [0, 1, 3, 4]
    assert part.warnings == [
        "column 'loss': 2 non-numeric cells skipped (first at line 3: 'oops')",
        "column 'acc': 1 non-numeric cell skipped (first at line 4: '#REF!')",
    ]


def test_ragged_rows_and_blank_lines_are_read_around(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_bytes(b"step,loss,lr\r\n0,2.3,0.1\r\n\r\n10,2.1\r\n20,1.9,0.1,extra\r\n30,1.7,0.1\r\n")
    part = csv_reader.read(path)
    series = series_by_name(part)
    assert series["loss"].steps.tolist() == [0, 10, 20, 30] and series["loss"].locations.tolist() == [2, 4, 5, 6]
    assert series["lr"].steps.tolist() == [0, 20, 30]
    assert part.warnings == ["2 rows have a different number of fields than the header (first at line 4); missing cells read as not logged, extra cells ignored"]


def test_a_line_cut_off_mid_write_loses_its_cut_cell(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("step,lr,loss\n0,1.5e-05,2.3\n1,1.5e-05,2.2\n2,1.5")  # killed while writing "1.5e-05"
    part = csv_reader.read(path)
    series = series_by_name(part)
    assert series["lr"].steps.tolist() == [0, 1] and series["loss"].steps.tolist() == [0, 1]
    assert [(event.kind, event.line) for event in part.events] == [("truncated", 4)]
    assert part.warnings == ["the last line (4) was cut off mid-write; its last cell was dropped"]


def test_a_complete_last_line_without_newline_is_kept_with_a_warning(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("step,loss\n0,2.3\n1,2.2")
    assert series_by_name(csv_reader.read(path))["loss"].values.tolist() == [2.3, 2.2]
    assert csv_reader.read(path).warnings == ["the file does not end with a newline; its last line was read as written"]


def test_an_error_message_in_the_middle_is_not_taken_for_a_new_header(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,loss\n0,2.3\nRuntimeError: loss is nan, stopping\n1,2.2\n")
    part = csv_reader.read(path)
    assert [s.name for s in part.series] == ["loss"] and part.series[0].steps.tolist() == [0, 1]
    assert part.events == []


def test_a_header_with_an_added_column_starts_a_new_run(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,loss\n0,2.3\n1,2.2\nepoch,loss,lr\n0,2.4,0.1\n")
    part = csv_reader.read(path)
    assert series_by_name(part)["lr"].steps.tolist() == [0] and series_by_name(part)["loss"].steps.tolist() == [0, 1, 0]
    assert [(event.kind, event.line, event.step) for event in part.events] == [("restart", 4, 0)]
    assert "new header with other columns" in part.events[0].message


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "empty file"),
        (b"epoch,loss\n", "no CSV header followed by a row of numbers"),
        (b"\x00\x01binary\x00", "no CSV header followed by a row of numbers"),
        (b"epoch,loss\n0,abc\n1,def\n", "no column of numbers besides the step axis"),
    ],
)
def test_files_with_nothing_to_read_raise_a_short_read_error(tmp_path, content, reason):
    path = tmp_path / "metrics.csv"
    path.write_bytes(content)
    with pytest.raises(ReadError, match=reason):
        csv_reader.read(path)


# ---------------------------------------------------------------- the two engines


def _engine_cases(tmp_path: Path) -> list[Path]:
    files = list(_variants(tmp_path).values())
    damaged = {
        "junk.csv": "epoch,loss,acc\n0,2.3,0.1\n1,oops,0.2\n2,nan,inf\n",
        "ragged.csv": "step,loss,lr\n0,2.3,0.1\n10,2.1\n",
        "repeated.csv": "epoch,loss\n0,2.3\n1,2.2\nepoch,loss\n0,2.4\n",
        "cut.csv": "step,lr,loss\n0,1.5e-05,2.3\n2,1.5",
        "decimal.csv": "epoch;loss\n0;1,5\n1;1,25\n",
        "text_column.csv": "train_loss,epoch,created_at\n17.6,0,2020-02-14 21:53:05\n17.5,1,2020-02-15 00:29:56\n",
    }
    for name, text in damaged.items():
        (tmp_path / name).write_text(text)
        files.append(tmp_path / name)
    big = tmp_path / "big_metrics.csv"
    write_lightning_metrics(big, lightning_run(epochs=50, steps_per_epoch=200, nan_at_step=4009))
    return files + [big]


def test_the_stdlib_and_pandas_engines_give_identical_series(tmp_path):
    pytest.importorskip("pandas")
    for path in _engine_cases(tmp_path):
        assert_same_parts(csv_reader.read(path, engine="stdlib"), csv_reader.read(path, engine="pandas"))
    for clean in ("metrics.csv", "big_metrics.csv", "junk.csv", "text_column.csv", "decimal.csv", "training.log"):
        assert csv_reader.read_table(tmp_path / clean, engine="pandas").engine == "pandas", clean  # not a fallback


def test_the_engines_agree_on_every_realworld_csv(realworld):
    pytest.importorskip("pandas")
    used = set()
    for path in REALWORLD_CSVS:
        assert_same_parts(csv_reader.read(path, engine="stdlib"), csv_reader.read(path, engine="pandas"))
        used.add(csv_reader.read_table(path, engine="pandas").engine)
    assert used == {"pandas", "stdlib"}  # \r\r\n files fall back, the rest really go through pandas


@pytest.mark.parametrize(
    "text",
    [
        "step,loss,acc\n0,2.3,0.1\n1,2.2,0.2,9\n2,2.1\n3,2.0,0.3\n",  # a cell too many, then one too few
        "step,loss,acc\n0,2.3,0.1,9\n1,2.2\n2,2.1,0.3\n",  # on the first data line pandas reads it without an error
        "step,loss,acc\n0,2.3\n1,2.2,0.2\n2,2.1,0.3,9\n",
    ],
)
def test_ragged_lines_whose_cells_add_up_are_read_by_the_stdlib_engine(tmp_path, text):
    pytest.importorskip("pandas")
    path = tmp_path / "metrics.csv"
    path.write_text(text)
    assert csv_reader.read_table(path, engine="pandas").engine == "stdlib"
    part = csv_reader.read(path, engine="pandas")
    assert_same_parts(csv_reader.read(path, engine="stdlib"), part)
    assert part.warnings[0].startswith("2 rows have a different number of fields than the header")


@pytest.mark.parametrize("last", [False, True])
def test_pandas_reads_lines_up_to_the_csv_field_limit(tmp_path, last):
    """A line's length counts its line break, or one past its end for a last line without one."""
    pytest.importorskip("pandas")
    for extra, engine in ((0, "pandas"), (1, "stdlib")):
        long_line = "2,2.1,0." + "1" * (csv_reader.CSV_FIELD_LIMIT + extra - 9)
        path = tmp_path / f"metrics_{extra}.csv"
        path.write_text("step,loss,acc\n0,2.3,0.1\n" + long_line + ("" if last else "\n3,2.0,0.3\n"))
        assert csv_reader.read_table(path, engine="pandas").engine == engine
        assert_same_parts(csv_reader.read(path, engine="stdlib"), csv_reader.read(path, engine="pandas"))


def _text_heavy_table(path: Path, rows: int, text_on_first_line: bool) -> None:
    """A generic metrics table with text beside the numbers: a timestamp on every row, a sparse note,
    a loss column that turns to text far into the file (pandas reads large files in parts and types a
    column part by part), and cells only the cell-by-cell rules read: wrapped numbers, Unicode digits,
    nan and not-logged spellings among text."""
    with open(path, "w", newline="") as handle:
        handle.write("time,step,loss,note,acc\n")
        for row in range(rows):
            time = f"2026-11-24T03:{row // 60_000 % 60:02d}:{row // 1000 % 60:02d}.{row % 1000:03d}" if text_on_first_line or row else ""
            loss = repr(2.0 / (1 + row)) if row < rows * 3 // 4 else ("diverged" if row % 7 == 0 else repr(1.0 / row))
            note = ("warmup", "tensor(0.5 grad_fn=<MeanBackward0>)", "-NaN", "NA", "\u0661\u0662", " 1_000 ", "np.float32(2.5)", "x(1)")[row // 997 % 8] if row % 997 == 0 and (text_on_first_line or row) else ""
            handle.write(f"{time},{row},{loss},{note},{row / rows!r}\n")


@pytest.mark.parametrize("text_on_first_line", [True, False])
def test_the_engines_agree_on_a_large_table_with_text_columns(tmp_path, text_on_first_line):
    pytest.importorskip("pandas")
    path = tmp_path / "metrics.csv"
    _text_heavy_table(path, 200_000, text_on_first_line)
    assert path.stat().st_size > 6 * 1024 * 1024  # pandas reads it in parts, in threads
    assert csv_reader.read_table(path, engine="pandas").engine == "pandas"
    part = csv_reader.read(path, engine="pandas")
    assert_same_parts(csv_reader.read(path, engine="stdlib"), part)
    note = next(series for series in part.series if series.name == "note")
    assert [value for value in note.values.tolist() if not math.isnan(value)][:4] == [0.5, 12.0, 1000.0, 2.5]
    assert any(math.isnan(value) and math.copysign(1, value) < 0 for value in note.values.tolist())  # -NaN kept, sign and all
    assert any("column 'loss': " in warning and "'diverged'" in warning for warning in part.warnings)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["1", "0", ".", "e", "E", "+", "-", "_", ",", " ", "\t", "i", "n", "f", "a", "t", "y", "N", "A", "I",
                                 "o", "u", "l", "L", "U", "/", "<", ">", "x", "T", ":", "(", ")", "tensor(", "np.float32(", "np.int64(",
                                 "\u0661", "\u00a0", "\u2003", "\x1c", "\x85", "é", "\x00", "'"]), min_size=1, max_size=12).map("".join))
def test_a_cell_set_aside_as_junk_is_junk_to_the_cell_rules(text):
    """`certainly_junk` never sets aside a cell that `float()` or `unusual_cell_value` would read."""
    junk = csv_reader.certainly_junk(np.array([text, "", "1.5", text, ""], dtype=object))
    assert junk[0] == junk[3] and not junk[1] and not junk[2] and not junk[4]
    if junk[0]:
        with pytest.raises(ValueError):
            float(text)
        for decimal_comma in (False, True):
            with pytest.raises(ValueError):
                csv_reader.unusual_cell_value(text, decimal_comma)


any_cell = st.one_of(
    st.floats(allow_nan=False, width=64).map(repr),
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["", "NA", "N/A", "None", "null", "<NA>", "nan", "-nan", "+NaN", "inf", "-Infinity", " 1.5 ", "1_000", "\u0661",
                     "tensor(0.25)", "np.float32(3)", "oops", "2020-02-14 21:53:05", "True", "x(1)", "1e", "0x10", "é",
                     "-0", " -00 ", "-0.0", "false", "TRUE"]),
)
# Columns that cells drawn one by one from `any_cell` all but never make: whole numbers, which pandas
# types as integers (where -0 is 0), and true/false among gaps, which its float64 reading takes for 1/0.
whole_cell = st.one_of(st.integers(-3, 3).map(str), st.sampled_from(["-0", " -00 ", "-01", "-0\x0b", "\x0c-0"]))
bool_cell = st.sampled_from(["", "NA", "True", "false", "TRUE"])
any_column = st.sampled_from([any_cell, any_cell, whole_cell, bool_cell])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.tuples(any_column, any_column).flatmap(lambda cells: st.lists(st.tuples(*cells), min_size=1, max_size=30)))
def test_any_table_of_numbers_and_text_reads_the_same_by_both_engines(tmp_path_factory, rows):
    pytest.importorskip("pandas")
    path = tmp_path_factory.mktemp("hypothesis") / "metrics.csv"
    path.write_text("step,loss,note\n" + "".join(f"{index},{loss},{note}\n" for index, (loss, note) in enumerate(rows)))
    try:
        expected = csv_reader.read(path, engine="stdlib")
    except ReadError:  # no column of numbers but the step
        with pytest.raises(ReadError):
            csv_reader.read(path, engine="pandas")
        return
    assert csv_reader.read_table(path, engine="pandas").engine == "pandas"  # not a fallback
    assert_same_parts(expected, csv_reader.read(path, engine="pandas"))


def test_a_negative_zero_keeps_its_sign_where_pandas_types_a_column_as_integers(tmp_path):
    """pandas types a column, or a part of one, as int64 where every cell is a whole number, and -0 is
    0 there. A part is about 2**20 / columns rows: a wide file parts a column after 10,000 rows."""
    pytest.importorskip("pandas")
    path = tmp_path / "metrics.csv"
    rows = [f"{row},x,{('-0' if row == 1 else str(row % 3)) if row < 9000 else repr(row + 0.5)}," + ",".join(["1"] * 97) for row in range(10_000)]
    path.write_text("step,note,loss," + ",".join(f"m{index}" for index in range(97)) + "\n" + "\n".join(rows) + "\n")
    assert csv_reader.read_table(path, engine="pandas").engine == "pandas"
    part = csv_reader.read(path, engine="pandas")
    assert_same_parts(csv_reader.read(path, engine="stdlib"), part)
    loss = next(series for series in part.series if series.name == "loss")
    assert math.copysign(1, loss.values[1]) == -1


@pytest.mark.parametrize("delimiter", [",", "\t", ";"])
def test_a_negative_zero_keeps_its_sign_in_a_small_table_of_any_delimiter(tmp_path, delimiter):
    pytest.importorskip("pandas")
    path = tmp_path / "metrics.csv"
    rows = [["step", "loss", "note"], ["0", "-0", "x"], ["1", " -00 ", "-0"], ["2", "-01", "y"], ["3", "3", "z"]]  # loss: all whole numbers
    path.write_bytes("".join(delimiter.join(row) + "\r\n" for row in rows).encode())
    assert csv_reader.read_table(path, engine="pandas").engine == "pandas"
    part = csv_reader.read(path, engine="pandas")
    assert_same_parts(csv_reader.read(path, engine="stdlib"), part)
    loss = next(series for series in part.series if series.name == "loss")
    assert [math.copysign(1, value) for value in loss.values.tolist()] == [-1, -1, -1, 1]


def test_true_and_false_are_text_even_where_pandas_could_read_every_cell_as_a_number(tmp_path):
    """pandas' float64 reading takes true/false for 1/0; the stdlib engine skips such a column as text."""
    pytest.importorskip("pandas")
    path = tmp_path / "metrics.csv"
    path.write_text("step,loss,grad_overflow\n0,1.5,\n1,1.2,True\n2,1.3,false\n")
    assert csv_reader.read_table(path, engine="pandas").engine == "pandas"
    part = csv_reader.read(path, engine="pandas")
    assert_same_parts(csv_reader.read(path, engine="stdlib"), part)
    assert [series.name for series in part.series] == ["loss"]


def test_cells_set_aside_as_junk(tmp_path):
    texts = ["2020-02-14 21:53:05", "warmup", "1.5", "tensor(1.5, device='cuda:0')", "-nan", "N/A", "\u0661\u0662", "1,5", "oops"]
    assert csv_reader.certainly_junk(np.array(texts, dtype=object)).tolist() == [True, True, False, False, False, False, False, False, True]


def test_auto_switches_to_pandas_only_for_large_files(tmp_path, monkeypatch):
    pytest.importorskip("pandas")
    path = tmp_path / "metrics.csv"
    write_lightning_metrics(path, lightning_run())
    assert csv_reader.read_table(path).engine == "stdlib"
    monkeypatch.setattr(csv_reader, "PANDAS_MIN_BYTES", path.stat().st_size)
    assert csv_reader.read_table(path).engine == "pandas"


def test_reading_a_small_file_does_not_import_pandas(tmp_path):
    path = tmp_path / "metrics.csv"
    write_lightning_metrics(path, lightning_run())
    code = f"import sys; from nandoctor.readers import csv; csv.read({str(path)!r}); print('pandas' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


finite_or_not = st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=64), st.sampled_from([float("nan"), float("inf"), float("-inf")]))
lightning_rows = st.lists(
    st.fixed_dictionaries({}, optional={"train_loss_step": finite_or_not, "val_loss": finite_or_not, "lr-Adam": finite_or_not}),
    min_size=1, max_size=40,
).filter(lambda rows: any(rows))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=lightning_rows)
def test_any_sparse_lightning_table_reads_back_exactly_by_both_engines(tmp_path_factory, rows):
    pytest.importorskip("pandas")
    path = tmp_path_factory.mktemp("hypothesis") / "metrics.csv"
    records = [dict(row, step=10 * index) for index, row in enumerate(rows)]
    write_lightning_metrics(path, records)
    part = csv_reader.read(path, engine="stdlib")
    for item in part.series:
        written = [(record["step"], record[item.name], index + 2) for index, record in enumerate(records) if item.name in record]
        assert item.steps.tolist() == [step for step, _, _ in written]
        assert np.array_equal(item.values, [value for _, value, _ in written], equal_nan=True)
        assert item.locations.tolist() == [line for _, _, line in written]
    assert {item.name for item in part.series} == {key for record in records for key in record} - {"step"}
    assert_same_parts(part, csv_reader.read(path, engine="pandas"))


# ---------------------------------------------------------------- the real-world corpus


def _realworld_csvs() -> list[Path]:
    if not REALWORLD.is_dir():
        return []
    folders = [REALWORLD / name for name in ("lightning_csv", "keras_csv", "csv_other")]
    return sorted(path for folder in folders for path in folder.iterdir()) + sorted(REALWORLD.glob("papers/*/*.csv"))


REALWORLD_CSVS = _realworld_csvs()


def _independent_train_loss_points(path: Path, column: str) -> tuple[int, int]:
    """(points written, points that survive restarts) for one column, counted with plain string splitting."""
    lines = [line.rstrip("\r") for line in path.read_bytes().decode("utf-8-sig").split("\n")]
    header = [name.strip() for name in lines[0].split(",")]
    axis = next((name for name in ("step", "epoch", "Epoch") if name in header), None)
    steps = []
    for row_number, line in enumerate(line for line in lines[1:] if line.strip()):
        cells = line.split(",")
        if cells[header.index(column)].strip() not in ("", "NA"):
            steps.append(int(float(cells[header.index(axis)])) if axis else row_number)
    survivors = sum(1 for index, step in enumerate(steps) if all(later > step for later in steps[index + 1:]))
    return len(steps), survivors


@pytest.mark.parametrize("path", REALWORLD_CSVS, ids=lambda path: path.name[:48])
def test_every_realworld_csv_yields_a_train_loss(realworld, path):
    (run,), problems = load_paths([str(path)])
    assert problems == [] and run.train_loss is not None
    loss = run.get(run.train_loss)
    written, surviving = _independent_train_loss_points(path, run.train_loss)
    assert len(loss) == surviving > 0
    (raw,) = [item for item in csv_reader.read(path).series if item.name == run.train_loss]
    assert len(raw) == written
    assert_locations_hold_values(path, raw)


def test_realworld_keras_append_files_restart_where_the_epoch_resets(realworld):
    part = csv_reader.read(realworld / "keras_csv/034-Brain_Tumor_Image_Classification_using_C-training_log.csv")
    assert [(event.kind, event.step) for event in part.events] == [("restart", 0)] * 3  # runs of 0-4, 0-3, 0-9, 0-4
    assert part.meta == {"framework": "keras"}


def test_realworld_lightning_nan_tail_is_kept_as_points(realworld):
    (run,), _ = load_paths([str(realworld / "lightning_csv/023-PINNforEM-metrics.csv")])
    mean_loss = run.get("mean_loss")
    first_nan = int(np.flatnonzero(np.isnan(mean_loss.values))[0])
    assert int(mean_loss.steps[first_nan]) == 218 and np.isnan(mean_loss.values[first_nan:]).all()
    assert run.framework == "lightning" and mean_loss.step_unit == "step"


@pytest.mark.parametrize("engine", ["stdlib", "pandas"])
def test_a_cut_off_last_line_without_numbers_keeps_an_earlier_lost_cell(tmp_path, engine):
    """The cut-off cell "zz" was never counted as a lost number (its row holds none): the junk cell of
    line 2, beside numbers, is still reported."""
    path = tmp_path / "metrics.csv"
    path.write_text("loss,step,acc\nabc,1,0.1\n2.0,2,0.2\nzz")
    kinds = {event.kind: event.message for event in csv_reader.read(path, engine=engine).events}
    assert kinds["truncated"] == "line 4 was cut off mid-write"
    assert kinds["corrupt"] == "column 'loss': 1 non-numeric cell in rows of numbers skipped (first at line 2)"
