"""One reader per log format; each turns a file into series and events of the common run model.

A reader module has `FORMAT` (its name), `sniff(path, head) -> bool` (does this file look like mine,
from its name and first bytes) and `read(path) -> RunPart`. A reader raises `ReadError` with a short
reason when nothing in a file can be read; damage it can read around goes into `RunPart.warnings`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from ..model import RunEvent, Series

# Sniffing order matters: the most specific signatures first, free-form console logs last.
READER_MODULES = ("tensorboard", "hf_trainer", "mlflow", "caffe", "csv", "stdout")
HEAD_BYTES = 64 * 1024
# How the formats above are named to a user whose file none of them claims.
KNOWN_FORMATS = "TensorBoard events, CSV metrics, Caffe log, HF trainer_state.json, MLflow metrics, console log"
NOT_A_LOG = f"not a log format nandoctor reads ({KNOWN_FORMATS})"


class ReadError(Exception):
    """A file that cannot be read at all; the message is the reason, in a few words."""


@dataclass
class RunPart:
    """What one file contributes to a run."""

    format: str
    series: list[Series] = field(default_factory=list)
    events: list[RunEvent] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def reader_modules() -> list[ModuleType]:
    if not _READERS:  # once: sniffing asks for them for every file of a sweep
        _READERS.extend(importlib.import_module(f"{__name__}.{name}") for name in READER_MODULES)
    return _READERS


_READERS: list[ModuleType] = []


def read_head(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(HEAD_BYTES)


def reader_for(path: Path, head: bytes) -> ModuleType | None:
    """The reader that claims this file, or None for a file nandoctor does not read."""
    for module in reader_modules():
        if module.sniff(path, head):
            return module
    return None
