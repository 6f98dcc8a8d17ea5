"""`--no-crc`: the event-file reader skips its record checksums; nothing else changes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from nandoctor.api import run_analysis
from nandoctor.cli import cli
from tests.readers.tb_writers import scalar, write_event_file

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_logs"


def report(*args: str) -> dict:
    result = CliRunner().invoke(cli, ["analyze", *args, "--format", "json"], catch_exceptions=False)
    parsed = json.loads(result.stdout)
    parsed["summary"].pop("seconds")
    return parsed


def run_with_a_flipped_bit(folder: Path) -> Path:
    """200 loss points; one payload byte of a record in the middle flipped, its checksum left as it was."""
    path = write_event_file(folder, [scalar("loss", 1.0 / (step + 1), step) for step in range(200)])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))
    return folder


def test_without_checksums_the_samples_get_the_same_report(tmp_path):
    shutil.copytree(SAMPLES, tmp_path / "samples")
    assert report(str(tmp_path / "samples"), "--no-crc") == report(str(tmp_path / "samples"))


def test_a_damaged_record_is_caught_with_checksums_and_read_as_it_is_without(tmp_path):
    folder = run_with_a_flipped_bit(tmp_path / "damaged")
    checked, unchecked = report(str(folder)), report(str(folder), "--no-crc")
    warnings = [warning for source in checked["runs"][0]["sources"] for warning in source["warnings"]]
    assert any("checksum mismatch" in warning for warning in warnings)
    assert all(not source["warnings"] for source in unchecked["runs"][0]["sources"])


def test_the_python_api_and_parallel_runs_pass_it_down(tmp_path):
    for name in ("one", "two"):
        run_with_a_flipped_bit(tmp_path / name)
    for jobs in (1, 2):
        checked = run_analysis(tmp_path, jobs=jobs)
        unchecked = run_analysis(tmp_path, jobs=jobs, verify_crc=False)
        assert all(source.warnings for diagnosis in checked.diagnoses for source in diagnosis.run.sources)
        assert not any(source.warnings for diagnosis in unchecked.diagnoses for source in diagnosis.run.sources)
