"""Time nandoctor's event-file reader against EventAccumulator and tbparse on large files from the real writer.

    python scripts/bench_tensorboard.py [--dir DIR] [--rounds N] [--skip-slow]

Writes (once, then reuses) two files with tensorboard's EventFileWriter in DIR (default: the
temp folder): `scalars` (8 tags x 250,000 steps, about 100 MB) and `mixed` (mostly
histograms, about 350 MB). Each reader runs in a fresh process under `/usr/bin/time -v`; the
table gives the in-process reading seconds, the whole command's wall seconds and peak RSS.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCALAR_TAGS = [f"train/metric_{index}" for index in range(7)] + ["loss"]
MODES = ("nandoctor", "nandoctor-no-crc", "event-accumulator", "tbparse")
SLOW_MODES = ("event-accumulator", "tbparse")


def write_scalars(folder: Path, steps: int = 250_000) -> Path:
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(folder), max_queue_size=1000)
    for step in range(steps):
        for index, tag in enumerate(SCALAR_TAGS):
            value = summary_pb2.Summary.Value(tag=tag, simple_value=(index + 1) / (step + 1))
            writer.add_event(event_pb2.Event(wall_time=1.6e9 + step * 0.01, step=step, summary=summary_pb2.Summary(value=[value])))
    writer.close()
    return only_event_file(folder)


def write_mixed(folder: Path, steps: int = 25_000) -> Path:
    """Scalars every step, a ~540-bucket histogram for 160 tags every 100 steps, 3 images every 5,000."""
    import numpy as np
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    rng = np.random.default_rng(0)
    limits = np.sort(rng.normal(size=540)).tolist()
    png = b"\x89PNG\r\n\x1a\n" + rng.integers(0, 256, size=3000, dtype=np.uint8).tobytes()
    writer = EventFileWriter(str(folder), max_queue_size=1000)
    for step in range(steps):
        wall_time = 1.6e9 + step * 0.01
        for index, tag in enumerate(SCALAR_TAGS):
            value = summary_pb2.Summary.Value(tag=tag, simple_value=(index + 1) / (step + 1))
            writer.add_event(event_pb2.Event(wall_time=wall_time, step=step, summary=summary_pb2.Summary(value=[value])))
        if step % 100 == 0:
            for layer in range(80):
                for kind in ("weight", "grad"):
                    histo = summary_pb2.HistogramProto(min=-3.0, max=3.0, num=1e4, sum=1.0, sum_squares=1e4, bucket_limit=limits, bucket=rng.integers(0, 100, size=540).astype(float).tolist())
                    value = summary_pb2.Summary.Value(tag=f"layer{layer}/{kind}", histo=histo)
                    writer.add_event(event_pb2.Event(wall_time=wall_time, step=step, summary=summary_pb2.Summary(value=[value])))
        if step % 5000 == 0:
            for number in range(3):
                image = summary_pb2.Summary.Image(height=32, width=32, colorspace=3, encoded_image_string=png)
                value = summary_pb2.Summary.Value(tag=f"samples/{number}", image=image)
                writer.add_event(event_pb2.Event(wall_time=wall_time, step=step, summary=summary_pb2.Summary(value=[value])))
    writer.close()
    return only_event_file(folder)


def only_event_file(folder: Path) -> Path:
    (path,) = folder.glob("*tfevents*")
    return path


def ensure_file(root: Path, name: str, write) -> Path:
    folder = root / f"nandoctor-bench-{name}"
    if folder.is_dir() and list(folder.glob("*tfevents*")):
        return only_event_file(folder)
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    path = write(folder)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return path


def read_once(mode: str, path: str) -> None:
    """Child process: import what the mode needs, then time only the reading; print seconds and points."""
    if mode.startswith("nandoctor"):
        from nandoctor.readers import tensorboard

        started = time.perf_counter()
        part = tensorboard.read(path, verify_crc=mode == "nandoctor")
        points = sum(len(series) for series in part.series)
    elif mode == "event-accumulator":
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        started = time.perf_counter()
        accumulator = EventAccumulator(path, size_guidance={"scalars": 0, "tensors": 0})
        accumulator.Reload()
        points = sum(len(accumulator.Scalars(tag)) for tag in accumulator.Tags()["scalars"])
    else:
        from tbparse import SummaryReader

        started = time.perf_counter()
        points = len(SummaryReader(path).scalars)
    print(f"{time.perf_counter() - started:.4f} {points}")


def measure(mode: str, path: Path) -> tuple[float, float, float, int]:
    """(in-process s, wall s, peak RSS MiB, points) of one fresh process."""
    command = ["/usr/bin/time", "-v", sys.executable, str(Path(__file__).resolve()), "--child", mode, str(path)]
    started = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    wall = time.perf_counter() - started
    if finished.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{finished.stderr[-2000:]}")
    seconds, points = finished.stdout.split()
    peak_kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", finished.stderr).group(1))
    return float(seconds), wall, peak_kib / 1024, int(points)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the fast readers (the slow ones run once)")
    parser.add_argument("--skip-slow", action="store_true", help="leave out EventAccumulator and tbparse")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        read_once(*arguments.child)
        return
    files = {"scalars": ensure_file(arguments.dir, "scalars", write_scalars), "mixed": ensure_file(arguments.dir, "mixed", write_mixed)}
    print("| file | reader | points | in-process s | wall s | peak RSS MiB | x nandoctor (in-process) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, path in files.items():
        subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
        results = {}
        for mode in MODES:
            if mode in SLOW_MODES and arguments.skip_slow:
                continue
            rounds = 1 if mode in SLOW_MODES else arguments.rounds
            samples = [measure(mode, path) for _ in range(rounds)]
            results[mode] = tuple(statistics.median(column) for column in zip(*samples))
        baseline = results["nandoctor"][0]
        size = f"{name} ({path.stat().st_size / 1e6:.0f} MB)"
        for mode, (seconds, wall, peak, points) in results.items():
            print(f"| {size} | {mode} | {points:,.0f} | {seconds:.3f} | {wall:.2f} | {peak:.0f} | {seconds / baseline:.1f} |")


if __name__ == "__main__":
    main()
