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

from .readers import KNOWN_FORMATS, NOT_A_LOG, read_head, reader_for
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
    unreadable: list[Problem] = field(default_factory=list)  # files of this run that could not be opened (already reported)


@dataclass
class Problem:
    """A path that could not be read: reported in one line, never a traceback."""

    path: str
    message: str

    def __str__(self) -> str:
        """One line, whatever the path holds: a newline in a file name must not split the message."""
        return one_line(f"{self.path}: {self.message}")


_CONTROL_CHARACTERS = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F)} | {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}
# A file name that is not UTF-8 reaches Python as lone surrogates (os.fsdecode); no output encoding
# accepts them, so they are shown as the bytes they stand for (\udcff -> \xff).
_LONE_SURROGATES = {code: f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}" for code in range(0xD800, 0xE000)}
_UNPRINTABLE = _CONTROL_CHARACTERS | _LONE_SURROGATES


def one_line(text: str) -> str:
    """`text` with control characters (newlines in file names) escaped, so a message stays one line,
    and with the bytes of a non-UTF-8 name escaped, so any output can encode it."""
    return text.translate(_UNPRINTABLE)


def _special_file(mode: int) -> str:
    """What a path that is neither a regular file nor a folder is, in words."""
    if stat.S_ISFIFO(mode):
        return "a named pipe (fifo), not a log file; not read"
    if stat.S_ISSOCK(mode):
        return "a socket, not a log file; not read"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a log file; not read"
    return "not a regular file or folder"


def discover(given: str, display: str | None = None) -> tuple[list[RunSpec], list[Problem]]:
    """Find the runs under one PATH given on the command line, and the problems met on the way.

    `display` is the name shown for `given` in ids and messages when it differs (a remote URL's local copy).
    """
    path = Path(given)
    given = display or given
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
            problems.append(Problem(given, f"no training logs found (looked for {KNOWN_FORMATS})"))
        return runs, problems
    if not stat.S_ISREG(mode):
        return [], [Problem(given, _special_file(mode))]  # never opened: reading a fifo would block
    log = _sniff_file(path, given, problems, explicit=True)
    if log is None:
        return [], problems
    return [RunSpec(id=path.name, display=given, files=[log])], problems


def _crashes_apart_from_runs(run_folders: set[str], below: _Below, unclaimed: list[str]) -> list[Problem]:
    """The crashes that end the console logs of folders apart from every run: a job that died before it
    logged a metric (its folder holds a config and a traceback) would otherwise vanish from the report,
    or be reported as "no training logs found" when it is all the PATH holds. A folder that holds a
    run, lies inside one or holds one below it is not searched: the run speaks for itself.
    `run_folders` are the runs' folders (folders inside a run may be among them: it changes nothing);
    `unclaimed` are the files the walk sniffed and no reader claimed. Folders are compared as paths
    relative to the PATH given ("." for itself), whichever way the walk and pathlib spelled them."""
    if not unclaimed:
        return []
    holding_runs = {folder for run_folder in run_folders for folder in _up_to_root(run_folder)}

    def apart(path: str) -> bool:
        folder = _parent(below.relative(path))
        return folder not in holding_runs and run_folders.isdisjoint(_up_to_root(folder))

    candidates = [path for path in unclaimed if apart(path)]
    if not candidates:
        return []
    from .crashlog import crash_logs_among

    return [Problem(below.display(path), reason) for path, reason in crash_logs_among(sorted(candidates, key=lambda path: _walk_order(below, path)))]


def _run_folder_of(below: _Below, path: str, format: str) -> str:
    """The folder of the run a file of `format` at `path` joins, relative to the PATH given: its own, the
    one above a Keras `train/`/`validation/` folder of event files, or an MLflow run's above `metrics/`.
    The one rule for grouping logs, placing unreadable files and finding folders apart from runs."""
    if format == "mlflow":
        return _mlflow_run_folder(below, mlflow_run_folder(Path(path)))
    folder = _parent(below.relative(path))
    if format == "tensorboard" and folder != "." and os.path.basename(folder) in SPLIT_FOLDERS:
        return _parent(folder)
    return folder


def _run_folders_it_may_join(below: _Below, path: str) -> tuple[str, ...]:
    """The run folders an unreadable file would have joined, likeliest first. Its format is unknown,
    so its place decides: below an MLflow run's `metrics/` every file is a metric of that run (even in
    `metrics/train/`, which is no Keras folder); elsewhere it is a log of its own folder's run, else
    an event file of a Keras split folder joining the run above."""
    mlflow_folder = mlflow_run_folder(Path(path))
    if mlflow_folder is not None:
        return (_mlflow_run_folder(below, mlflow_folder),)
    return tuple(dict.fromkeys((_parent(below.relative(path)), _run_folder_of(below, path, "tensorboard"))))


def _parent(relative: str) -> str:
    return os.path.dirname(relative) or "."


def _up_to_root(relative: str):
    """A relative folder, then each folder above it, up to the PATH given (".")."""
    while relative != ".":
        yield relative
        relative = _parent(relative)
    yield "."


def _walk_order(below: _Below, path: str) -> tuple[tuple[str, ...], str]:
    """A file's place in a sorted top-down walk: a folder's own files, then each sub-folder's, by name."""
    folder, name = os.path.split(below.relative(path))
    return (tuple(folder.split(os.sep)) if folder else ()), name


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
            from .crashlog import crash_reason
            from .readers.csv import unclaimed_reason

            reason = unclaimed_reason(path, head) or crash_reason(path, head) or ("empty file" if not head else NOT_A_LOG)
            problems.append(Problem(display, reason))
        return None
    return LogFile(path=path, display=display, format=reader.FORMAT)


def _discover_folder(root: Path, given: str, problems: list[Problem]) -> list[RunSpec]:
    """Walk the folder once with os.scandir, in strings: Path objects per entry cost more than the
    syscalls in a sweep of thousands of small runs, and the walk runs before any worker can start."""
    logs_by_folder: dict[str, list[LogFile]] = {}
    unreadable: list[tuple[str, Problem]] = []
    unclaimed: list[str] = []  # the files sniffed that no reader claimed: where a crash log may be
    seen_folders: set[tuple[int, int]] = set()
    seen_files: set[tuple[int, int]] = set()
    below = _Below(root, given)
    stack = [os.fspath(root)]
    while stack:
        folder = stack.pop()
        try:
            folder_stat = os.stat(folder)
        except OSError:
            continue
        identity = (folder_stat.st_dev, folder_stat.st_ino)
        if identity in seen_folders:
            continue  # a symlink loop or a second link to the same folder
        seen_folders.add(identity)
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=_entry_name)
        except PermissionError:
            problems.append(Problem(below.display(folder), "permission denied"))
            continue
        except OSError as error:
            problems.append(Problem(below.display(folder), error.strerror or str(error)))
            continue
        for entry in entries:
            try:
                if entry.is_dir():
                    if entry.name not in SKIPPED_FOLDERS:
                        stack.append(entry.path)
                    continue
                entry_stat = entry.stat()  # follows a link: what matters is what it points to
            except OSError as error:  # a dangling link, a link loop, a file gone since the listing
                problems.append(Problem(below.display(entry.path), _stat_failure(entry, error)))
                if _is_an_mlflow_metric(entry.path):
                    unreadable.append((entry.path, problems[-1]))
                continue
            if not stat.S_ISREG(entry_stat.st_mode):
                problems.append(Problem(below.display(entry.path), _special_file(entry_stat.st_mode)))
                continue  # fifos, sockets, devices: never opened, a fifo would block the walk
            if entry_stat.st_size == 0 and "tfevents" not in entry.name:
                continue  # nothing to sniff; cheap for a folder of 10^5 empty files (an event file is still reported)
            file_identity = (entry_stat.st_dev, entry_stat.st_ino)
            if file_identity in seen_files:
                continue  # glog's `caffe.INFO` is a link to the dated log
            seen_files.add(file_identity)
            reported = len(problems)
            log = _sniff_file(Path(entry.path), below.display(entry.path), problems)
            if log is not None:
                logs_by_folder.setdefault(folder, []).append(log)
            elif len(problems) > reported:  # a regular file that could not be opened (permission denied)
                unreadable.extend((entry.path, problem) for problem in problems[reported:])
            else:
                unclaimed.append(entry.path)
    runs, folder_runs = _group_into_runs(below, logs_by_folder)
    _attach_unreadable(folder_runs, unreadable, below)
    # Every folder holding logs is a run's (one run per text log when it holds several) or lies inside one.
    run_folders = folder_runs.keys() | {below.relative(folder) for folder in logs_by_folder}
    problems.extend(_crashes_apart_from_runs(run_folders, below, unclaimed))
    return runs


def _is_an_mlflow_metric(path: str) -> bool:
    """Whether an entry that leads nowhere (a dangling link, a link loop) hid data of a run: below an
    MLflow run's `metrics/` every entry is one metric series of it, so the run lost one. Elsewhere such
    a link is usually a stale checkpoint (`last.ckpt`): attaching it to a run would be a false warning."""
    return mlflow_run_folder(Path(path)) is not None


def _attach_unreadable(folder_runs: dict[str, RunSpec], unreadable: list[tuple[str, Problem]], below: _Below) -> None:
    """A file that could not be opened where a run's logs lie, or a link to nothing in an MLflow run's
    `metrics/`, may hold that run's data: the run carries it, so its report says it is incomplete
    (LOG004). `folder_runs` are the runs of whole folders, by folder relative to the PATH given; a
    file no such run would have taken in stays a line on its own."""
    for path, problem in unreadable:
        owner = next((folder_runs[folder] for folder in _run_folders_it_may_join(below, path) if folder in folder_runs), None)
        if owner is not None:
            owner.unreadable.append(problem)


def _entry_name(entry: os.DirEntry) -> str:
    return entry.name


def _stat_failure(entry: os.DirEntry, error: OSError) -> str:
    if entry.is_symlink() and isinstance(error, FileNotFoundError):
        return "a symbolic link to nothing (its target is gone); not read"
    if isinstance(error, PermissionError):
        return "permission denied"
    return error.strerror or str(error)


class _Below:
    """Paths as the user would write them: the PATH given, then the part below the root. For the paths
    the walk builds (the root's string, then `/name` per level) that part is a slice of the string,
    where os.path.relpath would make both paths absolute for every file of a sweep."""

    def __init__(self, root: Path, given: str):
        self.root, self.given = root, given
        self.root_text = os.fspath(root)
        self.prefix = self.root_text if self.root_text.endswith(os.sep) else self.root_text + os.sep

    def relative(self, path: str) -> str:
        """The part below the root ("." for the root itself), as os.path.relpath gives it."""
        if path == self.root_text:
            return "."
        if path.startswith(self.prefix):
            return path[len(self.prefix) :]
        return os.path.relpath(path, self.root_text)

    def display(self, path: str) -> str:
        relative = self.relative(path)
        return self.given if relative == "." else os.path.join(self.given, relative)


def _group_into_runs(below: _Below, logs_by_folder: dict[str, list[LogFile]]) -> tuple[list[RunSpec], dict[str, RunSpec]]:
    """The runs, in id order, and the runs of whole folders by folder relative to the PATH given (a
    folder of several text logs makes one run per file instead, under no folder)."""
    runs: dict[str, RunSpec] = {}
    folder_runs: dict[str, RunSpec] = {}
    root, given = below.root, below.given

    def run_for(relative: str, file_name: str | None = None) -> RunSpec:
        run_id = root.resolve().name or given if relative == "." else relative.replace(os.sep, "/")
        display = given if relative == "." else os.path.join(given, relative)
        if file_name is None:
            spec = runs.setdefault(run_id, RunSpec(id=run_id, display=display))
            return folder_runs.setdefault(relative, spec)
        run_id = f"{run_id}/{file_name}" if relative != "." else file_name
        return runs.setdefault(run_id, RunSpec(id=run_id, display=os.path.join(display, file_name)))

    for folder in sorted(logs_by_folder, key=_path_order):
        logs = logs_by_folder[folder]
        relative = below.relative(folder)
        text_logs = [log for log in logs if log.format not in ("tensorboard", "mlflow")]
        # Each metric file of an MLflow run is one series of it: the run is the folder holding metrics/.
        for log in [log for log in logs if log.format == "mlflow"] + [log for log in logs if log.format == "tensorboard"]:
            run_folder = _run_folder_of(below, os.fspath(log.path), log.format)
            if log.format == "tensorboard" and run_folder != relative:
                log.prefix = os.path.basename(folder) + "/"  # a Keras split folder's series: `validation/epoch_loss`
            run_for(run_folder).files.append(log)
        if len(text_logs) == 1:
            run_for(relative).files.extend(text_logs)
        else:
            for log in text_logs:
                run_for(relative, log.path.name).files.append(log)
    return [runs[key] for key in sorted(runs)], folder_runs


def _path_order(folder: str) -> str:
    """The folder as pathlib spells it (`./a` is `a`): folders are taken in the order of those names."""
    return folder[2:] if folder.startswith("./") else folder


def _mlflow_run_folder(below: _Below, folder: Path | None) -> str:
    """An MLflow run folder (`mlflow_run_folder` of a metric file) relative to the PATH given: "." when it
    is above that PATH (`.../metrics` given)."""
    if folder is None or (folder != below.root and below.root not in folder.parents):
        return "."
    return below.relative(os.fspath(folder))


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
