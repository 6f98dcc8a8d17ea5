"""Fuzzing the real sample logs: bit flips, cuts, splices and junk, thousands of times.

Whatever the bytes, the analysis finishes (no exception, no crashed rule), the exit code is 0, 1 or
2, every problem is one line, and the analysed folder holds exactly what it held before. Most cases
run in-process (`run_analysis`, ~10 ms each); a few hundred also go through the real CLI.
"""

from __future__ import annotations

import json
import os
import random

import jsonschema
import pytest

from nandoctor.api import run_analysis
from nandoctor.cli import schema_text

from .helpers import SAMPLES, assert_no_traceback, fingerprint, nandoctor

# ~2,400 in-process cases by default (a few tens of seconds); HOSTILE_FUZZ=50000 hunts harder.
CASES_PER_FILE = int(os.environ.get("HOSTILE_FUZZ", "2400")) // 8
SAMPLE_FILES = sorted(path for path in SAMPLES.rglob("*") if path.is_file() and path.name != "README.md" and not path.name.startswith("."))
SCHEMA = json.loads(schema_text())


def mutate(data: bytes, donors: list[bytes], rng: random.Random) -> tuple[bytes, str]:
    """One random damage, and its description (to reproduce a failure)."""
    kind = rng.choice(("flip", "flips", "cut", "splice", "delete", "duplicate", "junk", "nuls", "newlines", "cut+flip"))
    size = len(data)
    at = rng.randrange(size + 1)
    if kind == "flip" or kind == "flips":
        mutated = bytearray(data)
        flips = [(rng.randrange(size), rng.randrange(8)) for _ in range(1 if kind == "flip" else rng.randint(2, 16))]
        for offset, bit in flips:
            mutated[offset] ^= 1 << bit
        return bytes(mutated), f"bit flips (byte, bit) {flips}"
    if kind == "cut":
        return data[:at], f"cut at {at}"
    if kind == "splice":
        donor = rng.choice(donors)
        start = rng.randrange(len(donor))
        piece = donor[start : start + rng.randint(1, 2048)]
        return data[:at] + piece + data[at:], f"splice {len(piece)} bytes at {at}"
    if kind == "delete":
        length = rng.randint(1, max(1, size // 4))
        return data[:at] + data[at + length :], f"delete {length} bytes at {at}"
    if kind == "duplicate":
        length = rng.randint(1, max(1, size // 4))
        return data[:at] + data[at : at + length] + data[at:], f"duplicate {length} bytes at {at}"
    if kind == "junk":
        junk = rng.randbytes(rng.randint(1, 512))
        return data[:at] + junk + data[at + len(junk) :], f"junk {len(junk)} bytes over {at}"
    if kind == "nuls":
        length = rng.randint(1, 4096)
        return data[:at] + b"\x00" * length, f"cut at {at}, then {length} NULs"
    if kind == "newlines":
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            mutated[rng.randrange(size)] = rng.choice(b"\n\r,;\t\"")
        return bytes(mutated), "separators"
    mutated = bytearray(data[:at])
    if mutated:
        mutated[rng.randrange(len(mutated))] ^= 0x40
    return bytes(mutated), f"cut at {at} and a flip"


def _check(analysis, where: str) -> None:
    assert analysis.rule_errors == [], f"{where}: {analysis.rule_errors}"
    for problem in analysis.problems:
        assert "\n" not in str(problem), f"{where}: {problem!r}"


@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=[str(path.relative_to(SAMPLES)) for path in SAMPLE_FILES])
def test_mutated_sample_logs_never_crash_and_are_never_written(sample, tmp_path):
    donors = [path.read_bytes() for path in SAMPLE_FILES]
    original = sample.read_bytes()
    rng = random.Random(f"{sample.relative_to(SAMPLES)}")  # the same cases on every run
    folder = tmp_path / "run"
    folder.mkdir()
    target = folder / sample.name
    for case in range(CASES_PER_FILE):
        data, what = mutate(original, donors, rng)
        target.write_bytes(data)
        before = fingerprint(folder)
        where = f"{sample.relative_to(SAMPLES)} case {case} (cases are the same on every run): {what}"
        try:
            analysis = run_analysis([str(folder)], jobs=1)
        except Exception as error:  # the message names the case, to reproduce it
            failed = tmp_path / f"failing-{case}-{sample.name}"
            failed.write_bytes(data)
            raise AssertionError(f"{where}: {type(error).__name__}: {error} (input kept at {failed})") from error
        _check(analysis, where)
        assert fingerprint(folder) == before, where


def test_mutated_sample_logs_through_the_real_cli(tmp_path):
    """Three sweeps of mutated runs (one with two worker processes) through the CLI, as a user runs it."""
    donors = [path.read_bytes() for path in SAMPLE_FILES]
    rng = random.Random("cli")
    for sweep_index, jobs in enumerate(("1", "2", "1")):
        sweep = tmp_path / f"sweep{sweep_index}"
        for case in range(60):
            sample = rng.choice(SAMPLE_FILES)
            data, _ = mutate(sample.read_bytes(), donors, rng)
            target = sweep / f"case{case:03d}" / sample.name
            target.parent.mkdir(parents=True)
            target.write_bytes(data)
        before = fingerprint(sweep)
        result = nandoctor("analyze", sweep, "--format", "json", "-j", jobs, "--fail-on", "warning", timeout=300)
        assert result.returncode in (0, 1, 2), result.stderr
        assert_no_traceback(result.stderr)
        report = json.loads(result.stdout)
        jsonschema.validate(report, SCHEMA)
        assert not any("crashed" in error["message"] or "internal error" in error["message"] for error in report["errors"])
        assert len(result.stderr.splitlines()) == len(report["errors"])  # each problem: one line on stderr, one entry in errors[]
        assert fingerprint(sweep) == before
