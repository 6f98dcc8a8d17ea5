"""Read console logs (captured stdout/stderr) of training runs into series and events, for every common framework."""

# How it reads: Keras progress bars, PyTorch-style prints, Lightning and tqdm bars, fairseq, Megatron,
# DeepSpeed, apex, HF Trainer dicts, TF1 and mmdetection lines. The file is read in blocks. In each block
# numpy finds the line segments (split at `\n` and at the `\r` / `\b` of progress-bar redraws) that hold a
# trigger word (`loss`, `acc`, `epoch`, `lr:` ...); only the last redraw of each physical line (and of each
# epoch, for a bar that redraws all epochs on one line) is parsed. The first line of each shape is parsed
# by the generic `key: value` regex and becomes a template (its text, with a group per number), so the
# lines after it cost one anchored match each, run as a list comprehension over the block. Rare lines
# (overflow messages, tracebacks, stop messages) are found by literal-anchored regexes over the whole
# block. Steps are resolved once at the end, with numpy: printed step > printed epoch > the `Epoch N/M`
# header above > the order of the lines.

from __future__ import annotations

import math
import re
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from ..model import RunEvent, Series, make_series
from ..roles import role_for
from . import ReadError, RunPart

FORMAT = "stdout"
TEXT_SUFFIXES = frozenset({".log", ".txt", ".out", ".err", ".stdout", ".stderr", ""})
# Files people keep beside their logs that may quote training output: documentation, not a run.
DOCUMENT_STEMS = ("readme", "license", "licence", "copying", "changelog", "changes", "notice", "authors", "contributing", "manifest", "history")
BLOCK_BYTES = 16 << 20  # large enough to amortise numpy's per-call cost, small enough to bound memory
MIN_SNIFF_LINES = 3  # metric lines with a loss-like key the head must hold (one overflow message is enough)
TRACEBACK_TAIL_BYTES = 1 << 20  # how far after a traceback to look for its exception line
TQDM_WINDOW_BYTES = 4096  # how far before an HF dict to look for the progress bar's step counter
MAX_RESTART_EVENTS = 100
MAX_TRACEBACKS = 10_000  # a log that prints more (a stack with every warning) is no longer ending in one
MAX_TEMPLATES = 24
TEMPLATE_TRIAL_LINES = 2000  # after this many template misses, templates stay off unless they pay
TEMPLATE_SAMPLE_LINES = 16  # a template must match one of these before it is run over the whole block
EPOCH_PROBE_BYTES = 64  # where a bar's `Epoch N` is looked for, from the start of a redraw
MAX_SEGMENT_BYTES = 64 * 1024  # a metric line is short; a longer segment (a dump, binary junk) is read this far only
MAX_TEMPLATE_BYTES = 2048  # longer lines are not worth a template of their own
STEP_LIMIT = 2.0**62  # printed steps beyond this are junk, not steps (and would overflow int64)

# Written flat (no nested groups, no scoped flags): the template regexes run it once per number per line.
NUMBER = rb"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|[nN][aA][nN]|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?)"
# `key: 1.5`, `key=1.5`, `key = 1.5`, `multi word key: 1.5` or `key 1.5` (one word, space-separated);
# a value may be wrapped as `tensor(1.5` or `[1.5, ...` (a list of lrs) and followed by `/total`.
# The key may not continue a word, a path or a number (`/x/train.py:12`, `1e-5`); the value may not
# run into a word or a clock (`12ms`, `2:00:00`).
_PAIR = re.compile(
    rb"(?<![\w/.\-'\"])(?:([A-Za-z][\w.\-]{0,40}(?: [A-Za-z][\w.\-]{0,40}){0,3})[ \t]*[:=][ \t]*|([A-Za-z][\w.\-]{0,40})[ \t]+)"
    rb"(?:tensor\(|\[)?(" + NUMBER + rb")(?:[ \t]*/[ \t]*(\d+))?(?![\w.]|:\d)"
)
_HF_DICT = re.compile(rb"\{('[^{}\r\n]{1,8000})\}")
_HF_PAIR = re.compile(rb"'([^'\r\n]{1,80})':\s*(?:np\.float\d*\(|tensor\()?\s*(" + NUMBER + rb")")
_TQDM_COUNTER = re.compile(rb"(\d+)/(\d+) \[")
_TQDM_COUNTER_TAIL = re.compile(rb"(\d+)/(\d+)\Z")  # searched in the bytes just before a ` [`
_ARGUMENT = re.compile(rb"[(,]\s*([A-Za-z_]\w{0,60})=(" + NUMBER + rb")(?=[,)])")
_MEGATRON_ITERATION = re.compile(rb"\biteration\s+(\d+)\s*/\s*\d+\s*\|")
_MEGATRON_VALIDATION = re.compile(rb"validation loss at[^|\r\n]*?(\d+)?\s*\|")
_MEGATRON_PAIR = re.compile(rb"\|\s*([A-Za-z][^|:\r\n]{0,60}?)\s*:\s*(" + NUMBER + rb")\s*(?=\||$)")
# fairseq progress: old `| epoch 001  1000 / 331737 loss=...`, newer `epoch 003:      5 / 356 loss=...`
_FAIRSEQ_INNER = re.compile(rb"\bepoch (\d+)(?::| \|)?\s+(\d+)\s*/\s*(\d+)\s")
_FAIRSEQ_SUMMARY = re.compile(rb"\bepoch (\d+) \| ")
_MMDET_STEP = re.compile(rb"\b(Epoch|Iter)(?:\((train|val|test)\))?\s*\[\s*(\d+)(?:\s*/\s*(\d+))?\s*\](?:\s*\[\s*(\d+)(?:\s*/\s*(\d+))?\s*\])?")
_BAR = re.compile(rb"\d+%\|")
_KERAS_METRIC = re.compile(rb" - \w+: ")
_KERAS_TIME = re.compile(rb"\d+s - |/step|/sample|eta: ", re.IGNORECASE)
_VALIDATION_START = re.compile(rb"^[^A-Za-z]*(test|val|valid|validation|eval|evaluation|dev)\b", re.IGNORECASE)
_PYTHON_WARNING = re.compile(rb"[^\s:]{1,400}\.py:\d+: \w*(?:Warning|Error)\b")
# An epoch header alone on its line (Keras `Epoch 3/200`, old Keras `Epoch 0`, print logs `epoch   1`), lower-cased.
_EPOCH_HEADER = re.compile(rb"[ \t]*epoch[ \t:]*(\d+)(?:[ \t]*/[ \t]*\d+)?[ \t]*")
_BAR_EPOCH = re.compile(rb"epoch[ \t:]*(\d+)")
# Template text, token by token: blanks | a progress bar's fill (Keras `[===>...]`, tqdm `%|███▏  |`) | a number
# not inside a word | other text.
_TEMPLATE_TOKEN = re.compile(rb"([ \t]+)|(\[[=>.]*\]|%\|[^|\r\n]*\|)|((?<![A-Za-z_])\d[\d.]*)|([^ \t\d\[%]+|[\d\[%])")

_DS_ATTEMPT = re.compile(rb"Skipping step\.?\s*Attempted loss scale:\s*(" + NUMBER + rb")\s*,\s*(?:reducing to\s*(" + NUMBER + rb")|but hysteresis is\s*(\d+)\.?\s*Reducing hysteresis to\s*(\d+))")
_APEX = re.compile(rb"Gradient overflow\.\s+Skipping step,\s*(?:loss scaler\s+\d+\s+)?reducing loss scale to\s*(" + NUMBER + rb")")
_SETTING_SCALE = re.compile(rb"[Oo]verflow detected,\s*(?:ignoring gradient,\s*)?setting loss scale to:?\s*(" + NUMBER + rb")")
_GRAD_OVERFLOW_ITERATION = re.compile(rb"Grad overflow on iteration:?\s*(\d+)")
_REDUCING_FROM = re.compile(rb"Reducing dynamic loss scale from\s*(" + NUMBER + rb")\s*to\s*(" + NUMBER + rb")")
_USING_SCALE = re.compile(rb"Using dynamic loss scale of:?\s*(" + NUMBER + rb")")
# (kind, pattern, lower-case words the message must hold): the words are a cheap test before the regex runs.
_OVERFLOW_PATTERNS = (
    ("attempt", _DS_ATTEMPT, b"attempted loss scale"),
    ("apex", _APEX, b"gradient overflow"),
    ("setting", _SETTING_SCALE, b"overflow detected"),
    ("iteration", _GRAD_OVERFLOW_ITERATION, b"grad overflow on"),
    ("reducing", _REDUCING_FROM, b"reducing dynamic loss scale"),
    ("using", _USING_SCALE, b"using dynamic loss scale"),
)
_SCALE_FLOOR = re.compile(rb"(?:Current loss scale already at minimum|Minimum loss scale reached)[^\r\n]{0,200}")
_TRACEBACK = re.compile(rb"Traceback \(most recent call last\):")
_EXCEPTION_LINE = re.compile(rb"(?m)^[ \t]*((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception|Interrupt|Exit)\b(?::[^\r\n]{0,300})?)\r?$")
_TERMINATE_ON_NAN = re.compile(rb"Batch (\d+): Invalid loss, terminating training")
_EARLY_STOPPING = re.compile(rb"Epoch (\d+): early stopping")
_NOT_FINITE_MONITOR = re.compile(rb"Monitored metric \S+ = \S+ is not finite\.[^\r\n]{0,200}")
_ANSI = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
# Bytes below space that text never holds (backspace, tab, line ends, form feed and escape excepted).
_CONTROL_BYTES = bytes(code for code in range(32) if code not in (8, 9, 10, 12, 13, 27))
_CAFFE_HEAD = re.compile(rb"solver\.cpp:\d+\]|(?:Train|Test) net output #|\] Solving ")

# Words that mark a segment worth parsing (searched in the lower-cased block), grouped by first byte.
TRIGGERS = (b"loss", b"lr:", b"lr=", b"learning", b"acc", b"epoch", b"{'", b"ppl", b"perplexity", b"step=")
STEP_KEYS = frozenset({
    "step", "steps", "global step", "global_step", "global_steps", "gstep", "iter", "iters", "iteration", "iterations",
    "it", "itr", "batch", "batch_idx", "batch idx", "update", "updates", "num_updates", "total_step", "n_iter", "niter",
    "train_step", "curr_iter", "cur_iter", "step_num", "iter_num",
})
EPOCH_KEYS = frozenset({"epoch", "epochs", "ep", "epoch_num", "cur_epoch"})
# Printed beside metrics but not quantities to diagnose: counters, ids, clocks, words before a number.
JUNK_KEYS = frozenset({"eta", "v_num", "rank", "local_rank", "pid", "line", "gpu", "gpus", "worker", "seed", "version", "consumed samples", "consumed tokens", "using", "on", "of", "to", "from", "in", "at", "by", "for", "is", "was"})
METRIC_WORDS = frozenset({
    "loss", "acc", "accuracy", "lr", "learning_rate", "error", "err", "mae", "mse", "rmse", "nll", "elbo", "ppl",
    "perplexity", "f1", "auc", "iou", "miou", "map", "bleu", "wer", "cer", "precision", "recall", "top1", "top5",
    "grad_norm", "gnorm", "kl", "kld", "score", "dice",
})
VALIDATION_WORDS = frozenset({"test", "val", "valid", "validation", "eval", "evaluation", "dev"})
HF_SKIPPED_KEYS = ("epoch", "step", "total_flos", "num_input_tokens_seen")
HF_SKIPPED_SUFFIXES = ("_runtime", "_samples_per_second", "_steps_per_second")
FRAMEWORK_PRIORITY = ("megatron", "fairseq", "hf", "lightning", "keras", "tensorflow", "deepspeed", "pytorch")

# Segment dialects: how a metric line was written, which decides its step and naming at the end.
GENERIC, KERAS, BAR, FAIRSEQ_INNER, FAIRSEQ_SUMMARY, MEGATRON, HF = range(7)
REDRAW_KINDS = (KERAS, BAR)  # a later redraw at the same step supersedes the earlier one silently
_SPACES = re.compile(r"\s+")
# A train loss named as the total one (not a component such as `loss_cls`): `loss`, `train_loss_step`, `train/loss`.
_TOTAL_TRAIN_LOSS = re.compile(r"(?:train(?:ing)?[_/ ])?loss(?:[_/ ](?:step|epoch))?")
_WORDS = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class _KeyInfo:
    """What a printed key means: the series name it becomes and its class."""

    name: str
    kind: str  # "step", "epoch", "metric", "other", "junk"
    validation: str | None  # a leading validation word (`test epoch`), stripped from `name` for step keys
    loss_like: bool


@dataclass
class _Parsed:
    """What one metric line says, and where each number sits in it (to make a template of the line)."""

    kind: int
    step: float
    total: float
    epoch: float
    names: list[str]
    values: list[float]
    captures: list[tuple[int, int, str]]  # (start, end, role) in the line: role "value", "step", "total", "epoch" or "other"
    framework: str | None = None


@dataclass(frozen=True, eq=False)
class _Template:
    """A line shape seen before: its text with a group per number, and what each group means."""

    pattern: re.Pattern
    matcher: object  # pattern.fullmatch, or pattern.match when the shape ends where a Python warning was glued on
    kind: int
    value_groups: tuple[int, ...]  # 0-based group numbers of the values, in point order
    name_ids: tuple[int, ...]
    step_group: int | None
    total_group: int | None
    epoch_group: int | None
    has_loss: bool
    framework: str | None


@dataclass
class _Overflow:
    """One overflow of the dynamic loss scale, merged from the one to three lines a framework prints for it."""

    position: int
    line: int
    kinds: set[str]
    framework: str
    step: int | None = None  # printed on the message's own line (`Grad overflow on iteration 8`, a tqdm counter)
    new_scale: float | None = None
    old_scale: float | None = None
    hysteresis: tuple[int, int] | None = None
    last_line: int = 0  # the last of the lines merged into this record


@dataclass
class _Chunk:
    """The metric segments of one block, and their points (`segment` indexes this chunk's segments)."""

    position: np.ndarray  # int64, byte offset in the cleaned file: the order of the lines
    line: np.ndarray  # int64, 1-based
    step: np.ndarray  # float64, NaN when not printed (likewise total and epoch)
    total: np.ndarray
    epoch: np.ndarray
    kind: np.ndarray  # int8 dialect
    segment: np.ndarray  # int32, per point
    name: np.ndarray  # int32 name id, per point
    value: np.ndarray  # float64, per point


@dataclass
class _Scan:
    """Everything found so far, block by block: metric segments and their points, markers, events.

    Points are kept as numpy chunks and names as ids: memory grows with the points kept, not the file.
    """

    chunks: list[_Chunk] = field(default_factory=list)
    pending: list[tuple] = field(default_factory=list)  # this block's segments parsed one by one
    buckets: dict[_Template, tuple[list, list, list]] = field(default_factory=dict)  # this block's template hits
    loss_line_score: int = 0  # lines with a loss-like value, a framework's own line counting as three (for sniff)
    names: dict[str, int] = field(default_factory=dict)
    header_position: list[int] = field(default_factory=list)
    header_epoch: list[int] = field(default_factory=list)
    overflows: list[_Overflow] = field(default_factory=list)
    floors: list[tuple[int, int, str]] = field(default_factory=list)  # position, line, message
    stops: list[tuple[int, int, str, int | None, bool]] = field(default_factory=list)  # position, line, message, printed epoch, batch-level
    tracebacks: list[tuple[int, int]] = field(default_factory=list)  # position, line (the first MAX_TRACEBACKS)
    exception: tuple[int, int, str] | None = None  # the last exception line after a traceback
    frameworks: dict[str, int] = field(default_factory=dict)
    keys: dict[bytes, _KeyInfo] = field(default_factory=dict)
    hf_keys: dict[bytes, tuple[str, int, bool, bool]] = field(default_factory=dict)
    hparams: dict[str, float] = field(default_factory=dict)
    templates: list[_Template] = field(default_factory=list)
    template_hits: int = 0
    template_misses: int = 0
    main_bar_total: int = 0  # the longest tqdm bar before an HF dict: the training bar, whose counter is the step
    previous_tail: bytes = b""  # the end of the previous block, where the bar above a block's first dict may be

    def saw(self, framework: str | None, count: int = 1) -> None:
        if framework:
            self.frameworks[framework] = self.frameworks.get(framework, 0) + count

    def name_id(self, name: str) -> int:
        return self.names.setdefault(name, len(self.names))

    def add_segment(self, position: int, line: int, step: float, total: float, epoch: float, kind: int, name_ids, values, has_loss: bool) -> None:
        self.pending.append((position, line, step, total, epoch, kind, name_ids, values))
        self.loss_line_score += _sniff_weight(kind) if has_loss else 0

    def bucket(self, template: _Template) -> tuple[list, list, list]:
        found = self.buckets.get(template)
        if found is None:
            found = self.buckets[template] = ([], [], [])
        return found

    def flush(self) -> None:
        """Turn this block's segments into numpy chunks: template hits column by column, no Python per value."""
        if self.pending:
            rows = self.pending
            counts = np.fromiter((len(row[6]) for row in rows), dtype=np.int64, count=len(rows))
            self.chunks.append(_Chunk(
                np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows)),
                np.fromiter((row[1] for row in rows), dtype=np.int64, count=len(rows)),
                np.fromiter((row[2] for row in rows), dtype=np.float64, count=len(rows)),
                np.fromiter((row[3] for row in rows), dtype=np.float64, count=len(rows)),
                np.fromiter((row[4] for row in rows), dtype=np.float64, count=len(rows)),
                np.fromiter((row[5] for row in rows), dtype=np.int8, count=len(rows)),
                np.repeat(np.arange(len(rows), dtype=np.int32), counts),
                np.fromiter((number for row in rows for number in row[6]), dtype=np.int32, count=int(counts.sum())),
                np.fromiter((value for row in rows for value in row[7]), dtype=np.float64, count=int(counts.sum())),
            ))
            self.pending = []
        for template, (positions, lines, groups) in self.buckets.items():
            if positions:
                self.chunks.append(_template_chunk(template, positions, lines, groups))
                self.loss_line_score += len(positions) * _sniff_weight(template.kind) if template.has_loss else 0
                self.template_hits += len(positions)
                self.saw(template.framework, len(positions))
        self.buckets = {}


def _sniff_weight(kind: int) -> int:
    """A framework's own line (Keras bar, tqdm bar, fairseq, Megatron, HF dict) is enough alone; a free-form print needs company."""
    return 1 if kind == GENERIC else MIN_SNIFF_LINES


def _template_chunk(template: _Template, positions: list, lines: list, groups: list) -> _Chunk:
    """The hits of one template in one block: each number group turned into floats in one C-level pass."""
    count = len(positions)

    def column(group: int | None) -> np.ndarray:
        if group is None:
            return np.full(count, np.nan)
        return np.fromiter(map(float, [cells[group] for cells in groups]), dtype=np.float64, count=count)

    value_groups = template.value_groups
    if len(value_groups) == 1:
        cells = [row[value_groups[0]] for row in groups]
    elif value_groups == tuple(range(value_groups[0], value_groups[0] + len(value_groups))):
        first, last = value_groups[0], value_groups[-1] + 1
        cells = [cell for row in groups for cell in row[first:last]]
    else:
        cells = [row[group] for row in groups for group in value_groups]
    per_segment = len(value_groups)
    return _Chunk(
        np.asarray(positions, dtype=np.int64), np.asarray(lines, dtype=np.int64),
        column(template.step_group), column(template.total_group), column(template.epoch_group),
        np.full(count, template.kind, dtype=np.int8),
        np.repeat(np.arange(count, dtype=np.int32), per_segment),
        np.tile(np.asarray(template.name_ids, dtype=np.int32), count),
        np.fromiter(map(float, cells), dtype=np.float64, count=count * per_segment),
    )


# ---------------------------------------------------------------- sniffing


def sniff(path, head: bytes) -> bool:
    """A text log whose head holds at least three metric lines with a loss-like key, or an fp16 overflow message."""
    path = Path(path)
    if path.suffix.lower() not in TEXT_SUFFIXES or path.name.lower().startswith(DOCUMENT_STEMS):
        return False
    if _looks_binary(head) or head.lstrip()[:2] in (b'{"', b"[{", b"#!") or _CAFFE_HEAD.search(head):
        return False
    cut = max(head.rfind(b"\n"), head.rfind(b"\r"))
    text = head[: cut + 1] if 0 <= cut < len(head) - 1 else head
    scan = _Scan()
    _scan_block(_clean(text), 1, 0, scan)
    return bool(scan.overflows or scan.floors) or scan.loss_line_score >= MIN_SNIFF_LINES


def _looks_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True  # event files, checkpoints, archives, UTF-16
    sample = head[:4096]
    control = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return control > len(sample) // 20


# ---------------------------------------------------------------- reading


def read(path) -> RunPart:
    """The series, events and framework a console log shows; ReadError when it shows no metric at all."""
    scan = _Scan()
    offset = 0
    first_line = 1
    with open(Path(path), "rb") as handle:
        for block in _blocks(handle):
            text = _clean(block)
            _scan_block(text, first_line, offset, scan)
            first_line += text.count(b"\n")
            offset += len(text)
    if offset == 0:
        raise ReadError("empty file")
    part = _assemble(scan)
    nul_tail = _nul_tail(Path(path))
    if nul_tail is not None:
        start, length = nul_tail
        part.events.append(RunEvent("truncated", f"the log ends in {length} NUL bytes from byte {start}: the rest was never written (a crash or a full disk)", line=first_line))
    return part


def _nul_tail(path: Path, chunk: int = 64 * 1024) -> tuple[int, int] | None:
    """(offset, length) of the NUL bytes that end the file, if any: a crash that left the file
    longer than what was written (the other readers report the same damage). None when it cannot tell."""
    try:
        with open(path, "rb") as handle:
            end = handle.seek(0, 2)
            position = end
            while position > 0:
                start = max(0, position - chunk)
                handle.seek(start)
                kept = len(handle.read(position - start).rstrip(b"\x00"))
                if kept:
                    position = start + kept
                    break
                position = start
    except OSError:
        return None  # the metrics were read; a second look at the tail is not worth failing for
    return (position, end - position) if position < end else None


def _blocks(handle) -> Iterator[bytes]:
    """The file in blocks of whole lines (a line longer than a block is cut at a redraw `\\r`, else anywhere)."""
    carry = b""
    while True:
        data = handle.read(BLOCK_BYTES)
        if not data:
            if carry:
                yield carry
            return
        data = carry + data
        cut = data.rfind(b"\n")
        if cut < 0:
            cut = data.rfind(b"\r")
        if cut < 0:
            cut = len(data) - 1
        yield data[: cut + 1]
        carry = data[cut + 1 :]


def _clean(block: bytes) -> bytes:
    """Drop ANSI colour codes and turn the backspaces of old progress bars into redraws; lines stay where they were."""
    if b"\x1b" in block:
        block = _ANSI.sub(b"", block)
    if b"\x08" in block:
        block = block.replace(b"\x08", b"\r")
    return block


def _trigger_hits(buffer: np.ndarray) -> np.ndarray:
    """Offsets of every trigger word: one pass over the block per distinct first byte, then narrowing."""
    found = []
    by_first: dict[int, np.ndarray] = {}
    for word in TRIGGERS:
        if buffer.size < len(word):
            continue
        if word[0] not in by_first:
            by_first[word[0]] = np.flatnonzero(buffer[: buffer.size - 1] == word[0])
        candidates = by_first[word[0]]
        candidates = candidates[candidates <= buffer.size - len(word)]
        for index in range(1, len(word)):
            candidates = candidates[buffer[candidates + index] == word[index]]
        found.append(candidates)
    return np.concatenate(found) if found else np.empty(0, dtype=np.int64)


def _scan_block(text: bytes, first_line: int, offset: int, scan: _Scan) -> None:
    lowered = text.lower()
    buffer = np.frombuffer(lowered, dtype=np.uint8)
    newlines = np.flatnonzero(buffer == 10)
    returns = np.flatnonzero(buffer == 13)
    breaks = np.sort(np.concatenate((newlines, returns))) if returns.size else newlines
    segment_ids = np.sort(np.searchsorted(breaks, _trigger_hits(buffer)))
    if segment_ids.size:
        segment_ids = segment_ids[np.concatenate(([True], segment_ids[1:] != segment_ids[:-1]))]
        bounds = np.concatenate(([-1], breaks, [len(text)]))  # segment k runs from bounds[k] + 1 to bounds[k + 1]
        starts, ends = bounds[segment_ids] + 1, bounds[segment_ids + 1]
        physical = np.searchsorted(newlines, starts)  # 0-based line within the block
        last_on_line = np.concatenate((physical[1:] != physical[:-1], [True]))
        chosen = np.flatnonzero(last_on_line)
        if not last_on_line.all():
            chosen = np.sort(np.concatenate((chosen, _earlier_epochs(lowered, starts, physical, last_on_line))))
        _parse_segments(text, lowered, starts[chosen].tolist(), ends[chosen].tolist(), (physical[chosen] + first_line).tolist(), offset, scan)
    if b"torch" in lowered:
        scan.saw("pytorch")  # a torch warning or path: the lines show PyTorch even when the metric prints do not
    _scan_overflows(text, lowered, newlines, first_line, offset, scan)
    _scan_stops(text, lowered, newlines, first_line, offset, scan)
    scan.flush()
    scan.previous_tail = text[-TQDM_WINDOW_BYTES:]


def _parse_segments(text: bytes, lowered: bytes, starts: list[int], ends: list[int], lines: list[int], offset: int, scan: _Scan) -> None:
    """Template passes first: one comprehension runs a known line shape over every segment not yet read; a
    template that hits none of a small sample is skipped. The generic parser reads what is left, one line at
    a time, and each new shape it meets becomes a template for the next pass."""
    remaining = list(range(len(starts)))
    done = 0  # remaining[:done] went through the generic parser
    tried: set[_Template] = set()
    while done < len(remaining):
        template = next((item for item in scan.templates if item not in tried), None)
        if template is None:
            index = remaining[done]
            done += 1
            _parse_segment(text, lowered, starts[index], ends[index], lines[index], offset, scan)
            continue
        tried.add(template)
        rest = remaining[done:]
        matcher = template.matcher
        results = [matcher(text, starts[index], ends[index]) for index in rest[:TEMPLATE_SAMPLE_LINES]]
        if all(result is None for result in results):
            continue
        results += [matcher(text, starts[index], ends[index]) for index in rest[TEMPLATE_SAMPLE_LINES:]]
        positions, hit_lines, groups = scan.bucket(template)
        hits = [index for index, result in zip(rest, results) if result is not None]
        positions.extend([offset + starts[index] for index in hits])
        hit_lines.extend([lines[index] for index in hits])
        groups.extend([result.groups() for result in results if result is not None])
        remaining, done = [index for index, result in zip(rest, results) if result is None], 0


def _earlier_epochs(lowered: bytes, starts: np.ndarray, physical: np.ndarray, last_on_line: np.ndarray) -> np.ndarray:
    """A bar that redraws every epoch on one line (Lightning off a tty): the last redraw of each epoch but the last.

    The epoch only grows along a line, so bisection finds where it changes with a few probes per epoch.
    """
    extra: list[int] = []
    line_ends = np.flatnonzero(last_on_line)
    line_starts = np.concatenate(([0], line_ends[:-1] + 1))
    for first, last in zip(line_starts[line_ends > line_starts].tolist(), line_ends[line_ends > line_starts].tolist()):
        def epoch_at(index: int) -> bytes | None:
            match = _BAR_EPOCH.search(lowered, int(starts[index]), int(starts[index]) + EPOCH_PROBE_BYTES)
            return match.group(1) if match else None

        pending = [(first, last, epoch_at(first), epoch_at(last))]
        while pending:
            low, high, low_epoch, high_epoch = pending.pop()
            if low_epoch == high_epoch:
                continue
            if high - low == 1:
                extra.append(low)  # the last redraw of `low_epoch`
                continue
            middle = (low + high) // 2
            middle_epoch = epoch_at(middle)
            pending.append((low, middle, low_epoch, middle_epoch))
            pending.append((middle, high, middle_epoch, high_epoch))
    return np.asarray(extra, dtype=np.int64)


# ---------------------------------------------------------------- one segment


def _parse_segment(text: bytes, lowered: bytes, start: int, end: int, line: int, offset: int, scan: _Scan) -> None:
    end = min(end, start + MAX_SEGMENT_BYTES)
    segment = text[start:end]
    low = lowered[start:end]
    if b"overflow" in low or b"attempted loss scale" in low or b"dynamic loss scale" in low:
        return  # a loss-scale message: `_scan_overflows` reads it, with its step
    if b"epoch" in low:
        header = _EPOCH_HEADER.fullmatch(low)
        if header is not None:
            scan.header_position.append(offset + start)
            scan.header_epoch.append(int(header.group(1)))
            return
    if b"namespace(" in low:
        _parse_arguments(segment, scan)
        return
    if b"{'" in segment:
        _parse_hf(text, segment, start, line, offset, scan)
        return
    truncated = False
    if b".py:" in segment:
        warning = _PYTHON_WARNING.search(segment)
        if warning is not None:
            segment, low = segment[: warning.start()], low[: warning.start()]  # a warning glued to the line (stderr interleaving)
            truncated = True
    for index, template in enumerate(scan.templates):
        match = template.matcher(segment)
        if match is not None:
            if index:
                scan.templates.insert(0, scan.templates.pop(index))
            positions, lines, groups = scan.bucket(template)
            positions.append(offset + start)
            lines.append(line)
            groups.append(match.groups())
            return
    if b"iteration" in low and b"|" in segment and (_MEGATRON_ITERATION.search(segment) or b"validation loss at" in low):
        parsed = _read_megatron(segment, scan)
    else:
        parsed = _read_generic(segment, low, scan)
    if parsed is None:
        return
    name_ids = [scan.name_id(name) for name in parsed.names]
    has_loss = any("loss" in name.lower() for name in parsed.names)
    scan.saw(parsed.framework)
    scan.add_segment(offset + start, line, parsed.step, parsed.total, parsed.epoch, parsed.kind, name_ids, parsed.values, has_loss)
    _learn_template(scan, segment, parsed, name_ids, has_loss, truncated)


def _learn_template(scan: _Scan, segment: bytes, parsed: _Parsed, name_ids: list[int], has_loss: bool, truncated: bool) -> None:
    """Make the line's shape a template: its text escaped, each number a group (integers for step, total, epoch)."""
    scan.template_misses += 1
    if len(segment) > MAX_TEMPLATE_BYTES:
        return
    hits = scan.template_hits + sum(len(positions) for positions, _, _ in scan.buckets.values())
    if scan.template_misses > TEMPLATE_TRIAL_LINES and scan.template_misses > hits:
        return  # lines too varied for templates to pay for their compilation
    pieces: list[bytes] = []
    cursor = 0
    groups = {"value": [], "step": None, "total": None, "epoch": None}
    group = 0
    for begin, finish, role in sorted(parsed.captures):
        if begin < cursor:
            return  # overlapping captures: leave this shape to the generic regex
        pieces.append(_literal(segment[cursor:begin], after_number=cursor > 0, before_number=True))
        if role == "other":
            pieces.append(b"(?:" + NUMBER + b")")
        else:
            pieces.append(b"(\\d+)" if role in ("step", "total", "epoch") else b"(" + NUMBER + b")")
            if role == "value":
                groups["value"].append(group)
            else:
                groups[role] = group
            group += 1
        cursor = finish
    pieces.append(_literal(segment[cursor:], after_number=cursor > 0, before_number=False))
    if truncated:
        pieces.append(b"(?=" + _PYTHON_WARNING.pattern + b")")  # the glued warning ends the line's own text
    try:
        pattern = re.compile(b"".join(pieces))
    except re.error:
        return
    matcher = pattern.match if truncated else pattern.fullmatch
    if matcher(segment + (b"x.py:1: Warning" if truncated else b"")) is None or len(groups["value"]) != len(name_ids):
        return
    template = _Template(pattern, matcher, parsed.kind, tuple(groups["value"]), tuple(name_ids), groups["step"], groups["total"], groups["epoch"], has_loss, parsed.framework)
    scan.templates.insert(0, template)
    del scan.templates[MAX_TEMPLATES:]


def _literal(text: bytes, after_number: bool, before_number: bool) -> bytes:
    """Text between numbers, as a pattern. What changes from line to line may vary: numbers not inside a word
    (clocks, counters), a progress bar's fill, runs of blanks, and the padding before a number (right-aligned
    columns). A single space anywhere else stays literal, which keeps the match fast."""
    tokens = _TEMPLATE_TOKEN.findall(text)
    numbers = [bool(number) for _, _, number, _ in tokens]
    pieces = []
    for index, (blanks, bar, number, other) in enumerate(tokens):
        if blanks:
            before = before_number if index == len(tokens) - 1 else numbers[index + 1]
            pieces.append(b" " if blanks == b" " and not before else rb"[ \t]+")
        elif bar:
            pieces.append(rb"\[[=>.]*\]" if bar.startswith(b"[") else rb"%\|[^|\r\n]*\|")
        elif number:
            pieces.append(rb"[\d.]+")
        else:
            pieces.append(re.escape(other))
    return b"".join(pieces)


def _key_info(scan: _Scan, raw: bytes) -> _KeyInfo:
    info = scan.keys.get(raw)
    if info is None:
        info = scan.keys[raw] = _classify_key(raw)
    return info


def _classify_key(raw: bytes) -> _KeyInfo:
    name = _SPACES.sub(" ", raw.decode("utf-8", errors="replace")).strip()
    lowered = name.lower()
    words = lowered.split(" ")
    validation = None
    if len(words) > 1 and words[0] in VALIDATION_WORDS:
        validation, rest = words[0], " ".join(words[1:])
        if rest in STEP_KEYS or rest in EPOCH_KEYS:
            return _KeyInfo(rest, "step" if rest in STEP_KEYS else "epoch", validation, False)
    if lowered in STEP_KEYS:
        return _KeyInfo(name, "step", None, False)
    if lowered in EPOCH_KEYS:
        return _KeyInfo(name, "epoch", None, False)
    if lowered in JUNK_KEYS or lowered.endswith((".py", ".cpp", ".cc", ".h", ".c")):
        return _KeyInfo(name, "junk", None, False)
    role = role_for(name)
    parts = [part for part in _WORDS.split(lowered) if part]
    metric = role != "other" or any(part in METRIC_WORDS for part in parts) or "_".join(parts) in METRIC_WORDS
    loss_like = role in ("train_loss", "val_loss") or "loss" in lowered
    return _KeyInfo(name, "metric" if metric else "other", validation, loss_like)


def _validation_word(segment: bytes, low: bytes) -> str | None:
    """The word that makes a whole line a validation line: `test epoch:0 || Loss:`, fairseq `valid on`, TF `Saving dict`."""
    if b"valid on '" in low:
        return "valid"
    if b"saving dict for global step" in low:
        return "eval"
    match = _VALIDATION_START.match(segment)
    return match.group(1).decode().lower() if match else None


def _prefixed(word: str | None, info: _KeyInfo) -> str:
    """A value of a validation line named as the framework would (`valid_loss`, `test Loss`), unless it says so already."""
    if word is None or any(part in VALIDATION_WORDS or part.split("_", 1)[0] in VALIDATION_WORDS for part in info.name.lower().replace("/", " ").split(" ")):
        return info.name
    return f"{word} {info.name}" if " " in info.name else f"{word}_{info.name}"


def _read_generic(segment: bytes, low: bytes, scan: _Scan) -> _Parsed | None:
    """`key: value` pairs anywhere in the line, with the dialect's own step syntax (fairseq, mmdetection) read first."""
    parsed = _Parsed(GENERIC, math.nan, math.nan, math.nan, [], [], [])
    validation = _validation_word(segment, low)
    fairseq = _FAIRSEQ_INNER.search(low) if b"epoch " in low else None
    skip_to = 0
    if fairseq is not None:
        parsed.kind, parsed.framework = FAIRSEQ_INNER, "fairseq"
        parsed.epoch, parsed.step, parsed.total = float(fairseq.group(1)), float(fairseq.group(2)), float(fairseq.group(3))
        parsed.captures += [(fairseq.start(1), fairseq.end(1), "epoch"), (fairseq.start(2), fairseq.end(2), "step"), (fairseq.start(3), fairseq.end(3), "total")]
        skip_to = fairseq.end()
    elif b"epoch " in low and b" | " in segment and _FAIRSEQ_SUMMARY.search(low):
        parsed.kind, parsed.framework = FAIRSEQ_SUMMARY, "fairseq"
    elif b"[" in segment and (b"epoch" in low or b"iter" in low):
        mmdet = _MMDET_STEP.search(segment)
        if mmdet is not None:
            parsed.framework = "pytorch"
            if mmdet.group(2) in (b"val", b"test"):
                validation = "val"
            if mmdet.group(1) == b"Epoch":
                parsed.epoch = float(mmdet.group(3))
                parsed.captures.append((mmdet.start(3), mmdet.end(3), "epoch"))
                step_group, total_group = 5, 6
            else:
                step_group, total_group = 3, 4
            if mmdet.group(step_group) is not None and validation is None:  # `Epoch(val) [1][500]`: 500 evaluation batches
                parsed.step = float(mmdet.group(step_group))
                parsed.captures.append((mmdet.start(step_group), mmdet.end(step_group), "step"))
                if mmdet.group(total_group) is not None:
                    parsed.total = float(mmdet.group(total_group))
                    parsed.captures.append((mmdet.start(total_group), mmdet.end(total_group), "total"))
            skip_to = mmdet.end()
    if parsed.kind == GENERIC:
        if _BAR.search(segment):
            parsed.kind = BAR
            if b"v_num" in segment:
                parsed.framework = "lightning"
        elif b" - " in segment and (b"[==" in segment or b"[..." in segment or (_KERAS_METRIC.search(segment) and _KERAS_TIME.search(segment))):
            parsed.kind, parsed.framework = KERAS, "keras"
    if parsed.framework is None:
        if b"tensorflow" in low:
            parsed.framework = "tensorflow"
        elif b"[rank " in low and b"skipped=" in low:
            parsed.framework = "deepspeed"
    found: list[tuple[_KeyInfo, float]] = []
    step_capture = None
    for match in _PAIR.finditer(segment, skip_to):
        info = _key_info(scan, match.group(1) or match.group(2))
        value = match.group(3)
        number = float(value)
        span = (match.start(3), match.end(3))
        if info.kind == "junk":
            parsed.captures.append((*span, "other"))
            continue
        if info.kind in ("step", "epoch"):
            validation = validation or info.validation
            integral = math.isfinite(number) and number == int(number) and value.isdigit()
            if info.kind == "step" and integral and (math.isnan(parsed.step) or info.name.lower() == "num_updates"):
                parsed.step = number
                parsed.total = float(match.group(4)) if match.group(4) and info.name.lower() != "num_updates" else math.nan
                step_capture = [(*span, "step")] + ([(match.start(4), match.end(4), "total")] if not math.isnan(parsed.total) else [])
            elif info.kind == "epoch" and integral and math.isnan(parsed.epoch):
                parsed.epoch = number
                parsed.captures.append((*span, "epoch"))
            else:
                parsed.captures.append((*span, "other"))
            continue
        found.append((info, number))
        parsed.captures.append((*span, "value"))
    if not any(info.kind == "metric" for info, _ in found):
        return None
    if step_capture is not None:
        parsed.captures += step_capture
    if validation == "valid" and b"valid on '" in low:
        parsed.framework = "fairseq"
    parsed.names = [_prefixed(validation, info) for info, _ in found]
    parsed.values = [number for _, number in found]
    return parsed


def _parse_arguments(segment: bytes, scan: _Scan) -> None:
    """argparse's `Namespace(lr=0.0001, batch_size=64, ...)` printed at start-up: hyperparameters, not a curve."""
    for key, value in _ARGUMENT.findall(segment):
        scan.hparams.setdefault(key.decode("ascii"), float(value))


def _parse_hf(text: bytes, segment: bytes, start: int, line: int, offset: int, scan: _Scan) -> None:
    """HF Trainer's logged dicts: `{'loss': 1.67, 'grad_norm': nan, 'learning_rate': 2e-05, 'epoch': 0.1}`."""
    for match in _HF_DICT.finditer(segment):
        name_ids, values = [], []
        step, metric, has_loss, summary = math.nan, False, False, False
        for key, value in _HF_PAIR.findall(match.group(1)):
            action, name_id, is_metric, loss_like = _hf_key(scan, key)
            summary |= action == "summary"
            metric |= is_metric
            if action == "step":
                step = float(value)
            elif action == "value":
                name_ids.append(name_id)
                values.append(float(value))
                has_loss |= loss_like
        if summary or not metric or not name_ids:
            continue  # the end-of-training summary (averages), or a dict of no metric at all
        if math.isnan(step):
            step = _tqdm_step_before(text, start + match.start(), scan)
        scan.saw("hf")
        scan.add_segment(offset + start + match.start(), line, step, math.nan, math.nan, HF, name_ids, values, has_loss)


def _hf_key(scan: _Scan, key: bytes) -> tuple[str, int, bool, bool]:
    """What a key of an HF dict is for (`value`, `step`, `skip`, `summary`), its name id, and whether it names a metric."""
    known = scan.hf_keys.get(key)
    if known is None:
        name = key.decode("utf-8", errors="replace")
        if name == "step":
            action = "step"
        elif name.startswith("train") and name.endswith("_runtime"):
            action = "summary"
        elif name in HF_SKIPPED_KEYS or name.endswith(HF_SKIPPED_SUFFIXES):
            action = "skip"
        else:
            action = "value"
        role = role_for(name)
        known = scan.hf_keys[key] = (action, scan.name_id(name) if action == "value" else -1, role != "other", "loss" in name)
    return known


def _tqdm_step_before(text: bytes, position: int, scan: _Scan) -> float:
    """The step of the training bar drawn just before `position`: the last `done/total [` counter of the longest
    bar seen so far (an evaluation bar, `50/50`, is shorter); NaN when only another bar is in sight."""
    if position < TQDM_WINDOW_BYTES and scan.previous_tail:
        # The bar may have been drawn at the end of the previous block.
        text, position = scan.previous_tail + text[:position], len(scan.previous_tail) + position
    low = max(0, position - TQDM_WINDOW_BYTES)
    end = position
    while True:
        bracket = text.rfind(b" [", low, end)
        if bracket < 0:
            return math.nan
        counter = _TQDM_COUNTER_TAIL.search(text, max(low, bracket - 48), bracket)
        end = bracket
        if counter is None:
            continue
        total = int(counter.group(2))
        if total >= scan.main_bar_total:
            scan.main_bar_total = total
            return float(counter.group(1))


def _read_megatron(segment: bytes, scan: _Scan) -> _Parsed | None:
    """` iteration  7000/ 159576 | ... | lm loss: 6.44E+00 | loss scale: 2048.0 | grad norm: 98258.265 |`."""
    parsed = _Parsed(MEGATRON, math.nan, math.nan, math.nan, [], [], [], "megatron")
    iteration = _MEGATRON_ITERATION.search(segment)
    validation = None
    if iteration is not None:
        parsed.step = float(iteration.group(1))
        parsed.captures.append((iteration.start(1), iteration.end(1), "step"))
        fields_start = iteration.end() - 1
    else:
        found = _MEGATRON_VALIDATION.search(segment)
        if found is None:
            return None
        if found.group(1):
            parsed.step = float(found.group(1))
            parsed.captures.append((found.start(1), found.end(1), "step"))
        validation = "validation"
        fields_start = found.end() - 1
    for match in _MEGATRON_PAIR.finditer(segment + b"|", fields_start):
        info = _key_info(scan, match.group(1))
        if match.end(2) > len(segment):
            continue
        if info.kind in ("junk", "step", "epoch"):
            parsed.captures.append((match.start(2), match.end(2), "other"))
            continue
        parsed.names.append(f"{validation} {info.name}" if validation else info.name)
        parsed.values.append(float(match.group(2)))
        parsed.captures.append((match.start(2), match.end(2), "value"))
    return parsed if parsed.names else None


# ---------------------------------------------------------------- rare lines


def _line_of(newlines: np.ndarray, position: int, first_line: int) -> int:
    return first_line + int(np.searchsorted(newlines, position))


def _scan_overflows(text: bytes, lowered: bytes, newlines: np.ndarray, first_line: int, offset: int, scan: _Scan) -> None:
    if b"overflow" not in lowered and b"minimum" not in lowered:
        return  # Megatron prints `loss scale:` on every line: only these words mean a message
    found: list[tuple[int, str, re.Match]] = []
    for kind, pattern, words in _OVERFLOW_PATTERNS:
        if words in lowered:
            found.extend((match.start(), kind, match) for match in pattern.finditer(text))
    for position, kind, match in sorted(found, key=lambda item: item[0]):
        line = _line_of(newlines, position, first_line)
        line_start = text.rfind(b"\n", 0, position) + 1
        head = text[line_start:position]
        overflow = _Overflow(offset + position, line, {kind}, _overflow_framework(kind, head, lowered))
        if kind == "attempt":
            overflow.old_scale = float(match.group(1))
            if match.group(2) is not None:
                overflow.new_scale = float(match.group(2))
            else:
                overflow.new_scale = overflow.old_scale
                overflow.hysteresis = (int(match.group(3)), int(match.group(4)))
        elif kind in ("apex", "setting"):
            overflow.new_scale = float(match.group(1))
        elif kind == "iteration":
            overflow.step = int(match.group(1))
        elif kind == "reducing":
            overflow.old_scale, overflow.new_scale = float(match.group(1)), float(match.group(2))
        elif kind == "using":
            overflow.new_scale = float(match.group(1))
        if overflow.step is None:
            counters = _TQDM_COUNTER.findall(head)  # DeepSpeed glued onto a tqdm redraw: the bar's counter is the step
            if counters:
                overflow.step = int(counters[-1][0])
        _merge_overflow(scan, overflow)
    for match in _SCALE_FLOOR.finditer(text) if b"minimum" in lowered else ():
        message = match.group(0).decode("utf-8", errors="replace").strip()
        scan.floors.append((offset + match.start(), _line_of(newlines, match.start(), first_line), message))


def _overflow_framework(kind: str, head: bytes, lowered: bytes) -> str:
    if kind == "apex" or kind == "using":
        return "pytorch"
    if kind == "setting":
        return "fairseq" if b"fairseq" in lowered or b"| warning" in lowered or b"note:" in lowered else "megatron"
    return "deepspeed"


def _merge_overflow(scan: _Scan, overflow: _Overflow) -> None:
    """One overflow, one record: DeepSpeed prints `Grad overflow on iteration N`, `Reducing dynamic loss scale
    from A to B` and `... Attempted loss scale: A, reducing to B` for the same overflow, on adjacent lines."""
    if scan.overflows:
        previous = scan.overflows[-1]
        adjacent = 0 <= overflow.line - previous.last_line <= 1 and not (overflow.kinds & previous.kinds)
        same_scale = overflow.new_scale is None or previous.new_scale is None or overflow.new_scale == previous.new_scale
        same_step = overflow.step is None or previous.step is None or overflow.step == previous.step
        if adjacent and same_scale and same_step:
            previous.kinds |= overflow.kinds
            previous.last_line = overflow.line
            previous.step = previous.step if previous.step is not None else overflow.step
            previous.new_scale = previous.new_scale if previous.new_scale is not None else overflow.new_scale
            previous.old_scale = previous.old_scale if previous.old_scale is not None else overflow.old_scale
            previous.hysteresis = previous.hysteresis or overflow.hysteresis
            if overflow.framework == "deepspeed":
                previous.framework = "deepspeed"
            return
    overflow.last_line = overflow.line
    scan.overflows.append(overflow)


def _scan_stops(text: bytes, lowered: bytes, newlines: np.ndarray, first_line: int, offset: int, scan: _Scan) -> None:
    """Tracebacks and the last exception line after them, Keras TerminateOnNaN and EarlyStopping, Lightning's non-finite monitor."""
    if b"traceback" in lowered:
        for match in _TRACEBACK.finditer(text):
            if len(scan.tracebacks) < MAX_TRACEBACKS:
                scan.tracebacks.append((offset + match.start(), _line_of(newlines, match.start(), first_line)))
    if scan.tracebacks and (b"error" in lowered or b"exception" in lowered or b"interrupt" in lowered or b"exit" in lowered):
        begin = max(0, scan.tracebacks[-1][0] - offset)
        exception = None
        for exception in _EXCEPTION_LINE.finditer(text, begin, min(len(text), begin + TRACEBACK_TAIL_BYTES)):
            pass
        if exception is not None:
            scan.exception = (offset + exception.start(), _line_of(newlines, exception.start(), first_line), exception.group(1).decode("utf-8", errors="replace").strip())
    if b"invalid loss" in lowered:
        for match in _TERMINATE_ON_NAN.finditer(text):
            scan.stops.append((offset + match.start(), _line_of(newlines, match.start(), first_line), match.group(0).decode(), None, True))
            scan.saw("keras")
    if b"early stopping" in lowered:
        for match in _EARLY_STOPPING.finditer(text):
            scan.stops.append((offset + match.start(), _line_of(newlines, match.start(), first_line), match.group(0).decode(), int(match.group(1)), False))
    if b"is not finite" in lowered:
        for match in _NOT_FINITE_MONITOR.finditer(text):
            scan.stops.append((offset + match.start(), _line_of(newlines, match.start(), first_line), match.group(0).decode("utf-8", errors="replace"), None, False))
            scan.saw("lightning")


# ---------------------------------------------------------------- steps, series, events


@dataclass
class _Steps:
    """The resolved step of every metric segment, its unit, and what the reader had to assume."""

    steps: np.ndarray  # int64, one per segment
    unit: str
    warnings: list[str]


@dataclass
class _Table:
    """All metric segments in file order, and their points grouped by name (in file order within a name)."""

    position: np.ndarray
    line: np.ndarray
    step: np.ndarray
    total: np.ndarray
    epoch: np.ndarray
    kind: np.ndarray  # int64
    point_segment: np.ndarray  # index into the segment arrays above
    point_name: np.ndarray
    point_value: np.ndarray


def _gather(scan: _Scan) -> _Table:
    chunks = scan.chunks
    if not chunks:
        empty_int, empty_float = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        return _Table(empty_int, empty_int, empty_float, empty_float, empty_float, empty_int, empty_int, empty_int, empty_float)
    sizes = np.array([chunk.position.size for chunk in chunks], dtype=np.int64)
    first_index = np.concatenate(([0], np.cumsum(sizes)[:-1])).tolist()
    parts = {attribute: [getattr(chunk, attribute) for chunk in chunks] for attribute in _Chunk.__dataclass_fields__}
    parts["segment"] = [segment.astype(np.int64) + first for segment, first in zip(parts["segment"], first_index)]
    scan.chunks = []

    def joined(attribute: str) -> np.ndarray:
        # One attribute at a time, its pieces dropped as soon as they are joined: memory peaks at the points plus one column.
        return np.concatenate(parts.pop(attribute))

    position = joined("position")
    order = np.argsort(position, kind="stable")  # template hits were buffered apart from the other lines of their block
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    point_segment = rank[joined("segment")]
    name = joined("name")
    point_order = np.lexsort((point_segment, name))
    return _Table(
        position[order], joined("line")[order], joined("step")[order], joined("total")[order], joined("epoch")[order],
        joined("kind")[order].astype(np.int64), point_segment[point_order], name[point_order].astype(np.int64), joined("value")[point_order],
    )


def _assemble(scan: _Scan) -> RunPart:
    table = _gather(scan)
    if not table.position.size and not scan.overflows and not scan.floors:
        raise ReadError("no training metrics found (no loss, accuracy or epoch lines, no loss-scale messages)")
    resolved = _resolve_steps(scan, table)
    warnings = list(resolved.warnings)
    series = _series_from_points(scan, table, resolved, warnings)
    events = _restart_events(resolved.steps, table.line)
    scale_series, overflow_events, overflow_steps = _overflows(scan, table.position, resolved, series, warnings)
    if scale_series is not None:
        series = [item for item in series if item.name != scale_series.name] + [scale_series]
    events.extend(overflow_events)
    events.extend(_stop_events(scan, table.position, resolved, overflow_steps))
    if not series:
        raise ReadError("no training metrics found (no loss, accuracy or epoch lines, no loss-scale messages)")
    meta: dict = {}
    framework = _framework(scan)
    if framework:
        meta["framework"] = framework
    if scan.hparams:
        meta["hparams"] = dict(scan.hparams)
    return RunPart(FORMAT, series, sorted(events, key=lambda event: event.line or 0), meta, warnings)


def _resolve_steps(scan: _Scan, table: _Table) -> _Steps:
    """Printed step (made global across epochs when it restarts every epoch) > printed epoch > the header above > line order."""
    positions, printed_step, printed_epoch = table.position, table.step, table.epoch
    warnings: list[str] = []
    count = positions.size
    if count == 0:
        return _Steps(np.empty(0, dtype=np.int64), "step", warnings)
    if np.isfinite(printed_step).any():
        global_steps = _global_steps(printed_step, table.total, printed_epoch, warnings)
        return _Steps(_as_steps(_forward_fill(global_steps)), "step", warnings)
    header_positions = np.asarray(scan.header_position, dtype=np.int64)
    if np.isfinite(printed_epoch).any() or header_positions.size:
        # Markers are the printed epochs and the header lines, by position; a line takes the last one above it.
        has_epoch = np.isfinite(printed_epoch)
        marker_positions = np.concatenate((positions[has_epoch], header_positions))
        marker_epochs = np.concatenate((printed_epoch[has_epoch], np.asarray(scan.header_epoch, dtype=np.float64)))
        order = np.argsort(marker_positions, kind="stable")
        marker_positions, marker_epochs = marker_positions[order], marker_epochs[order]
        above = np.searchsorted(marker_positions, positions, side="right") - 1
        epochs = np.where(has_epoch, printed_epoch, marker_epochs[np.maximum(above, 0)])
        before_first = ~has_epoch & (above < 0)
        if before_first.any():
            epochs[before_first] = marker_epochs[0] - 1
            first_line = int(table.line[np.flatnonzero(before_first)[0]])
            warnings.append(f"{int(before_first.sum())} metric lines (first at line {first_line}) come before the first epoch header: read as epoch {int(marker_epochs[0]) - 1}, the one before it")
        return _Steps(_as_steps(epochs), "epoch", warnings)
    warnings.append("no step, iteration or epoch is printed with the metrics: points are numbered 1, 2, 3 ... in the order of the lines")
    return _Steps(np.arange(1, count + 1, dtype=np.int64), "step", warnings)


def _as_steps(values: np.ndarray) -> np.ndarray:
    return np.clip(values, -STEP_LIMIT, STEP_LIMIT).astype(np.int64)


def _forward_fill(values: np.ndarray) -> np.ndarray:
    """Each NaN takes the last finite value before it (the first finite one for NaNs at the start)."""
    finite = np.isfinite(values)
    if finite.all():
        return values
    index = np.where(finite, np.arange(values.size), -1)
    np.maximum.accumulate(index, out=index)
    filled = values[np.maximum(index, 0)]
    filled[index < 0] = values[np.flatnonzero(finite)[0]]
    return filled


def _global_steps(steps: np.ndarray, totals: np.ndarray, epochs: np.ndarray, warnings: list[str]) -> np.ndarray:
    """A batch counter that starts again each epoch (`ep: 1, batch: 20`) made global: epoch x batches + batch."""
    known = np.flatnonzero(np.isfinite(steps))
    counter = steps[known]
    back = np.flatnonzero(counter[1:] < counter[:-1]) + 1
    if back.size == 0:
        return steps
    epoch_at = _forward_fill(epochs[known]) if np.isfinite(epochs[known]).any() else np.full(known.size, np.nan)
    rollover = back[epoch_at[back] > epoch_at[back - 1]]
    if rollover.size == 0:
        return steps  # the counter went back with no new epoch: a restart, reported as such
    result = steps.copy()
    known_totals = totals[known]
    if np.isfinite(known_totals).all() and np.isfinite(epoch_at).all():
        base = 0 if epoch_at.min() == 0 else 1
        result[known] = (epoch_at - base) * known_totals + counter
        warnings.append(f"the step counter starts again every epoch: steps are (epoch - {base}) x batches per epoch + batch, from the printed `i/N`")
        return result
    spacing = np.diff(counter)
    spacing = float(np.median(spacing[spacing > 0])) if (spacing > 0).any() else 1.0
    offsets = np.zeros(known.size)
    offset = 0.0
    starts = set(rollover.tolist())
    for index in back.tolist():
        offset = offset + counter[index - 1] + spacing if index in starts else 0.0
        offsets[index:] = offset
    result[known] = counter + offsets
    warnings.append("the step counter starts again every epoch and no batches-per-epoch is printed: each epoch is assumed to end one logging interval after its last printed step")
    return result


def _final_names(scan: _Scan, table: _Table) -> list[str]:
    """Series name per name id: as printed, except where two kinds of line print one name for different things.

    Returns the names (new ones appended) and re-points the ids in `table.point_name` of the points renamed.
    """
    names = list(scan.names)
    point_kinds = table.kind[table.point_segment]
    if (table.kind == FAIRSEQ_INNER).any() and (table.kind == FAIRSEQ_SUMMARY).any():
        # fairseq's epoch summary averages what the progress lines printed: keep it apart, as fairseq's own TensorBoard does.
        _rename(names, table, point_kinds == FAIRSEQ_SUMMARY, lambda name: name if name.startswith(("train", "valid")) else "train_" + name)
    bar_points = point_kinds == BAR
    if bar_points.any() and "loss" in names:
        loss_id = names.index("loss")
        bar_loss = bar_points & (table.point_name == loss_id)
        logged = np.flatnonzero(np.bincount(table.point_name[~bar_loss], minlength=len(names))).tolist()
        if any(_TOTAL_TRAIN_LOSS.fullmatch(names[number].lower()) for number in logged):
            # The bar's `loss` is a running mean over the last batches: a logged total train loss is better.
            _rename(names, table, bar_loss, lambda name: "smoothed_loss")
    return names


def _rename(names: list[str], table: _Table, points: np.ndarray, rename) -> None:
    for number in np.flatnonzero(np.bincount(table.point_name[points], minlength=len(names))).tolist():
        renamed = rename(names[number])
        if renamed != names[number]:
            if renamed not in names:
                names.append(renamed)
            table.point_name[points & (table.point_name == number)] = names.index(renamed)


def _series_from_points(scan: _Scan, table: _Table, resolved: _Steps, warnings: list[str]) -> list[Series]:
    if not table.point_name.size:
        return []
    printed_names = len(scan.names)
    names = _final_names(scan, table)
    point_segment, point_name, point_value = table.point_segment, table.point_name, table.point_value
    if len(names) > printed_names:
        order = np.lexsort((point_segment, point_name))  # renamed points join another group
        point_segment, point_name, point_value = point_segment[order], point_name[order], point_value[order]
    bounds = np.searchsorted(point_name, np.arange(len(names) + 1))
    first_seen = sorted(range(len(names)), key=lambda number: point_segment[bounds[number]] if bounds[number] < bounds[number + 1] else np.iinfo(np.int64).max)
    series = []
    superseded, first_superseded = 0, None
    for number in first_seen:
        if bounds[number] == bounds[number + 1]:
            continue
        segments = point_segment[bounds[number] : bounds[number + 1]]
        steps = resolved.steps[segments]
        keep = np.concatenate((steps[1:] != steps[:-1], [True]))  # several values at one step: the last one printed
        dropped = ~keep & ~np.isin(table.kind[segments], REDRAW_KINDS)
        if dropped.any():
            superseded += int(dropped.sum())
            line = int(table.line[segments[np.flatnonzero(dropped)[0]]])
            first_superseded = line if first_superseded is None else min(first_superseded, line)
        values = point_value[bounds[number] : bounds[number + 1]]
        series.append(make_series(names[number], steps[keep], values[keep], locations=table.line[segments][keep], step_unit=resolved.unit))
    if superseded:
        warnings.append(f"{superseded} values were printed again later at the same {resolved.unit} (first at line {first_superseded}); the last one printed is kept")
    return series


def _restart_events(steps: np.ndarray, lines: np.ndarray) -> list[RunEvent]:
    back = np.flatnonzero(steps[1:] < steps[:-1]) + 1
    events = []
    for index in back[:MAX_RESTART_EVENTS].tolist():
        line = int(lines[index])
        events.append(RunEvent("restart", f"line {line}: the step went back from {steps[index - 1]} to {steps[index]}; the run restarted", step=int(steps[index]), line=line))
    return events


def _overflows(scan: _Scan, positions: np.ndarray, resolved: _Steps, series: list[Series], warnings: list[str]) -> tuple[Series | None, list[RunEvent], list[int]]:
    """The loss scale after each overflow as a series (merged into a printed loss-scale series), and one event each."""
    if not scan.overflows:
        return None, [], []
    steps: list[int] = []
    events: list[RunEvent] = []
    estimated = 0
    since_segment: dict[int, int] = {}
    for number, overflow in enumerate(scan.overflows, start=1):
        if overflow.step is not None:
            step = overflow.step
            where = f"at step {step}"
        else:
            estimated += 1
            above = int(np.searchsorted(positions, overflow.position)) - 1
            if above >= 0 and resolved.unit == "step":
                since_segment[above] = since_segment.get(above, 0) + 1
                base = int(resolved.steps[above])
                step = base + since_segment[above]
                where = f"with no step printed (overflow message {since_segment[above]} after step {base})"
            else:
                step = number
                where = f"with no step printed (overflow message {number})"
        steps.append(step)
        label = f"[{overflow.framework}] overflow {where}"
        if overflow.hysteresis is not None:
            message = f"{label}: step skipped, loss scale stays {overflow.new_scale:g} (hysteresis {overflow.hysteresis[0]} -> {overflow.hysteresis[1]})"
        elif overflow.new_scale is not None:
            attempted = f" (attempted {overflow.old_scale:g})" if overflow.old_scale is not None else ""
            message = f"{label}: step skipped, reducing loss scale to {overflow.new_scale!r}{attempted}"
        else:
            message = f"{label}: step skipped"
        events.append(RunEvent("overflow", message, step=overflow.step, line=overflow.line))
    if estimated:
        warnings.append(f"{estimated} of {len(scan.overflows)} overflow messages carry no step: their loss-scale points are placed one step apart after the last step printed above them (or numbered 1, 2, 3 ... when none is), so those steps are estimates")
    with_scale = [(step, overflow.new_scale, overflow.line) for step, overflow in zip(steps, scan.overflows) if overflow.new_scale is not None]
    if not with_scale:
        return None, events, steps
    printed = [item for item in series if role_for(item.name) == "loss_scale"]
    target = printed[0] if len(printed) == 1 else None
    name = target.name if target is not None else "loss_scale"
    step_array = np.array([item[0] for item in with_scale], dtype=np.int64)
    value_array = np.array([item[1] for item in with_scale], dtype=np.float64)
    line_array = np.array([item[2] for item in with_scale], dtype=np.int64)
    if target is not None:
        # Printed points first, so that at a shared step the overflow message (printed later) wins.
        step_array = np.concatenate((target.steps, step_array))
        value_array = np.concatenate((target.values, value_array))
        line_array = np.concatenate((target.locations, line_array))
        order = np.lexsort((line_array, step_array))
        step_array, value_array, line_array = step_array[order], value_array[order], line_array[order]
        keep = np.concatenate((step_array[1:] != step_array[:-1], [True]))
        step_array, value_array, line_array = step_array[keep], value_array[keep], line_array[keep]
    unit = target.step_unit if target is not None else "step"
    return make_series(name, step_array, value_array, locations=line_array, step_unit=unit), events, steps


def _step_above(position: int, positions: np.ndarray, resolved: _Steps) -> int | None:
    above = int(np.searchsorted(positions, position)) - 1
    return int(resolved.steps[above]) if above >= 0 else None


def _stop_events(scan: _Scan, positions: np.ndarray, resolved: _Steps, overflow_steps: list[int]) -> list[RunEvent]:
    events = []
    overflow_positions = np.asarray([overflow.position for overflow in scan.overflows], dtype=np.int64)
    for position, line, message in scan.floors:
        step = _step_above(position, positions, resolved)
        before = int(np.searchsorted(overflow_positions, position)) - 1
        if before >= 0 and (step is None or overflow_steps[before] > step):
            step = overflow_steps[before]
        events.append(RunEvent("loss_scale_floor", f"the fp16 loss scale hit its minimum and training stopped: {message}", step=step, line=line))
    header_positions = np.asarray(scan.header_position, dtype=np.int64)
    for position, line, message, printed_epoch, batch_level in scan.stops:
        step = printed_epoch
        if step is None and batch_level and header_positions.size and resolved.unit == "epoch":
            above = int(np.searchsorted(header_positions, position)) - 1
            step = scan.header_epoch[above] if above >= 0 else None
        if step is None:
            step = _step_above(position, positions, resolved)
        events.append(RunEvent("early_stop", message, step=step, line=line))
    last_metric = int(positions[-1]) if positions.size else -1
    ending = [traceback for traceback in scan.tracebacks if traceback[0] > last_metric]
    if ending:
        traceback_position, traceback_line = ending[0]
        step = int(resolved.steps[-1]) if resolved.steps.size else None
        if overflow_steps and (step is None or overflow_steps[-1] > step):
            step = overflow_steps[-1]
        exception = f": {scan.exception[2]}" if scan.exception is not None and scan.exception[0] > traceback_position else " (its exception line is not in the log)"
        events.append(RunEvent("aborted", f"a Python traceback at line {traceback_line} ends the log{exception}", step=step, line=traceback_line))
    return events


def _framework(scan: _Scan) -> str | None:
    seen = dict(scan.frameworks)
    for overflow in scan.overflows:
        seen[overflow.framework] = seen.get(overflow.framework, 0) + 1
    return next((name for name in FRAMEWORK_PRIORITY if seen.get(name)), None)
