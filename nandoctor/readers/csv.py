"""Read CSV metrics (Lightning metrics.csv, Keras CSVLogger, research log.csv, generic tables) into series.

Two engines fill one `Table` and share all that follows: the stdlib `csv` module (no import cost, reads
around any damage) and, for large clean files, the pandas C engine. pandas is used only where it
provably reads the same cells; anything irregular (quotes, ragged or blank lines, a repeated header)
falls back to the stdlib reading, so both engines always give the same series.
"""

from __future__ import annotations

import csv
import mmap
import os
import re
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from warnings import catch_warnings, simplefilter

import numpy as np

from ..model import RunEvent, Series, make_series
from ..roles import role_for
from . import HEAD_BYTES, ReadError, RunPart, read_head

FORMAT = "csv"
TEXT_SUFFIXES = frozenset({".csv", ".log", ".txt", ".tsv", ""})
DELIMITERS = (",", "\t", ";")
ENGINES = ("auto", "stdlib", "pandas")
# Below this size importing pandas (~0.3 s beyond numpy) costs more than it saves. End to end (import and
# read, median of 5 fresh processes): stdlib 0.43 s vs pandas 0.45 s at 3 MB, 0.66 vs 0.58 s at 4 MB.
PANDAS_MIN_BYTES = 4 * 1024 * 1024
# "Not logged": empty (Lightning's sparse rows), NA (Keras CSVLogger), the usual spellings of None.
# Literal nan / inf are values, not gaps: they are the signal.
NOT_LOGGED = frozenset({"", "NA", "N/A", "None", "null", "NULL", "<NA>"})
# Every way `float()` reads a cell as NaN without surrounding spaces: nan in any case, signed or not.
NAN_SPELLINGS = frozenset(sign + n1 + a + n2 for sign in ("", "+", "-") for n1 in "nN" for a in "aA" for n2 in "nN")
# Step-axis column names (normalised) by priority, lower wins; epochs from EPOCH_PRIORITY on.
AXIS_PRIORITY = {"step": 0, "steps": 0, "global_step": 1, "iteration": 2, "iterations": 2, "iter": 2, "iters": 2, "epoch": 3, "epochs": 3}
EPOCH_PRIORITY = 3
INDEX_NAMES = frozenset({"", "index", "unnamed:_0"})  # a pandas index written as the first column
WALL_TIME_NAMES = frozenset({"wall_time", "walltime"})  # TensorBoard's "Wall time" CSV export
METRIC_WORDS = frozenset({
    "loss", "acc", "accuracy", "lr", "learning_rate", "error", "err", "mae", "mse", "rmse", "nll", "elbo",
    "ppl", "perplexity", "f1", "auc", "iou", "miou", "bleu", "wer", "cer", "precision", "recall",
    "top1", "top5", "grad_norm", "gnorm", "kl", "kld",
})
MAX_RESTART_EVENTS = 100
CSV_FIELD_LIMIT = 131072  # the csv module's default; longer fields are damage to both engines
# More columns than this cannot be diagnosed in reasonable time (each is a series through every rule):
# the columns named like a metric or the step axis are kept first, then the first others; the rest are
# skipped and reported.
MAX_COLUMNS = 10_000
# A header or first data row longer than the 64 KB head is read on up to this size to find the layout.
MAX_LAYOUT_BYTES = 64 * 1024 * 1024
SCAN_BLOCK_BYTES = 1024 * 1024  # the pandas engine checks a file's lines a block at a time
SNIFF_HEADER_SUFFIXES = frozenset({".csv", ".tsv"})  # where a header alone says "a metrics table"

_WORD_SPLIT = re.compile(r"[^a-z0-9]+")
_NAME_SPACING = re.compile(r"[\s\-]+")
# `str(tensor)` or `repr(np.float32)` written by hand-rolled loggers: the number is the first argument.
_WRAPPED_NUMBER = re.compile(r"(?:tensor|np\.float(?:16|32|64)|np\.int(?:32|64))\(\s*([^,()\s]+)")
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+(?:[eE][+-]?\d+)?")
# Every name `_names_metric_or_axis` accepts contains one of these (a prefilter, not the test itself).
_MAYBE_METRIC = re.compile(
    r"loss|acc|lr|learn|rate|grad|norm|scale|step|epoch|iter|err|ma|mse|nll|elbo|ppl|perp|f1|auc|iou|bleu|wer|cer|prec|recall|top|kl|index|time|val|test|train"
)  # matched against lower-cased names


@dataclass(frozen=True)
class Layout:
    """How a file is written, as far as its first lines tell."""

    encoding: str  # "utf-8-sig" (BOM or not) or "utf-16"
    newline: str  # "\n", or "\r" for classic-Mac files
    delimiter: str
    header_line: int  # 1-based


@dataclass
class Column:
    """One column's cells that hold numbers, by data-row number, and the junk it held."""

    name: str
    rows: np.ndarray  # int64 data-row numbers
    values: np.ndarray  # float64
    junk_count: int = 0
    first_junk: tuple[int, str] | None = None  # (line, cell text)
    lost_count: int = 0  # junk cells on rows that hold numbers: a number the file should have had
    first_lost: int | None = None  # line of the first


@dataclass(frozen=True)
class Section:
    """A header line after the first: another run appended to the file."""

    first_row: int
    line: int
    columns_changed: bool


@dataclass(frozen=True)
class ConsecutiveLines:
    """The line numbers of data rows written one per line from `first` on, as the pandas engine's
    tables are: row i is on line first + i. Indexed like the array it stands for, which is never built
    (on a 2M-row file that array alone is 16 MB of fresh memory)."""

    first: int
    size: int

    def __getitem__(self, rows):
        return rows + self.first


@dataclass
class Table:
    """What an engine read: every column, where each data row sits in the file, and what it noticed."""

    header: list[str]  # the first header's column names, in file order
    columns: list[Column]  # every column seen, first-seen order
    lines: np.ndarray | ConsecutiveLines  # 1-based physical line of each data row (int64)
    sections: list[Section] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    truncated_line: int | None = None  # a last line cut off mid-write
    engine: str = "stdlib"
    damage: list[tuple[str, int | None]] = field(default_factory=list)  # (what was lost, line): integrity events


@dataclass(frozen=True)
class Axis:
    name: str  # column name, or "row" for the row index
    column: Column | None
    unit: str  # "step" or "epoch"


# ---------------------------------------------------------------- sniffing


def sniff(path: Path, head: bytes) -> bool:
    """A text file whose first non-empty line is a header naming metrics, followed by a row of numbers.

    A `.csv`/`.tsv` file whose header is longer than the head (10^6 columns) is claimed when the
    head's part of it reads as a header; `read` looks further for its first data row.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in TEXT_SUFFIXES:
        return False
    if detect_layout(head) is not None:
        return True
    return suffix in SNIFF_HEADER_SUFFIXES and len(head) >= HEAD_BYTES and _header_only(head)


def unclaimed_reason(path: Path, head: bytes) -> str | None:
    """Why a file named like a CSV is not read, when it is a header without data rows (else None)."""
    if Path(path).suffix.lower() in SNIFF_HEADER_SUFFIXES and _header_only(head):
        return "a CSV header but no data rows"
    return None


def _header_only(head: bytes) -> bool:
    """The head is one header line (maybe cut off by the head's end) and nothing after it."""
    text, _ = _decode_head(head)
    if text is None:
        return False
    lines = _first_nonblank_lines(text.replace("\r", "\n").split("\n"), 2)
    if len(lines) != 1:
        return False
    header = lines[0][1]
    return any(looks_like_header(_split_line(header, delimiter)) for delimiter in DELIMITERS)


def detect_layout(head: bytes) -> Layout | None:
    """The file's encoding, line ending, delimiter and header line, or None when it is not a metrics CSV."""
    text, encoding = _decode_head(head)
    if text is None:
        return None
    newline = "\n" if "\n" in text or "\r" not in text else "\r"
    first_two = _first_nonblank_lines(text.split(newline), 2)
    if len(first_two) < 2:
        return None
    (header_line, header_text), (_, data_text) = first_two
    delimiter = _pick_delimiter(header_text, data_text)
    if delimiter is None:
        return None
    return Layout(encoding, newline, delimiter, header_line)


def _decode_head(head: bytes) -> tuple[str | None, str]:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head[: len(head) // 2 * 2].decode("utf-16", errors="replace"), "utf-16"
    second_line_end = head.find(b"\n", head.find(b"\n") + 1)
    if b"\x00" in head[: second_line_end if second_line_end >= 0 else len(head)]:
        return None, ""  # binary: event files, checkpoints, archives (NULs later are damage, read around)
    return head.decode("utf-8-sig", errors="replace"), "utf-8-sig"


def _first_nonblank_lines(lines: list[str], count: int) -> list[tuple[int, str]]:
    found = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            found.append((number, line.rstrip("\r")))
            if len(found) == count:
                break
    return found


def _pick_delimiter(header_text: str, data_text: str) -> str | None:
    """The delimiter that splits the header into names and the next line into numbers (same width preferred)."""
    best, best_score = None, None
    for delimiter in DELIMITERS:
        header, data = _split_line(header_text, delimiter), _split_line(data_text, delimiter)
        if not (looks_like_header(header) and _looks_like_data(data, decimal_comma=delimiter != ",")):
            continue
        score = (len(header) == len(data), len(header))
        if best_score is None or score > best_score:
            best, best_score = delimiter, score
    return best


def _split_line(text: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([text], delimiter=delimiter), [])
    except csv.Error:
        return []


def looks_like_header(fields: list[str]) -> bool:
    """Two or more names, none a number, at least one naming a metric or the step axis."""
    if len(fields) < 2 or any("=" in name or len(name) > 200 for name in fields):
        return False
    if any(_is_number(name) for name in fields):
        return False
    return any(_names_metric_or_axis(name) for name in fields)


def _names_metric_or_axis(name: str) -> bool:
    if not name.strip():
        return False
    if normalise_name(name) in AXIS_PRIORITY or role_for(name) != "other":
        return True
    words = [word for word in _WORD_SPLIT.split(name.lower()) if word]
    return any(word in METRIC_WORDS for word in words) or "_".join(words) in METRIC_WORDS


def _looks_like_data(fields: list[str], decimal_comma: bool) -> bool:
    """At least one number, and no more text cells than numbers (a free-form log line has none)."""
    if len(fields) < 2:
        return False
    numbers = texts = 0
    for cell in fields:
        if _is_cell_number(cell, decimal_comma):
            numbers += 1
        elif cell.strip() not in NOT_LOGGED:
            texts += 1
    return numbers >= 1 and numbers >= texts


def _is_cell_number(text: str, decimal_comma: bool) -> bool:
    if _is_number(text):
        return True
    try:
        return unusual_cell_value(text, decimal_comma) is not None
    except ValueError:
        return False


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def normalise_name(name: str) -> str:
    return _NAME_SPACING.sub("_", name.strip().lower())


# ---------------------------------------------------------------- cells


def unusual_cell_value(text: str, decimal_comma: bool) -> float | None:
    """A cell `float()` refused: None when it says "not logged", its number when wrapped; ValueError for junk."""
    stripped = text.strip()
    if stripped in NOT_LOGGED:
        return None
    match = _WRAPPED_NUMBER.match(stripped)
    if match:
        return float(match.group(1))
    if decimal_comma and _DECIMAL_COMMA.fullmatch(stripped):
        return float(stripped.replace(",", "."))
    raise ValueError(stripped)


def column_names(fields: list[str]) -> tuple[list[str], list[str]]:
    """Clean header names (stripped, unique) and a warning per renamed duplicate."""
    names: list[str] = []
    taken: set[str] = set()  # a set, not the list: a header of 10^6 names must not cost 10^12 steps
    next_suffix: dict[str, int] = {}  # per repeated name, the suffix to try first (10^6 copies stay linear)
    warnings: list[str] = []
    for position, raw in enumerate(fields):
        name = raw.strip().lstrip("\ufeff").strip()
        if not name and position > 0:
            name = f"column {position + 1}"
        if name in taken:
            suffix = next_suffix.get(name, 1)
            while f"{name}.{suffix}" in taken:
                suffix += 1
            next_suffix[name] = suffix + 1
            renamed = f"{name}.{suffix}"
            warnings.append(f"duplicate column name {name!r}; the later one is read as {renamed!r}")
            name = renamed
        names.append(name)
        taken.add(name)
    return names, warnings


# ---------------------------------------------------------------- reading


def read(path: Path, engine: str = "auto") -> RunPart:
    """Every numeric column as a series over the file's step axis; `engine` forces stdlib or pandas."""
    return part_from_table(read_table(Path(path), engine))


def read_table(path: Path, engine: str = "auto") -> Table:
    """The file's cells by the engine asked for (pandas only where it reads them exactly as the stdlib does)."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
    head = read_head(path)
    if not head.strip():
        raise ReadError("empty file")
    layout = detect_layout(head)
    if layout is None:
        layout = _layout_past_head(path, head)
    if layout is None:
        raise ReadError("no CSV header followed by a row of numbers")
    use_pandas = engine == "pandas" or (engine == "auto" and os.path.getsize(path) >= PANDAS_MIN_BYTES)
    table = _pandas_table(path, layout) if use_pandas else None
    if table is None:
        table = _stdlib_table(path, layout)
    if table.lines.size == 0:
        raise ReadError("a header but no data rows")
    return table


def _layout_past_head(path: Path, head: bytes) -> Layout | None:
    """The layout of a file whose header or first data row is longer than the head (10^6 columns)."""
    if len(head) < HEAD_BYTES or head.count(b"\n") + head.count(b"\r") > 2:
        return None  # the head held whole lines and they are not a header and data
    with open(path, "rb") as handle:
        longer = handle.read(MAX_LAYOUT_BYTES)
    return detect_layout(longer)


def _maybe_metric_positions(names: list[str]) -> set[int]:
    """Positions of the names that could name a metric or the axis: one regex pass over the joined header."""
    joined = "\n".join(names).lower()
    ends = np.cumsum([len(name) + 1 for name in names])
    starts = [match.start() for match in _MAYBE_METRIC.finditer(joined)]
    return set(np.searchsorted(ends, starts, side="right").tolist())


class _Discarded:
    """Where the cells of columns past MAX_COLUMNS go: nowhere."""

    __slots__ = ()

    def append(self, _value) -> None:
        pass

    def __len__(self) -> int:
        return 0


class _ColumnBuilder:
    """One column's numbers as they are read, in growable C arrays."""

    __slots__ = ("name", "rows", "values", "junk_count", "first_junk", "lost_count", "first_lost")

    def __init__(self, name: str) -> None:
        self.name = name
        self.rows = array("q")
        self.values = array("d")
        self.junk_count = 0
        self.first_junk: tuple[int, str] | None = None
        self.lost_count = 0
        self.first_lost: int | None = None

    def add_junk(self, line: int, text: str, beside_numbers: bool) -> None:
        self.junk_count += 1
        if self.first_junk is None:
            self.first_junk = (line, text.strip()[:40])
        if beside_numbers:  # a stray line of text (an error message) has no number in any cell
            self.lost_count += 1
            self.first_lost = self.first_lost or line

    def finish(self) -> Column:
        return Column(self.name, np.frombuffer(self.rows, dtype=np.int64).copy(), np.frombuffer(self.values, dtype=np.float64).copy(), self.junk_count, self.first_junk, self.lost_count, self.first_lost)


def _stdlib_table(path: Path, layout: Layout) -> Table:
    reading = _StdlibReading(layout.delimiter)
    with open(path, encoding=layout.encoding, errors="replace", newline=layout.newline) as handle:
        # newline="\n" keeps Windows Keras's \r\r\n one line, so line_num is the physical line.
        reader = csv.reader(handle, delimiter=layout.delimiter)
        while True:
            try:
                reading.read_records(reader)
                break
            except csv.Error:
                reading.note_damage(reader.line_num)  # the reader resumes on the next line
    return reading.finish(_ends_with_line_break(path))


def _ends_with_line_break(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(max(0, os.path.getsize(path) - 4))
        return handle.read().rstrip(b"\x00").endswith((b"\n", b"\r"))  # UTF-16 puts a NUL beside it


class _StdlibReading:
    """Record by record: the header and any repeated one, data rows, ragged rows, damage, a cut-off last line."""

    def __init__(self, delimiter: str) -> None:
        self.decimal_comma = delimiter != ","
        self.columns: dict[str, _ColumnBuilder] = {}
        self.positions: list[_ColumnBuilder] = []  # the current header: field position -> column
        self.header: list[str] = []
        self.lines = array("q")
        self.sections: list[Section] = []
        self.warnings: list[str] = []
        self.ragged_rows, self.first_ragged_line = 0, 0
        self.damaged, self.first_damaged_line = 0, 0
        self.previous_end = 0  # line_num after the previous record
        self.last_record: tuple[list[str], int, int, bool] | None = None  # fields, line, row of the last data row, and whether it held a number
        self.damage: list[tuple[str, int | None]] = []
        self.discarded = _ColumnBuilder("")  # the sink of columns past MAX_COLUMNS
        self.discarded.rows, self.discarded.values = _Discarded(), _Discarded()

    def read_records(self, reader) -> None:
        """The hot loop: one float() per non-empty cell; everything unusual goes to the slow helpers."""
        lines, decimal_comma = self.lines, self.decimal_comma
        slots = [(column, column.rows.append, column.values.append) for column in self.positions]
        for fields in reader:
            line = self.previous_end + 1
            self.previous_end = reader.line_num
            if len(fields) != len(slots) and not self._irregular_record_is_data(fields, line):
                slots = [(column, column.rows.append, column.values.append) for column in self.positions]
                continue
            row = len(lines)
            found_number = False
            junk = None
            for (column, append_row, append_value), text in zip(slots, fields):
                if not text:
                    continue
                try:
                    value = float(text)
                except ValueError:
                    try:
                        value = unusual_cell_value(text, decimal_comma)
                    except ValueError:
                        junk = (junk or []) + [(column, text)]
                        continue
                    if value is None:
                        continue
                append_value(value)
                append_row(row)
                found_number = True
            if junk is not None:
                if not found_number and self._is_new_header(fields):
                    self._start_section(fields, line)
                    slots = [(column, column.rows.append, column.values.append) for column in self.positions]
                    self.last_record = None
                    continue
                for column, text in junk:
                    column.add_junk(line, text, found_number)
            lines.append(line)
            self.last_record = (fields, line, row, found_number)

    def _irregular_record_is_data(self, fields: list[str], line: int) -> bool:
        """A blank line, the first header, a header of another width, or a ragged data row (True)."""
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            return False
        if not self.positions or self._is_new_header(fields):
            self._start_section(fields, line)
            self.last_record = None
            return False
        self.ragged_rows += 1
        self.first_ragged_line = self.first_ragged_line or line
        return True

    def _is_new_header(self, fields: list[str]) -> bool:
        """A header line again (append mode), perhaps with columns added: it must share a name with the last one.

        Otherwise a stray line such as `RuntimeError: loss is nan, stopping` would rename every column.
        """
        if not looks_like_header(fields):
            return False
        current = {column.name for column in self.positions if column is not self.discarded}
        return any(name in current for name in column_names(fields)[0])

    def _start_section(self, fields: list[str], line: int) -> None:
        names, warnings = column_names(fields)
        if self.positions:
            changed = names != [column.name for column in self.positions]
            self.sections.append(Section(len(self.lines), line, changed))
        else:
            self.header = names
        self.warnings.extend(warning for warning in warnings[:10] if warning not in self.warnings)
        more = f"... and {len(warnings) - 10} more duplicate column names"
        if len(warnings) > 10 and more not in self.warnings:  # once, like the others, for a header repeated
            self.warnings.append(more)
        kept = self._columns_to_keep(names, line)
        self.positions = [self.columns.setdefault(name, _ColumnBuilder(name)) if keep else self.discarded for name, keep in zip(names, kept)]

    def _columns_to_keep(self, names: list[str], line: int) -> list[bool]:
        """All columns, or past MAX_COLUMNS those named like a metric or the axis first, then the first others."""
        room = MAX_COLUMNS - len(self.columns)
        new = [name not in self.columns for name in names]
        if sum(new) <= room:
            return [True] * len(names)
        maybe = _maybe_metric_positions(names)  # the full check costs ~15 us a name: too much for 10^6
        named = [is_new and position in maybe and _names_metric_or_axis(name) for position, (name, is_new) in enumerate(zip(names, new))]
        kept = [not is_new for is_new in new]
        for position in [index for index, flag in enumerate(named) if flag] + [index for index, flag in enumerate(new) if flag and not named[index]]:
            if room <= 0:
                break
            kept[position] = True
            room -= 1
        skipped = len(names) - sum(kept)
        message = f"line {line}: a header of {len(names)} columns; only {MAX_COLUMNS} columns are read per file (those named like a metric or the step axis first), {skipped} columns skipped"
        self.warnings.append(message)
        self.damage.append((message, line))
        return kept

    def note_damage(self, line_num: int) -> None:
        self.damaged += 1
        self.first_damaged_line = self.first_damaged_line or line_num
        self.previous_end = line_num

    def _drop_cut_off_cell(self) -> int | None:
        """A last line cut off mid-write loses its last cell: "1.5e-05" may have been written as "1.5"."""
        if self.last_record is None:
            return None
        fields, line, row, held_number = self.last_record
        if len(fields) >= len(self.positions) or not fields[-1].strip():
            return None
        column = self.positions[len(fields) - 1]
        if column is self.discarded:
            pass
        elif column.rows and column.rows[-1] == row:
            column.rows.pop()  # it was read as a number
            column.values.pop()
        elif fields[-1].strip() not in NOT_LOGGED:
            column.junk_count -= 1  # it was counted as junk ("1.5e-" is a cut number, not junk)
            if column.junk_count == 0:
                column.first_junk = None
            if held_number:  # then it was also counted as a number lost (`add_junk`)
                column.lost_count -= 1
                if column.lost_count == 0:
                    column.first_lost = None
        self.ragged_rows -= 1
        if self.first_ragged_line == line:
            self.first_ragged_line = 0
        return line

    def finish(self, ends_with_line_break: bool) -> Table:
        truncated_line = None if ends_with_line_break else self._drop_cut_off_cell()
        warnings = list(self.warnings)
        if self.ragged_rows:
            rows = "1 row has" if self.ragged_rows == 1 else f"{self.ragged_rows} rows have"
            warnings.append(f"{rows} a different number of fields than the header (first at line {self.first_ragged_line}); missing cells read as not logged, extra cells ignored")
            self.damage.append((warnings[-1], self.first_ragged_line))
        if self.sections:
            header_lines = ", ".join(str(section.line) for section in self.sections[:10])
            warnings.append(f"a header line again at line {header_lines}{' ...' if len(self.sections) > 10 else ''}: runs appended to one file, each read as a restart")
        if self.damaged:
            warnings.append(f"{self.damaged} records could not be parsed as CSV (first ending at line {self.first_damaged_line}); skipped")
            self.damage.append((warnings[-1], self.first_damaged_line))
        if truncated_line is not None:
            warnings.append(f"the last line ({truncated_line}) was cut off mid-write; its last cell was dropped")
        elif not ends_with_line_break:
            warnings.append(no_final_newline_warning())
        columns = [builder.finish() for builder in self.columns.values()]
        lines = np.frombuffer(self.lines, dtype=np.int64).copy()
        return Table(self.header, columns, lines, self.sections, warnings, truncated_line, "stdlib", self.damage)


def no_final_newline_warning() -> str:
    return "the file does not end with a newline; its last line was read as written"


# ---------------------------------------------------------------- pandas engine


def _pandas_table(path: Path, layout: Layout) -> Table | None:
    """The table by the pandas C engine, or None when the file holds anything only the stdlib engine reads right."""
    if layout.encoding != "utf-8-sig" or layout.newline != "\n" or layout.header_line != 1:
        return None
    scan = _scan_file(path, layout.delimiter)
    if scan is None or scan.line_count < 2:
        return None  # quotes, NULs, lone \r, ragged, blank or huge lines: the stdlib engine reads around them
    header_fields, literal_nans = scan.header_fields, scan.literal_nans
    import pandas

    options = dict(sep=layout.delimiter, header=None, skiprows=1, names=list(range(len(header_fields))), index_col=False, quoting=csv.QUOTE_NONE, encoding="utf-8", encoding_errors="replace")
    # nan spellings are read as NaN with the not-logged ones, so a column with a literal nan stays
    # numeric (C speed); `_literal_nan_cells` then tells the two apart by the cells' bytes.
    na_options = dict(keep_default_na=False, na_values=sorted(NOT_LOGGED | NAN_SPELLINGS), skip_blank_lines=False)
    try:
        frame, typed = _read_frame(path, scan.may_hold_text, {**na_options, **options})
    except pandas.errors.ParserError:  # a line with more cells than the header (`_scan_file`): the stdlib engine reads around it
        return None
    if len(frame) != scan.line_count - 1:  # the file changed since it was read: the stdlib engine reads it again
        return None
    names, warnings = column_names(header_fields)
    text_positions = [position for position in range(len(names)) if frame[position].dtype.kind not in "iuf"]
    texts = _text_cells(path, frame, text_positions, literal_nans, options)
    if texts is None:
        return None
    negative_zeros = {} if typed else _negative_zero_cells(path, layout.delimiter, len(header_fields))
    lines = ConsecutiveLines(2, len(frame))
    every_row = None  # the rows of a dense column: made once, shared (nothing writes to rows)
    columns = []
    for position, name in enumerate(names):
        if position in text_positions:
            columns.append(_column_from_texts(name, texts[position], lines, layout.delimiter != ","))
            continue
        values = frame[position].to_numpy(dtype=np.float64, copy=False)  # not written to: the column's values are values[rows]
        present = ~np.isnan(values)
        nan_rows, nan_values = literal_nans.get(position, (None, None))
        zero_rows = negative_zeros.get(position)
        if nan_rows is not None:
            present[nan_rows] = True
        if present.all():  # a dense column: every row, no gather
            every_row = np.arange(len(frame), dtype=np.int64) if every_row is None else every_row
            rows = every_row
            # a copy, unless nothing is written to it and it never reaches a series (a view keeps the whole frame)
            kept = values if nan_rows is None and zero_rows is None and _names_bookkeeping(name, names) else values.copy()
        else:
            rows = np.flatnonzero(present)
            kept = values[rows]
        if nan_rows is not None:
            kept[np.searchsorted(rows, nan_rows)] = nan_values  # the sign each nan cell was written with
        if zero_rows is not None:
            kept[np.searchsorted(rows, zero_rows)] = -0.0
        columns.append(Column(name, rows, kept))
    if _has_header_like_rows(columns, text_positions, len(frame)):
        return None  # a repeated header: the stdlib engine splits the runs
    if not scan.ends_with_line_break:
        warnings.append(no_final_newline_warning())
    return Table(names, columns, lines, [], warnings, None, "pandas")


def _read_frame(path: Path, may_hold_text: bool, options: dict):
    """pandas' reading, and whether it is typed as float64 throughout: every cell a number, it parses
    floats straight away; else it types each column itself, and the text columns are read cell by cell
    (`_text_cells`). Either way in threads of its own."""
    import pandas

    if not may_hold_text:
        try:
            return pandas.read_csv(path, dtype=np.float64, **options), True
        except pandas.errors.ParserError:
            raise
        except ValueError:  # a cell of text further on
            pass
    with catch_warnings():  # a column typed apart in two parts of the file is read again as text (`_text_cells`)
        simplefilter("ignore", pandas.errors.DtypeWarning)
        return pandas.read_csv(path, **options), False


@dataclass
class _Scan:
    """What one pass over a quote-free, rectangular file found (see `_scan_file`)."""

    header_fields: list[str]
    line_count: int  # header first
    literal_nans: dict[int, tuple[np.ndarray, np.ndarray]]  # column position -> (data rows, values)
    ends_with_line_break: bool
    may_hold_text: bool  # text on the first data line, or maybe a true/false anywhere (`_may_hold_bool`)


def _scan_file(path: Path, delimiter: str) -> _Scan | None:
    """The header, line count and literal nan cells (`_literal_nan_cells`) of a file the pandas engine
    reads exactly as the stdlib one, or None: quoted fields, NULs or lone \r (then line and field
    boundaries are not plain bytes), lines holding another number of cells than the header in all, a
    first data line holding another number, or a line longer than CSV_FIELD_LIMIT.

    Counting delimiters and line breaks proves the lines rectangular only together with pandas, which
    raises ParserError on any line but the first data line that holds more cells than the header: then
    no line holds more, and none can hold fewer without the counts showing it (`_pandas_table`).

    The file is read a block of whole lines at a time into one buffer: no copy of the whole file, and
    every temporary array stays small (the file's separators at once would be 8 bytes per cell).
    """
    header_fields: list[str] | None = None
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    line_count = pending = 0
    ends_with_line_break = may_hold_text = False
    # A line cut off by a block's end moves to the buffer's front and the next block is read after it;
    # a longer one than CSV_FIELD_LIMIT is given up on, so it always fits.
    block = bytearray(SCAN_BLOCK_BYTES + CSV_FIELD_LIMIT + 1)
    buffer = np.frombuffer(block, dtype=np.uint8)
    with open(path, "rb", buffering=0) as handle, memoryview(block) as view:
        while True:
            count = handle.readinto(view[pending:pending + SCAN_BLOCK_BYTES])
            stop = pending + count
            if count:
                ends_with_line_break = block[stop - 1] == ord("\n")
                cut = block.rfind(b"\n", 0, stop) + 1  # the block's whole lines are block[:cut]
                if cut == 0:  # no line break yet
                    if stop > CSV_FIELD_LIMIT:
                        return None
                    pending = stop
                    continue
            elif not stop:
                break
            else:
                cut = stop  # the last line, without a line break
            if stop - cut > CSV_FIELD_LIMIT:
                return None  # the line cut off at the block's end is already too long
            if block.find(b'"', 0, cut) >= 0 or block.find(b"\x00", 0, cut) >= 0 or (block.find(b"\r", 0, cut) >= 0 and block.count(b"\r", 0, cut) != block.count(b"\r\n", 0, cut)):
                return None
            first_data = 0
            if header_fields is None:
                header_end = block.find(b"\n", 0, cut)
                if header_end < 0:
                    return None
                header_fields = bytes(block[:header_end]).decode("utf-8-sig", errors="replace").rstrip("\r").split(delimiter)
                if len(header_fields) > MAX_COLUMNS:
                    return None
                first_data = header_end + 1
            first_data_line_here = line_count + (first_data > 0) == 1 and first_data < cut  # line 2 is in this block
            if first_data_line_here:
                first_data_end = block.find(b"\n", first_data, cut)
                first_line = bytes(block[first_data : cut if first_data_end < 0 else first_data_end])
                if first_line.count(delimiter.encode()) != len(header_fields) - 1:
                    return None  # the first data line: pandas reads more cells there without an error
                may_hold_text = holds_text(first_line, delimiter)
            if _has_long_line(block, cut):
                return None
            whole = buffer[:cut]
            lines = int(np.count_nonzero(whole == ord("\n"))) + (count == 0)
            if int(np.count_nonzero(whole == ord(delimiter))) != lines * (len(header_fields) - 1):
                return None
            may_hold_text = may_hold_text or _may_hold_bool(block, first_data, cut)
            letters = _nan_letters(block, buffer, first_data, cut)
            if letters.size:
                cell_ends = _cell_ends(buffer, cut, count == 0, delimiter, len(header_fields))
                if cell_ends is None:
                    return None
                parts.append(_literal_nan_cells(buffer, cell_ends, letters, line_count))
            line_count += lines
            if not count:
                break
            block[: stop - cut] = block[cut:stop]
            pending = stop - cut
    if header_fields is None:
        return None
    literal_nans = {}
    if parts:
        rows, positions, values = (np.concatenate(part) for part in zip(*parts))
        literal_nans = {int(position): (rows[positions == position], values[positions == position]) for position in np.unique(positions)}
    return _Scan(header_fields, line_count, literal_nans, ends_with_line_break, may_hold_text)


def _may_hold_bool(block: bytearray, start: int, stop: int) -> bool:
    """Whether block[start:stop] may hold a true or false, which pandas' float64 reading takes for 1 and
    0 without a word: every spelling holds an r or an s, and no number or not-logged spelling does."""
    return any(block.find(letter, start, stop) >= 0 for letter in (b"r", b"s", b"R", b"S"))


def _nan_letters(block: bytearray, buffer: np.ndarray, start: int, stop: int) -> np.ndarray:
    """The offsets in block[start:stop] of each "a" between two "n"s, in any case: the only places a nan
    spelling can be. A block without an "a" (every block of numbers) is passed over at once."""
    if block.find(b"a", start, stop) < 0 and block.find(b"A", start, stop) < 0:
        return np.empty(0, dtype=np.int64)
    lowered = buffer[start:stop] | 0x20
    letters = np.flatnonzero(lowered[1:-1] == ord("a")) + 1
    letters = letters[(lowered[letters - 1] == ord("n")) & (lowered[letters + 1] == ord("n"))]
    return letters + start


def _has_long_line(block: bytearray, stop: int) -> bool:
    """Whether a line of block[:stop] (whole lines, the last maybe without its line break) is longer
    than CSV_FIELD_LIMIT, its line break counted (one past its end for a last line without one).

    A line that long starts somewhere with no line break in the CSV_FIELD_LIMIT bytes from there:
    one `rfind` per CSV_FIELD_LIMIT bytes, each jumping to just past the last line break it finds.
    """
    position = 0
    while stop - position >= CSV_FIELD_LIMIT:
        line_break = block.rfind(b"\n", position, position + CSV_FIELD_LIMIT)
        if line_break < 0:
            return True
        position = line_break + 1
    return False


def _cell_ends(buffer: np.ndarray, stop: int, cut_off: bool, delimiter: str, width: int) -> np.ndarray | None:
    """Per line of buffer[:stop] (whole lines; the last without its line break when `cut_off`), the
    byte offset where each of its `width` cells ends (at its delimiter or line break, or `stop`), or
    None when some line holds another number of cells.

    One pass finds every delimiter and line break; the lines are rectangular exactly when every
    `width`-th of them, and only those, is a line break.
    """
    block = buffer[:stop]
    is_separator = block == ord("\n")
    line_breaks = int(np.count_nonzero(is_separator))
    is_separator |= block == ord(delimiter)
    separators = np.flatnonzero(is_separator)
    if cut_off:
        separators = np.append(separators, stop)  # a last line without a newline
        line_breaks += 1
    if separators.size != line_breaks * width:
        return None
    ends = separators.reshape(line_breaks, width)
    last = ends[:, -1]
    complete = last[:-1] if cut_off else last
    if not bool(np.all(buffer[complete] == ord("\n"))):
        return None
    return ends


def _literal_nan_cells(buffer: np.ndarray, cell_ends: np.ndarray, letters: np.ndarray, first_line: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The data rows, column positions and values of the cells that are a nan spelling (a point, as
    `float()` reads it, sign included): pandas read them as NaN, like the empty and not-logged cells.
    `cell_ends` holds the block's lines from its byte 0, the first being line `first_line` (0 is the
    header).

    Only the cells around the "a" of a possible nan (`letters`, from `_nan_letters`) are looked at.
    """
    flat = np.concatenate(([-1], cell_ends.ravel()))  # the block's first line starts at byte 0
    cells = np.unique(np.searchsorted(flat, letters))  # the cell holding each `a` (its end is after it), from 1
    ends, starts = flat[cells], flat[cells - 1] + 1
    cells -= 1
    width = cell_ends.shape[1]
    last_column = cells % width == width - 1
    ends = ends - (last_column & (ends > starts) & (buffer[ends - 1] == ord("\r")))  # \r\n line ends
    signed = np.isin(buffer[starts], (ord("+"), ord("-"))) & (ends - starts == 4)
    first = starts + signed
    is_nan = ends - first == 3
    for offset, letter in enumerate(b"nan"):
        is_nan &= (buffer[np.minimum(first + offset, buffer.size - 1)] | 0x20) == letter
    cells, negative = cells[is_nan], signed[is_nan] & (buffer[starts[is_nan]] == ord("-"))
    rows, positions = np.divmod(cells, width)
    return rows + first_line - 1, positions, np.where(negative, -np.nan, np.nan)


NEGATIVE_ZERO_CHUNK = 16 << 20  # bytes compared at once when looking for a "-" before a "0"
_BLANKS = np.array([ord(" "), ord("\t"), 0x0B, 0x0C])  # what pandas skips around a whole number (\r only at a line end)


def _negative_zero_cells(path: Path, delimiter: str, width: int) -> dict[int, np.ndarray]:
    """Per column position, the data rows of cells written as a whole negative zero ("-0", " -00 "):
    where pandas types a column, or a part of a large file's column, as integers, -0 is 0 (the typed
    float64 reading keeps the sign). Only a "-" before a "0" is looked at closely: in almost every
    file there is none that ends its cell, and nothing more is done."""
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        if mapped.find(b"-0") < 0:
            return {}
        data = np.frombuffer(mapped, dtype=np.uint8)
        try:
            minus_zeros = _whole_negative_zeros(data, delimiter)
            return _cells_at(data, minus_zeros, delimiter, width) if minus_zeros.size else {}
        finally:
            del data  # the map cannot close while an array still points into it


def _whole_negative_zeros(data: np.ndarray, delimiter: str) -> np.ndarray:
    """The offsets of the "-" of each cell that is blanks, a "-", zeros and blanks (\r too at its end)."""
    minus = np.concatenate([np.empty(0, dtype=np.int64), *(_minus_before_zero(data, start) for start in range(0, data.size - 1, NEGATIVE_ZERO_CHUNK))])
    if not minus.size:
        return minus
    cell_ends = (ord(delimiter), ord("\n"))
    blanks = _BLANKS[_BLANKS != ord(delimiter)]  # a tab is a blank, unless it parts the cells
    before = _skip_bytes(data, minus - 1, blanks, -1)
    after = _skip_bytes(data, _skip_bytes(data, minus + 1, np.array([ord("0")]), 1), np.append(blanks, ord("\r")), 1)
    starts_cell = (before >= 0) & np.isin(data[np.maximum(before, 0)], cell_ends)
    ends_cell = (after >= data.size) | np.isin(data[np.minimum(after, data.size - 1)], cell_ends)
    return minus[starts_cell & ends_cell]


def _minus_before_zero(data: np.ndarray, start: int) -> np.ndarray:
    """The offsets of each "-" followed by a "0" in the chunk from `start`."""
    stop = min(start + NEGATIVE_ZERO_CHUNK, data.size - 1)
    return np.flatnonzero((data[start:stop] == ord("-")) & (data[start + 1 : stop + 1] == ord("0"))) + start


def _skip_bytes(data: np.ndarray, positions: np.ndarray, skipped: np.ndarray, step: int) -> np.ndarray:
    """Each position moved by `step` past the bytes in `skipped` (to -1 or data.size at the ends)."""
    positions = positions.copy()
    while True:
        inside = np.flatnonzero((positions >= 0) & (positions < data.size))
        moving = inside[np.isin(data[positions[inside]], skipped)]
        if not moving.size:
            return positions
        positions[moving] += step


def _cells_at(data: np.ndarray, offsets: np.ndarray, delimiter: str, width: int) -> dict[int, np.ndarray]:
    """Per column position, the data rows (the header is line 0) of the cells holding each offset."""
    line_breaks = _offsets_of(data, ord("\n"))
    delimiters = _offsets_of(data, ord(delimiter))
    lines = np.searchsorted(line_breaks, offsets)  # line breaks before each offset: its line
    line_starts = line_breaks[lines - 1] + 1  # line 0 is the header: no offset lies in it
    positions = np.searchsorted(delimiters, offsets) - np.searchsorted(delimiters, line_starts)
    return {int(position): lines[positions == position] - 1 for position in np.unique(positions) if position < width}


def _offsets_of(data: np.ndarray, byte: int) -> np.ndarray:
    return np.concatenate([np.flatnonzero(data[start : start + NEGATIVE_ZERO_CHUNK] == byte) + start for start in range(0, data.size, NEGATIVE_ZERO_CHUNK)])


def _text_cells(path: Path, frame, text_positions: list[int], literal_nans: dict, options: dict) -> dict[int, np.ndarray] | None:
    """Per column pandas could not type as numbers, its cells as written ("" where not logged), or None
    when the file changed since it was scanned.

    pandas' reading already holds them, but for two things: a not-logged cell and a nan cell are both
    NaN there (the scan's `literal_nans` tells them apart), and a column typed one way in one part of the
    file and another way in the next holds numbers beside strings (it is read again, as text).
    """
    from pandas.api.types import infer_dtype

    texts, read_again = {}, []
    for position in text_positions:
        cells = frame[position].to_numpy(dtype=object)
        if infer_dtype(cells, skipna=True) not in ("string", "empty"):
            read_again.append(position)
            continue
        cells[frame[position].isna().to_numpy()] = ""
        nan_rows, nan_values = literal_nans.get(position, (None, None))
        if nan_rows is not None:
            cells[nan_rows] = np.where(np.signbit(nan_values), "-nan", "nan")
        texts[position] = cells
    if read_again:
        import pandas

        again = pandas.read_csv(path, usecols=read_again, dtype=str, na_filter=False, low_memory=False, **options)
        if len(again) != len(frame):
            return None
        texts.update((position, again[position].to_numpy(dtype=object)) for position in read_again)
    return texts


# The bytes of every cell `float()` or `unusual_cell_value` reads as a number or as "not logged", but
# for a wrapped number (`_WRAPPED_NUMBER`), which holds a "(". Bytes from 0x80 on may be part of a
# Unicode digit or space, which `float()` reads too: only ASCII bytes tell.
_NUMBER_BYTES = frozenset(b"0123456789+-._eE, \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f" + b"infinityINFINITYnanNAN" + b"NoneNULLnull<>/")
_JUNK, _PARENTHESIS, _CELL_END = 1, 2, 4
# Per byte (a `bytes.translate` table): _JUNK for one no number holds, _PARENTHESIS for "(", _CELL_END for 0.
_BYTE_FLAGS = bytes(_CELL_END if byte == 0 else _PARENTHESIS if byte == ord("(") else _JUNK * (byte < 0x80 and byte not in _NUMBER_BYTES) for byte in range(256))
JUNK_CHECK_CELLS = 1 << 16  # cells per block: the temporaries stay small


def certainly_junk(texts: np.ndarray) -> np.ndarray:
    """Per text, whether it holds a byte no number holds and no "(": junk to `float()` and to
    `unusual_cell_value` alike, without asking either (a timestamp column is a million such cells)."""
    junk = np.zeros(texts.size, dtype=bool)
    for start in range(0, texts.size, JUNK_CHECK_CELLS):
        block = texts[start : start + JUNK_CHECK_CELLS]
        flags = np.frombuffer(("\x00".join(block) + "\x00").encode("utf-8", "surrogatepass").translate(_BYTE_FLAGS), dtype=np.uint8)
        starts = np.concatenate(([0], np.flatnonzero(flags == _CELL_END)[:-1] + 1))  # each cell ends at a 0
        if starts.size == block.size:  # else a cell holds a 0 itself (never in a scanned file): all are asked
            junk[start : start + block.size] = np.bitwise_or.reduceat(flags, starts) & (_JUNK | _PARENTHESIS) == _JUNK
    return junk


def holds_text(line: bytes, delimiter: str) -> bool:
    """Whether a line's cells hold a byte no number holds: then pandas cannot type every column as numbers."""
    return any(line.replace(delimiter.encode(), b"").translate(_BYTE_FLAGS))


def _column_from_texts(name: str, cells: np.ndarray, lines: ConsecutiveLines, decimal_comma: bool) -> Column:
    """A column pandas could not type as numbers, cell by cell with the stdlib engine's rules (only the
    cells that may be numbers: `certainly_junk` sets the others aside at once)."""
    written = np.flatnonzero(cells != "")
    junk = certainly_junk(cells[written])
    rows, values = array("q"), array("d")
    junk_count = int(np.count_nonzero(junk))
    first_junk_row = int(written[junk][0]) if junk_count else None
    for row in written[~junk].tolist():
        text = cells[row]
        try:
            value = float(text)
        except ValueError:
            try:
                value = unusual_cell_value(text, decimal_comma)
            except ValueError:
                junk_count += 1
                first_junk_row = row if first_junk_row is None else min(row, first_junk_row)
                continue
            if value is None:
                continue
        rows.append(row)
        values.append(value)
    first_junk = None if first_junk_row is None else (int(lines[first_junk_row]), cells[first_junk_row].strip()[:40])
    return Column(name, np.frombuffer(rows, dtype=np.int64).copy(), np.frombuffer(values, dtype=np.float64).copy(), junk_count, first_junk, junk_count, first_junk[0] if first_junk else None)


def _has_header_like_rows(columns: list[Column], text_positions: list[int], row_count: int) -> bool:
    """Rows with text in them and not one number: maybe a repeated header, which the stdlib engine handles."""
    if not any(columns[position].junk_count for position in text_positions):
        return False
    has_number = np.zeros(row_count, dtype=bool)
    for column in columns:
        has_number[column.rows] = True
    return not bool(has_number.all())


# ---------------------------------------------------------------- table -> run part


def part_from_table(table: Table) -> RunPart:
    """Series over the step axis, restart and truncation events, the framework, and every warning."""
    warnings = list(table.warnings)
    axis = choose_axis(table)
    steps, has_step = steps_by_row(table, axis)
    every_row_has_step = bool(has_step.all())
    wall_time = _wall_time_by_row(table)
    series: list[Series] = []
    stepless_values, first_stepless_line = 0, None
    damage = list(table.damage)
    for column in table.columns:
        if _is_bookkeeping(column, table) or (column.rows.size == 0 and column.junk_count == 0):
            continue
        if column.junk_count > column.rows.size:
            if role_for(column.name) != "other":
                warnings.append(f"column {column.name!r} holds text, not numbers; skipped")
            continue  # a text column: timestamps, run names, notes
        if column.junk_count:
            line, text = column.first_junk
            cells = "1 non-numeric cell" if column.junk_count == 1 else f"{column.junk_count} non-numeric cells"
            warnings.append(f"column {column.name!r}: {cells} skipped (first at line {line}: {text!r})")
            if column.lost_count:
                cells = "1 non-numeric cell" if column.lost_count == 1 else f"{column.lost_count} non-numeric cells"
                damage.append((f"column {column.name!r}: {cells} in rows of numbers skipped (first at line {column.first_lost})", column.first_lost))
        rows, values = column.rows, column.values  # the table's arrays, unless some rows have no step
        keep = None if every_row_has_step else has_step[column.rows]
        if keep is not None and not keep.all():
            stepless_values += int((~keep).sum())
            first_line = int(table.lines[column.rows[~keep][0]])
            first_stepless_line = min(first_line, first_stepless_line or first_line)
            rows, values = column.rows[keep], column.values[keep]
        series.append(make_series(
            column.name, _at_rows(steps, rows), values, locations=_at_rows(table.lines, rows),
            wall_time=None if wall_time is None else _at_rows(wall_time, rows), step_unit=axis.unit,
        ))
    if not series:
        raise ReadError("no column of numbers besides the step axis")
    if stepless_values:
        warnings.append(f"{stepless_values} values on rows without a {axis.name} were skipped (first at line {first_stepless_line})")
    events = restart_events(table, axis, steps, has_step)
    if len(events) > MAX_RESTART_EVENTS:
        warnings.append(f"{len(events)} restarts; only the first {MAX_RESTART_EVENTS} are listed")
        events = events[:MAX_RESTART_EVENTS]
    if table.truncated_line is not None:
        events.append(RunEvent("truncated", f"line {table.truncated_line} was cut off mid-write", line=table.truncated_line))
    # What the file held but could not be read as numbers: one integrity event each (LOG004).
    events.extend(RunEvent("corrupt", message, line=line) for message, line in damage)
    framework = detect_framework(table, axis)
    return RunPart(FORMAT, series, events, {"framework": framework} if framework else {}, warnings)


def _at_rows(by_row: np.ndarray | ConsecutiveLines, rows: np.ndarray) -> np.ndarray:
    """by_row[rows] for increasing rows: a plain copy (faster than the gather) when they are every row."""
    if isinstance(by_row, ConsecutiveLines) or rows.size != by_row.size:
        return by_row[rows]
    return by_row.copy()


def choose_axis(table: Table) -> Axis:
    """step > global_step > iteration > epoch > a pandas index column > the row number (one row per epoch)."""
    candidates = sorted(
        (AXIS_PRIORITY[normalise_name(column.name)], order, column)
        for order, column in enumerate(table.columns)
        if normalise_name(column.name) in AXIS_PRIORITY
    )
    for priority, _, column in candidates:
        if _holds_integers(column.values):
            return Axis(column.name, column, "epoch" if priority >= EPOCH_PRIORITY else "step")
    index = _index_column(table)
    if index is not None and _holds_integers(index.values):
        return Axis(index.name or "index", index, "epoch")
    return Axis("row", None, "epoch")


INTEGER_CHECK_BLOCK = 1 << 16  # values per block: the temporaries stay small and their memory is reused


def _holds_integers(values: np.ndarray) -> bool:
    """A usable axis: whole numbers only (a fractional epoch such as 0.54 cannot number steps).

    Block by block: whole-column temporaries would be fresh memory, slow to fault in on a large file.
    """
    # min and max are nan when any value is (then the comparisons fail), and inf fails them
    if not (values.size > 0 and -(2.0**62) < values.min() and values.max() < 2.0**62):
        return False
    return all(np.array_equal(block, np.round(block)) for block in (values[start : start + INTEGER_CHECK_BLOCK] for start in range(0, values.size, INTEGER_CHECK_BLOCK)))


def _index_column(table: Table) -> Column | None:
    if table.header and normalise_name(table.header[0]) in INDEX_NAMES:
        return next(column for column in table.columns if column.name == table.header[0])
    return None


def _is_bookkeeping(column: Column, table: Table) -> bool:
    """Axis, index and wall-time columns number the points; they are not quantities to diagnose.

    `epoch` beside a `step` axis is one of them: it is a staircase of step, so as a series it would
    carry no training signal and its every increment would look like a jump.
    """
    return _names_bookkeeping(column.name, table.header)


def _names_bookkeeping(name: str, header: list[str]) -> bool:
    normalised = normalise_name(name)
    if normalised in AXIS_PRIORITY or normalised in WALL_TIME_NAMES:
        return True
    return bool(header) and name == header[0] and normalised in INDEX_NAMES


def steps_by_row(table: Table, axis: Axis) -> tuple[np.ndarray, np.ndarray]:
    """The step of each data row and whether it has one; the row axis counts rows from each header."""
    row_count = table.lines.size
    if axis.column is None:
        section_starts = np.array([0] + [section.first_row for section in table.sections], dtype=np.int64)
        rows = np.arange(row_count, dtype=np.int64)
        return rows - section_starts[np.searchsorted(section_starts, rows, side="right") - 1], np.ones(row_count, dtype=bool)
    if axis.column.rows.size == row_count:  # a step on every row (rows are increasing, so all of them)
        return axis.column.values.astype(np.int64), np.ones(row_count, dtype=bool)
    steps = np.zeros(row_count, dtype=np.int64)
    has_step = np.zeros(row_count, dtype=bool)
    steps[axis.column.rows] = axis.column.values  # whole numbers (`_holds_integers`): cast in place, no temporary copy
    has_step[axis.column.rows] = True
    return steps, has_step


def _wall_time_by_row(table: Table) -> np.ndarray | None:
    for column in table.columns:
        if normalise_name(column.name) in WALL_TIME_NAMES:
            wall_time = np.full(table.lines.size, np.nan)
            wall_time[column.rows] = column.values
            return wall_time
    return None


def restart_events(table: Table, axis: Axis, steps: np.ndarray, has_step: np.ndarray) -> list[RunEvent]:
    """A header line after the first, or the step axis going back (Keras append mode resets epoch to 0)."""
    events: list[tuple[int, RunEvent]] = []
    section_starts = np.array([section.first_row for section in table.sections], dtype=np.int64)
    for section in table.sections:
        first_step = _first_step_from(section.first_row, steps, has_step)
        what = "a new header with other columns" if section.columns_changed else "the header again"
        events.append((section.line, RunEvent("restart", f"line {section.line}: {what}; another run was appended to this file", step=first_step, line=section.line)))
    if axis.column is not None:
        dense = bool(has_step.all())  # then the i-th row with a step is row i: no index of them to build
        rows = None if dense else np.flatnonzero(has_step)
        row_steps = steps if dense else steps[rows]
        back = np.flatnonzero(row_steps[1:] < row_steps[:-1]) + 1
        back_rows, before_rows = (back, back - 1) if dense else (rows[back], rows[back - 1])
        # the section of each row where the axis went back, and of the row before it (only those rows)
        section_of = np.searchsorted(section_starts, back_rows, side="right")
        section_before = np.searchsorted(section_starts, before_rows, side="right")
        for number, index in enumerate(back):
            if section_of[number] != section_before[number]:
                continue  # already reported as the header of an appended run
            line = int(table.lines[back_rows[number]])
            message = f"line {line}: {axis.name} went back from {row_steps[index - 1]} to {row_steps[index]}; the run restarted"
            events.append((line, RunEvent("restart", message, step=int(row_steps[index]), line=line)))
    return [event for _, event in sorted(events, key=lambda pair: pair[0])]


def _first_step_from(first_row: int, steps: np.ndarray, has_step: np.ndarray) -> int | None:
    following = np.flatnonzero(has_step[first_row:])
    return int(steps[first_row + following[0]]) if following.size else None


def detect_framework(table: Table, axis: Axis) -> str | None:
    """"lightning" or "keras" from the column layout each logger writes, else None."""
    lowered = [name.strip().lower() for name in table.header]
    if any(name.startswith("lr-") for name in lowered):
        return "lightning"  # LearningRateMonitor: lr-Adam, lr-SGD-momentum
    if any(name.endswith(("_step", "_epoch")) and normalise_name(name) not in AXIS_PRIORITY for name in lowered):
        return "lightning"  # self.log(on_step=True, on_epoch=True)
    if "step" in lowered and ("epoch" in lowered or _is_sparse(table)):
        return "lightning"  # Keras CSVLogger never writes a step column
    if "epoch" in lowered and "created_at" in lowered:
        return "lightning"  # the 0.6-era test-tube metrics.csv
    if table.header and table.header[0] == "epoch":
        return "keras"  # CSVLogger: epoch, then the sorted keys
    if _looks_like_keras_history(lowered, axis):
        return "keras"
    return None


def _is_sparse(table: Table) -> bool:
    return any(column.rows.size < table.lines.size for column in table.columns if not _is_bookkeeping(column, table))


def _looks_like_keras_history(lowered: list[str], axis: Axis) -> bool:
    """A Keras History dict dumped per epoch (AUTOTRAINER/DeepFD log.csv, pandas to_csv): loss and val_loss."""
    if axis.column is not None and axis.unit != "epoch":
        return False
    names = [name for name in lowered if normalise_name(name) not in INDEX_NAMES]
    return "loss" in names and "val_loss" in names and all(re.fullmatch(r"[a-z0-9_]+", name) for name in names)
