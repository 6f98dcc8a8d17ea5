"""Remote logdirs: `s3://`, `gs://`, `az://`, `memory://`, any fsspec URL, read like a local folder.

Every reader memory-maps or seeks a local file, so a URL's logs are copied into a private temporary
folder (never the user's) and that folder goes through the same discovery and readers as a local
one, with the URL as the name shown in ids, paths and messages. Copying happens in three steps:
1. list the URL and fetch the first `HEAD_BYTES` of every file (a ranged read, what sniffing needs;
   a file no longer than that is then complete), and of a longer one its last `TAIL_BYTES` too (where
   a console log that holds no metrics names the crash that ended its run), writing them at the same
   relative paths;
2. run the local discovery over that tree: same run rules, same sniffers (MLflow's `meta.yaml`
   beside `metrics/` is a small file, so it is there when a metric file is sniffed);
3. fetch whole, streamed to disk in chunks, only the files a reader claimed and that were cut.
Images, checkpoints and other files no reader claims cost one ranged read at most (names that are
certainly not logs, such as `.ckpt` or `.png`, not even that), and the folder is removed when the
analysis ends. fsspec and its backends are imported only when a URL is given: start-up stays fast.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .crashlog import TAIL_BYTES
from .discover import SKIPPED_FOLDERS, Problem, RunSpec, discover, one_line
from .readers import HEAD_BYTES

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")
# The pip extra that brings each protocol's fsspec backend (pyproject.toml [project.optional-dependencies]).
EXTRA_FOR_PROTOCOL = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure", "abfss": "azure", "adl": "azure"}
# Files never read as logs by any reader, whatever their bytes: not even their head is fetched.
NOT_LOG_SUFFIXES = (
    ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".svg", ".mp4", ".avi", ".wav", ".mp3",
    ".pt", ".pth", ".ckpt", ".safetensors", ".bin", ".onnx", ".h5", ".hdf5", ".keras", ".pb", ".caffemodel",
    ".solverstate", ".npy", ".npz", ".pkl", ".pickle", ".joblib", ".parquet", ".arrow",
    ".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".7z",
)
HEAD_BATCH = 64  # heads fetched at once: at most HEAD_BATCH x HEAD_BYTES (4 MiB) held in memory
FETCH_THREADS = 4  # whole files fetched at once: network latency, not CPU, is what they wait on
MAX_REASON_CHARACTERS = 300


def is_url(given: str) -> bool:
    """`scheme://...` with a scheme of two letters or more (a Windows drive `C:` is a path)."""
    return bool(_URL.match(str(given)))


class RemoteError(Exception):
    """A URL that cannot be opened at all; the message is the reason, in one line."""


@dataclass
class RemoteFile:
    remote: str  # the path as the filesystem names it (no protocol)
    local: Path
    display: str  # the URL of the file, as the user would write it
    size: int | None


class RemoteLogs:
    """The logs of every URL given to one analysis, copied into one private temporary folder.

    `discover(url)` answers like `discover.discover`; `remove()` deletes the folder (it is also
    deleted at exit, should an analysis be interrupted before it calls `remove`).
    """

    def __init__(self) -> None:
        self._folder = None
        self._count = 0

    def discover(self, url: str) -> tuple[list[RunSpec], list[Problem]]:
        if self._folder is None:
            import tempfile

            self._folder = tempfile.TemporaryDirectory(prefix="nandoctor-remote-")
        self._count += 1
        staging = Path(self._folder.name) / str(self._count)  # one folder per URL: two URLs may end in the same name
        staging.mkdir()
        return discover_url(url, staging)

    def remove(self) -> None:
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None


def discover_url(url: str, staging: Path) -> tuple[list[RunSpec], list[Problem]]:
    """The runs under one URL, their logs copied below `staging`, and the problems met on the way."""
    try:
        filesystem, root = open_url(url)
        info = filesystem.info(root)
    except RemoteError as error:
        return [], [Problem(url, str(error))]
    except Exception as error:  # any backend's error: a missing bucket, no credentials, no network
        return [], [Problem(url, failure_reason(error))]
    problems: list[Problem] = []
    local_root = staging / (_local_name(root) or _protocol(url))
    if info.get("type") == "directory":
        try:
            files = list_files(filesystem, root, url, local_root, problems)
        except Exception as error:
            return [], [Problem(url, failure_reason(error))]
        local_root.mkdir(parents=True, exist_ok=True)
    else:
        files = [RemoteFile(root, local_root, url, info.get("size"))]
    cut = fetch_heads(filesystem, files, problems)
    if not local_root.exists():
        return [], problems  # the one file named could not be read: its problem says why
    specs, found_problems = discover(str(local_root), display=url)
    problems.extend(found_problems)
    return fetch_claimed_logs(filesystem, specs, cut, problems), problems


def open_url(url: str):
    """(filesystem, path within it) for a URL; RemoteError when its backend is not installed or unknown."""
    protocol = _protocol(url)
    try:
        import fsspec.core
    except ImportError as error:
        raise RemoteError(missing_backend(protocol)) from error
    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as error:
        raise RemoteError(missing_backend(protocol)) from error
    except ValueError as error:
        if "Protocol not known" in str(error):
            raise RemoteError(f"unknown URL scheme {protocol}:// (no fsspec filesystem has that name)") from error
        raise


def missing_backend(protocol: str) -> str:
    """What to install for a protocol whose fsspec backend is missing."""
    extra = EXTRA_FOR_PROTOCOL.get(protocol, "remote")
    if protocol in EXTRA_FOR_PROTOCOL or protocol in ("memory", "file"):
        return f"{protocol}:// needs the {extra} extra: pip install 'nandoctor[{extra}]'"
    try:
        from fsspec.registry import known_implementations

        hint = known_implementations.get(protocol, {}).get("err")
    except ImportError:
        hint = None
    return f"{protocol}:// needs its fsspec backend: {hint}" if hint else f"{protocol}:// needs fsspec and its backend: pip install 'nandoctor[remote]'"


def failure_reason(error: BaseException) -> str:
    """A backend's exception as a reason in a few words: its type says more than its text."""
    name = type(error).__name__
    text = one_line(str(error)).strip()
    if isinstance(error, FileNotFoundError):
        detail = text if " " in text else ""  # s3fs says "The specified bucket does not exist", or just the key
        reason = f"not found: {detail}" if detail else "not found (no such bucket, key or folder)"
    elif isinstance(error, PermissionError):
        reason = f"access denied{': ' + text if text else ''}"
    elif "Credential" in name or "Authentication" in name:
        reason = f"no usable credentials ({text or name}); see README, 'Remote logdirs'"
    elif "Connect" in name or "Timeout" in name or isinstance(error, (ConnectionError, TimeoutError)):
        reason = f"cannot reach the storage endpoint ({text or name})"
    else:
        reason = f"{name}: {text}" if text else name
    return reason[:MAX_REASON_CHARACTERS]


def list_files(filesystem, root: str, url: str, local_root: Path, problems: list[Problem]) -> list[RemoteFile]:
    """Every file below `root` that a reader may claim, with the local path it is copied to."""
    files = []
    listing = filesystem.find(root, detail=True, withdirs=False)
    prefix = root.rstrip("/") + "/"
    for remote, info in sorted(listing.items()):
        if info.get("type") == "directory" or not remote.startswith(prefix):
            continue
        relative = remote[len(prefix):]
        parts = relative.split("/")
        display = url + relative if url.endswith("/") else f"{url}/{relative}"  # as discovery joins them
        if any(part in SKIPPED_FOLDERS for part in parts[:-1]):
            continue
        if not all(_safe_part(part) for part in parts):
            problems.append(Problem(display, "a name that cannot be a local file name (empty, '.', '..' or a separator); not read"))
            continue
        if parts[-1].lower().endswith(NOT_LOG_SUFFIXES) and "tfevents" not in parts[-1]:
            continue
        files.append(RemoteFile(remote, local_root.joinpath(*parts), display, info.get("size")))
    return files


def fetch_heads(filesystem, files: list[RemoteFile], problems: list[Problem]) -> dict[Path, RemoteFile]:
    """Write each file's first HEAD_BYTES, and its last TAIL_BYTES when it is longer (the gap left out),
    at its local path; the files cut short, by local path.

    The staged copy is what discovery needs: readers sniff the head, and the crash search of a run
    folder without metrics reads the tail. A file a reader claims is fetched whole afterwards."""
    cut: dict[Path, RemoteFile] = {}
    for start in range(0, len(files), HEAD_BATCH):
        batch = files[start : start + HEAD_BATCH]
        wanted = [(item, begin, end) for item in batch if item.size != 0 for begin, end in _ranges_to_stage(item.size)]
        read = _ranged_reads(filesystem, [item.remote for item, _, _ in wanted], [begin for _, begin, _ in wanted], [end for _, _, end in wanted])
        parts: dict[str, list] = {}
        for (item, _, _), data in zip(wanted, read):
            parts.setdefault(item.remote, []).append(data)
        for item in batch:
            pieces = parts.get(item.remote, [b""])
            failure = next((piece for piece in pieces if isinstance(piece, BaseException)), None)
            if failure is not None:
                problems.append(Problem(item.display, failure_reason(failure)))
                continue
            staged = b"".join(pieces)
            try:
                item.local.parent.mkdir(parents=True, exist_ok=True)
                item.local.write_bytes(staged)
            except OSError as error:  # a key that is also a folder's name (`a` and `a/b`), a name too long for this disk
                problems.append(Problem(item.display, f"cannot be copied to a local file ({error.strerror or error})"))
                continue
            if (item.size is None and len(staged) >= HEAD_BYTES) or (item.size is not None and len(staged) < item.size):
                cut[item.local] = item
    return cut


def _ranges_to_stage(size: int | None) -> list[tuple[int, int]]:
    """The byte ranges of a file to stage: its head, and its tail when the file is longer (a file of
    unknown size: the head only)."""
    if size is None or size <= HEAD_BYTES:
        return [(0, HEAD_BYTES if size is None else size)]
    return [(0, HEAD_BYTES), (max(HEAD_BYTES, size - TAIL_BYTES), size)]


def _ranged_reads(filesystem, paths: list[str], starts: list[int], ends: list[int]) -> list:
    """The bytes [start, end) of each path, concurrently where the backend can; an exception stands in
    for a range that could not be read (for all of them when the whole request failed)."""
    if not paths:
        return []
    try:
        return filesystem.cat_ranges(paths, starts, ends, on_error="return")
    except Exception as error:
        return [error] * len(paths)


def fetch_claimed_logs(filesystem, specs: list[RunSpec], cut: dict[Path, RemoteFile], problems: list[Problem]) -> list[RunSpec]:
    """Fetch whole the logs a reader claimed but only the head of which is here; a log that fails is
    left out of its run with a problem, and the rest of the run is still read."""
    wanted = [cut[Path(log.path)] for spec in specs for log in spec.files if Path(log.path) in cut]
    failures = {}
    if wanted:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=FETCH_THREADS) as pool:
            failures = dict(zip((item.local for item in wanted), pool.map(lambda item: _fetch_whole(filesystem, item), wanted)))
    kept = []
    for spec in specs:
        readable = []
        for log in spec.files:
            failure = failures.get(Path(log.path))
            if failure is None:
                readable.append(log)
            else:
                problems.append(Problem(log.display, failure))
        if readable:
            spec.files = readable
            kept.append(spec)
    return kept


def _fetch_whole(filesystem, item: RemoteFile) -> str | None:
    """Stream one file to its local path (the backend writes it in chunks); the reason it failed, else None."""
    try:
        filesystem.get_file(item.remote, str(item.local))
    except Exception as error:
        return failure_reason(error)
    return None


def _protocol(url: str) -> str:
    return str(url).split("://", 1)[0].lower()


def _local_name(root: str) -> str:
    """The last name of the remote path, as the local folder's name: run ids come from it, as they do locally."""
    name = PurePosixPath(root.rstrip("/")).name
    return name if _safe_part(name) else ""


def _safe_part(part: str) -> bool:
    return part not in ("", ".", "..") and "\x00" not in part and (os.sep == "/" or os.sep not in part) and (os.altsep is None or os.altsep not in part)
