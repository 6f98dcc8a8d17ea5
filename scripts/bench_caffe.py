"""Time the Caffe reader on a large generated glog solver log (the perf-baseline file: 1M iterations, display=1).

    python scripts/bench_caffe.py                      # generate into the temp folder if missing, then time
    python scripts/bench_caffe.py --iterations 20000   # a smaller log
    python scripts/bench_caffe.py --reference          # also time the regex-only reading and compare

The log is written the way BVLC Caffe 1.0 writes it with display: 1: per iteration the smoothed
loss, two train net outputs and the sgd_solver lr line; a test block every 1000 iterations;
snapshot lines every 10000. Each timing runs in a fresh process, under `/usr/bin/time -v` when it
exists, so the peak RSS is the reader's own.
"""

from __future__ import annotations

import argparse
import math
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEST_EVERY = 1000
SNAPSHOT_EVERY = 10000


def glog_prefix(seconds: float, source: str) -> str:
    """`I0101 00:00:00.108444 28865 solver.cpp:237] ` for a time in seconds since the start."""
    micros = int(seconds * 1e6)
    whole = micros // 1_000_000
    day, hour, minute, second = 1 + whole // 86400, whole // 3600 % 24, whole // 60 % 60, whole % 60
    return f"I01{day % 28 + 1:02d} {hour:02d}:{minute:02d}:{second:02d}.{micros % 1_000_000:06d} 28865 {source}] "


def preamble(iterations: int) -> list[str]:
    solver = [
        "test_iter: 100", f"test_interval: {TEST_EVERY}", "base_lr: 0.01", "display: 1", f"max_iter: {iterations}",
        'lr_policy: "step"', "gamma: 0.1", "momentum: 0.9", "weight_decay: 0.0005", "stepsize: 300000",
        f"snapshot: {SNAPSHOT_EVERY}", 'snapshot_prefix: "snapshots/caffenet"', "solver_mode: GPU", 'net: "train_val.prototxt"', 'type: "SGD"',
    ]
    return [
        glog_prefix(0, "caffe.cpp:184") + "Using GPUs 0\n",
        glog_prefix(0, "solver.cpp:48") + "Initializing solver from parameters: \n",
        *(line + "\n" for line in solver),
        glog_prefix(0.2, "solver.cpp:60") + "Solver scaffolding done.\n",
        glog_prefix(0.3, "caffe.cpp:212") + "Starting Optimization\n",
        glog_prefix(0.3, "solver.cpp:288") + "Solving CaffeNet\n",
        glog_prefix(0.3, "solver.cpp:289") + "Learning Rate Policy: step\n",
    ]


def iteration_lines(step: int, seconds: float, rng: random.Random) -> list[str]:
    lines = []
    if step % TEST_EVERY == 0:
        accuracy, test_loss = min(0.9, 0.001 + step / 1e6), 6.9 * math.exp(-step / 3e5) + 0.5
        lines += [
            glog_prefix(seconds, "solver.cpp:341") + f"Iteration {step}, Testing net (#0)\n",
            glog_prefix(seconds + 30, "solver.cpp:409") + f"    Test net output #0: accuracy = {accuracy:.6g}\n",
            glog_prefix(seconds + 30, "solver.cpp:409") + f"    Test net output #1: loss = {test_loss:.6g} (* 1 = {test_loss:.6g} loss)\n",
        ]
    smoothed = 6.9 * math.exp(-step / 3e5) + rng.random() * 0.1
    instant = smoothed + rng.gauss(0, 0.05)
    lr = 0.01 * 0.1 ** (step // 300000)
    lines += [
        glog_prefix(seconds, "solver.cpp:237") + f"Iteration {step}, loss = {smoothed:.6g}\n",
        glog_prefix(seconds, "solver.cpp:253") + f"    Train net output #0: accuracy = {rng.random():.6g}\n",
        glog_prefix(seconds, "solver.cpp:253") + f"    Train net output #1: loss = {instant:.6g} (* 1 = {instant:.6g} loss)\n",
        glog_prefix(seconds, "sgd_solver.cpp:106") + f"Iteration {step}, lr = {lr:.6g}\n",
    ]
    if step % SNAPSHOT_EVERY == SNAPSHOT_EVERY - 1:
        lines += [
            glog_prefix(seconds, "solver.cpp:459") + f"Snapshotting to binary proto file snapshots/caffenet_iter_{step + 1}.caffemodel\n",
            glog_prefix(seconds, "sgd_solver.cpp:269") + f"Snapshotting solver state to binary proto file snapshots/caffenet_iter_{step + 1}.solverstate\n",
        ]
    return lines


def generate(path: Path, iterations: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    seconds = 0.3
    with open(path, "w") as handle:
        handle.writelines(preamble(iterations))
        buffered: list[str] = []
        for step in range(iterations):
            seconds += 0.1 + rng.random() * 0.01
            buffered += iteration_lines(step, seconds, rng)
            if len(buffered) > 100_000:
                handle.writelines(buffered)
                buffered = []
        handle.writelines(buffered)
        handle.write(glog_prefix(seconds, "solver.cpp:326") + "Optimization Done.\n")


READ_ONCE = """
import sys, time
start = time.perf_counter()
from nandoctor.readers import caffe
imported = time.perf_counter()
part = caffe.read(sys.argv[1], fast=sys.argv[2] == "fast")
done = time.perf_counter()
points = sum(len(series) for series in part.series)
print(f"read {done - imported:.2f} s in-process (import {imported - start:.2f} s), {points} points in {len(part.series)} series")
"""


def time_reading(path: Path, mode: str) -> dict[str, str]:
    """Read the log in a fresh process; wall time, and peak RSS from /usr/bin/time -v when it exists."""
    command = [sys.executable, "-c", READ_ONCE, str(path), mode]
    if Path("/usr/bin/time").exists():
        command = ["/usr/bin/time", "-v", *command]
    started = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=True)
    result = {"wall": f"{time.perf_counter() - started:.2f} s", "reader": finished.stdout.strip()}
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", finished.stderr)
    if peak:
        result["peak RSS"] = f"{int(peak.group(1)) / 1024:.0f} MiB"
    cpu = [float(seconds) for seconds in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", finished.stderr)]
    if cpu:
        result["CPU (user+sys)"] = f"{sum(cpu):.2f} s"
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=1_000_000)
    parser.add_argument("--log", type=Path, help="where the generated log goes (default: the temp folder)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reference", action="store_true", help="also time the regex-only reading")
    options = parser.parse_args()
    path = options.log or Path(tempfile.gettempdir()) / f"nandoctor-bench-caffe-{options.iterations}.INFO"
    if not path.exists():
        print(f"writing {path} ...", file=sys.stderr)
        generate(path, options.iterations)
    with open(path, "rb") as handle:
        lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 24), b""))
    print(f"{path}: {path.stat().st_size / 1e6:.1f} MB, {lines} lines")
    for mode in ["fast"] + (["reference"] if options.reference else []):
        for round_number in range(options.rounds):
            result = time_reading(path, mode)
            print(f"{mode} round {round_number + 1}: " + ", ".join(f"{key} {value}" for key, value in result.items()))


if __name__ == "__main__":
    main()
