"""Read Caffe (glog) solver logs into series, events and solver parameters, fast enough for multi-GB logs.

The file is read in blocks. In each block numpy finds every `Iteration ` and `net output #`; each
hit is a candidate row whose meaning the regexes `_ITERATION` / `_OUTPUT` define. numpy reads the
plain spellings Caffe writes in bulk (numbers included, exactly as `float()` would), and hands any
hit it cannot settle exactly to the regex, so there is no Python step per line. Every other line
(solver parameters, `Solving`, crashes, the 2014 `Test score #k`) is rare and goes through a small
line-by-line scanner. Memory grows with the points kept, not with the file.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..model import RunEvent, Series, make_series
from . import ReadError, RunPart

FORMAT = "caffe"

BLOCK_BYTES = 16 << 20  # large enough to amortise numpy's per-call cost, small enough to bound memory
# A line longer than this is no log line (a dumped tensor, binary junk, a NUL-filled tail left by a
# crash): it is skipped unread and reported, so one line cannot make memory grow with the file.
MAX_LINE_BYTES = 16 << 20
# Documents and code that quote Caffe lines (a README, this project's own tests) are not logs.
_NOT_LOG_SUFFIXES = (".csv", ".tsv", ".md", ".rst", ".html", ".htm", ".ipynb", ".py", ".json", ".yaml", ".yml", ".prototxt")
# Bytes that never occur in text: controls other than tab, line ends, form feed and escape (colours).
_CONTROL_BYTES = bytes(range(0, 9)) + bytes(range(14, 27)) + bytes(range(28, 32))
_LOW_CONTROL_BYTES = bytes(range(0, 9))  # NUL to backspace: what sniffing counts in a head
_BATCH_ROWS = 1 << 16  # rows per numpy batch: its byte windows stay a few MB
_PAD = 64  # zero bytes after each block, so fixed-width windows never index past it
_DIGITS_WIDTH = 20
_NUMBER_WIDTH = 16
_NAME_WIDTH = 48

_SNIFF = re.compile(
    rb"Iteration \d+[^\n]{0,80}?, loss = |(?:Train|Test) net output #|Test score #|solver\.cpp|\] Solving "
)
_VALUE = rb"[-+]?(?:\d\.#[A-Z]+\d*|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|(?i:nan|inf)(?:inity|\(ind\))?)"
# Every `Iteration ` yields one row (the tail is optional), so rows line up with numpy's hits.
_ITERATION = re.compile(
    rb"Iteration (?:(\d+)(?: \([^)\n]*\))?, (?:(loss|lr) = (" + _VALUE + rb")|(Testing net)(?: \(#(\d+)\))?))?"
)
_OUTPUT = re.compile(rb"net output #(?:(\d+): ([^\n=]*?) = (" + _VALUE + rb")(?: \(\* (" + _VALUE + rb") = )?)?")
_ITERATION_LITERAL = b"Iteration "
_OUTPUT_LITERAL = b"net output #"
_LOSS, _LR, _TESTING = 0, 1, 2

_TEST_SCORE = re.compile(rb"Test score #\s*(\d+): (" + _VALUE + rb")")
_GLOG_FATAL = re.compile(rb"^F\d{4} [\d:.]+ +\d+ [^\]]*\] ?(.*)")
_CRASH = re.compile(rb"^\*\*\* (?:Aborted at|(SIG[A-Z]+)|Check failure stack trace)|^(?:Terminated|Killed)\s*$")
_PROTOTXT_LINE = re.compile(rb"^\s*(?:([A-Za-z_][\w.]*)\s*(?::\s*(.*?)|(\{))|(\})|)\s*$")
_CREATING_NET = re.compile(rb"Creating (training|testing|test) net(?: \(#(\d+)\))?")
_CREATING_LAYER = re.compile(rb"\] Creating Layer (\S+)")
_LAYER_TOP = re.compile(rb"\] \S+ -> (\S+)\s*$")
_TOP_SHAPE = re.compile(rb"Top shape: [^(\n]*\((\d+)\)")
_NET_OUTPUT = re.compile(rb"This network produces output (\S+)")
_SOLVING = re.compile(rb"\] Solving ?(\S*)")
_ACCURACY_NAME = re.compile(r"acc|top[-_]?\d", re.IGNORECASE)


def sniff(path, head: bytes) -> bool:
    """A text file whose first bytes hold Caffe solver lines; never a CSV or an event file."""
    name = Path(path).name.lower()
    if "tfevents" in name or name.endswith(_NOT_LOG_SUFFIXES):
        return False
    found = _SNIFF.search(head)
    # Text up to the first solver line: binary junk after it (a damaged stretch) is read around.
    return found is not None and not _looks_binary(head[: found.end()])


def _looks_binary(head: bytes) -> bool:
    control = len(head) - len(head.translate(None, _LOW_CONTROL_BYTES))
    return control > max(8, len(head) // 100)


def read(path, *, fast: bool = True) -> RunPart:
    """Every series, event and solver parameter one Caffe log holds.

    `fast=False` reads every per-iteration line with the regex alone: slower, and the reference
    the numpy fast path is tested against.
    """
    hot = _HotRows()
    rare = _RareLines()
    unterminated = False
    first_line = 1
    with open(path, "rb") as handle:
        for block, skipped_bytes in _line_blocks(handle):
            if skipped_bytes:
                rare.long_lines.append((first_line, skipped_bytes))  # the block's first line stands for it
            if not block:  # the file ended inside a skipped line
                unterminated = True
                continue
            unterminated = not block.endswith(b"\n")
            first_line += _read_block(block, first_line, hot, rare, fast)
    if not (hot.iteration_parts or hot.output_parts or rare.has_solver_lines()):
        raise ReadError("no Caffe solver lines")
    part = RunPart(format=FORMAT)
    if unterminated:
        part.warnings.append("the last line has no line end: the log may have been cut while it was written")
    _assemble(part, hot, rare)
    part.warnings.extend(event.message for event in part.events if event.kind == "corrupt")
    return part


# --- reading blocks ------------------------------------------------------------------------------


def _line_blocks(handle) -> Iterator[tuple[bytes, int]]:
    """The file as blocks that end at a line end (the last one may not), each with the byte length of
    a line over MAX_LINE_BYTES left out just before it (0: none). An empty line stands for a left-out
    line, so line numbers stay those of the file; a file ending inside one ends with an empty block.
    """
    carry = b""
    skipping = 0  # bytes of an over-long line read so far (0: not inside one)
    while True:
        read = handle.read(BLOCK_BYTES)
        if not read:
            if skipping:
                yield b"", skipping
            elif carry:
                yield carry, 0
            return
        skipped = 0
        if skipping:
            end = read.find(b"\n")
            if end < 0:
                skipping += len(read)
                continue
            skipped, skipping = skipping + end, 0
            data = read[end:]  # starts with the left-out line's line end: an empty line in its place
        else:
            data = carry + read if carry else read
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            if len(data) > MAX_LINE_BYTES:
                skipping, carry = len(data), b""  # no log line is this long: stop holding it
            else:
                carry = data  # a line longer than a block: keep reading until it ends
            continue
        yield data[:cut], skipped
        carry = data[cut:]


@dataclass
class _IterationRows:
    lines: np.ndarray
    steps: np.ndarray
    kinds: np.ndarray
    values: np.ndarray
    nets: np.ndarray


@dataclass
class _OutputRows:
    lines: np.ndarray
    train: np.ndarray
    names: np.ndarray  # codes into _HotRows.names
    values: np.ndarray
    weighted: np.ndarray  # the line prints `(* w = ...)`: a loss output


@dataclass
class _HotRows:
    """The per-iteration rows of every block, kept as numpy arrays."""

    iteration_parts: list[tuple[np.ndarray, ...]] = field(default_factory=list)
    output_parts: list[tuple[np.ndarray, ...]] = field(default_factory=list)
    rest_parts: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # first and last line of each stretch of other lines
    names: dict[bytes, int] = field(default_factory=dict)
    last_weights: dict[bytes, tuple[tuple[int, int], bytes]] = field(default_factory=dict)  # name -> (where, weight)
    block_number: int = 0

    def remember_weight(self, name: bytes, offset: int, weight: bytes) -> None:
        """Keep the loss weight printed last for each output (numpy and the regex see rows out of order)."""
        where = (self.block_number, offset)
        if name not in self.last_weights or self.last_weights[name][0] < where:
            self.last_weights[name] = (where, weight)

    def iterations(self) -> _IterationRows:
        return _IterationRows(*_concatenate(self.iteration_parts, (np.int64, np.int64, np.int8, np.float64, np.int64)))

    def outputs(self) -> _OutputRows:
        return _OutputRows(*_concatenate(self.output_parts, (np.int64, bool, np.int64, np.float64, bool)))

    def rest_stretches(self) -> tuple[np.ndarray, np.ndarray]:
        firsts, lasts = _concatenate(self.rest_parts, (np.int64, np.int64))
        return firsts, lasts

    def name_code(self, name: bytes) -> int:
        return self.names.setdefault(name, len(self.names))


def _concatenate(parts: list[tuple[np.ndarray, ...]], dtypes: tuple) -> list[np.ndarray]:
    """Join the blocks' columns one at a time, letting go of each block's copy once joined (peak memory)."""
    if not parts:
        return [np.empty(0, dtype) for dtype in dtypes]
    by_block = [list(part) for part in parts]
    parts.clear()
    joined = []
    for index in range(len(dtypes)):
        joined.append(np.concatenate([columns[index] for columns in by_block]))
        for columns in by_block:
            columns[index] = None
    return joined


class _Block:
    """One block of text as bytes and as zero-padded numpy codes, with where given bytes occur in it."""

    def __init__(self, text: bytes):
        self.text = text
        self.codes = np.zeros(len(text) + _PAD, np.uint8)  # the padding keeps fixed-width windows inside
        self.codes[: len(text)] = np.frombuffer(text, np.uint8)
        self.windows = np.lib.stride_tricks.sliding_window_view(self.codes, _PAD)  # row i: the bytes from offset i on
        # words[i]: the 8 bytes from offset i as one little-endian integer (an unaligned view, no copy)
        self.words = np.ndarray((len(text) + 1,), "<u8", self.codes, strides=(1,))
        self._positions: dict[bytes, np.ndarray] = {}  # each ends with len(text), a sentinel
        self.newlines = self.positions_of(b"\n")

    def positions_of(self, byte: bytes) -> np.ndarray:
        if byte not in self._positions:
            found = np.flatnonzero(self.codes[: len(self.text)] == byte[0])
            self._positions[byte] = np.append(found, len(self.text))
        return self._positions[byte][:-1]

    def next_of(self, byte: bytes, starts: np.ndarray) -> np.ndarray:
        """The offset of the first `byte` at or after each start (the block's length when there is none)."""
        positions = self.positions_of(byte)
        return self._positions[byte][np.searchsorted(positions, starts)]

    def literal_starts(self, literal: bytes, anchor: int = 0) -> np.ndarray:
        """Offsets of every occurrence of `literal`, found by numpy rather than one Python step per hit.

        Candidates are the places of its byte at `anchor` (pick a rare one), then checked 8 bytes at a time.
        """
        starts = np.flatnonzero(self.codes[: len(self.text)] == literal[anchor]) - anchor
        starts = starts[(starts >= 0) & (starts <= len(self.text) - len(literal))]
        for offset in range(0, len(literal), 8):
            starts = starts[self.bytes_at(starts + offset, literal[offset : offset + 8])]
        return starts

    def words_at(self, positions: np.ndarray) -> np.ndarray:
        return self.words[np.clip(positions, 0, len(self.text))]

    def bytes_at(self, positions: np.ndarray, literal: bytes) -> np.ndarray:
        """Whether `literal` (at most 8 bytes) starts at each position: one 8-byte word per row."""
        return _starts_with(self.words_at(positions), literal)

    def columns(self, starts: np.ndarray, width: int) -> np.ndarray:
        """Byte c after each start in row c: (width, rows), so numpy works a column at a time."""
        return np.ascontiguousarray(self.windows[np.minimum(starts, len(self.text)), :width].T)


def _starts_with(words: np.ndarray, literal: bytes) -> np.ndarray:
    """Whether each 8-byte word begins with `literal` (at most 8 bytes)."""
    mask = (1 << (8 * len(literal))) - 1
    return (words & np.uint64(mask)) == np.uint64(int.from_bytes(literal, "little"))


def _read_block(text: bytes, first_line: int, hot: _HotRows, rare: "_RareLines", fast: bool) -> int:
    """Read one block's rows into `hot` and its other lines into `rare`; returns how many line ends it holds."""
    block = _Block(text)
    hot.block_number += 1
    taken = []
    for rows, parts in ((_iteration_rows(block, fast), hot.iteration_parts), (_output_rows(block, hot, fast), hot.output_parts)):
        if rows[0].size:
            lines = first_line + np.searchsorted(block.newlines, rows[0])
            parts.append((lines, *rows[1:]))
            taken.append(lines - first_line)
    line_count = block.newlines.size + (0 if text.endswith(b"\n") else 1)
    taken_lines = np.concatenate(taken) if taken else np.empty(0, np.int64)
    firsts, lasts, starts, ends = _rest_runs(block.newlines, taken_lines, line_count, len(text))
    hot.rest_parts.append((first_line + firsts, first_line + lasts))
    for line_index, start, end in zip(firsts.tolist(), starts.tolist(), ends.tolist()):
        rare.feed(first_line + line_index, text[start:end])
    return int(block.newlines.size)


# Each hit of a literal is one candidate row, and `pattern.match(block, hit)` says what it holds.
# numpy answers the same question in bulk for the plain spellings Caffe writes; any hit it cannot
# settle exactly (a number it cannot round exactly, a `Testing net` line, a long name) goes to the regex.


def _iteration_rows(block: _Block, fast: bool) -> tuple[np.ndarray, ...]:
    """Start, step, kind, value and test-net index of each `Iteration N, loss|lr = v` / `Testing net` row."""
    hits = block.literal_starts(_ITERATION_LITERAL, anchor=0)
    if fast:
        settled, steps, kinds, values = _in_batches(lambda part: _fast_iterations(block, part), hits)
    else:
        settled, steps, kinds, values = np.zeros(hits.size, bool), *(np.zeros(hits.size),) * 3
    asked = [row for row in (_regex_iteration_row(block.text, hit) for hit in hits[~settled].tolist()) if row is not None]
    nets = np.zeros(hits.size, np.int64)
    columns = (hits, steps, kinds, values, nets)
    return _merge_rows([column[settled] for column in columns], asked, (np.int64, np.int64, np.int8, np.float64, np.int64))


def _in_batches(fast, hits: np.ndarray) -> tuple[np.ndarray, ...]:
    """Run a numpy fast path over the hits in batches, so its byte windows stay a few MB."""
    if hits.size <= _BATCH_ROWS:
        return fast(hits)
    parts = [fast(hits[start : start + _BATCH_ROWS]) for start in range(0, hits.size, _BATCH_ROWS)]
    return tuple(np.concatenate([part[index] for part in parts]) for index in range(len(parts[0])))


def _merge_rows(settled: list[np.ndarray], asked: list[tuple], dtypes: tuple) -> tuple[np.ndarray, ...]:
    """The rows numpy settled and the rows the regex read, as columns in file order."""
    asked_columns = list(zip(*asked)) if asked else [()] * len(dtypes)
    merged = [np.concatenate((column, np.array(extra, dtype))).astype(dtype) for column, extra, dtype in zip(settled, asked_columns, dtypes)]
    order = np.argsort(merged[0], kind="stable")
    return tuple(column[order] for column in merged)


def _regex_iteration_row(text: bytes, hit: int) -> tuple[int, int, int, float, int] | None:
    step, kind, value, testing, net = _ITERATION.match(text, hit).groups(b"")
    if not step:
        return None
    if testing:
        return hit, int(step), _TESTING, math.nan, int(net or 0)
    return hit, int(step), _LOSS if kind == b"loss" else _LR, _float(value), 0


def _fast_iterations(block: _Block, hits: np.ndarray):
    """Which hits are a plain `Iteration N[ (...)], loss|lr = v` row, with its step, kind and value."""
    steps, step_ends, settled = _unsigned(block, hits + len(_ITERATION_LITERAL))
    after_step = block.words_at(step_ends)
    plain = _starts_with(after_step, b", ")
    timed = _starts_with(after_step, b" (")  # `Iteration N (x iter/s, ...), loss = ...`
    closes = block.next_of(b")", step_ends) if timed.any() else step_ends
    timed &= (closes < block.next_of(b"\n", step_ends)) & block.bytes_at(closes + 1, b", ")
    kind_starts = np.where(plain, step_ends + 2, closes + 3)
    settled &= plain | timed
    kind = block.words_at(kind_starts)
    is_loss = _starts_with(kind, b"loss = ")
    is_lr = _starts_with(kind, b"lr = ")
    settled &= is_loss | is_lr
    values, _, exact = _numbers(block, np.where(is_loss, kind_starts + 7, kind_starts + 5))
    settled &= exact
    return settled, steps, np.where(is_loss, _LOSS, _LR).astype(np.int8), values


def _output_rows(block: _Block, hot: _HotRows, fast: bool) -> tuple[np.ndarray, ...]:
    """Start, train flag, name code, value and loss-weight flag of each `Train/Test net output #k: name = v` row."""
    hits = block.literal_starts(_OUTPUT_LITERAL, anchor=len(_OUTPUT_LITERAL) - 1)  # `#` is rare
    if fast:
        settled, codes, values, weighted = _in_batches(lambda part: _fast_outputs(block, part, hot), hits)
    else:
        settled, codes, values, weighted = np.zeros(hits.size, bool), *(np.zeros(hits.size),) * 3
    asked = [row for row in (_regex_output_row(block.text, hit, hot) for hit in hits[~settled].tolist()) if row is not None]
    columns = (hits, codes, values, weighted)
    starts, codes, values, weighted = _merge_rows([column[settled] for column in columns], asked, (np.int64, np.int64, np.float64, bool))
    return starts, _is_train_output(block, starts), codes, values, weighted


def _regex_output_row(text: bytes, hit: int, hot: _HotRows) -> tuple[int, int, float, bool] | None:
    index, name, value, weight = _OUTPUT.match(text, hit).groups(b"")
    if not index:
        return None
    if weight:
        hot.remember_weight(name, hit, weight)
    return hit, hot.name_code(name), _float(value), bool(weight)


def _fast_outputs(block: _Block, hits: np.ndarray, hot: _HotRows):
    """Which hits are a plain `net output #k: name = v[ (* w = ...)]` row, with name code, value and weight flag."""
    _, index_ends, settled = _unsigned(block, hits + len(_OUTPUT_LITERAL))
    settled &= block.bytes_at(index_ends, b": ")
    name_starts = index_ends + 2
    equals = block.next_of(b"=", name_starts)  # a name holds no `=`, so it ends at the first one
    name_lengths = equals - 1 - name_starts
    settled &= (equals < block.next_of(b"\n", name_starts)) & (name_lengths >= 0) & (name_lengths <= _NAME_WIDTH)
    settled &= block.bytes_at(equals - 1, b" = ")
    values, value_ends, exact = _numbers(block, equals + 2)
    settled &= exact
    has_weight = block.bytes_at(value_ends, b" (* ")
    weight_ends = np.zeros(hits.size, np.int64)
    weight_exact = np.zeros(hits.size, bool)
    _, weight_ends[has_weight], weight_exact[has_weight] = _numbers(block, value_ends[has_weight] + 4)
    settled &= ~has_weight | weight_exact
    weighted = has_weight & block.bytes_at(weight_ends, b" = ")
    codes = np.zeros(hits.size, np.int64)
    rows = np.flatnonzero(settled)
    codes[rows], named = _name_codes(block, name_starts[rows], name_lengths[rows], hot)
    settled[rows[~named]] = False
    _remember_weights(block.text, codes, rows[named & weighted[rows]], hits, value_ends + 4, weight_ends, hot)
    return settled, codes, values, weighted


def _name_codes(block: _Block, starts: np.ndarray, lengths: np.ndarray, hot: _HotRows) -> tuple[np.ndarray, np.ndarray]:
    """Each row's name code, and whether it is certain: names are hashed in numpy, each distinct one decoded once.

    A row whose bytes differ from the first row of its hash (a collision) is left to the regex.
    """
    if starts.size == 0:
        return np.empty(0, np.int64), np.empty(0, bool)
    width = int(lengths.max())
    columns = block.columns(starts, width)
    columns[np.arange(width)[:, None] >= lengths] = 0
    hashes = lengths.astype(np.uint64)
    for column in columns:
        hashes = hashes * np.uint64(0x100000001B3) ^ column.astype(np.uint64)  # FNV-style, wrapping
    _, first_rows, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    representative = first_rows[inverse.ravel()]
    same = (columns == columns[:, representative]).all(axis=0) & (lengths == lengths[representative])
    inverse = inverse.ravel()
    distinct = [hot.name_code(block.text[start : start + length]) for start, length in zip(starts[first_rows].tolist(), lengths[first_rows].tolist())]
    return np.asarray(distinct, np.int64)[inverse], same


def _remember_weights(
    text: bytes, codes: np.ndarray, rows: np.ndarray, hits: np.ndarray, starts: np.ndarray, ends: np.ndarray, hot: _HotRows
) -> None:
    """Keep the last printed loss weight of each name (meta needs one per name, not one per row)."""
    if rows.size == 0:
        return
    last_rows = {code: row for code, row in zip(codes[rows].tolist(), rows.tolist())}
    for name in [name for name, code in hot.names.items() if code in last_rows]:
        row = last_rows[hot.names[name]]
        hot.remember_weight(name, int(hits[row]), text[int(starts[row]) : int(ends[row])])


def _is_train_output(block: _Block, starts: np.ndarray) -> np.ndarray:
    """`Train net output` or `Test net output`: the letter before ` net output #` tells them apart."""
    return block.codes[np.maximum(starts - 2, 0)] == ord("n")


# --- numbers in numpy ----------------------------------------------------------------------------


_FLOAT_POWERS_OF_TEN = np.array([float(10**exponent) for exponent in range(23)])  # exact doubles


def _digit_runs(columns: np.ndarray) -> np.ndarray:
    """For each column and row, how many digits run from there (one extra all-zero column at the end)."""
    is_digit = (columns - np.uint8(ord("0"))) < 10  # bytes below '0' wrap around to large values
    runs = np.zeros((columns.shape[0] + 1, columns.shape[1]), np.int16)
    for column in range(columns.shape[0] - 1, -1, -1):
        runs[column] = np.where(is_digit[column], runs[column + 1] + 1, 0)
    return runs


def _horner(columns: np.ndarray, first: np.ndarray, end: np.ndarray, last_column: int) -> np.ndarray:
    """The integer spelled by the digits in [first, end) of each row, skipping anything that is not a digit."""
    value = np.zeros(columns.shape[1], np.int64)
    for column in range(min(last_column, columns.shape[0])):
        digit = columns[column].astype(np.int64) - ord("0")
        take = (first <= column) & (column < end) & (digit >= 0) & (digit <= 9)
        value = np.where(take, value * 10 + digit, value)
    return value


def _unsigned(block: _Block, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The run of digits at each start: its value, where it ends, and whether it has 1 to 18 digits."""
    columns = block.columns(starts, _DIGITS_WIDTH)
    lengths = _digit_runs(columns)[0].astype(np.int64)
    values = _horner(columns, np.zeros(starts.size, np.int64), lengths, int(lengths.max(initial=0)))
    return values, starts + lengths, (lengths >= 1) & (lengths <= 18)


def _numbers(block: _Block, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The number `_VALUE` matches at each start: value, end, and whether numpy got it exactly.

    Exact means what Python's `float()` gives for the same text: a mantissa of at most 15 digits
    and a power of ten within 10^±22 are both exact doubles, so one multiplication or division
    rounds correctly (Clinger's fast path). Everything else (longer numbers, MSVC's `1.#QNAN`,
    `NaN`, `infinity`) is left to the regex.
    """
    width = _NUMBER_WIDTH
    columns = block.columns(starts, width)
    rows = np.arange(starts.size)
    runs = _digit_runs(columns)

    def byte(position: np.ndarray) -> np.ndarray:
        return columns[np.minimum(position, width - 1), rows]

    def run(position: np.ndarray) -> np.ndarray:
        return runs[np.minimum(position, width), rows].astype(np.int64)

    negative = columns[0] == ord("-")
    body = (negative | (columns[0] == ord("+"))).astype(np.int64)
    integer_end = body + run(body)
    has_point = byte(integer_end) == ord(".")
    fraction_digits = np.where(has_point, run(integer_end + 1), 0)
    mantissa_end = np.where(has_point, integer_end + 1 + fraction_digits, integer_end)
    exponent_sign = byte(mantissa_end + 1)
    exponent_start = mantissa_end + 1 + ((exponent_sign == ord("-")) | (exponent_sign == ord("+")))
    exponent_digits = run(exponent_start)
    has_exponent = ((byte(mantissa_end) | 0x20) == ord("e")) & (exponent_digits > 0)
    ends = np.where(has_exponent, exponent_start + exponent_digits, mantissa_end)

    digits = integer_end - body + fraction_digits
    mantissa = _horner(columns, body, mantissa_end, int(mantissa_end.max(initial=0)))
    exponent = _horner(columns, np.where(has_exponent, exponent_start, width), ends, int(ends.max(initial=0)))
    power = np.where(exponent_sign == ord("-"), -exponent, exponent) - fraction_digits
    magnitude = np.abs(power)
    scale = _FLOAT_POWERS_OF_TEN[np.minimum(magnitude, 22)]
    values = np.where(power >= 0, mantissa * scale, mantissa / scale)
    exact = (
        (digits > 0)
        & (digits <= 15)
        & (~has_exponent | (exponent_digits <= 3))
        & (magnitude <= 22)
        & (ends + np.where(has_exponent, 0, 2) < width)  # what follows the token, up to a possible `e-5`, is in view
        & ~(has_point & (byte(integer_end + 1) == ord("#")))  # MSVC 1.#QNAN
    )
    values, ends, exact = _words(byte, body, values, ends, exact)
    return np.where(negative, -values, values), starts + ends, exact


def _words(byte, body: np.ndarray, values: np.ndarray, ends: np.ndarray, exact: np.ndarray):
    """Lower-case `nan` and `inf` as glog prints them; `nan(ind)`, `infinity` and other spellings go to the regex."""
    first, second, third, after = (byte(body + offset) for offset in range(4))
    word_ends = (after != ord("i")) & (after != ord("I")) & (after != ord("("))
    is_nan = (first == ord("n")) & (second == ord("a")) & (third == ord("n")) & word_ends
    is_inf = (first == ord("i")) & (second == ord("n")) & (third == ord("f")) & word_ends
    words = is_nan | is_inf
    values = np.where(is_nan, np.nan, np.where(is_inf, np.inf, values))
    return values, np.where(words, body + 3, ends), exact | words


def _float(text: bytes) -> float:
    """A number as `_VALUE` matched it, MSVC's `1.#QNAN` / `-1.#IND` / `1.#INF` and `nan(ind)` included."""
    try:
        return float(text)
    except ValueError:
        lowered = text.lower()
        if b"#inf" in lowered:
            return -math.inf if lowered.startswith(b"-") else math.inf
        if lowered.lstrip(b"-+").startswith((b"nan", b"1.#")):
            return math.nan
        return float(lowered.split(b"(")[0])


def _rest_runs(newlines: np.ndarray, taken_lines: np.ndarray, line_count: int, block_size: int):
    """First and last line index, start and end offset of each stretch of lines with no per-iteration row."""
    is_rest = np.ones(line_count, bool)
    is_rest[taken_lines] = False
    rest = np.flatnonzero(is_rest)
    if rest.size == 0:
        empty = np.empty(0, np.int64)
        return empty, empty, empty, empty
    breaks = np.flatnonzero(np.diff(rest) != 1) + 1
    firsts = rest[np.concatenate(([0], breaks))]
    lasts = rest[np.concatenate((breaks - 1, [rest.size - 1]))]
    line_starts = np.concatenate(([0], newlines + 1))
    line_ends = np.concatenate((newlines, [block_size]))
    return firsts, lasts, line_starts[firsts], line_ends[lasts]


# --- the rare lines ------------------------------------------------------------------------------


@dataclass
class _NetSetup:
    """What the net-setup lines of one test net say about its outputs (to name 2014 `Test score`s)."""

    outputs: list[str] = field(default_factory=list)
    blob_sizes: dict[str, int] = field(default_factory=dict)


@dataclass
class _RareLines:
    """Scans the lines that are not per-iteration rows, in file order, keeping what matters."""

    solver_blocks: list[dict[str, Any]] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)  # lines of `Initializing solver` / `Solving`
    resumes: list[tuple[int, str]] = field(default_factory=list)
    fatal: list[tuple[int, str]] = field(default_factory=list)
    crashes: list[tuple[int, str]] = field(default_factory=list)
    done: list[int] = field(default_factory=list)
    stopped_early: list[int] = field(default_factory=list)
    testing_without_step: list[int] = field(default_factory=list)
    scores: list[tuple[int, int, float]] = field(default_factory=list)
    gradient_clipping: int = 0
    lr_policy: str | None = None
    net_name: str | None = None
    hints: set[str] = field(default_factory=set)
    test_nets: dict[int, _NetSetup] = field(default_factory=dict)
    binary_lines: list[int] = field(default_factory=list)  # lines of control bytes: damage, not text
    long_lines: list[tuple[int, int]] = field(default_factory=list)  # (line, bytes) of lines left out unread
    _next_line: int = 0
    _solver_depth: int | None = None  # inside an `Initializing solver from parameters:` block
    _net: int | None = None  # test net being set up, None for the training net
    _layer_tops: list[str] = field(default_factory=list)
    _shapes_seen: int = 0

    def has_solver_lines(self) -> bool:
        return bool(self.starts or self.scores or self.done or self.stopped_early or self.testing_without_step)

    def feed(self, first_line: int, text: bytes) -> None:
        if first_line != self._next_line:
            self._solver_depth = None  # a per-iteration line came between: any block has ended
        lines = text.split(b"\n")
        for offset, line in enumerate(lines):
            self._line(first_line + offset, line.rstrip(b"\r"))
        self._next_line = first_line + len(lines)

    def _line(self, number: int, line: bytes) -> None:
        if len(line) - len(line.translate(None, _CONTROL_BYTES)) > max(2, len(line) // 20):
            self.binary_lines.append(number)
            return
        if self._solver_depth is not None and self._solver_line(line):
            return
        if b"Initializing solver from parameters" in line:
            self.starts.append(number)
            self.solver_blocks.append({})
            self._solver_depth = 0
        elif b"Gradient clipping" in line:
            self.gradient_clipping += 1
        elif b"Test score #" in line:
            self._test_score(number, line)
        elif b"] Solving" in line:
            self.starts.append(number)
            name = _SOLVING.search(line)
            self.net_name = name.group(1).decode("utf-8", "replace") if name and name.group(1) else self.net_name
        elif b"Testing net" in line:
            self.testing_without_step.append(number)
        elif b"Optimization Done" in line:
            self.done.append(number)
        elif b"Optimization stopped early" in line:
            self.stopped_early.append(number)
        elif line.startswith(b"F") and _GLOG_FATAL.match(line) or b"Check failed" in line:
            fatal = _GLOG_FATAL.match(line)
            self.fatal.append((number, _text(fatal.group(1) if fatal else line.strip())))
        elif _CRASH.match(line):
            self.crashes.append((number, _text(line.strip())))
        elif b"Resuming from" in line:
            self.resumes.append((number, _text(line.split(b"Resuming from", 1)[1].strip())))
        elif b"Learning Rate Policy:" in line:
            self.lr_policy = _text(line.split(b"Learning Rate Policy:", 1)[1].strip())
        else:
            self._other(line)

    def _other(self, line: bytes) -> None:
        if b"NVCaffe" in line or b"[MultiGPU]" in line:
            self.hints.add("nvcaffe")
        elif b"cpu_info.cpp" in line or b"MKL2017" in line or b"MKLDNN" in line:
            self.hints.add("intel")
        elif b"net.cpp" in line or b"Creating" in line:
            self._net_setup(line)

    def _solver_line(self, line: bytes) -> bool:
        """One line of the solver prototxt dump; False when the dump has ended."""
        match = _PROTOTXT_LINE.match(line)
        if match is None:
            self._solver_depth = None
            return False
        key, value, opens, closes = match.groups()
        if opens:
            self._solver_depth += 1
        elif closes:
            self._solver_depth = max(0, self._solver_depth - 1)
        elif key is not None and self._solver_depth == 0:
            _add_parameter(self.solver_blocks[-1], _text(key), _parameter_value(value))
        return True

    def _test_score(self, number: int, line: bytes) -> None:
        match = _TEST_SCORE.search(line)
        if match:
            self.scores.append((number, int(match.group(1)), _float(match.group(2))))

    def _net_setup(self, line: bytes) -> None:
        """Follow the test nets' layer tops and sizes, so a 2014 `Test score #k` can be named."""
        creating = _CREATING_NET.search(line)
        if creating:
            kind, index = creating.groups()
            self._net = None if kind == b"training" else int(index or 0)
            if self._net is not None:
                self.test_nets[self._net] = _NetSetup()
            return
        if self._net is None:
            return
        setup = self.test_nets[self._net]
        if _CREATING_LAYER.search(line):
            self._layer_tops, self._shapes_seen = [], 0
        elif (top := _LAYER_TOP.search(line)) is not None:
            self._layer_tops.append(_text(top.group(1)))
        elif (shape := _TOP_SHAPE.search(line)) is not None:
            if self._shapes_seen < len(self._layer_tops):
                setup.blob_sizes[self._layer_tops[self._shapes_seen]] = int(shape.group(1))
            self._shapes_seen += 1
        elif (output := _NET_OUTPUT.search(line)) is not None:
            setup.outputs.append(_text(output.group(1)))


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _parameter_value(raw: bytes | None) -> Any:
    text = _text(raw or b"").strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _add_parameter(solver: dict[str, Any], key: str, value: Any) -> None:
    """A repeated field (`stepvalue`, `test_iter`) becomes a list of its values."""
    if key not in solver:
        solver[key] = value
    elif isinstance(solver[key], list):
        solver[key].append(value)
    else:
        solver[key] = [solver[key], value]


# --- from rows to series, events and meta --------------------------------------------------------


def _assemble(part: RunPart, hot: _HotRows, rare: _RareLines) -> None:
    """Turn the rows into series, events and meta, letting go of each set of rows once used (peak memory)."""
    iterations = hot.iterations()
    steps = _StepLines.of(iterations, *hot.rest_stretches())
    testing = _testing_markers(iterations, rare, steps)
    part.series.extend(_iteration_series(iterations))
    part.events.extend(_lr_events(iterations))
    lr_before_loss = _lr_printed_before_loss(iterations)
    del iterations
    part.series.extend(_output_series(hot, steps, testing, part.warnings))
    part.series.extend(_score_series(rare, testing, steps, part.warnings))
    part.events.extend(_events(rare, steps))
    part.events.sort(key=lambda event: event.line or 0)
    part.meta.update(_meta(rare, lr_before_loss, hot.last_weights))


@dataclass
class _StepLines:
    """The `Iteration N, loss/lr` lines in file order, and the stretches of other lines between rows."""

    lines: np.ndarray
    steps: np.ndarray
    is_loss: np.ndarray
    rest_firsts: np.ndarray
    rest_lasts: np.ndarray

    @classmethod
    def of(cls, iterations: _IterationRows, rest_firsts: np.ndarray, rest_lasts: np.ndarray) -> "_StepLines":
        is_step = iterations.kinds != _TESTING
        return cls(iterations.lines[is_step], iterations.steps[is_step], iterations.kinds[is_step] == _LOSS, rest_firsts, rest_lasts)

    def step_before(self, lines: np.ndarray) -> np.ndarray:
        """The iteration of the last loss/lr line before each line (-1 where there is none)."""
        return self._step_at(np.searchsorted(self.lines, lines) - 1)

    def step_after(self, lines: np.ndarray) -> np.ndarray:
        """The iteration of the first loss/lr line after each line (-1 where there is none)."""
        return self._step_at(np.searchsorted(self.lines, lines))

    def _step_at(self, indexes: np.ndarray) -> np.ndarray:
        inside = (indexes >= 0) & (indexes < self.lines.size)
        if self.lines.size == 0:
            return np.full(indexes.size, -1, np.int64)
        return np.where(inside, self.steps[np.clip(indexes, 0, self.lines.size - 1)], -1)

    def any_between(self, earlier: np.ndarray, later: np.ndarray) -> np.ndarray:
        """Whether a loss/lr line lies strictly between each pair of lines."""
        return np.searchsorted(self.lines, later) > np.searchsorted(self.lines, earlier, side="right")

    def other_lines_between(self, earlier: np.ndarray, later: np.ndarray) -> np.ndarray:
        """Whether a line that is no per-iteration row lies strictly between each pair of lines."""
        if self.rest_firsts.size == 0:
            return np.zeros(earlier.size, bool)
        stretch = np.searchsorted(self.rest_lasts, earlier, side="right")
        return (stretch < self.rest_firsts.size) & (self.rest_firsts[np.minimum(stretch, self.rest_firsts.size - 1)] < later)


def _iteration_series(iterations: _IterationRows) -> list[Series]:
    series = []
    for name, kind, role in (("loss", _LOSS, "train_loss"), ("lr", _LR, "lr")):
        rows = iterations.kinds == kind
        if rows.any():
            series.append(make_series(name, iterations.steps[rows], iterations.values[rows], role=role, locations=iterations.lines[rows]))
    return series


@dataclass
class _Markers:
    """`Testing net` lines: where each is, the iteration it tests and which test net."""

    lines: np.ndarray
    steps: np.ndarray
    nets: np.ndarray


def _testing_markers(iterations: _IterationRows, rare: _RareLines, steps: _StepLines) -> _Markers:
    with_step = iterations.kinds == _TESTING
    bare_lines = np.asarray(rare.testing_without_step, np.int64)
    # A 2014 `Testing net` line without its iteration tests the iteration logged just before it.
    lines = np.concatenate((iterations.lines[with_step], bare_lines))
    order = np.argsort(lines, kind="stable")
    tested = np.concatenate((iterations.steps[with_step], steps.step_before(bare_lines)))
    nets = np.concatenate((iterations.nets[with_step], np.zeros(bare_lines.size, np.int64)))
    return _Markers(lines[order], tested[order], nets[order])


def _label_test_rows(lines: np.ndarray, testing: _Markers, steps: _StepLines) -> tuple[np.ndarray, np.ndarray, int]:
    """The tested iteration and net of each test row: its `Testing net` line, else the next iteration.

    Caffe tests at the top of an iteration, before it logs the loss, so a test row whose
    `Testing net` line is missing (a cut paste) belongs to the iteration logged next. A marker
    with a loss/lr line between it and the row is stale. Returns steps (-1: none), nets, and how
    many rows had no marker.
    """
    marker = np.searchsorted(testing.lines, lines) - 1
    has_marker = marker >= 0
    if testing.lines.size:
        marker = np.maximum(marker, 0)
        has_marker &= ~steps.any_between(testing.lines[marker], lines)
        marker_steps, marker_nets = testing.steps[marker], testing.nets[marker]
    else:
        marker_steps = marker_nets = np.zeros(lines.size, np.int64)
    tested = np.where(has_marker, marker_steps, steps.step_after(lines))
    nets = np.where(has_marker, marker_nets, 0)
    return tested.astype(np.int64), nets.astype(np.int64), int(np.count_nonzero(~has_marker))


def _label_train_rows(lines: np.ndarray, steps: _StepLines) -> np.ndarray:
    """The iteration of each `Train net output` (-1: none).

    Caffe prints the loss line, its outputs, then (BVLC) the lr line of the same iteration. An
    output takes the loss line above it, unless other lines cut it off from that loss line (a
    cut paste) and an lr line follows: then the lr line's iteration. With no loss line above
    it, the next loss/lr line.
    """
    count = steps.lines.size
    if count == 0:
        return np.full(lines.size, -1, np.int64)
    above = np.searchsorted(steps.lines, lines) - 1
    below = np.minimum(above + 1, count - 1)
    has_below = above + 1 < count
    np.maximum(above, 0, out=above)
    loss_above = (lines > steps.lines[above]) & steps.is_loss[above]
    lr_below = has_below & ~steps.is_loss[below]
    cut_off = loss_above & lr_below & steps.other_lines_between(steps.lines[above], lines)
    loss_above &= ~cut_off
    return np.where(loss_above, steps.steps[above], np.where(has_below, steps.steps[below], -1))


def _output_series(hot: _HotRows, steps: _StepLines, testing: _Markers, warnings: list[str]) -> list[Series]:
    outputs = hot.outputs()
    if outputs.lines.size == 0:
        return []
    train = outputs.train
    labels = np.empty(outputs.lines.size, np.int64)
    nets = np.zeros(outputs.lines.size, np.int64)
    labels[train] = _label_train_rows(outputs.lines[train], steps)
    labels[~train], nets[~train], unmarked = _label_test_rows(outputs.lines[~train], testing, steps)
    if unmarked:
        warnings.append(f"{unmarked} test net outputs have no `Testing net` line before them; labelled with the next iteration")
    unlabelled = int(np.count_nonzero(labels < 0))
    if unlabelled:
        warnings.append(f"{unlabelled} net outputs have no iteration line near them and were left out")
    keys = (outputs.names * (int(nets.max()) + 1) + nets) * 2 + train
    keys[labels < 0] = -1
    decoded = {code: _text(name) for name, code in hot.names.items()}
    series = []
    for rows in _groups(keys):
        first = rows[0]
        name, is_train = decoded[int(outputs.names[first])], bool(train[first])
        prefix = "train" if is_train else _test_prefix(int(nets[first]))
        role = _output_role(name, is_train, bool(outputs.weighted[rows].any()))
        series.append(make_series(f"{prefix}/{name}", labels[rows], outputs.values[rows], role=role, locations=outputs.lines[rows]))
    return series


def _groups(keys: np.ndarray) -> list[np.ndarray]:
    """Row indexes of each distinct key (negative keys left out), groups in order of first appearance.

    A net prints a handful of outputs, so one pass per group beats sorting millions of rows.
    """
    kept = keys[keys >= 0]
    if kept.size == 0:
        return []
    distinct = np.flatnonzero(np.bincount(kept))
    if distinct.size > 64:  # many series: one sort beats a pass per series
        rows = np.flatnonzero(keys >= 0)
        order = np.argsort(keys[rows], kind="stable")
        bounds = np.flatnonzero(np.diff(keys[rows][order])) + 1
        groups = np.split(rows[order], bounds)
    else:
        groups = [np.flatnonzero(keys == key) for key in distinct.tolist()]
    return sorted(groups, key=lambda rows: int(rows[0]))


def _test_prefix(net: int) -> str:
    return "test" if net == 0 else f"test{net}"


def _output_role(name: str, is_train: bool, has_weight: bool) -> str:
    """Caffe prints `(* w = ... loss)` only for loss outputs, so the weight says loss for sure."""
    if has_weight:
        return "train_loss" if is_train else "val_loss"
    if _ACCURACY_NAME.search(name):
        return "accuracy" if is_train else "val_accuracy"
    return "other"


def _score_series(rare: _RareLines, testing: _Markers, steps: _StepLines, warnings: list[str]) -> list[Series]:
    """2014 `Test score #k: v` lines, one series per score (and test net)."""
    if not rare.scores:
        return []
    lines = np.array([score[0] for score in rare.scores], np.int64)
    indexes = np.array([score[1] for score in rare.scores], np.int64)
    values = np.array([score[2] for score in rare.scores], np.float64)
    labels, nets, unmarked = _label_test_rows(lines, testing, steps)
    if unmarked:
        warnings.append(f"{unmarked} test scores have no `Testing net` line before them; labelled with the next iteration")
    keys = indexes * (int(nets.max()) + 1) + nets
    keys[labels < 0] = -1
    series = []
    for rows in _groups(keys):
        net, index = int(nets[rows[0]]), int(indexes[rows[0]])
        setup = rare.test_nets.get(net)
        role = _score_role(setup, index) if setup is not None else _score_role_by_convention(indexes[nets == net], values[nets == net], indexes[nets == net] == 0, index)
        series.append(make_series(f"{_test_prefix(net)}/score{index}", labels[rows], values[rows], role=role, locations=lines[rows]))
    return series


def _score_role_by_convention(net_indexes: np.ndarray, net_values: np.ndarray, is_first: np.ndarray, index: int) -> str:
    """Without the net's setup lines (a pasted excerpt), fall back on 2014 Caffe's own convention.

    The Accuracy layer of that era had a two-element top, accuracy then loss, so a test net printing
    exactly `Test score #0` and `#1`, with #0 always within [0, 1], reports accuracy and loss.
    """
    if set(np.unique(net_indexes).tolist()) != {0, 1}:
        return "other"
    first = net_values[is_first]
    first = first[np.isfinite(first)]
    if first.size == 0 or first.min() < 0 or first.max() > 1:
        return "other"
    return "val_accuracy" if index == 0 else "val_loss"


def _score_role(setup: "_NetSetup | None", index: int) -> str:
    """What `Test score #index` measures, from the test net's outputs and their sizes.

    Scores enumerate every element of every output blob. 2014 Caffe's Accuracy layer has a
    two-element top: accuracy, then the log-probability loss.
    """
    if setup is None:
        return "other"
    position = 0
    for output in setup.outputs:
        size = setup.blob_sizes.get(output, 1)
        if index < position + size:
            element = index - position
            if _ACCURACY_NAME.search(output):
                return "val_accuracy" if element == 0 else ("val_loss" if size == 2 else "other")
            return "val_loss" if "loss" in output.lower() and size == 1 else "other"
        position += size
    return "other"


# --- events --------------------------------------------------------------------------------------


def _events(rare: _RareLines, steps: _StepLines) -> list[RunEvent]:
    def step_at(line: int) -> int | None:
        step = int(steps.step_before(np.array([line]))[0])
        return step if step >= 0 else None

    def iterations_between(first: int, last: int) -> bool:
        return bool(steps.any_between(np.array([first]), np.array([last]))[0])

    events = _restart_events(rare, steps, step_at, iterations_between)
    events += _failure_events(rare, step_at, iterations_between)
    events += _ending_events(rare.done, "optimization_done", "Optimization Done", step_at, iterations_between)
    events += _ending_events(rare.stopped_early, "early_stop", "Optimization stopped early", step_at, iterations_between)
    events += _damage_events(rare, step_at)
    return events


def _damage_events(rare: _RareLines, step_at) -> list[RunEvent]:
    """Stretches of the file that are not text: one `corrupt` event per kind, at the first of them."""
    events = []
    if rare.binary_lines:
        first, count = rare.binary_lines[0], len(rare.binary_lines)
        lines = "line" if count == 1 else "lines"
        message = f"{count} {lines} of binary data, not text (first at line {first}); skipped"
        events.append(RunEvent("corrupt", message, step_at(first), line=first))
    if rare.long_lines:
        first, size = rare.long_lines[0]
        more = f" ({len(rare.long_lines)} such lines)" if len(rare.long_lines) > 1 else ""
        message = f"line {first} is {size:,} bytes long, too long for a log line{more}; skipped unread"
        events.append(RunEvent("corrupt", message, step_at(first), line=first))
    return events


def _restart_events(rare: _RareLines, steps: _StepLines, step_at, iterations_between) -> list[RunEvent]:
    """A solver started again after iterations were logged, or the iteration counter went back."""
    events = []
    previous_start = 0
    for line in rare.starts:
        if iterations_between(previous_start, line):
            following = int(np.searchsorted(steps.lines, line))
            until = int(steps.lines[following]) if following < steps.lines.size else math.inf
            resumed = [text for resume_line, text in rare.resumes if line < resume_line < until]
            where = f", resuming from {resumed[0]}" if resumed else ""
            events.append(RunEvent("restart", f"the solver started again after iteration {step_at(line)}{where}", step_at(line), line=line))
        previous_start = line
    starts = np.asarray(rare.starts, np.int64)
    for index in (np.flatnonzero(np.diff(steps.steps) < 0) + 1).tolist():
        earlier, later = int(steps.lines[index - 1]), int(steps.lines[index])
        if not ((starts > earlier) & (starts < later)).any():
            message = f"the iteration counter went back from {int(steps.steps[index - 1])} to {int(steps.steps[index])}"
            events.append(RunEvent("restart", message, int(steps.steps[index]), line=later))
    return events


def _failure_events(rare, step_at, iterations_between) -> list[RunEvent]:
    """Fatal checks before training are failed launches; a fatal check or a crash after it, an abort.

    The lines of one crash (`*** Aborted at`, `*** SIGTERM`, the stack trace) make one event.
    """
    events: list[RunEvent] = []
    starts = rare.starts
    for line, kind, text in sorted([(line, "fatal", text) for line, text in rare.fatal] + [(line, "crash", text) for line, text in rare.crashes]):
        segment_start = max([start for start in starts if start < line], default=0)
        if events and events[-1].line > segment_start and not iterations_between(events[-1].line, line):
            if kind == "crash" and events[-1].kind == "aborted" and "SIG" in text:
                events[-1] = RunEvent("aborted", f"{events[-1].message}; {text}", events[-1].step, line=events[-1].line)
            continue
        trained = iterations_between(segment_start, line)
        if kind == "fatal" and not trained:
            events.append(RunEvent("failed_launch", f"Caffe stopped before training: {text}", None, line=line))
        else:
            prefix = "fatal error: " if kind == "fatal" else ""
            events.append(RunEvent("aborted", f"{prefix}{text}", step_at(line), line=line))
    return events


def _ending_events(lines: list[int], kind: str, message: str, step_at, iterations_between) -> list[RunEvent]:
    """One event per run end: solver.cpp and caffe.cpp both print `Optimization Done`."""
    events: list[RunEvent] = []
    for line in lines:
        if events and not iterations_between(events[-1].line, line):
            continue
        events.append(RunEvent(kind, message, step_at(line), line=line))
    return events


def _lr_events(iterations: _IterationRows) -> list[RunEvent]:
    is_lr = iterations.kinds == _LR
    values = iterations.values[is_lr]
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size == 0:
        return []
    first = int(bad[0])
    step, line = int(iterations.steps[is_lr][first]), int(iterations.lines[is_lr][first])
    message = f"the solver printed lr = {values[first]} at iteration {step} ({bad.size} non-finite lr lines)"
    return [RunEvent("lr_nonfinite", message, step, line=line)]


# --- meta ----------------------------------------------------------------------------------------


def _meta(rare: _RareLines, lr_before_loss: bool, last_weights: dict[bytes, tuple[tuple[int, int], bytes]]) -> dict[str, Any]:
    solver = dict(next((block for block in reversed(rare.solver_blocks) if block), {}))
    if rare.lr_policy and "lr_policy" not in solver:
        solver["lr_policy"] = rare.lr_policy
    meta: dict[str, Any] = {
        "framework": "caffe",
        "variant": _variant(rare, lr_before_loss),
        "solver": solver,
        "loss_weights": {_text(name): _float(weight) for name, (_, weight) in sorted(last_weights.items())},
        "gradient_clipping_count": rare.gradient_clipping,
    }
    if rare.net_name:
        meta["net_name"] = rare.net_name
    return meta


def _variant(rare: _RareLines, lr_before_loss: bool) -> str:
    if "nvcaffe" in rare.hints:
        return "nvcaffe"
    if "intel" in rare.hints or "MKL" in str(rare.solver_blocks[-1].get("engine", "") if rare.solver_blocks else ""):
        return "intel"
    if rare.scores or lr_before_loss:
        return "bvlc-2014"
    return "bvlc"


def _lr_printed_before_loss(iterations: _IterationRows) -> bool:
    """2014 builds print `Iteration N, lr` before `Iteration N, loss`; later ones after it."""
    is_loss, is_lr = iterations.kinds == _LOSS, iterations.kinds == _LR
    if not is_loss.any() or not is_lr.any():
        return False
    first_lr_step = iterations.steps[is_lr][0]
    same_step_loss = np.flatnonzero(is_loss & (iterations.steps == first_lr_step))
    return bool(same_step_loss.size) and iterations.lines[same_step_loss[0]] > iterations.lines[is_lr][0]
