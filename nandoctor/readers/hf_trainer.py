"""Read a HF Trainer `trainer_state.json`: one series per key of its `log_history`, the run's settings as meta.

`log_history` mixes train entries (`loss`, `grad_norm`, `learning_rate`), eval entries (`eval_*`) and,
once `train()` returns, a summary entry (`train_loss`, `train_runtime`, ...) that goes to meta, as do
evaluations logged after it. Each entry carries the `step` it was logged at. The Trainer writes the
file with `json.dumps(asdict(state), indent=2, sort_keys=True)`, so NaN and infinity appear as the
bare tokens `NaN` and `Infinity`, which Python's json reads. The file is walked entry by entry, which
gives each entry's line and lets a file cut off mid-write keep every entry written before the cut.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..model import RunEvent, Series, make_series
from . import ReadError, RunPart

FORMAT = "hf_trainer"
# A JSON object whose `log_history` is a list of objects (or empty): the TrainerState layout.
_LOG_HISTORY = re.compile(rb'"log_history"\s*:\s*\[\s*[{\]]')
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_TOKEN_FRAGMENT = re.compile(r"[\w.+\-]*")
_DECODER = json.JSONDecoder()
_NUMBER_TYPES = (int, float)

# Roles the Trainer's own names mean for sure; other keys get theirs from `roles.role_for`.
ROLES = {
    "loss": "train_loss",
    "eval_loss": "val_loss",
    "learning_rate": "lr",
    "grad_norm": "grad_norm",
    "eval_accuracy": "val_accuracy",
    "eval_acc": "val_accuracy",
    "mean_token_accuracy": "accuracy",  # TRL SFTTrainer
    "eval_mean_token_accuracy": "val_accuracy",
}
# Keys that number or time the entries rather than measure training: `epoch` is a staircase of step,
# token counts only ever grow, runtimes and throughputs describe the machine.
BOOKKEEPING_KEYS = frozenset({"step", "epoch", "total_flos", "num_tokens", "eval_num_tokens", "num_input_tokens_seen"})
BOOKKEEPING_SUFFIXES = ("_runtime", "_per_second", "_flos", "_compilation_time", "_preparation_time")
# Only the entry `train()` logs when it returns has these: it holds means over the whole run.
SUMMARY_MARKERS = ("train_runtime", "total_flos")
META_KEYS = ("global_step", "max_steps", "num_train_epochs", "logging_steps", "eval_steps", "save_steps", "train_batch_size", "best_metric", "best_global_step", "best_model_checkpoint")


# ---------------------------------------------------------------- sniffing


def sniff(path: Path, head: bytes) -> bool:
    """A `.json` file holding one object whose `log_history` is a list of objects."""
    if Path(path).suffix.lower() != ".json":
        return False
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") and _LOG_HISTORY.search(head) is not None


# ---------------------------------------------------------------- parsing


@dataclass
class TrainerStateText:
    """What the walk over the file found: top-level fields, log entries with their offsets, and damage."""

    fields: dict[str, Any] = field(default_factory=dict)  # top-level keys other than log_history
    entries: list[Any] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)  # character offset where each entry starts
    has_log_history: bool = False
    stop: "_Stop | None" = None  # where the walk could read no further, if it stopped early


class _Stop(Exception):
    """The walk can read no further: the unreadable part starts at `position`; reading failed at `failed_at`."""

    def __init__(self, position: int, failed_at: int, in_log_history: bool = False) -> None:
        super().__init__(position)
        self.position, self.failed_at, self.in_log_history = position, failed_at, in_log_history

    def cut_off(self, text: str) -> bool:
        """Reading ran out of input (a writer stopped mid-file, maybe leaving NULs) rather than hit garbage.

        It failed at the end, or on a last fragment of a number or literal (`0.`, `1e-`, `Infin`).
        """
        end = len(text.rstrip("\x00 \t\r\n"))
        return _TOKEN_FRAGMENT.fullmatch(text, min(self.failed_at, end), end) is not None


def parse_trainer_state(text: str) -> TrainerStateText:
    """Walk the top-level object key by key and `log_history` entry by entry, stopping at the first damage."""
    state = TrainerStateText()
    position = _skip_whitespace(text, 0)
    if not text.startswith("{", position):
        raise ReadError("not a JSON object")
    position += 1
    try:
        while True:
            position = _skip_whitespace(text, position)
            if text.startswith("}", position):
                return state
            key, after_key = _decode(text, position)
            if not isinstance(key, str):
                raise _Stop(position, position)
            value_start = _expect(text, after_key, ":", position)
            if key == "log_history":
                state.has_log_history = True
                position = _read_entries(text, value_start, state)
            else:
                state.fields[key], position = _decode(text, value_start, stop_at=position)
            position = _skip_whitespace(text, position)
            if text.startswith(",", position):
                position += 1
            elif not text.startswith("}", position):
                raise _Stop(position, position)
    except _Stop as stop:
        state.stop = stop
    return state


def _read_entries(text: str, position: int, state: TrainerStateText) -> int:
    try:
        position = _expect(text, position, "[", position)
        if text.startswith("]", position):
            return position + 1
        while True:
            start = _skip_whitespace(text, position)
            entry, position = _decode(text, start)
            state.entries.append(entry)
            state.offsets.append(start)
            position = _skip_whitespace(text, position)
            if text.startswith("]", position):
                return position + 1
            if not text.startswith(",", position):
                raise _Stop(position, position)
            position += 1
    except _Stop as stop:
        raise _Stop(stop.position, stop.failed_at, in_log_history=True) from None


def _decode(text: str, position: int, stop_at: int | None = None) -> tuple[Any, int]:
    """One JSON value at `position`; on failure a `_Stop` at `stop_at` (default: the value's start)."""
    try:
        return _DECODER.raw_decode(text, position)
    except json.JSONDecodeError as error:
        # An unterminated string is one that runs to the end of the input.
        failed_at = len(text) if error.msg.startswith("Unterminated string") else error.pos
        raise _Stop(position if stop_at is None else stop_at, failed_at) from None
    except (ValueError, RecursionError):
        raise _Stop(position if stop_at is None else stop_at, position) from None


def _skip_whitespace(text: str, position: int) -> int:
    return _WHITESPACE.match(text, position).end()


def _expect(text: str, position: int, token: str, stop_at: int) -> int:
    """The position after `token` and the whitespace around it; a `_Stop` at `stop_at` when it is not there."""
    position = _skip_whitespace(text, position)
    if not text.startswith(token, position):
        raise _Stop(stop_at, position)
    return _skip_whitespace(text, position + 1)


def line_numbers(text: str, offsets: list[int]) -> list[int]:
    """The 1-based line of each (increasing) character offset."""
    lines, line, previous = [], 1, 0
    for offset in offsets:
        line += text.count("\n", previous, offset)
        previous = offset
        lines.append(line)
    return lines


# ---------------------------------------------------------------- reading


def read(path: Path) -> RunPart:
    """One series per logged key at the entries' steps; the summary entry and the settings go to meta."""
    raw = Path(path).read_bytes()
    if not raw.strip(b"\x00 \t\r\n"):
        raise ReadError("empty file")
    text = raw.decode("utf-8-sig", errors="replace")
    state = parse_trainer_state(text)
    if not state.has_log_history:
        raise ReadError(_stopped_before(text, state.stop, "its log_history") if state.stop is not None else "no log_history in this JSON")
    if not state.entries:
        raise ReadError(_stopped_before(text, state.stop, "its first log entry") if state.stop is not None else "log_history is empty: nothing was logged")
    history = split_log_history(state.entries, line_numbers(text, state.offsets))
    if not history.series:
        raise ReadError("log_history holds no logged metrics")
    part = RunPart(FORMAT, series=history.series, warnings=history.skipped)
    part.meta["framework"] = "hf"
    part.meta.update((key, state.fields[key]) for key in META_KEYS if _is_plain_scalar(state.fields.get(key)))
    if history.summary is not None:
        part.meta["summary"] = history.summary
    if history.after_training:
        part.meta["after_training"] = history.after_training
    if state.stop is not None:
        _note_damage(part, text, state.stop, len(state.entries))
    return part


@dataclass
class LogHistory:
    """log_history as the Trainer wrote it: the training curves, the run summary, and what came after."""

    series: list[Series]
    summary: dict[str, Any] | None = None  # the entry train() logs when it returns: means over the whole run
    after_training: list[dict[str, Any]] = field(default_factory=list)  # trainer.evaluate() after train()
    skipped: list[str] = field(default_factory=list)


def split_log_history(entries: list[Any], lines: list[int]) -> LogHistory:
    """A series per measured key (first-logged order) from the entries of training; summary and later evaluations apart."""
    columns: dict[str, tuple[list[int], list[float], list[int]]] = {}
    measured: dict[str, bool] = {}  # key -> is it a measurement (asked once per key, not per entry)
    history = LogHistory(series=[])
    end_of_training = _end_of_training(entries)
    not_objects = without_step = 0
    for index, (entry, line) in enumerate(zip(entries, lines)):
        if not isinstance(entry, dict):
            not_objects += 1
            continue
        if _is_summary(entry):
            history.summary = entry  # its train_loss is a mean over the run, not a point of the loss curve
            continue
        if index >= end_of_training:
            # Logged at the last step but not during training: with load_best_model_at_end it is the
            # best checkpoint's score, which would read as a late recovery of the eval curve.
            history.after_training.append(entry)
            continue
        step = _whole_number(entry.get("step"))
        if step is None:
            without_step += 1
            continue
        for key, value in entry.items():
            if type(value) not in _NUMBER_TYPES:  # exactly int or float: a bool is not a measurement
                continue
            if key not in measured:
                measured[key] = _is_measurement(key)
            if measured[key]:
                steps, values, locations = columns.setdefault(key, ([], [], []))
                steps.append(step)
                values.append(value)
                locations.append(line)
    history.series = [make_series(name, steps, values, role=ROLES.get(name, "other"), locations=locations) for name, (steps, values, locations) in columns.items()]
    if not_objects:
        history.skipped.append(f"{not_objects} log_history entries are not objects; skipped")
    if without_step:
        history.skipped.append(f"{without_step} log_history entries have no step; skipped")
    return history


def _is_summary(entry: Any) -> bool:
    return isinstance(entry, dict) and any(marker in entry for marker in SUMMARY_MARKERS)


def _end_of_training(entries: list[Any]) -> int:
    """The index after the last summary entry when only evaluations follow it, else the end of log_history.

    Train entries after a summary mean train() was called again (and did not finish): still training.
    """
    summaries = [index for index, entry in enumerate(entries) if _is_summary(entry)]
    if not summaries or any(isinstance(entry, dict) and "loss" in entry for entry in entries[summaries[-1] + 1 :]):
        return len(entries)
    return summaries[-1] + 1


def _is_measurement(key: str) -> bool:
    return key not in BOOKKEEPING_KEYS and not key.endswith(BOOKKEEPING_SUFFIXES)


def _whole_number(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _is_plain_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _stopped_before(text: str, stop: _Stop, what: str) -> str:
    if stop.cut_off(text):
        return f"cut off before {what}"
    return f"unreadable JSON at line {line_numbers(text, [stop.position])[0]}, before {what}"


def _note_damage(part: RunPart, text: str, stop: _Stop, kept: int) -> None:
    """A file whose input ran out is truncated (the writer was stopped); garbage before its end is corruption."""
    line = line_numbers(text, [stop.position])[0]
    where = "inside log_history" if stop.in_log_history else "outside log_history"
    if stop.cut_off(text):
        message = f"the file was cut off mid-write at line {line} ({where}); the {kept} complete log entries before it were read"
        part.events.append(RunEvent("truncated", message, line=line))
    else:
        message = f"unreadable JSON at line {line} ({where}); the {kept} log entries before it were read"
        part.events.append(RunEvent("corrupt", message, line=line))
    part.warnings.append(message)
