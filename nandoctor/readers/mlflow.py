"""Read a metric file of an MLflow file store run (`mlruns/<experiment>/<run>/metrics/<name>`) into a series.

MLflow's FileStore appends one line per logged point, `<timestamp ms> <value> <step>` (`str(float)`, so
`nan`, `inf`, `-inf`), to `metrics/<name>`; a name with `/` is a nested path (`metrics/train/loss` is
`train/loss`). MLflow before 1.0 wrote `<timestamp> <value>` with no step. The run folder also holds
`meta.yaml` (run name, status, start and end time), `params/<name>` and `tags/<name>` (one value per
file, no newline). Discovery groups all metric files of a run folder into one run; each file is read
on its own, and the run folder's meta and params are attached to every part (the loader keeps one).
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..model import RunEvent, make_series
from . import ReadError, RunPart

FORMAT = "mlflow"
METRICS_FOLDER = "metrics"
MAX_NAME_DEPTH = 16  # folders a nested metric name may span below metrics/
# RunStatus as MLflow stores it in meta.yaml (an int enum).
RUN_STATUSES = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
# `mlflow.autologging` tag (the flavor that created the run) -> nandoctor's framework name.
AUTOLOG_FRAMEWORKS = {"pytorch": "lightning", "pytorch_lightning": "lightning", "keras": "keras", "tensorflow": "keras", "transformers": "hf"}
# Params only the HF Trainer's MLflowCallback logs (it logs every TrainingArguments field).
HF_TRAINER_PARAMS = ("logging_nan_inf_filter", "per_device_train_batch_size")
_INTEGER = re.compile(r"[-+]?\d+")
_DECIMAL = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:inf|nan)", re.IGNORECASE)
_HEAD_LINES_CHECKED = 3


# ---------------------------------------------------------------- where a metric file sits


def metrics_folder(path: Path) -> Path | None:
    """The `metrics/` folder of an MLflow run that holds this file (at any nesting depth), else None."""
    folder = Path(path).parent
    for _ in range(MAX_NAME_DEPTH):
        if folder.name == METRICS_FOLDER and is_run_folder(folder.parent):
            return folder
        if folder.parent == folder:
            return None
        folder = folder.parent
    return None


def is_run_folder(folder: Path) -> bool:
    """An MLflow run folder: it holds meta.yaml, or the params/ or tags/ folder MLflow creates beside metrics/."""
    return (folder / "meta.yaml").is_file() or (folder / "params").is_dir() or (folder / "tags").is_dir()


def run_folder(path: Path) -> Path | None:
    """The run folder (the one holding `metrics/`) a metric file belongs to: discovery makes it one run."""
    metrics = metrics_folder(path)
    return None if metrics is None else metrics.parent


# ---------------------------------------------------------------- sniffing


def sniff(path: Path, head: bytes) -> bool:
    """A file whose first lines are `<int> <float> [<int>]`, below the `metrics/` folder of an MLflow run."""
    return _head_is_metric_lines(head) and metrics_folder(Path(path)) is not None


def _head_is_metric_lines(head: bytes) -> bool:
    pieces = head.split(b"\n", _HEAD_LINES_CHECKED)  # not the whole 64 KB head: sniffing runs on every file
    lines = pieces[:-1] or pieces[:1]  # the last piece may be cut by the head limit
    checked = lines[:_HEAD_LINES_CHECKED]
    return bool(checked) and all(_parse_line(line) is not None for line in checked)


def _parse_line(line: bytes) -> tuple[int, float, int | None] | None:
    """(timestamp, value, step or None) of one metric line, split as MLflow's own reader splits it, else None."""
    fields = line.strip().split(b" ")
    try:
        if len(fields) == 3:
            return int(fields[0]), float(fields[1]), int(fields[2])
        if len(fields) == 2:
            return int(fields[0]), float(fields[1]), None
    except ValueError:
        pass
    return None


# ---------------------------------------------------------------- reading


def read(path: Path) -> RunPart:
    """The metric's points (steps, values, wall time, line of each) and the run's meta and params."""
    path = Path(path)
    metrics = metrics_folder(path)
    data = path.read_bytes()
    if not data.strip():
        raise ReadError("empty metric file")
    points = parse_metric_lines(data)
    part = RunPart(FORMAT, warnings=points.warnings)
    if points.cut_line is not None:
        message = f"line {points.cut_line} was cut off mid-write; its point was dropped"
        part.warnings.append(message)
        part.events.append(RunEvent("truncated", message, line=points.cut_line))
    if not points.values:
        raise ReadError("no complete metric line")
    steps = number_steps(points.steps, part.warnings)
    wall_time = np.asarray(points.timestamps, dtype=np.float64) / 1000.0
    name = path.relative_to(metrics).as_posix() if metrics is not None else path.name  # `train/loss` for metrics/train/loss
    part.series.append(make_series(name, steps, points.values, locations=points.lines, wall_time=wall_time))
    if metrics is not None:
        part.meta.update(run_meta(metrics.parent))
    return part


@dataclass
class MetricPoints:
    """The points of one metric file, in the order they were logged."""

    timestamps: list[int] = field(default_factory=list)  # milliseconds since the epoch
    values: list[float] = field(default_factory=list)
    steps: list[int | None] = field(default_factory=list)  # None where MLflow < 1.0 wrote no step
    lines: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cut_line: int | None = None  # a last line with no newline: the writer was stopped mid-line


def parse_metric_lines(data: bytes) -> MetricPoints:
    """Every well-formed line; malformed ones are counted in one warning, a cut-off last line is dropped."""
    points = MetricPoints()
    lines = data.split(b"\n")
    last = lines.pop()  # b"" when the file ends with a newline, as MLflow always leaves it
    if last.strip(b"\x00 \t\r"):
        points.cut_line = len(lines) + 1
    malformed, first_malformed = 0, None
    for number, line in enumerate(lines, start=1):
        parsed = _parse_line(line)
        if parsed is None:
            malformed += 1
            first_malformed = first_malformed or (number, line[:40].decode("utf-8", errors="replace"))
            continue
        timestamp, value, step = parsed
        points.timestamps.append(timestamp)
        points.values.append(value)
        points.steps.append(step)
        points.lines.append(number)
    if malformed:
        line, text = first_malformed
        points.warnings.append(f"{malformed} malformed line{'s' if malformed > 1 else ''} skipped (first at line {line}: {text!r})")
    return points


def number_steps(steps: list[int | None], warnings: list[str]) -> list[int]:
    """Each point's step: as logged; the point's index where MLflow < 1.0 wrote none.

    `mlflow.log_metric(name, value)` without `step=` logs every point at step 0. Read as steps, all
    but the last would be superseded; numbered in logging order they keep the trajectory.
    """
    numbered = [index if step is None else step for index, step in enumerate(steps)]
    if len(numbered) > 1 and all(step == numbered[0] for step in numbered):
        warnings.append(f"all {len(numbered)} points were logged at step {numbered[0]}; they are numbered 0-{len(numbered) - 1} in logging order")
        return list(range(len(numbered)))
    return numbered


# ---------------------------------------------------------------- the run folder


def run_meta(folder: Path) -> dict[str, Any]:
    """meta.yaml, params and the tags that matter, as meta; a fresh copy for each part."""
    meta = _cached_run_meta(str(folder), _folder_signature(folder))
    return {**meta, "params": dict(meta["params"])} if "params" in meta else dict(meta)


def _folder_signature(folder: Path) -> tuple[int, ...]:
    """Modification times that change when MLflow rewrites meta.yaml or adds a param or tag."""
    signature = []
    for name in ("meta.yaml", "params", "tags"):
        try:
            signature.append(os.stat(folder / name).st_mtime_ns)
        except OSError:
            signature.append(-1)
    return tuple(signature)


# Every metric file of a run asks for the same folder; reading a few hundred param files once per
# metric would cost more than the metrics themselves. Keyed by modification times, so an edit is seen.
@functools.lru_cache(maxsize=16)
def _cached_run_meta(folder: str, signature: tuple[int, ...]) -> dict[str, Any]:
    root = Path(folder)
    meta: dict[str, Any] = {}
    run_info = parse_meta_yaml(_read_text(root / "meta.yaml") or "")
    tags = read_values(root / "tags")
    params = {name: as_number(value) for name, value in read_values(root / "params").items()}
    framework = detect_framework(tags, params)
    if framework is not None:
        meta["framework"] = framework
    run_name = run_info.get("run_name") or tags.get("mlflow.runName")
    if run_name:
        meta["run_name"] = str(run_name)
    for key in ("run_id", "experiment_id", "start_time", "end_time", "lifecycle_stage"):
        if run_info.get(key) is not None:
            meta[key] = run_info[key]
    status = run_info.get("status")
    if status is not None:
        meta["status"] = RUN_STATUSES.get(status, str(status)) if isinstance(status, int) else str(status)
    if tags.get("mlflow.source.name"):
        meta["source_name"] = tags["mlflow.source.name"]
    if params:
        meta["params"] = params
    return meta


def detect_framework(tags: dict[str, str], params: dict[str, Any]) -> str | None:
    """The framework when the run says so: the autologging flavor tag, or the HF Trainer's own params."""
    flavor = tags.get("mlflow.autologging", "").strip().lower()
    if flavor in AUTOLOG_FRAMEWORKS:
        return AUTOLOG_FRAMEWORKS[flavor]
    if all(name in params for name in HF_TRAINER_PARAMS):
        return "hf"
    return None


def read_values(folder: Path) -> dict[str, str]:
    """Every file below a params/ or tags/ folder: name (its path, `/`-joined) -> its text."""
    values: dict[str, str] = {}
    for root, _, files in os.walk(folder):
        for file_name in sorted(files):
            path = Path(root) / file_name
            text = _read_text(path)
            if text is not None:
                values[path.relative_to(folder).as_posix()] = text
    return values


def _read_text(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return None


def as_number(text: str) -> Any:
    """A param's value as MLflow stored it (`str(value)`): an int or float when it is one, else the text."""
    stripped = text.strip()
    if _INTEGER.fullmatch(stripped):
        return int(stripped)
    if _DECIMAL.fullmatch(stripped):
        return float(stripped)
    return text


def parse_meta_yaml(text: str) -> dict[str, Any]:
    """The top-level `key: scalar` lines of a meta.yaml as yaml.safe_dump writes them; nested blocks are skipped."""
    values: dict[str, Any] = {}
    key = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] in " \t":
            # A long plain scalar folded onto the next line continues the value; a nested block does not.
            if key is not None and isinstance(values.get(key), str) and not line.lstrip().startswith("- "):
                values[key] += " " + line.strip()
            continue
        name, colon, rest = line.partition(":")
        if not colon or line.startswith("- "):
            key = None
            continue
        key = name.strip()
        values[key] = yaml_scalar(rest.strip())
    return values


def yaml_scalar(text: str) -> Any:
    """One YAML scalar of the kinds MLflow writes: null, '' quoted, "" quoted, ints, bools, [] and plain text."""
    if text in ("", "null", "~", "Null", "NULL"):
        return None
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            return json.loads(text)
        except ValueError:
            return text[1:-1]
    if text in ("true", "True", "false", "False"):
        return text.lower() == "true"
    if text in ("[]", "{}"):
        return [] if text == "[]" else {}
    if _INTEGER.fullmatch(text):
        return int(text)
    return text
