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

from .readers import NOT_A_LOG, read_head, reader_for
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
        """One line, whatever the path holds: a newline in a file name must not split the message."""
        return one_line(f"{self.path}: {self.message}")


_CONTROL_CHARACTERS = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F)} | {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}


def one_line(text: str) -> str:
    """`text` with control characters (newlines in file names) escaped, so a message stays one line."""
    return text.translate(_CONTROL_CHARACTERS)


def _special_file(mode: int) -> str:
    """What a path that is neither a regular file nor a folder is, in words."""
    if stat.S_ISFIFO(mode):
        return "a named pipe (fifo), not a log file; not read"
    if stat.S_ISSOCK(mode):
        return "a socket, not a log file; not read"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a log file; not read"
    return "not a regular file or folder"


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
        return [], [Problem(given, _special_file(mode))]  # never opened: reading a fifo would block
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
            from .readers.csv import unclaimed_reason

            reason = unclaimed_reason(path, head) or ("empty file" if not head else NOT_A_LOG)
            problems.append(Problem(display, reason))
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
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except PermissionError:
            problems.append(Problem(_display(root, given, folder), "permission denied"))
            continue
        except OSError as error:
            problems.append(Problem(_display(root, given, folder), error.strerror or str(error)))
            continue
        for entry in entries:
            try:
                if entry.is_dir():
                    if entry.name not in SKIPPED_FOLDERS:
                        stack.append(Path(entry.path))
                    continue
                entry_stat = entry.stat()  # follows a link: what matters is what it points to
            except OSError as error:  # a dangling link, a link loop, a file gone since the listing
                problems.append(Problem(_display(root, given, entry.path), _stat_failure(entry, error)))
                continue
            if not stat.S_ISREG(entry_stat.st_mode):
                problems.append(Problem(_display(root, given, entry.path), _special_file(entry_stat.st_mode)))
                continue  # fifos, sockets, devices: never opened, a fifo would block the walk
            if entry_stat.st_size == 0 and "tfevents" not in entry.name:
                continue  # nothing to sniff; cheap for a folder of 10^5 empty files (an event file is still reported)
            file_identity = (entry_stat.st_dev, entry_stat.st_ino)
            if file_identity in seen_files:
                continue  # glog's `caffe.INFO` is a link to the dated log
            seen_files.add(file_identity)
            entry_path = Path(entry.path)
            log = _sniff_file(entry_path, _display(root, given, entry.path), problems)
            if log is not None:
                logs_by_folder.setdefault(str(folder), []).append(log)
    return _group_into_runs(root, given, logs_by_folder)


def _stat_failure(entry: os.DirEntry, error: OSError) -> str:
    if entry.is_symlink() and isinstance(error, FileNotFoundError):
        return "a symbolic link to nothing (its target is gone); not read"
    if isinstance(error, PermissionError):
        return "permission denied"
    return error.strerror or str(error)


def _display(root: Path, given: str, path) -> str:
    """The path as the user would write it: the PATH given, then the part below it."""
    relative = os.path.relpath(os.fspath(path), os.fspath(root))
    return given if relative == "." else os.path.join(given, relative)


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


def overwritten_log(output: str, paths) -> str | None:
    """The log among the PATHs that writing a report to `output` would destroy, or None.

    `-o` names where the report goes; it must never be one of the files being analysed (a typo such
    as `analyze metrics.csv -o metrics.csv` would erase the log before it is read).
    """
    try:
        if not stat.S_ISREG(os.stat(output).st_mode):
            return None
    except OSError:
        return None  # a new file: nothing to lose
    target = os.path.realpath(output)
    for given in paths:
        try:
            if os.path.samefile(output, given):
                return given
        except OSError:
            continue
        folder = os.path.realpath(given)
        if os.path.isdir(folder) and target.startswith(folder.rstrip(os.sep) + os.sep):
            try:
                head = read_head(Path(target))
            except OSError:
                return None
            if reader_for(Path(target), head) is not None:
                return output
    return None
