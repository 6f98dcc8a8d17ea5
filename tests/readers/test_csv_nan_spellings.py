"""A literal nan in a large CSV stays on the pandas engine's vectorised path and reads as the stdlib does.

pandas reads every nan spelling as NaN together with the empty and not-logged cells; the reader then
tells them apart by the cells' bytes. These files hold every spelling `float()` reads as NaN (signed,
any case), beside empty, NA, inf and junk cells, and both engines must agree bit for bit (the sign of
a NaN included).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from nandoctor.readers import csv as csv_reader

from .test_csv import assert_same_parts

SPELLINGS = sorted(csv_reader.NAN_SPELLINGS)


def _rows() -> list[tuple[str, str, str]]:
    """(step, loss, lr) cells: loss cycles through every nan spelling between numbers, lr is sparse."""
    rows = []
    for step in range(400):
        loss = SPELLINGS[step // 2 % len(SPELLINGS)] if step % 2 else repr(1.0 / (step + 1))
        lr = ("NA", "", "inf", "-inf", "0.001", "")[step % 6]
        rows.append((str(step), loss, lr))
    return rows


def _write(path, rows, line_end="\n", final_newline=True) -> None:
    text = line_end.join(",".join(row) for row in [("step", "loss", "lr"), *rows])
    path.write_bytes((text + (line_end if final_newline else "")).encode())


@pytest.mark.parametrize("line_end, final_newline", [("\n", True), ("\r\n", True), ("\n", False)])
def test_every_nan_spelling_is_a_point_and_both_engines_agree(tmp_path, line_end, final_newline):
    pytest.importorskip("pandas")
    rows = _rows()
    path = tmp_path / "metrics.csv"
    _write(path, rows, line_end, final_newline)
    assert csv_reader.read_table(path, engine="pandas").engine == "pandas"  # not a fallback to the stdlib
    by_pandas = csv_reader.read(path, engine="pandas")
    assert_same_parts(csv_reader.read(path, engine="stdlib"), by_pandas)
    series = {item.name: item for item in by_pandas.series}
    expected_loss = [float(loss) for _, loss, _ in rows]
    assert len(series["loss"]) == len(rows)
    assert np.array_equal(series["loss"].values, expected_loss, equal_nan=True)
    signs = [math.copysign(1, value) for value in series["loss"].values]
    assert signs == [math.copysign(1, value) for value in expected_loss]  # -nan keeps its sign bit
    lr_rows = [(int(step), float(lr)) for step, _, lr in rows if lr not in ("NA", "")]
    assert series["lr"].steps.tolist() == [step for step, _ in lr_rows]
    assert series["lr"].values.tolist() == [value for _, value in lr_rows]


def test_a_nan_column_beside_junk_cells_is_read_as_before(tmp_path):
    pytest.importorskip("pandas")
    rows = _rows()
    rows[7] = ("7", "oops", "0.001")
    rows[9] = ("9", " nan", "0.001")  # a spaced nan: not a pandas NA value, the cell-by-cell path reads it
    path = tmp_path / "metrics.csv"
    _write(path, rows)
    by_pandas = csv_reader.read(path, engine="pandas")
    assert_same_parts(csv_reader.read(path, engine="stdlib"), by_pandas)
    loss = next(item for item in by_pandas.series if item.name == "loss")
    assert 7 not in loss.steps.tolist() and math.isnan(loss.values[loss.steps.tolist().index(9)])
    assert any("non-numeric cell skipped" in warning for warning in by_pandas.warnings)
