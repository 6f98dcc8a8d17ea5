"""Shared by the hostile-input tests: the CLI as a user runs it, an in-process analysis, fast event
files, and a fingerprint of a folder to prove nothing in it was written."""

from __future__ import annotations

import hashlib
import os
import stat
import struct
import subprocess
import sys
from pathlib import Path

from crc32c import crc32c

from nandoctor.api import Analysis, run_analysis
from nandoctor.cli import exit_code

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_logs"


def nandoctor(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """The real CLI in a child process, as a user's shell runs it."""
    return subprocess.run([sys.executable, "-m", "nandoctor", *map(str, args)], capture_output=True, text=True, cwd=kwargs.pop("cwd", REPO), timeout=timeout, **kwargs)


def analyse(*paths) -> Analysis:
    """The analysis the CLI makes, in this process (fast enough to run thousands of times)."""
    return run_analysis([str(path) for path in paths], jobs=1)


def exit_status(analysis: Analysis, fail_on: str = "error") -> int:
    return exit_code(analysis, fail_on)


def assert_no_traceback(stderr: str) -> None:
    """stderr holds one-line messages only: each starts with `nandoctor:` (blank lines aside)."""
    assert "Traceback" not in stderr, stderr
    for line in stderr.splitlines():
        assert not line.strip() or line.startswith(("nandoctor: ", "Usage:", "Try ", "Error: ")), stderr


def problems_of(analysis: Analysis, path) -> list[str]:
    """The one-line problems reported for one path."""
    return [problem.message for problem in analysis.problems if problem.path == str(path)]


def findings_of(analysis: Analysis, rule_id: str) -> list:
    return [finding for diagnosis in analysis.diagnoses for finding in diagnosis.findings if finding.rule_id == rule_id]


def points(analysis: Analysis, name: str) -> tuple[list[int], list[float]]:
    """(steps, values) of the series `name` in the analysis's only run."""
    (diagnosis,) = analysis.diagnoses
    series = diagnosis.run.get(name)
    assert series is not None, [item.name for item in diagnosis.run.series]
    return series.steps.tolist(), series.values.tolist()


# ------------------------------------------------------------------------------------- event files


def masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame(payload: bytes) -> bytes:
    """One TFRecord as TensorBoard's RecordWriter writes it, with the C CRC32C (fast for big files)."""
    header = struct.pack("<Q", len(payload))
    return header + struct.pack("<I", masked_crc(header)) + payload + struct.pack("<I", masked_crc(payload))


def record_starts(data: bytes) -> list[int]:
    starts, position = [], 0
    while position + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, position)
        if position + 16 + length > len(data):
            break
        starts.append(position)
        position += 16 + length
    return starts


def scalar_event_file(path: Path, steps: int = 30, tag: str = "train/loss") -> Path:
    """An event file of `steps` plain scalars after the file_version record, as PyTorch writes it."""
    from tensorboard.compat.proto import event_pb2, summary_pb2

    records = [frame(event_pb2.Event(wall_time=1.7e9, file_version="brain.Event:2").SerializeToString())]
    for step in range(steps):
        value = summary_pb2.Summary.Value(tag=tag, simple_value=2.3 * 0.97**step)
        records.append(frame(event_pb2.Event(wall_time=1.7e9 + step, step=step, summary=summary_pb2.Summary(value=[value])).SerializeToString()))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(records))
    return path


# ------------------------------------------------------------------------------------ folder state


def fingerprint(folder: Path) -> dict[str, str]:
    """Every entry under `folder` (links not followed): a file's SHA-256, a link's target, a fifo's kind."""
    state: dict[str, str] = {}
    for root, folders, files in os.walk(folder):
        for name in folders + files:
            path = os.path.join(root, name)
            relative = os.path.relpath(path, folder)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                state[relative] = "link -> " + os.readlink(path)
            elif stat.S_ISDIR(mode):
                state[relative] = "folder"
            elif stat.S_ISREG(mode):
                with open(path, "rb") as handle:
                    state[relative] = hashlib.sha256(handle.read()).hexdigest() + f" {oct(mode)}"
            else:
                state[relative] = f"special {oct(mode)}"
    return state
