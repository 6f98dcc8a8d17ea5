"""Peak memory of reading an event file of histograms and images: it must not grow with the file.

    python scripts/memory_check.py                  # 2 GB and 200 MB files in a temporary folder
    python scripts/memory_check.py --sizes 50 200   # sizes in MB
    python scripts/memory_check.py --measure FILE   # one measurement (what the comparison runs in a child)

What is measured, and why: the TensorBoard reader maps the file (mmap), so every page it touches
(the checksum of every record reads them all) counts in the process's RSS as a *file-backed* page,
shared with the page cache and dropped by the kernel under pressure. RSS therefore grows with the
file by design, and says nothing about leaks. What must stay bounded is the memory the reader
allocates itself: anonymous pages (Python objects, numpy arrays), the `Anonymous:` line of
/proc/<pid>/smaps_rollup. (Not Private_Dirty: a file written moments ago is still dirty in the page
cache, and its mapped pages then count there too; Rss and Private_Dirty are printed for comparison.)
A thread samples it every 2 ms while the reader runs; the
result is the peak above the baseline taken just before reading. Histograms and images are skipped
without decoding, and scalars are few (one per step), so the anonymous peak of a 2 GB file should
be that of a 200 MB one within a few MB.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HISTOGRAM_BUCKETS = 1000  # ~16 KB per histogram record
IMAGE_BYTES = 100_000  # ~100 KB per image record


def _masked_crc(data: bytes) -> int:
    from crc32c import crc32c

    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _frame(payload: bytes) -> bytes:
    header = struct.pack("<Q", len(payload))
    return header + struct.pack("<I", _masked_crc(header)) + payload + struct.pack("<I", _masked_crc(payload))


def write_event_file(path: Path, megabytes: float) -> int:
    """An event file of about `megabytes` MB: per step a TF1 histogram, every 8th step an image, and one
    scalar loss, written with tensorboard's protos. Returns the number of steps."""
    from tensorboard.compat.proto import event_pb2, summary_pb2

    Value = summary_pb2.Summary.Value
    histogram = summary_pb2.HistogramProto(min=-1.0, max=1.0, num=1e6, sum=0.5, sum_squares=3.0)
    histogram.bucket_limit.extend([index / HISTOGRAM_BUCKETS for index in range(HISTOGRAM_BUCKETS)])
    histogram.bucket.extend([float(index % 97) for index in range(HISTOGRAM_BUCKETS)])
    image = Value(tag="inputs", image=summary_pb2.Summary.Image(height=128, width=256, colorspace=3, encoded_image_string=b"\x89PNG\r\n\x1a\n" + os.urandom(IMAGE_BYTES)))
    target = int(megabytes * (1 << 20))
    step = 0
    with open(path, "wb") as handle:
        handle.write(_frame(event_pb2.Event(wall_time=1.7e9, file_version="brain.Event:2").SerializeToString()))
        while handle.tell() < target:
            wall_time = 1.7e9 + step
            handle.write(_frame(event_pb2.Event(wall_time=wall_time, step=step, summary=summary_pb2.Summary(value=[Value(tag="weights/layer1", histo=histogram)])).SerializeToString()))
            if step % 8 == 0:
                handle.write(_frame(event_pb2.Event(wall_time=wall_time, step=step, summary=summary_pb2.Summary(value=[image])).SerializeToString()))
            handle.write(_frame(event_pb2.Event(wall_time=wall_time, step=step, summary=summary_pb2.Summary(value=[Value(tag="loss", simple_value=2.3 / (1 + step))])).SerializeToString()))
            step += 1
    return step


def _memory_kb() -> dict[str, int]:
    fields = {}
    with open("/proc/self/smaps_rollup") as handle:
        for line in handle:
            name, _, rest = line.partition(":")
            parts = rest.split()
            if len(parts) == 2 and parts[1] == "kB":
                fields[name] = int(parts[0])
    return fields


def measure(path: Path) -> dict:
    """Read `path` with the TensorBoard reader in this process, sampling its memory (run it in a fresh child)."""
    from nandoctor.readers import tensorboard

    baseline = _memory_kb()
    peak = dict(baseline)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            current = _memory_kb()
            for key in ("Anonymous", "Private_Dirty", "Rss"):
                peak[key] = max(peak[key], current[key])
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    part = tensorboard.read(path)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    final = _memory_kb()
    for key in ("Anonymous", "Private_Dirty", "Rss"):
        peak[key] = max(peak[key], final[key])
    return {
        "file_mb": round(path.stat().st_size / (1 << 20), 1),
        "seconds": round(seconds, 2),
        "points": sum(len(series) for series in part.series),
        "warnings": part.warnings,
        "anonymous_growth_mb": round((peak["Anonymous"] - baseline["Anonymous"]) / 1024, 1),
        "private_dirty_growth_mb": round((peak["Private_Dirty"] - baseline["Private_Dirty"]) / 1024, 1),
        "rss_growth_mb": round((peak["Rss"] - baseline["Rss"]) / 1024, 1),
    }


def measure_in_child(path: Path) -> dict:
    """`measure` in a fresh interpreter, so earlier allocations of this process cannot hide or add anything."""
    result = subprocess.run([sys.executable, __file__, "--measure", str(path)], capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent)
    return json.loads(result.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=float, nargs=2, default=(200, 2048), metavar=("SMALL_MB", "LARGE_MB"))
    parser.add_argument("--measure", type=Path, help="measure one file in this process and print JSON")
    parser.add_argument("--max-growth-mb", type=float, default=32.0, help="fail when the large file's anonymous peak exceeds the small one's by more")
    arguments = parser.parse_args()
    if arguments.measure:
        print(json.dumps(measure(arguments.measure)))
        return 0
    with tempfile.TemporaryDirectory() as folder:
        results = []
        for megabytes in arguments.sizes:
            path = Path(folder) / f"events.out.tfevents.{int(megabytes)}mb"
            write_event_file(path, megabytes)
            results.append(measure_in_child(path))
            path.unlink()
            print(json.dumps(results[-1]), flush=True)
    small, large = results
    extra = large["anonymous_growth_mb"] - small["anonymous_growth_mb"]
    verdict = "ok" if extra <= arguments.max_growth_mb else "FAIL"
    print(f"{verdict}: anonymous peak {small['anonymous_growth_mb']} MB for {small['file_mb']} MB, {large['anonymous_growth_mb']} MB for {large['file_mb']} MB (RSS incl. mapped pages: {small['rss_growth_mb']} / {large['rss_growth_mb']} MB)")
    return 0 if verdict == "ok" else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise SystemExit(main())
