"""PATH -> runs. A run is a folder holding logs (TensorBoard's own rule), with two refinements:
Keras's `train/` + `validation/` event folders are ONE run, an MLflow run folder (its `metrics/`
files, nested ones included) is ONE run, and a folder of several text logs (a directory of Caffe
logs, of CSV files) is one run per file.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .readers import read_head, reader_for
from .readers.mlflow import run_folder as mlflow_run_folder

# Sub-folders whose event files belong to the parent run (Keras TensorBoard callback layout).
SPLIT_FOLDERS = ("train", "validation", "eval", "val")
SKIPPED_FOLDERS = {".git", ".hg", ".svn", "__pycache__", ".venv", "node_modules", ".ipynb_checkpoints"}


@dataclass
class LogFile:
    path: Path
    display: str  # the path as the user would write it
    format: str
    prefix: str = ""  # series-name prefix, e.g. "validation/" for a Keras sub-folder


@dataclass
class RunSpec:
    id: str
    display: str
    files: list[LogFile] = field(default_factory=list)


@dataclass
class Problem:
    """A path that could not be read: reported in one line, never a traceback."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def discover(given: str) -> tuple[list[RunSpec], list[Problem]]:
    """Find the runs under one PATH given on the command line, and the problems met on the way."""
    path = Path(given)
    problems: list[Problem] = []
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return [], [Problem(given, "no such file or directory")]
    except PermissionError:
        return [], [Problem(given, "permission denied")]
    except OSError as error:
        return [], [Problem(given, error.strerror or str(error))]
    if stat.S_ISDIR(mode):
        runs = _discover_folder(path, given, problems)
        if not runs and not problems:
            problems.append(Problem(given, "no training logs found (looked for TensorBoard event files, CSV metrics and Caffe logs)"))
        return runs, problems
    if not stat.S_ISREG(mode):
        return [], [Problem(given, "not a regular file or folder")]
    log = _sniff_file(path, given, problems, explicit=True)
    if log is None:
        return [], problems
    return [RunSpec(id=path.name, display=given, files=[log])], problems


def _sniff_file(path: Path, display: str, problems: list[Problem], explicit: bool = False) -> LogFile | None:
    try:
        head = read_head(path)
    except PermissionError:
        problems.append(Problem(display, "permission denied"))
        return None
    except OSError as error:
        problems.append(Problem(display, error.strerror or str(error)))
        return None
    reader = reader_for(path, head)
    if reader is None:
        if explicit:
            problems.append(Problem(display, "not a log format nandoctor reads (TensorBoard events, CSV metrics, Caffe log)"))
        return None
    return LogFile(path=path, display=display, format=reader.FORMAT)


def _discover_folder(root: Path, given: str, problems: list[Problem]) -> list[RunSpec]:
    logs_by_folder: dict[str, list[LogFile]] = {}
    seen_folders: set[tuple[int, int]] = set()
    seen_files: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            folder_stat = folder.stat()
        except OSError:
            continue
        identity = (folder_stat.st_dev, folder_stat.st_ino)
        if identity in seen_folders:
            continue  # a symlink loop or a second link to the same folder
        seen_folders.add(identity)
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except PermissionError:
            problems.append(Problem(_display(root, given, folder), "permission denied"))
            continue
        except OSError as error:
            problems.append(Problem(_display(root, given, folder), error.strerror or str(error)))
            continue
        for entry in entries:
            entry_path = Path(entry.path)
            try:
                if entry.is_dir():
                    if entry.name not in SKIPPED_FOLDERS:
                        stack.append(entry_path)
                    continue
                if not entry.is_file():
                    continue  # fifos, sockets, devices, dangling links: not logs
                entry_stat = entry.stat()
            except OSError:
                continue
            file_identity = (entry_stat.st_dev, entry_stat.st_ino)
            if file_identity in seen_files:
                continue  # glog's `caffe.INFO` is a link to the dated log
            seen_files.add(file_identity)
            log = _sniff_file(entry_path, _display(root, given, entry_path), problems)
            if log is not None:
                logs_by_folder.setdefault(str(folder), []).append(log)
    return _group_into_runs(root, given, logs_by_folder)


def _display(root: Path, given: str, path: Path) -> str:
    relative = path.relative_to(root)
    return given if str(relative) == "." else os.path.join(given, str(relative))


def _group_into_runs(root: Path, given: str, logs_by_folder: dict[str, list[LogFile]]) -> list[RunSpec]:
    runs: dict[str, RunSpec] = {}

    def run_for(folder: Path, file_name: str | None = None) -> RunSpec:
        relative = folder.relative_to(root)
        run_id = root.resolve().name or given if str(relative) == "." else relative.as_posix()
        display = _display(root, given, folder)
        if file_name is not None:
            run_id = f"{run_id}/{file_name}" if str(relative) != "." else file_name
            display = os.path.join(display, file_name)
        return runs.setdefault(run_id, RunSpec(id=run_id, display=display))

    for folder_name in sorted(logs_by_folder):
        folder = Path(folder_name)
        logs = logs_by_folder[folder_name]
        event_files = [log for log in logs if log.format == "tensorboard"]
        mlflow_metrics = [log for log in logs if log.format == "mlflow"]
        text_logs = [log for log in logs if log.format not in ("tensorboard", "mlflow")]
        for log in mlflow_metrics:
            # Each metric file of an MLflow run is one series of it: the run is the folder holding metrics/.
            run_for(_mlflow_run_folder(root, log.path)).files.append(log)
        if event_files:
            if folder.name in SPLIT_FOLDERS and folder != root:
                for log in event_files:
                    log.prefix = folder.name + "/"
                run_for(folder.parent).files.extend(event_files)
            else:
                run_for(folder).files.extend(event_files)
        if len(text_logs) == 1:
            run_for(folder).files.extend(text_logs)
        else:
            for log in text_logs:
                run_for(folder, log.path.name).files.append(log)
    return [runs[key] for key in sorted(runs)]


def _mlflow_run_folder(root: Path, metric_file: Path) -> Path:
    """The MLflow run folder of a metric file, or the PATH given when that folder is above it (`.../metrics` given)."""
    folder = mlflow_run_folder(metric_file)
    if folder is None or (folder != root and root not in folder.parents):
        return root
    return folder
