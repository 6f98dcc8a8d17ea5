"""A text log with no metrics that ends in a crash: say what crashed rather than "not a log format".

A run that dies before it logs a metric leaves a log of only a stack trace: a Python traceback, a
glog `Check failed` followed by `*** Check failure stack trace: ***`, a `*** SIGSEGV` dump. Whoever
points nandoctor at it wants to know why the run failed; the line that names the crash is all the
log can honestly tell, so nandoctor reports that line, once, as the file's problem.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .discover import one_line
from .readers import HEAD_BYTES

TAIL_BYTES = 16 * 1024  # where a crash ends a log: a traceback's last frames and its exception line
MAX_SHOWN = 200  # characters of the crash line quoted in the one-line message

# A traceback's header, or (when the header is further back than the tail) one of its frames.
_TRACEBACK = re.compile(r"^Traceback \(most recent call last\):|^  File \"[^\"\n]*\", line \d+", re.MULTILINE)
# `RuntimeError: CUDA out of memory`, `torch.cuda.OutOfMemoryError: ...`, a bare `KeyboardInterrupt`
_EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*:[ \t].*|[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit|Iteration))[ \t]*$", re.MULTILINE)
_GLOG_FATAL = re.compile(r"^F\d{4} [\d:.]+\s+\d+ ([^\]\s]+:\d+)\] (.+)$", re.MULTILINE)
_SIGNAL = re.compile(r"^\*\*\* (SIG[A-Z]+) ", re.MULTILINE)
_GLOG_ABORT = re.compile(r"^\*\*\* (?:Aborted at|Check failure stack trace:)", re.MULTILINE)


def crash_reason(path: Path, head: bytes) -> str | None:
    """The one-line problem for a log nandoctor cannot read because it holds only a crash, else None."""
    what = crash_line(_tail(path, head))
    return None if what is None else _reason(what)


def _reason(what: str) -> str:
    return f"no metrics nandoctor reads: the log ends in a crash ({what})"


# The files apart from every run are searched for crash logs, at most this many (in walk order).
MAX_FILES_SEARCHED = 1000


def crash_logs_among(paths: list[str]) -> list[tuple[str, str]]:
    """(path, problem) for each of the files (the first MAX_FILES_SEARCHED) that ends in a crash, for a
    run folder that holds no metrics at all: the job died before logging one, and its console log says why."""
    found = []
    for path in paths[:MAX_FILES_SEARCHED]:
        try:
            what = crash_line(_read_tail(path))  # one open per file: only its tail is needed
        except OSError:
            continue
        if what is not None:
            found.append((path, _reason(what)))
    return found


def crash_line(tail: bytes) -> str | None:
    """The line that names the crash at the end of a log: a glog fatal check, a Python exception, a signal."""
    if b"\x00" in tail:
        return None  # binary: not a log at all
    text = tail.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    fatal = _last(_GLOG_FATAL, text)
    if fatal is not None:
        return _shown(f"{fatal.group(1)} {fatal.group(2)}")
    traceback = _last(_TRACEBACK, text)
    if traceback is not None:
        exception = _last(_EXCEPTION, text, traceback.end())
        if exception is not None:
            return _shown(exception.group(1))
    signal = _last(_SIGNAL, text)
    if signal is not None:
        return _shown(f"{signal.group(1)} received; only a stack trace follows")
    if _GLOG_ABORT.search(text):
        return "aborted; only a stack trace follows"
    return None


def _tail(path: Path, head: bytes) -> bytes:
    """The last TAIL_BYTES of the file: the head itself when it holds the whole file (shorter than a head)."""
    if len(head) < HEAD_BYTES:
        return head[-TAIL_BYTES:]
    try:
        return _read_tail(path)
    except OSError:
        return head[-TAIL_BYTES:]


def _read_tail(path) -> bytes:
    """The last TAIL_BYTES of the file at `path` (the whole file when it is shorter)."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        handle.seek(max(0, size - TAIL_BYTES))
        return handle.read(TAIL_BYTES)


def _last(pattern: re.Pattern, text: str, start: int = 0) -> re.Match | None:
    match = None
    for match in pattern.finditer(text, start):
        pass
    return match


def _shown(line: str) -> str:
    line = one_line(line.strip())
    return line if len(line) <= MAX_SHOWN else line[: MAX_SHOWN - 1] + "…"
