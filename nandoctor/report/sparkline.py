"""A one-line picture of a loss curve, with the points that matter marked under it."""

from __future__ import annotations

import math

import numpy as np

from ..model import Series

BARS = "▁▂▃▄▅▆▇█"
NONFINITE_MARK = "×"


def bucket_of(series: Series, step: int, width: int) -> int:
    """Which column of a sparkline of `width` columns shows the point at `step`."""
    count = len(series)
    if count == 0:
        return 0
    index = int(np.searchsorted(series.steps, step, side="left"))
    index = min(max(index, 0), count - 1)
    columns = min(width, count)
    return min(columns - 1, index * columns // count)


def sparkline(series: Series, width: int = 48) -> tuple[str, bool]:
    """The curve as bars (log scale when it spans more than 100x) and whether log scale was used.

    Each column is the mean of its points; a column holding a non-finite point shows `×`.
    """
    values = series.values
    count = values.size
    if count == 0:
        return "", False
    columns = min(width, count)
    edges = np.linspace(0, count, columns + 1).astype(int)
    finite = values[np.isfinite(values)]
    use_log = bool(finite.size and finite.min() > 0 and finite.max() / finite.min() > 100)
    shown = np.log10(np.where(np.isfinite(values) & (values > 0), values, np.nan)) if use_log else values
    column_values = []
    column_bad = []
    for start, end in zip(edges[:-1], edges[1:]):
        chunk = values[start:end]
        column_bad.append(bool((~np.isfinite(chunk)).any()))
        good = shown[start:end][np.isfinite(shown[start:end])]
        column_values.append(float(good.mean()) if good.size else math.nan)
    known = [value for value in column_values if math.isfinite(value)]
    low, high = (min(known), max(known)) if known else (0.0, 1.0)
    span = high - low or 1.0
    characters = []
    for value, bad in zip(column_values, column_bad):
        if bad:
            characters.append(NONFINITE_MARK)
        elif not math.isfinite(value):
            characters.append(" ")
        else:
            characters.append(BARS[min(len(BARS) - 1, int((value - low) / span * (len(BARS) - 1) + 0.5))])
    return "".join(characters), use_log


def marker_line(series: Series, marks: list[tuple[int, str]], width: int = 48) -> str:
    """A line under the sparkline with a character at the column of each (step, mark)."""
    columns = min(width, len(series))
    line = [" "] * columns
    for step, mark in marks:
        if columns:
            line[bucket_of(series, step, width)] = mark
    return "".join(line).rstrip()
