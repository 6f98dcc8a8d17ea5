"""The labelled evaluation corpus (corpus/, built by scripts/make_corpus.py) is consistent with its MANIFEST.

No torch needed: these tests only read the committed files.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from nandoctor.causes import CAUSES

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"
MANIFEST = CORPUS / "MANIFEST.tsv"
COLUMNS = ["path", "format", "label", "model", "optimizer", "lr", "seed", "injection", "symptom"]
FORMATS = {"tensorboard", "lightning_csv", "keras_csv"}
LABELS = set(CAUSES) | {"healthy"}


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    assert MANIFEST.is_file(), "corpus/MANIFEST.tsv is missing: run scripts/make_corpus.py --out corpus"
    with open(MANIFEST, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter="\t")
        assert reader.fieldnames == COLUMNS
        return list(reader)


def run_folders() -> set[str]:
    """Every corpus/<label>/<run>/ folder, as a path relative to corpus/."""
    return {f"{label.name}/{run.name}" for label in CORPUS.iterdir() if label.is_dir()
            for run in label.iterdir() if run.is_dir()}


def test_every_row_has_all_columns_filled(rows):
    for row in rows:
        for column in COLUMNS:
            assert row[column] not in (None, ""), f"{row['path']}: empty {column}"


def test_paths_are_unique_relative_and_exist(rows):
    paths = [row["path"] for row in rows]
    assert len(paths) == len(set(paths)), "duplicate paths in MANIFEST.tsv"
    for path in paths:
        assert not path.startswith("/") and ".." not in Path(path).parts, path
        assert (CORPUS / path).is_dir(), f"{path} is listed but missing"


def test_labels_are_in_the_cause_vocabulary(rows):
    for row in rows:
        assert row["label"] in LABELS, f"{row['path']}: unknown label {row['label']!r}"
        assert row["path"].split("/")[0] == row["label"], f"{row['path']}: folder does not match label {row['label']}"


def test_every_run_folder_is_listed(rows):
    listed = {row["path"] for row in rows}
    unlisted = run_folders() - listed
    assert not unlisted, f"run folders missing from MANIFEST.tsv: {sorted(unlisted)}"


def test_formats_match_the_files_in_each_run(rows):
    for row in rows:
        assert row["format"] in FORMATS, row
        names = [p.name for p in (CORPUS / row["path"]).iterdir()]
        if row["format"] == "tensorboard":
            assert any(n.startswith("events.out.tfevents.") for n in names), (row["path"], names)
        elif row["format"] == "lightning_csv":
            assert "metrics.csv" in names, (row["path"], names)
            header = (CORPUS / row["path"] / "metrics.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
            assert "step" in header and header == sorted(header), header  # Lightning writes the sorted union of keys
        else:
            logs = [n for n in names if n.endswith((".log", ".csv"))]
            assert logs, (row["path"], names)
            header = (CORPUS / row["path"] / logs[0]).read_text(encoding="utf-8").splitlines()[0].split(",")
            assert header[0] == "epoch" and header[1:] == sorted(header[1:]), header  # Keras CSVLogger


def test_numbers_per_label(rows):
    counts = Counter(row["label"] for row in rows)
    assert counts["healthy"] >= 12, counts
    for cause in CAUSES:
        assert counts[cause] >= 4, f"{cause}: only {counts[cause]} runs"


def test_seed_and_lr_are_numbers(rows):
    for row in rows:
        int(row["seed"])
        float(row["lr"])


def test_corpus_is_small_and_carries_no_machine_paths():
    total = 0
    for path in CORPUS.rglob("*"):
        if path.is_file():
            total += path.stat().st_size
            data = path.read_bytes()
            for needle in (b"/work/", b"/tmp/", b"/home/", b"/root/"):
                assert needle not in data, f"{path.relative_to(CORPUS)} contains {needle!r}"
    assert total < 8 * 1024 * 1024, f"corpus is {total / 1e6:.1f} MB"
