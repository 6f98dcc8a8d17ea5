"""The one benchmark: `nandoctor analyze` end to end beside the tools people read these logs with today.

    make bench                              # installs the bench extra (tbparse), then the full run
    python scripts/bench.py                 # full: ~100 MB, ~350 MB and ~1 GB event files, a 2M-row CSV,
                                            #   a 1M-iteration Caffe log, 1,000 small runs (25-35 minutes on 2 cores)
    python scripts/bench.py --quick         # the same at a tenth of the sizes, fewer rounds: about 3 minutes
    PARSE_LOG=path/to/parse_log.py python scripts/bench.py   # also time Caffe's tools/extra/parse_log.py
    python scripts/bench.py --only startup jobs              # some sections only (see --help)

Every input is generated first, into a temporary folder (`--dir DIR` keeps and reuses them): event
files through tensorboard's own EventFileWriter and RecordWriter (its pure-Python checksum swapped
for the crc32c C package, which writes the same bytes far faster), a Lightning-style metrics.csv,
and a Caffe glog solver log. Every measurement is a fresh process, with bytecode caching on as on
any install (in the bench folder), after one untimed warm-up of every kind of process. Within a
section the tools run once per round, the order rotating each round; the tables give medians over
the rounds, and ratios are taken per round, side by side, then their median. Peak memory is the
child's maximum RSS (GNU time's %M), which for an mmap reader includes the file pages it mapped
(clean page cache, not its own memory), and its peak private memory (RssAnon, sampled every few
milliseconds); CPU is user + system seconds. The load average is printed before and after every
section: other work on the machine shows in the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SECTIONS = ("startup", "tb-scalars", "tb-mixed", "memory", "csv", "caffe", "jobs", "rules")
EXTRA_SECTIONS = ("tb-simple",)  # only with --only: the scalars file with simple values alone (PyTorch's writer)


# ---------------------------------------------------------------------------------------- sizes


@dataclass(frozen=True)
class Sizes:
    scalar_steps: int  # 8 tags per step: the scalars file
    mixed_steps: int  # 8 scalar tags per step, 160 histograms every 100 steps: the mixed file
    big_histogram_tags: int  # histograms every 100 steps in the big file (same scalars as mixed)
    csv_rows: int
    caffe_iterations: int
    small_runs: int
    rounds: int  # fast tools
    slow_rounds: int  # tbparse, EventAccumulator, parse_log.py
    startup_rounds: int
    heavy_megabytes: tuple = (200, 2000)  # histogram + image files for the reader's own memory


FULL = Sizes(scalar_steps=250_000, mixed_steps=25_000, big_histogram_tags=480, csv_rows=2_000_000, caffe_iterations=1_000_000, small_runs=1_000, rounds=3, slow_rounds=2, startup_rounds=7)
QUICK = Sizes(scalar_steps=25_000, mixed_steps=2_500, big_histogram_tags=480, csv_rows=200_000, caffe_iterations=100_000, small_runs=200, rounds=2, slow_rounds=1, startup_rounds=5, heavy_megabytes=(50, 200))


# ------------------------------------------------------------------------------ event files


SIMPLE_TAGS = ("train/loss", "train/lr", "train/grad_norm", "train/loss_scale", "train/accuracy", "train/samples_per_sec")
TENSOR_TAGS = ("val/loss", "val/accuracy")  # written as TF2 tf.summary.scalar writes them: tensors, plugin `scalars`


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC32C, through the crc32c C package (checked against tensorboard's below)."""
    from crc32c import crc32c

    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


@contextlib.contextmanager
def fast_record_checksums():
    """tensorboard's RecordWriter with the crc32c C package instead of its pure-Python CRC: the same bytes."""
    from tensorboard.compat.tensorflow_stub import pywrap_tensorflow
    from tensorboard.summary.writer import record_writer

    for sample in (b"", b"\x00" * 12, bytes(range(256)), b"nandoctor" * 99):
        assert masked_crc32c(sample) == pywrap_tensorflow.masked_crc32c(sample)
    original = record_writer.masked_crc32c
    record_writer.masked_crc32c = masked_crc32c
    try:
        yield
    finally:
        record_writer.masked_crc32c = original


def trajectories(steps: int, seed: int = 0, broken: bool = True):
    """Per step, the values of the eight scalar tags of a run; a broken one diverges at 96 % and ends in NaN."""
    import numpy as np

    rng = np.random.default_rng(seed)
    step = np.arange(steps, dtype=np.float64)
    blowup = int(steps * 0.96) if broken else steps
    loss = (2.3 * np.exp(-step / (steps / 3)) + 0.3) * np.exp(rng.normal(0, 0.03, steps))
    growth = np.clip(step - blowup, 0, None)
    loss *= 1.03 ** growth
    if np.any(loss > 1e4):
        loss[int(np.argmax(loss > 1e4)) :] = np.nan
    warmup = max(1, steps // 50)
    lr = np.where(step < warmup, 1e-3 * (step + 1) / warmup, 1e-3 * 0.5 * (1 + np.cos(np.pi * (step - warmup) / max(1, steps - warmup))))
    grad_norm = np.exp(rng.normal(0, 0.2, steps)) * 1.05 ** growth
    grad_norm[np.isnan(loss)] = np.inf
    scale = np.empty(steps)
    current, since_change = 65536.0, 0
    overflow = rng.random(steps) < 1 / 3000
    for index in range(steps):
        if index >= blowup and current > 1:
            current /= 2
            since_change = 0
        elif overflow[index]:
            current, since_change = current / 2, 0
        elif since_change >= 2000:
            current, since_change = min(current * 2, 2.0**24), 0
        else:
            since_change += 1
        scale[index] = current
    accuracy = np.clip(0.1 + 0.8 * (1 - np.exp(-step / (steps / 4))) + rng.normal(0, 0.01, steps), 0, 1)
    accuracy[growth > 0] = 0.1
    speed = 1000 + rng.normal(0, 10, steps)
    val_loss = loss * 1.05
    val_accuracy = accuracy * 0.97
    return {"train/loss": loss, "train/lr": lr, "train/grad_norm": grad_norm, "train/loss_scale": scale, "train/accuracy": accuracy, "train/samples_per_sec": speed, "val/loss": val_loss, "val/accuracy": val_accuracy}


def write_event_file(folder: Path, steps: int, histogram_tags: int = 0, histogram_every: int = 100, image_every: int = 5000, seed: int = 0, broken: bool = True, tf2: bool = True) -> Path:
    """One event file: 8 scalar tags every step (6 simple values, 2 TF2 tensor scalars; all 8 simple
    values without `tf2`), optionally
    a ~540-bucket histogram for each of `histogram_tags` tags every `histogram_every` steps and three
    32x32 PNG images every `image_every` steps."""
    import numpy as np
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from tensorboard.summary.writer.record_writer import RecordWriter

    folder.mkdir(parents=True, exist_ok=True)
    values = trajectories(steps, seed, broken)
    columns = {tag: values[tag].tolist() for tag in (*SIMPLE_TAGS, *TENSOR_TAGS)}
    rng = np.random.default_rng(seed + 1)
    limits = np.sort(rng.normal(size=540)).tolist()
    bucket_sets = [rng.integers(0, 100, size=540).astype(float).tolist() for _ in range(16)]
    png = b"\x89PNG\r\n\x1a\n" + rng.integers(0, 256, size=3000, dtype=np.uint8).tobytes()
    Event, Summary, Value = event_pb2.Event, summary_pb2.Summary, summary_pb2.Summary.Value
    tensor_scalar = _tensor_scalar_builder()
    with fast_record_checksums():
        # EventFileWriter names the file and writes the file_version record; the records after it go
        # through the same RecordWriter it uses, without its queue thread (a lock per event).
        writer = EventFileWriter(str(folder))
        writer.close()
        (path,) = folder.glob("*tfevents*")
        with open(path, "ab") as handle:
            records = RecordWriter(handle)
            for step in range(steps):
                wall_time = 1.7e9 + step * 0.05
                for tag in SIMPLE_TAGS if tf2 else (*SIMPLE_TAGS, *TENSOR_TAGS):
                    records.write(Event(wall_time=wall_time, step=step, summary=Summary(value=[Value(tag=tag, simple_value=columns[tag][step])])).SerializeToString())
                for tag in TENSOR_TAGS if tf2 else ():
                    records.write(Event(wall_time=wall_time, step=step, summary=tensor_scalar(tag, columns[tag][step], with_metadata=step == 0)).SerializeToString())
                if histogram_tags and step % histogram_every == 0:
                    for number in range(histogram_tags):
                        histogram = summary_pb2.HistogramProto(min=-3.0, max=3.0, num=1e4, sum=1.0, sum_squares=1e4, bucket_limit=limits, bucket=bucket_sets[number % 16])
                        records.write(Event(wall_time=wall_time, step=step, summary=Summary(value=[Value(tag=f"layer{number // 2}/{('weight', 'grad')[number % 2]}", histo=histogram)])).SerializeToString())
                if histogram_tags and step % image_every == 0:
                    for number in range(3):
                        image = Summary.Image(height=32, width=32, colorspace=3, encoded_image_string=png)
                        records.write(Event(wall_time=wall_time, step=step, summary=Summary(value=[Value(tag=f"samples/{number}", image=image)])).SerializeToString())
    return path


def _tensor_scalar_builder():
    """A TF2 scalar Summary, byte for byte what tensorboard's `scalar_pb` builds, at a fraction of its cost."""
    from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2
    from tensorboard.plugins.scalar.summary_v2 import scalar_pb

    metadata = scalar_pb("probe", 0.0).value[0].metadata

    def build(tag: str, value: float, with_metadata: bool) -> summary_pb2.Summary:
        tensor = tensor_pb2.TensorProto(dtype=1, tensor_shape=tensor_shape_pb2.TensorShapeProto(), float_val=[value])
        item = summary_pb2.Summary.Value(tag=tag, tensor=tensor, metadata=metadata) if with_metadata else summary_pb2.Summary.Value(tag=tag, tensor=tensor)
        return summary_pb2.Summary(value=[item])

    for probe in (0.5, -1.25e-7, float("nan"), 3.0e38):
        assert build("t", probe, True).SerializeToString() == scalar_pb("t", probe).SerializeToString()
    return build


# ------------------------------------------------------------------------------------ CSV, Caffe


def write_table(path: Path, header: str, lines: Iterator[str]) -> Path:
    """A header line, then the lines 100,000 at a time (a 2M-row table never sits whole in memory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        handle.write(header + "\n")
        while batch := list(itertools.islice(lines, 100_000)):
            handle.writelines(batch)
    return path


def write_lightning_csv(path: Path, rows: int, seed: int = 0, broken: bool = True) -> Path:
    """Lightning's CSVLogger metrics.csv: sparse rows (lr every 10th, a val row every 1,000); in a
    broken run the loss turns NaN for the last 0.5 %."""

    def lines() -> Iterator[str]:
        rng = random.Random(seed)
        nan_from = int(rows * 0.995) if broken else rows
        loss = 2.3
        for step in range(rows):
            loss *= 0.9999995 if rows > 100_000 else 0.9995
            lr = repr(1e-3 * 0.5 ** (step // max(1, rows // 4))) if step % 10 == 0 else ""
            if step % 1000 == 999:
                yield f"{step // 10_000},{lr},{step},,{loss * (1.05 + rng.random() * 0.01)!r}\n"
            else:
                value = "nan" if step >= nan_from else repr(loss * (1 + rng.gauss(0, 0.05)))
                yield f"{step // 10_000},{lr},{step},{value},\n"

    return write_table(path, "epoch,lr-Adam,step,train_loss,val_loss", lines())


def write_text_csv(path: Path, rows: int, seed: int = 0) -> Path:
    """A generic metrics table with text beside the numbers, as a hand-rolled logger writes it: an ISO
    timestamp on every row and a note every 100th (columns pandas types as text)."""

    def lines() -> Iterator[str]:
        rng = random.Random(seed)
        loss = 2.3
        for step in range(rows):
            loss *= 0.999999
            stamp = f"2026-11-24T{step // 3_600_000 % 24:02d}:{step // 60_000 % 60:02d}:{step // 1000 % 60:02d}.{step % 1000:03d}"
            note = "checkpoint saved" if step % 100 == 0 else ""
            yield f"{stamp},{step},{loss * (1 + rng.gauss(0, 0.05))!r},{rng.random()!r},{note}\n"

    return write_table(path, "time,step,loss,acc,note", lines())


CAFFE_TEST_EVERY, CAFFE_SNAPSHOT_EVERY = 1000, 10000
CAFFE_NONFINITE = ("nan", "-nan", "inf", "-nan", "nan")  # what glog prints for a broken loss, cycled


def glog_prefix(seconds: float, source: str) -> str:
    """`I0101 00:00:00.108444 28865 solver.cpp:237] ` for a time in seconds since the start."""
    micros = int(seconds * 1e6)
    whole = micros // 1_000_000
    day, hour, minute, second = 1 + whole // 86400, whole // 3600 % 24, whole // 60 % 60, whole % 60
    return f"I01{day % 28 + 1:02d} {hour:02d}:{minute:02d}:{second:02d}.{micros % 1_000_000:06d} 28865 {source}] "


def write_caffe_log(path: Path, iterations: int, seed: int = 0, broken: bool = True) -> tuple[Path, int]:
    """A BVLC Caffe 1.0 solver log with display: 1 (per iteration the smoothed loss, two train net
    outputs and the sgd_solver lr line; a test block every 1,000 iterations; snapshots). The last
    0.1 % of iterations print nan, -nan or inf. Returns the path and how many losses are non-finite."""
    rng = random.Random(seed)
    solver = ["test_iter: 100", f"test_interval: {CAFFE_TEST_EVERY}", "base_lr: 0.01", "display: 1", f"max_iter: {iterations}", 'lr_policy: "step"', "gamma: 0.1", "momentum: 0.9", "weight_decay: 0.0005", f"stepsize: {max(1, iterations * 3 // 10)}", f"snapshot: {CAFFE_SNAPSHOT_EVERY}", 'snapshot_prefix: "snapshots/caffenet"', "solver_mode: GPU", 'net: "train_val.prototxt"', 'type: "SGD"']
    lines = [glog_prefix(0, "caffe.cpp:184") + "Using GPUs 0\n", glog_prefix(0, "solver.cpp:48") + "Initializing solver from parameters: \n", *(line + "\n" for line in solver)]
    lines += [glog_prefix(0.2, "solver.cpp:60") + "Solver scaffolding done.\n", glog_prefix(0.3, "caffe.cpp:212") + "Starting Optimization\n", glog_prefix(0.3, "solver.cpp:288") + "Solving CaffeNet\n", glog_prefix(0.3, "solver.cpp:289") + "Learning Rate Policy: step\n"]
    broken_from = iterations - max(1, iterations // 1000) if broken else iterations
    nonfinite = 0
    seconds = 0.3
    with open(path, "w") as handle:
        for step in range(iterations):
            seconds += 0.1 + rng.random() * 0.01
            if step % CAFFE_TEST_EVERY == 0:
                accuracy, test_loss = min(0.9, 0.001 + step / iterations), 6.9 * math.exp(-step / (iterations * 0.3)) + 0.5
                lines += [glog_prefix(seconds, "solver.cpp:341") + f"Iteration {step}, Testing net (#0)\n", glog_prefix(seconds + 30, "solver.cpp:409") + f"    Test net output #0: accuracy = {accuracy:.6g}\n", glog_prefix(seconds + 30, "solver.cpp:409") + f"    Test net output #1: loss = {test_loss:.6g} (* 1 = {test_loss:.6g} loss)\n"]
            smoothed = 6.9 * math.exp(-step / (iterations * 0.3)) + rng.random() * 0.1
            instant = smoothed + rng.gauss(0, 0.05)
            shown, shown_instant = f"{smoothed:.6g}", f"{instant:.6g}"
            if step >= broken_from:
                shown = shown_instant = CAFFE_NONFINITE[step % len(CAFFE_NONFINITE)]
                nonfinite += 1
            lr = 0.01 * 0.1 ** (step // max(1, iterations * 3 // 10))
            prefix = glog_prefix(seconds, "solver.cpp:237")
            lines += [prefix + f"Iteration {step}, loss = {shown}\n", glog_prefix(seconds, "solver.cpp:253") + f"    Train net output #0: accuracy = {rng.random():.6g}\n", glog_prefix(seconds, "solver.cpp:253") + f"    Train net output #1: loss = {shown_instant} (* 1 = {shown_instant} loss)\n", glog_prefix(seconds, "sgd_solver.cpp:106") + f"Iteration {step}, lr = {lr:.6g}\n"]
            if step % CAFFE_SNAPSHOT_EVERY == CAFFE_SNAPSHOT_EVERY - 1:
                lines += [glog_prefix(seconds, "solver.cpp:459") + f"Snapshotting to binary proto file snapshots/caffenet_iter_{step + 1}.caffemodel\n", glog_prefix(seconds, "sgd_solver.cpp:269") + f"Snapshotting solver state to binary proto file snapshots/caffenet_iter_{step + 1}.solverstate\n"]
            if len(lines) > 100_000:
                handle.writelines(lines)
                lines.clear()
        lines.append(glog_prefix(seconds, "solver.cpp:326") + "Optimization Done.\n")
        handle.writelines(lines)
    return path, nonfinite


def write_small_runs(root: Path, count: int) -> Path:
    """A sweep of `count` small runs, one folder each: a third event files, a third Lightning CSVs,
    a third Caffe logs; every other run breaks (NaN)."""
    root.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        folder = root / f"run-{number:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        broken = number % 2 == 0
        kind = number % 3
        if kind == 0:
            write_event_file(folder, 200, seed=number, broken=broken)
        elif kind == 1:
            write_lightning_csv(folder / "metrics.csv", 600, seed=number, broken=broken)
        else:
            write_caffe_log(folder / "caffe.INFO", 300, seed=number, broken=broken)
    return root


# ----------------------------------------------------------- the reader's own memory (RssAnon)


HEAVY_HISTOGRAM_BUCKETS = 1000  # ~16 KB per histogram record
HEAVY_IMAGE_BYTES = 100_000  # ~100 KB per image record


def write_heavy_event_file(path: Path, megabytes: float) -> int:
    """An event file of about `megabytes` MB: per step a TF1 histogram, every 8th step a 100 KB
    image, and one scalar loss, in tensorboard's protos. Returns the number of steps (= scalars)."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    Value = summary_pb2.Summary.Value
    histogram = summary_pb2.HistogramProto(min=-1.0, max=1.0, num=1e6, sum=0.5, sum_squares=3.0)
    histogram.bucket_limit.extend([index / HEAVY_HISTOGRAM_BUCKETS for index in range(HEAVY_HISTOGRAM_BUCKETS)])
    histogram.bucket.extend([float(index % 97) for index in range(HEAVY_HISTOGRAM_BUCKETS)])
    image = Value(tag="inputs", image=summary_pb2.Summary.Image(height=128, width=256, colorspace=3, encoded_image_string=b"\x89PNG\r\n\x1a\n" + os.urandom(HEAVY_IMAGE_BYTES)))
    target = int(megabytes * (1 << 20))
    step = 0
    with open(path, "wb") as handle, fast_record_checksums():
        records = RecordWriter(handle)  # tensorboard's own framing, without its event queue and thread
        records.write(event_pb2.Event(wall_time=1.7e9, file_version="brain.Event:2").SerializeToString())
        while handle.tell() < target:
            wall_time = 1.7e9 + step
            records.write(event_pb2.Event(wall_time=wall_time, step=step, summary=summary_pb2.Summary(value=[Value(tag="weights/layer1", histo=histogram)])).SerializeToString())
            if step % 8 == 0:
                records.write(event_pb2.Event(wall_time=wall_time, step=step, summary=summary_pb2.Summary(value=[image])).SerializeToString())
            records.write(event_pb2.Event(wall_time=wall_time, step=step, summary=summary_pb2.Summary(value=[Value(tag="loss", simple_value=2.3 / (1 + step))])).SerializeToString())
            step += 1
    return step


def _smaps_kib() -> dict[str, int]:
    fields = {}
    with open("/proc/self/smaps_rollup") as handle:
        for line in handle:
            name, _, rest = line.partition(":")
            parts = rest.split()
            if len(parts) == 2 and parts[1] == "kB":
                fields[name] = int(parts[0])
    return fields


def measure_reader_memory(path: Path) -> dict:
    """Read `path` with the TensorBoard reader in this process (a fresh child), sampling its memory.

    The reader maps the file, so every page it touches counts in RSS as a file-backed page (page
    cache, dropped under pressure): RSS grows with the file by design. What must stay bounded is
    what the reader allocates itself: the anonymous pages (`Anonymous:` of smaps_rollup; not
    Private_Dirty, where a file written moments ago still counts). A thread samples them every 2 ms;
    the result is the peak above the baseline taken just before reading.
    """
    from nandoctor.readers import tensorboard

    keys = ("Anonymous", "Rss")
    baseline = _smaps_kib()
    peak = dict(baseline)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            current = _smaps_kib()
            for key in keys:
                peak[key] = max(peak[key], current[key])
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    part = tensorboard.read(path)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    final = _smaps_kib()
    for key in keys:
        peak[key] = max(peak[key], final[key])
    return {
        "file_mb": round(Path(path).stat().st_size / (1 << 20), 1),
        "seconds": round(seconds, 2),
        "points": sum(len(series) for series in part.series),
        "warnings": part.warnings,
        "anonymous_growth_mb": round((peak["Anonymous"] - baseline["Anonymous"]) / 1024, 1),
        "rss_growth_mb": round((peak["Rss"] - baseline["Rss"]) / 1024, 1),
    }


def reader_memory_in_child(path: Path) -> dict:
    """`measure_reader_memory` in a fresh interpreter: earlier allocations can neither hide nor add anything."""
    result = subprocess.run([sys.executable, __file__, "--measure-reader-memory", str(path)], capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(result.stdout)


# ------------------------------------------------------------------------------------- inputs


@dataclass
class Inputs:
    root: Path
    sizes: Sizes
    made: dict = field(default_factory=dict)

    def get(self, name: str, make):
        if name in self.made:
            return self.made[name]
        marker = self.root / f"{name}.done.json"
        if marker.exists():
            self.made[name] = json.loads(marker.read_text())
            return self.made[name]
        started = time.perf_counter()
        info = make()
        marker.write_text(json.dumps(info))
        log(f"generated {name} in {time.perf_counter() - started:.0f} s")
        self.made[name] = info
        return info

    def event_file(self, name: str, steps: int, histogram_tags: int = 0, tf2: bool = True) -> dict:
        def make():
            path = write_event_file(self.root / name, steps, histogram_tags, tf2=tf2)
            return {"path": str(path), "bytes": path.stat().st_size, "scalars": 8 * steps, "tf2": tf2}

        return self.get(name, make)

    def scalars(self) -> dict:
        return self.event_file("tb-scalars", self.sizes.scalar_steps)

    def simple(self) -> dict:
        return self.event_file("tb-simple", self.sizes.scalar_steps, tf2=False)

    def mixed(self) -> dict:
        return self.event_file("tb-mixed", self.sizes.mixed_steps, 160)

    def big(self) -> dict:
        return self.event_file("tb-big", self.sizes.mixed_steps, self.sizes.big_histogram_tags)

    def heavy(self, megabytes: float) -> dict:
        def make():
            path = self.root / f"heavy-{megabytes:g}mb" / "events.out.tfevents.heavy"
            path.parent.mkdir(parents=True, exist_ok=True)
            steps = write_heavy_event_file(path, megabytes)
            return {"path": str(path), "bytes": path.stat().st_size, "scalars": steps}

        return self.get(f"heavy-{megabytes:g}mb", make)

    def small(self) -> dict:
        return self.event_file("tb-1mb", 2_500)

    def csv(self) -> dict:
        def make():
            path = write_lightning_csv(self.root / "csv" / "metrics.csv", self.sizes.csv_rows)
            return {"path": str(path), "bytes": path.stat().st_size, "rows": self.sizes.csv_rows}

        return self.get("csv", make)

    def text_csv(self) -> dict:
        rows = self.sizes.csv_rows // 2

        def make():
            path = write_text_csv(self.root / "csv-text" / "metrics.csv", rows)
            return {"path": str(path), "bytes": path.stat().st_size, "rows": rows}

        return self.get("csv-text", make)

    def caffe(self, broken: bool = True) -> dict:
        name = "caffe" if broken else "caffe-finite"

        def make():
            folder = self.root / name
            folder.mkdir(parents=True, exist_ok=True)
            path, nonfinite = write_caffe_log(folder / "caffe.INFO", self.sizes.caffe_iterations, broken=broken)
            return {"path": str(path), "bytes": path.stat().st_size, "iterations": self.sizes.caffe_iterations, "nonfinite_losses": nonfinite}

        return self.get(name, make)

    def sweep(self) -> dict:
        def make():
            path = write_small_runs(self.root / "sweep", self.sizes.small_runs)
            return {"path": str(path), "runs": self.sizes.small_runs, "bytes": sum(file.stat().st_size for file in path.rglob("*") if file.is_file())}

        return self.get("sweep", make)


# --------------------------------------------------------------------------------- measuring


@dataclass
class Sample:
    wall: float
    max_rss_mib: float
    private_mib: float
    stdout: str
    returncode: int
    inproc: float | None = None  # what the child timed itself, when it does
    points: int | None = None
    cpu: float | None = None  # user + system seconds of the child and everything it waited for
    inproc_cpu: float | None = None  # the CPU seconds of what the child timed itself, when it says
    error: str = ""  # the last line of stderr of a child that exited 1 (a Python traceback, say)


GNU_TIME = Path("/usr/bin/time")


def _private_sampler(pid: int, wrapped: bool, peak: list[int], done: threading.Event) -> None:
    """Sample the child's RssAnon (its own memory, not mapped file pages) until it ends."""
    if wrapped:  # the child is /usr/bin/time: watch the command it started
        deadline = time.perf_counter() + 5
        while not done.is_set() and time.perf_counter() < deadline:
            with contextlib.suppress(OSError, ValueError):
                children = open(f"/proc/{pid}/task/{pid}/children").read().split()
                if children:
                    pid = int(children[0])
                    break
            done.wait(0.001)
    path = f"/proc/{pid}/status"
    while not done.is_set():
        try:
            with open(path) as handle:
                for line in handle:
                    if line.startswith("RssAnon:"):
                        peak[0] = max(peak[0], int(line.split()[1]))
                        break
        except OSError:
            return
        done.wait(0.004)


CHILD_ENV: dict[str, str] = dict(os.environ)


def child_environment(root: Path) -> None:
    """Children compile each module once, as on any install, into a bytecode cache in the bench folder.

    (An environment with PYTHONDONTWRITEBYTECODE=1 would make every start compile nandoctor's
    modules from source again; the start-up section measures that case too.)
    """
    CHILD_ENV.pop("PYTHONDONTWRITEBYTECODE", None)
    CHILD_ENV["PYTHONPYCACHEPREFIX"] = str(root / "pycache")


def run_child(command: list[str], *, timeout: float = 3600, env: dict | None = None, cwd: Path | None = None) -> Sample:
    """One fresh process: wall time around it, its peak RSS and sampled peak private memory.

    The peak RSS comes from GNU time's %M where it is installed: a child of this (large) process
    would otherwise count the pages it shared with it before exec.
    """
    wrapped = GNU_TIME.exists()
    full_command = [str(GNU_TIME), "-f", "NANDOCTOR-BENCH-MAXRSS %M %U %S", *command] if wrapped else command
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(full_command, stdout=out, stderr=err, env=env or CHILD_ENV, cwd=cwd)
        peak, done = [0], threading.Event()
        sampler = threading.Thread(target=_private_sampler, args=(process.pid, wrapped, peak, done), daemon=True)
        sampler.start()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        wall = time.perf_counter() - started
        done.set()
        sampler.join()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    max_rss, cpu = math.nan, None
    for line in stderr.splitlines():
        if line.startswith("NANDOCTOR-BENCH-MAXRSS "):
            _, kib, user, system = line.split()
            max_rss, cpu = int(kib) / 1024, float(user) + float(system)
    sample = Sample(wall, max_rss, peak[0] / 1024, stdout, process.returncode, cpu=cpu)
    if process.returncode not in (0, 1):
        raise SystemExit(f"failed ({process.returncode}): {' '.join(command)}\n{stderr[-3000:]}")
    last = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    if last.startswith("INPROC "):
        _, seconds, points, *cpu_seconds = last.split()
        sample.inproc, sample.points = float(seconds), int(points)
        sample.inproc_cpu = float(cpu_seconds[0]) if cpu_seconds else None
    own_lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith(("NANDOCTOR-BENCH-MAXRSS ", "Command exited with non-zero status"))]  # GNU time's
    if process.returncode == 1 and own_lines:
        sample.error = own_lines[-1][:200]
    return sample


PY = sys.executable
NANDOCTOR = [str(Path(sys.executable).with_name("nandoctor"))] if Path(sys.executable).with_name("nandoctor").exists() else [sys.executable, "-m", "nandoctor"]

CHILD_TBPARSE = """
import sys, time
from tbparse import SummaryReader
started = time.perf_counter()
reader = SummaryReader(sys.argv[1])
points = len(reader.scalars) + len(reader.tensors)  # TF2 scalars are tensors to EventAccumulator
print("INPROC", time.perf_counter() - started, points)
"""
CHILD_EA = """
import sys, time
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
started = time.perf_counter()
accumulator = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "tensors": 0})
accumulator.Reload()
tags = accumulator.Tags()
points = sum(len(accumulator.Scalars(tag)) for tag in tags["scalars"]) + sum(len(accumulator.Tensors(tag)) for tag in tags["tensors"])
print("INPROC", time.perf_counter() - started, points)
"""
CHILD_FRAMING = """
import mmap, struct, sys, time
started, cpu_started = time.perf_counter(), time.process_time()
with open(sys.argv[1], "rb") as handle:
    view = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
unpack = struct.Struct("<Q").unpack_from
position, records, size = 0, 0, len(view)
while position + 12 <= size:
    end = position + unpack(view, position)[0] + 16
    if end > size:
        break
    position, records = end, records + 1
print("INPROC", time.perf_counter() - started, records, time.process_time() - cpu_started)
"""
CHILD_READ = """
import sys, time
import importlib
reader = importlib.import_module("nandoctor.readers." + sys.argv[2])
if sys.argv[2] == "csv":
    import pandas  # imported before the clock starts, as in the pandas child: reading against reading
options = {"verify_crc": sys.argv[3] == "crc"} if sys.argv[2] == "tensorboard" else {}
started, cpu_started = time.perf_counter(), time.process_time()
part = reader.read(sys.argv[1], **options)
print("INPROC", time.perf_counter() - started, sum(len(series) for series in part.series), time.process_time() - cpu_started)
"""
CHILD_PANDAS = """
import sys, time
import pandas
started, cpu_started = time.perf_counter(), time.process_time()
frame = pandas.read_csv(sys.argv[1], engine="c")
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
print("INPROC", elapsed, int(frame.notna().sum().sum()), cpu)
"""
CHILD_RULES = """
import json, sys, time
started = time.perf_counter()
from nandoctor.discover import discover
from nandoctor.engine import Options, diagnose, selected_rules
from nandoctor.features import Facts
from nandoctor.load import load_run
imported = time.perf_counter()
specs, _ = discover(sys.argv[1])
run, _ = load_run(specs[0])
read = time.perf_counter()
rules = selected_rules(Options())
facts = Facts(run)
timings = []
for rule in rules:
    if rule.applicable(run):
        began = time.perf_counter()
        list(rule.check(run, facts))
        timings.append((time.perf_counter() - began, rule.id, rule.slug))
timings.sort(reverse=True)
longest = max(len(series) for series in run.series)
print(json.dumps({"import": imported - started, "read": read - imported, "rules": sum(item[0] for item in timings), "longest_series": longest, "top": timings[:6]}))
"""


def nandoctor_json(path: str, *extra: str, jobs: int = 1) -> list[str]:
    return [*NANDOCTOR, "analyze", path, "--format", "json", "--jobs", str(jobs), *extra]


def python_child(code: str, *arguments: str) -> list[str]:
    return [PY, "-c", code, *arguments]


def warm(path: str) -> None:
    """Read a file once so every tool finds it in the page cache."""
    with open(path, "rb") as handle:
        while handle.read(1 << 24):
            pass


def interleaved(tools: dict[str, list[str]], rounds: int, slow: set[str] = frozenset(), slow_rounds: int = 1, others: dict[str, list[float]] | None = None) -> dict[str, list[Sample]]:
    """Every tool once per round, the order rotating each round; slow tools only in their first rounds.

    With `others`, also per run the cores other processes kept busy meanwhile (into others[name]): a
    second worker can only gain when a second core is free, and with one session per user the kernel
    shares the cores between sessions (autogroup), so another user's one busy process leaves this
    benchmark one core."""
    names = list(tools)
    results: dict[str, list[Sample]] = {name: [] for name in names}
    for number in range(rounds):
        order = names[number % len(names) :] + names[: number % len(names)]
        for name in order:
            if name in slow and number >= slow_rounds:
                continue
            before = machine_busy_seconds() if others is not None else math.nan
            sample = run_child(tools[name])
            results[name].append(sample)
            busy = ""
            if others is not None:
                others.setdefault(name, []).append(max(0.0, (machine_busy_seconds() - before - (sample.cpu or 0.0)) / sample.wall))
                busy = f", others used {others[name][-1]:.2f} cores meanwhile"
            log(f"  round {number + 1}: {name} {sample.wall:.2f} s{busy}")
    return results


def median(values) -> float:
    values = [value for value in values if value is not None]
    return statistics.median(values) if values else math.nan


def ratio_of_medians_per_round(results: dict[str, list[Sample]], numerator: str, denominator: str, attribute: str = "wall") -> float:
    """The median over the rounds both ran in of numerator / denominator (side by side)."""
    pairs = zip(results[numerator], results[denominator])
    return median(getattr(top, attribute) / getattr(bottom, attribute) for top, bottom in pairs if getattr(top, attribute) and getattr(bottom, attribute))


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as `uptime` prints them."""
    with contextlib.suppress(OSError), open("/proc/loadavg") as handle:
        return " ".join(handle.read().split()[:3])
    return "?"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.{digits}f}" if value < 1 else f"{value:.2f}"


def table(results: dict[str, list[Sample]], *, size_bytes: int | None = None, reference: str | None = None, note: dict[str, str] | None = None) -> list[str]:
    lines = ["| tool | rounds | wall s (median) | CPU s | in-process s | points | max RSS MiB | private MiB |" + (f" x {reference} (wall, per round) |" if reference else ""), "|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if reference else "")]
    for name, samples in results.items():
        if not samples:
            continue
        row = [name + (f" ({note[name]})" if note and name in note else ""), str(len(samples)), fmt(median(s.wall for s in samples)), fmt(median(s.cpu for s in samples)), fmt(median(s.inproc for s in samples)), f"{samples[-1].points:,}" if samples[-1].points is not None else "-", f"{median(s.max_rss_mib for s in samples):.0f}", f"{median(s.private_mib for s in samples):.0f}"]
        if reference:
            row.append(fmt(ratio_of_medians_per_round(results, name, reference)) if results.get(reference) else "-")
        lines.append("| " + " | ".join(row) + " |")
    return lines


def report_points(sample: Sample) -> tuple[int, int]:
    """(points, non-finite values) over every series of a `--format json` report."""
    report = json.loads(sample.stdout)
    series = [item for run in report["runs"] for item in run["series"]]
    return sum(item["points"] for item in series), sum(item["nonfinite"] for item in series)


def points_from_reports(results: dict[str, list[Sample]], *names: str) -> int:
    """Give each named `nandoctor analyze` tool's last sample the points its JSON report counts (it
    prints no INPROC line); returns the non-finite values of the last one's report."""
    nonfinite = 0
    for name in names or ("nandoctor analyze",):
        results[name][-1].points, nonfinite = report_points(results[name][-1])
    return nonfinite


def analyze_and_reader(path: str, reader: str) -> dict[str, list[str]]:
    """The two nandoctor tools of a section: `analyze` end to end, and the reader alone in-process."""
    return {"nandoctor analyze": nandoctor_json(path), "nandoctor reader": python_child(CHILD_READ, path, reader, "-")}


# ----------------------------------------------------------------------------------- sections


def section_startup(inputs: Inputs, out: list[str]) -> None:
    small = inputs.small()
    folder = str(Path(small["path"]).parent)
    warm(small["path"])
    tools = {
        "python -c pass": python_child("pass"),
        "python -c 'import numpy'": python_child("import numpy"),
        "nandoctor analyze --format json": nandoctor_json(folder),
        "nandoctor analyze (text report)": [*NANDOCTOR, "analyze", folder, "--color", "never"],
        "nandoctor analyze --format json, no bytecode cache": ["env", "PYTHONDONTWRITEBYTECODE=1", "PYTHONPYCACHEPREFIX=", *nandoctor_json(folder)],
    }
    results = interleaved(tools, inputs.sizes.startup_rounds)
    heading(out, f"Start-up: one run of {small['bytes'] / 1e6:.1f} MB ({small['scalars']:,} scalars, event file), target < 0.5 s wall")
    out += table(results)
    out.append(f"\nnandoctor analyze --format json: median {median(s.wall for s in results['nandoctor analyze --format json']):.3f} s wall; of which Python itself {median(s.wall for s in results['python -c pass']):.3f} s and numpy's import {median(s.wall for s in results[tools_key(results, 'numpy')]) - median(s.wall for s in results['python -c pass']):.3f} s.")


def tools_key(results: dict, word: str) -> str:
    return next(name for name in results if word in name)


def event_file_section(inputs: Inputs, out: list[str], info: dict, title: str, target: float) -> dict[str, list[Sample]]:
    path = info["path"]
    warm(path)
    tools = {
        "nandoctor analyze": nandoctor_json(path),
        "nandoctor analyze --no-crc": nandoctor_json(path, "--no-crc"),
        "nandoctor reader": python_child(CHILD_READ, path, "tensorboard", "crc"),
        "nandoctor reader, no CRC": python_child(CHILD_READ, path, "tensorboard", "nocrc"),
        "tbparse": python_child(CHILD_TBPARSE, path),
        "EventAccumulator": python_child(CHILD_EA, path),
        "framing scan": python_child(CHILD_FRAMING, path),
        "cat": ["cat", path],
    }
    slow = {"tbparse", "EventAccumulator"}
    results = interleaved(tools, inputs.sizes.rounds, slow, inputs.sizes.slow_rounds)
    points_from_reports(results, "nandoctor analyze", "nandoctor analyze --no-crc")
    kinds = "6 simple values + 2 TF2 tensor scalars per step" if info.get("tf2", True) else "8 simple values per step, no TF2 tensors"
    heading(out, f"{title}: {info['bytes'] / 1e6:.0f} MB, {info['scalars']:,} scalars written ({kinds})")
    out += table(results, reference="nandoctor analyze", note={"nandoctor reader": "CRC", "framing scan": "length + skip, pure Python"})
    speedup = ratio_of_medians_per_round(results, "tbparse", "nandoctor analyze")
    speedup_ea = ratio_of_medians_per_round(results, "EventAccumulator", "nandoctor analyze")
    read_over_scan = ratio_of_medians_per_round(results, "nandoctor reader", "framing scan", "inproc")
    read_over_scan_nocrc = ratio_of_medians_per_round(results, "nandoctor reader, no CRC", "framing scan", "inproc")
    read_over_scan_cpu = ratio_of_medians_per_round(results, "nandoctor reader", "framing scan", "inproc_cpu")
    read_over_scan_nocrc_cpu = ratio_of_medians_per_round(results, "nandoctor reader, no CRC", "framing scan", "inproc_cpu")
    out.append("")
    out.append(f"- end to end, CRC on: **{speedup:.1f}x** faster than tbparse (target >= {target:g}x: {'met' if speedup >= target else 'MISSED'}); {speedup_ea:.1f}x faster than EventAccumulator.")
    out.append(f"- the read itself, in-process, per round: {read_over_scan:.2f}x the framing scan's wall time with CRC, {read_over_scan_nocrc:.2f}x without; in CPU time {read_over_scan_cpu:.2f}x and {read_over_scan_nocrc_cpu:.2f}x (target <= 3x: {'met' if read_over_scan <= 3 else 'MISSED'} by wall time).")
    points = {name: samples[-1].points for name, samples in results.items() if samples and samples[-1].points is not None and name not in ("framing scan",)}
    same = len(set(points.values())) == 1
    out.append(f"- scalar points: {', '.join(f'{name} {count:,}' for name, count in points.items())} ({'all equal' if same else 'DIFFER'}; {info['scalars']:,} written).")
    return results


def section_tb_scalars(inputs: Inputs, out: list[str]) -> None:
    event_file_section(inputs, out, inputs.scalars(), "TensorBoard, scalars only", 20)


def section_tb_simple(inputs: Inputs, out: list[str]) -> None:
    event_file_section(inputs, out, inputs.simple(), "TensorBoard, scalars only, simple values only", 20)


def section_tb_mixed(inputs: Inputs, out: list[str]) -> None:
    event_file_section(inputs, out, inputs.mixed(), "TensorBoard, histogram-heavy", 50)


def section_memory(inputs: Inputs, out: list[str]) -> None:
    files = {"scalars": inputs.scalars(), "mixed": inputs.mixed(), "big": inputs.big()}
    heading(out, "Peak memory against file size: `nandoctor analyze FILE --format json` (CRC on), and the reader alone")
    out += ["| file | size MB | scalar points | wall s | max RSS MiB (incl. mapped file pages) | private MiB (RssAnon) | reader alone: allocated MiB (anonymous peak) |", "|---|---:|---:|---:|---:|---:|---:|"]
    tools = {}
    for name, info in files.items():
        warm(info["path"])
        tools[name] = nandoctor_json(info["path"])
    results = interleaved(tools, inputs.sizes.rounds)
    for name, info in files.items():
        samples = results[name]
        points, _ = report_points(samples[-1])
        allocated = median(reader_memory_in_child(Path(info["path"]))["anonymous_growth_mb"] for _ in range(inputs.sizes.slow_rounds))
        out.append(f"| {name} | {info['bytes'] / 1e6:.0f} | {points:,} | {fmt(median(s.wall for s in samples))} | {median(s.max_rss_mib for s in samples):.0f} | {median(s.private_mib for s in samples):.0f} | {allocated:.1f} |")
    heavy = [inputs.heavy(megabytes) for megabytes in inputs.sizes.heavy_megabytes]
    measured = [reader_memory_in_child(Path(info["path"])) for info in heavy]
    out.append("")
    out.append("Histograms (16 KB) and images (100 KB) with one scalar per step, the reader alone in a fresh process (RSS counts the mapped file's page-cache pages; the anonymous peak is what the reader allocates):")
    out.append("")
    out += ["| file MB | scalar points | read s | RSS growth MiB | allocated MiB (anonymous peak) |", "|---:|---:|---:|---:|---:|"]
    for result in measured:
        out.append(f"| {result['file_mb']:.0f} | {result['points']:,} | {result['seconds']:.2f} | {result['rss_growth_mb']:.0f} | {result['anonymous_growth_mb']:.1f} |")
    small, large = measured[0], measured[-1]
    out.append(f"\n- {large['file_mb'] / small['file_mb']:.0f}x the file: the reader allocates {large['anonymous_growth_mb'] - small['anonymous_growth_mb']:+.1f} MiB more ({small['anonymous_growth_mb']:.1f} -> {large['anonymous_growth_mb']:.1f} MiB; the scalar points grow from {small['points']:,} to {large['points']:,}).")


def section_csv(inputs: Inputs, out: list[str]) -> None:
    for info, what in ((inputs.csv(), "Lightning metrics.csv"), (inputs.text_csv(), "a generic table with a timestamp and a note column")):
        path = info["path"]
        warm(path)
        tools = {**analyze_and_reader(path, "csv"), "pandas read_csv (C engine)": python_child(CHILD_PANDAS, path), "cat": ["cat", path]}
        results = interleaved(tools, inputs.sizes.rounds)
        nonfinite = points_from_reports(results)
        heading(out, f"CSV ({what}): {info['bytes'] / 1e6:.0f} MB, {info['rows']:,} rows")
        out += table(results, reference="pandas read_csv (C engine)")
        reader_vs_pandas = ratio_of_medians_per_round(results, "nandoctor reader", "pandas read_csv (C engine)", "inproc")
        reader_vs_pandas_cpu = ratio_of_medians_per_round(results, "nandoctor reader", "pandas read_csv (C engine)", "inproc_cpu")
        out.append(f"\n- nandoctor's reader in-process (pandas imported beforehand in both): {reader_vs_pandas:.2f}x pandas read_csv's wall time, {reader_vs_pandas_cpu:.2f}x its CPU time (target: the C engine or faster: {'met' if reader_vs_pandas <= 1 else 'MISSED'}). {nonfinite:,} non-finite values kept.")


def section_caffe(inputs: Inputs, out: list[str]) -> None:
    info = inputs.caffe()
    path = info["path"]
    warm(path)
    tools = {**analyze_and_reader(path, "caffe"), "cat": ["cat", path]}
    parse_log = os.environ.get("PARSE_LOG")
    scratch = None
    if parse_log:
        scratch = Path(tempfile.mkdtemp(prefix="nandoctor-parse-log-"))

        def parse_log_command(log_path: str) -> list[str]:
            return [os.environ.get("PARSE_LOG_PYTHON", PY), parse_log, log_path, str(scratch)]

        tools["parse_log.py"] = parse_log_command(path)
    results = interleaved(tools, inputs.sizes.rounds, {"parse_log.py"}, inputs.sizes.slow_rounds)
    nonfinite = points_from_reports(results)
    heading(out, f"Caffe solver log: {info['bytes'] / 1e6:.0f} MB, {info['iterations']:,} iterations (display: 1)")
    out += table(results, reference="nandoctor analyze")
    out.append("")
    if parse_log:
        speedup = ratio_of_medians_per_round(results, "parse_log.py", "nandoctor analyze")
        failed = next((sample.error or f"exit {sample.returncode}" for sample in results["parse_log.py"] if sample.returncode), None)
        bound = f" (a lower bound: parse_log.py stopped with `{failed}`, so its time runs only to that line)" if failed else ""
        out.append(f"- end to end **{speedup:.1f}x** faster than parse_log.py{bound} (target >= 5x: {'met' if speedup >= 5 else 'MISSED'}{', against that lower bound' if failed else ''}).")
        if failed:  # the same log without its non-finite tail, which parse_log.py reads to the end
            finite = inputs.caffe(broken=False)
            warm(finite["path"])
            pair = interleaved({"nandoctor analyze": nandoctor_json(finite["path"]), "parse_log.py": parse_log_command(finite["path"])}, inputs.sizes.slow_rounds)
            finite_speedup = ratio_of_medians_per_round(pair, "parse_log.py", "nandoctor analyze")
            read_to_end = all(sample.returncode == 0 for sample in pair["parse_log.py"])
            out.append(f"- the same log with every loss finite ({finite['bytes'] / 1e6:.0f} MB), which parse_log.py {'reads to the end' if read_to_end else 'also fails on'}: nandoctor {median(s.wall for s in pair['nandoctor analyze']):.2f} s, parse_log.py {median(s.wall for s in pair['parse_log.py']):.1f} s: **{finite_speedup:.1f}x** (target >= 5x: {'met' if finite_speedup >= 5 else 'MISSED'}).")
        shutil.rmtree(scratch, ignore_errors=True)
    else:
        out.append("- parse_log.py: skipped (set PARSE_LOG=path/to/parse_log.py, from BVLC/caffe tools/extra, to time it; PARSE_LOG_PYTHON picks its interpreter).")
    out.append(f"- non-finite values in the report: {nonfinite:,} (the log prints nan/-nan/inf for {info['nonfinite_losses']:,} iterations, in the smoothed loss and in the train net's loss output).")


# The machine's own ceiling for two processes at that moment: one fixed amount of pure-Python work
# done by one process, then split over two. About 2x on two free cores; other users' load lowers it.
CHILD_SPIN = """
import sys
from multiprocessing import Pool
def spin(steps):
    total = 0
    for step in range(steps):
        total += step * step
    return total
with Pool(int(sys.argv[1])) as pool:
    pool.map(spin, [2_000_000] * 16, chunksize=1)
"""


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine have used since boot (/proc/stat), or nan."""
    with contextlib.suppress(OSError, ValueError), open("/proc/stat") as handle:
        ticks = [int(field) for field in handle.readline().split()[1:9]]
        return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait
    return math.nan


def section_jobs(inputs: Inputs, out: list[str]) -> None:
    info = inputs.sweep()
    for file in Path(info["path"]).rglob("*"):
        if file.is_file():
            warm(str(file))
    cores = usable_cores()
    tools = {
        "--jobs 1": nandoctor_json(info["path"]),
        "--jobs 2": nandoctor_json(info["path"], jobs=2),
        "CPU loop, 1 process": python_child(CHILD_SPIN, "1"),
        "CPU loop, 2 processes": python_child(CHILD_SPIN, "2"),
    }
    rounds = max(inputs.sizes.rounds, 5)  # the ratio of two noisy times needs more rounds than one time
    others: dict[str, list[float]] = {}
    results = interleaved(tools, rounds, others=others)
    heading(out, f"Many runs: {info['runs']:,} small runs ({info['bytes'] / 1e6:.0f} MB: event files, CSVs, Caffe logs), {cores} cores, {rounds} rounds")
    out += table(results, note={name: f"others used {median(others[name]):.2f} cores" for name in tools})
    speedup = ratio_of_medians_per_round(results, "--jobs 1", "--jobs 2")
    ceiling = ratio_of_medians_per_round(results, "CPU loop, 1 process", "CPU loop, 2 processes")
    per_round = ", ".join(f"{one.wall / two.wall:.2f}" for one, two in zip(results["--jobs 1"], results["--jobs 2"]))
    # Rounds in which --jobs 2 had both cores: others busy < 0.15 cores during it (--jobs 1 needs one core only).
    paired = zip(results["--jobs 1"], results["--jobs 2"], others["--jobs 1"], others["--jobs 2"])
    free = [one.wall / two.wall for one, two, busy_one, busy_two in paired if busy_two < 0.15 and busy_one <= cores - 1]

    def without_seconds(sample: Sample) -> dict:
        report = json.loads(sample.stdout)
        report["summary"].pop("seconds", None)
        return report

    same = all(without_seconds(sample) == without_seconds(results["--jobs 1"][0]) for name in ("--jobs 1", "--jobs 2") for sample in results[name])
    runs_per_second = info["runs"] / median(s.wall for s in results["--jobs 2"])
    cpu_one, cpu_two = median(s.cpu for s in results["--jobs 1"]), median(s.cpu for s in results["--jobs 2"])
    out.append(f"\n- --jobs 2 is **{speedup:.2f}x** the one-process rate (median of the per-round ratios {per_round}; target >= 1.7x: {'met' if speedup >= 1.7 else 'MISSED'}), {runs_per_second:.0f} runs/s; reports {'identical' if same else 'DIFFERENT'} to --jobs 1.")
    if free:
        out.append(f"- In the {len(free)} round(s) where no other process needed the second core, --jobs 2 was **{median(free):.2f}x** ({', '.join(f'{ratio:.2f}' for ratio in free)}).")
    else:
        out.append("- In no round was the second core free of other users' processes: the ratio above measures the load, not --jobs 2.")
    out.append(f"- In the same rounds a pure-Python loop split over two processes ran **{ceiling:.2f}x** as fast as in one: what the machine could give two processes then (2x on two free cores). nandoctor reached {speedup / ceiling:.0%} of it.")
    out.append(f"- CPU seconds (user + system, all processes): {cpu_one:.1f} with --jobs 1, {cpu_two:.1f} with --jobs 2; the difference is what the workers cost (starting, sending runs and diagnoses between processes).")


def section_rules(inputs: Inputs, out: list[str]) -> None:
    """Where one big run's time goes, in-process: reading, and the rules that cost most."""
    heading(out, "Where the time goes (one process, one round): reading and the slowest rules")
    out += ["| run | import s | read s | all rules s | longest series | slowest rules (s) |", "|---|---:|---:|---:|---:|---|"]
    for name, info in (("scalars event file", inputs.scalars()), ("CSV", inputs.csv()), ("Caffe log", inputs.caffe())):
        sample = run_child(python_child(CHILD_RULES, info["path"]))
        found = json.loads(sample.stdout.strip().splitlines()[-1])
        top = ", ".join(f"{rule} {seconds:.2f}" for seconds, rule, _ in found["top"])
        out.append(f"| {name} | {found['import']:.2f} | {found['read']:.2f} | {found['rules']:.2f} | {found['longest_series']:,} | {top} |")


def warm_up(inputs: Inputs) -> None:
    """Run every kind of child once on small inputs, untimed, so each has its bytecode cached."""
    small = inputs.small()["path"]
    tiny_csv = write_lightning_csv(inputs.root / "warm-up" / "metrics.csv", 500)
    tiny_caffe, _ = write_caffe_log(inputs.root / "warm-up" / "caffe.INFO", 200)
    commands = [
        nandoctor_json(small), [*NANDOCTOR, "analyze", small, "--color", "never"], nandoctor_json(str(tiny_csv)), nandoctor_json(str(tiny_caffe)),
        nandoctor_json(str(inputs.root / "warm-up"), jobs=2),
        python_child(CHILD_READ, small, "tensorboard", "crc"), python_child(CHILD_READ, str(tiny_csv), "csv", "-"), python_child(CHILD_READ, str(tiny_caffe), "caffe", "-"),
        python_child(CHILD_EA, small), python_child(CHILD_FRAMING, small), python_child(CHILD_PANDAS, str(tiny_csv)), python_child(CHILD_RULES, small),
    ]
    if _importable("tbparse"):
        commands.append(python_child(CHILD_TBPARSE, small))
    started = time.perf_counter()
    for command in commands:
        run_child(command)
    log(f"warm-up (bytecode caches) in {time.perf_counter() - started:.0f} s")


def heading(out: list[str], title: str) -> None:
    out += ["", f"### {title}", "", f"load average before: {load_average()}", ""]


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def machine() -> list[str]:
    cpu = "?"
    with contextlib.suppress(OSError):
        cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    memory = "?"
    with contextlib.suppress(OSError):
        memory = f"{int(open('/proc/meminfo').readline().split()[1]) / 2**20:.0f} GiB"
    versions = []
    for package in ("numpy", "pandas", "tensorboard", "tbparse", "crc32c", "protobuf"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions.append(f"{package} {version(package)}")
    cores = usable_cores()
    return [f"Machine: {cpu}, {cores} cores, {memory} RAM; {platform.system()} {platform.release()}; Python {platform.python_version()}; " + ", ".join(versions) + "."]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes and fewer rounds: about 3 minutes (start-up weighs more there: the targets are for the full sizes)")
    parser.add_argument("--dir", type=Path, help="generate the inputs here and keep them for the next run (default: a temporary folder, removed after)")
    parser.add_argument("--rounds", type=int, help="rounds of every tool (default: 3, or 2 with --quick)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS + EXTRA_SECTIONS, metavar="SECTION", help=f"run only these sections: {', '.join(SECTIONS)} (all by default), or {', '.join(EXTRA_SECTIONS)}")
    parser.add_argument("--measure-reader-memory", type=Path, metavar="FILE", help=argparse.SUPPRESS)  # the memory section's child
    options = parser.parse_args()
    if options.measure_reader_memory:
        print(json.dumps(measure_reader_memory(options.measure_reader_memory)))
        return
    sizes = QUICK if options.quick else FULL
    if options.rounds:
        sizes = Sizes(**{**sizes.__dict__, "rounds": options.rounds, "slow_rounds": min(sizes.slow_rounds, options.rounds), "startup_rounds": max(options.rounds, sizes.startup_rounds)})
    missing = [name for name in ("tbparse",) if not _importable(name)]
    sections = [name for name in (options.only or SECTIONS)]
    if missing and any(name.startswith("tb-") for name in sections):
        raise SystemExit("tbparse is not installed: pip install -e '.[bench]' (or `make bench`)")
    root = options.dir or Path(tempfile.mkdtemp(prefix="nandoctor-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    inputs = Inputs(root, sizes)
    child_environment(root)
    warm_up(inputs)
    quick_note = ["(--quick: a tenth of the sizes, where start-up weighs more; the targets' verdicts are for the full sizes.)"] if options.quick else []
    out = ["## nandoctor benchmark" + (" (--quick)" if options.quick else ""), "", *machine(), *quick_note, f"Inputs in a temporary folder; {sizes.rounds} rounds (tbparse, EventAccumulator and parse_log.py: {sizes.slow_rounds})."]
    started = time.perf_counter()
    try:
        for name in sections:
            log(f"== {name} (load {load_average()})")
            globals()["section_" + name.replace("-", "_")](inputs, out)
            out.append(f"\nload average after: {load_average()}")
    finally:
        if not options.dir:
            shutil.rmtree(root, ignore_errors=True)
    out += ["", f"The benchmark took {(time.perf_counter() - started) / 60:.1f} min."]
    print("\n".join(out))


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))  # the children import nandoctor from this checkout
    main()
