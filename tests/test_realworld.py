"""Every labelled real-world run the team collected is read: one run with a train loss (issue: read every run).

The per-format reader tests check point counts against independent counts; this walk checks that
nothing in MANIFEST.tsv, threads/MANIFEST.md or papers/*/MANIFEST.tsv is left unread.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from nandoctor.load import load_paths

from .conftest import REALWORLD


def manifest_files() -> list[str]:
    if not REALWORLD.is_dir():
        return []
    files = []
    with open(REALWORLD / "MANIFEST.tsv", newline="", encoding="utf-8") as handle:
        files += [row["file"] for row in csv.DictReader(handle, delimiter="\t")]
    table_row = re.compile(r"^\|\s*(\d{3}-[^|]+?\.log)\s*\|")
    for line in (REALWORLD / "threads" / "MANIFEST.md").read_text(encoding="utf-8").splitlines():
        match = table_row.match(line)
        if match:
            files.append(f"threads/{match.group(1)}")
    for manifest in sorted((REALWORLD / "papers").glob("*/MANIFEST.tsv")):
        with open(manifest, newline="", encoding="utf-8") as handle:
            files += [f"papers/{manifest.parent.name}/{row['file']}" for row in csv.DictReader(handle, delimiter="\t")]
    return files


@pytest.mark.parametrize("relative", manifest_files() or ["(realworld absent)"])
def test_every_labelled_run_reads_with_a_train_loss(realworld, relative):
    runs, problems = load_paths([str(realworld / relative)])
    assert not problems, problems
    assert len(runs) == 1, [run.id for run in runs]
    run = runs[0]
    loss = run.get(run.train_loss)
    # fp16 pastes of only overflow lines carry a loss-scale series instead of a loss.
    if loss is None:
        assert run.primary("loss_scale") is not None, f"{relative}: no train loss and no loss scale in {[s.name for s in run.series]}"
    else:
        assert len(loss) > 0
