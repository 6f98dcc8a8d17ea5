"""The text report tells a damaged file once: its integrity note, not the note and every reader warning again."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from nandoctor.cli import cli

SAMPLE = Path(__file__).resolve().parents[2] / "sample_logs" / "keras-csv-healthy"


def _damaged_copy(tmp_path: Path) -> Path:
    """A Keras CSVLogger file whose last row was cut mid-write and then appended to by something else."""
    run = tmp_path / "run"
    shutil.copytree(SAMPLE, run)
    log = next(run.glob("*.log"))
    data = log.read_bytes()[:-7]
    log.write_bytes(data + b"garbage,row,with,too,many,fields,x,y,z\n")
    return run


def test_a_damaged_file_is_told_once_and_verbose_lists_each_warning(tmp_path):
    run = _damaged_copy(tmp_path)
    quiet = CliRunner().invoke(cli, ["analyze", str(run)])
    lines = quiet.output.splitlines()
    assert [line for line in lines if "LOG004" in line], quiet.output
    assert not [line for line in lines if line.lstrip().startswith("warning:")], quiet.output
    verbose = CliRunner().invoke(cli, ["analyze", str(run), "-v"])
    assert len([line for line in verbose.output.splitlines() if line.lstrip().startswith("warning:")]) >= 2, verbose.output
