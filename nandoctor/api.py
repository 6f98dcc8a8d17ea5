"""One analysis from PATHs to diagnoses: the function both the CLI and the Python API call."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from os import PathLike
from typing import Callable, Iterable

from .discover import Problem, RunSpec, discover
from .engine import Options, diagnose, selected_rules
from .load import load_run
from .model import Diagnosis
from .remote import RemoteLogs, is_url


@dataclass
class Analysis:
    diagnoses: list[Diagnosis]
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    rules: list[tuple[str, str]] = field(default_factory=list)  # (id, slug) of every rule that was run

    @property
    def rule_errors(self) -> list[str]:
        return [error for diagnosis in self.diagnoses for error in diagnosis.errors]


def as_path_list(paths: str | PathLike | Iterable) -> list[str]:
    if isinstance(paths, (str, PathLike)):
        return [str(paths)]
    return [str(path) for path in paths]


def run_analysis(
    paths: str | PathLike | Iterable,
    *,
    select: Iterable[str] = (),
    ignore: Iterable[str] = (),
    min_confidence: float = 0.0,
    rule_params: dict | None = None,
    jobs: int = 1,
    verify_crc: bool = True,
    on_total: Callable[[int], None] | None = None,
    on_run: Callable[[Diagnosis], None] | None = None,
) -> Analysis:
    """Discover, read and diagnose every run under the paths.

    `jobs` > 1 reads and diagnoses runs in that many processes (0: one per core); the result is the
    same as with one, in the same order. `verify_crc=False` skips the checksums of event-file records
    (faster; a damaged record is then read as whatever it holds). `on_total(n)` is told how many runs were found before reading
    starts, and `on_run(diagnosis)` hears each run as soon as it is diagnosed: the hooks a progress
    bar and a streaming reporter need.
    """
    started = time.perf_counter()
    options = Options(select=tuple(select), ignore=tuple(ignore), min_confidence=min_confidence, rule_params=dict(rule_params or {}))
    rules = selected_rules(options)
    specs: list[RunSpec] = []
    problems: list[Problem] = []
    remote = RemoteLogs()  # a URL's logs are copied into a private temporary folder, removed when the analysis ends
    try:
        for given in as_path_list(paths):
            found, found_problems = remote.discover(given) if is_url(given) else discover(given)
            specs.extend(found)
            problems.extend(found_problems)
        diagnoses = []
        announce = None if on_total is None else (lambda: on_total(len(specs)))
        for diagnosis, run_problems in _diagnose_all(specs, rules, options.min_confidence, jobs, verify_crc, on_start=announce):
            problems.extend(run_problems)
            if diagnosis is None:
                continue
            diagnoses.append(diagnosis)
            if on_run is not None:
                on_run(diagnosis)
    finally:
        remote.remove()  # also on Ctrl-C or an error: the copies never outlive the analysis
    return Analysis(diagnoses=diagnoses, problems=problems, seconds=time.perf_counter() - started, rules=[(rule.id, rule.slug) for rule in rules])


def diagnose_spec(spec: RunSpec, rules: list, min_confidence: float, verify_crc: bool = True) -> tuple[Diagnosis | None, list[Problem]]:
    """Read and diagnose one run: a pure function of its files, so it can run in any process."""
    run, problems = load_run(spec, verify_crc=verify_crc)
    if run is None:
        return None, problems
    return diagnose(run, rules, min_confidence), problems


class WorkerDied(RuntimeError):
    """A worker process ended without a result (killed, out of memory, a crash in C code)."""


# Runs per task: enough that queueing costs little beside a run (~10 ms for a small one), few enough
# that the workers finish a sweep together instead of one reading a long last chunk alone.
MAX_RUNS_PER_TASK = 8


def worker_count(jobs: int, runs: int) -> int:
    """`jobs` processes, 0 meaning one per core this process may use (not every core of the host)."""
    if jobs <= 0:
        jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(jobs, runs))


def task_chunks(specs: list[RunSpec], workers: int) -> list[list[RunSpec]]:
    """The runs cut into consecutive chunks, one task each; at least four tasks per worker."""
    size = max(1, min(MAX_RUNS_PER_TASK, len(specs) // (workers * 4)))
    return [specs[start : start + size] for start in range(0, len(specs), size)]


def _diagnose_all(specs: list[RunSpec], rules: list, min_confidence: float, jobs: int, verify_crc: bool = True, on_start: Callable[[], None] | None = None):
    """(diagnosis, problems) per run, in the order of `specs`, read in `jobs` processes.

    `on_start` runs once the workers exist: a progress bar's thread must start after the fork.
    """
    workers = worker_count(jobs, len(specs))
    if workers <= 1:
        if on_start is not None:
            on_start()
        for spec in specs:
            yield diagnose_spec(spec, rules, min_confidence, verify_crc)
        return
    from concurrent.futures import ProcessPoolExecutor  # ~25 ms of imports a single run does not need
    from concurrent.futures.process import BrokenProcessPool

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_start_method(), initializer=_start_worker, initargs=(rules, min_confidence, verify_crc))
    try:
        chunks = pool.map(_diagnose_chunk, task_chunks(specs, workers))  # forks every worker now
        if on_start is not None:
            on_start()
        for results in chunks:
            yield from results
    except BrokenProcessPool as error:
        _stop_workers(pool)
        raise WorkerDied("a worker process died while reading runs (killed, or out of memory?); --jobs 1 reads them in one process") from error
    except BaseException:  # Ctrl-C (or the caller gave up): stop the workers now, not after their current runs
        _stop_workers(pool)
        raise
    pool.shutdown()


def _start_method():
    """fork where it is safe (Linux): a worker starts in ~10 ms with every module the parent imported,
    where a spawned one would import numpy and the rules again (~0.3 s). Elsewhere, the platform's default."""
    import multiprocessing

    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)


_WORKER_SETTINGS: tuple = ()


def _start_worker(rules: list, min_confidence: float, verify_crc: bool) -> None:
    """Keep the settings every task shares (sent once, not with each chunk), and leave Ctrl-C to the
    parent: it reaches every process of the group, and a worker would print a traceback; the parent
    stops, cancels what has not started, and the CLI exits 130 with one line."""
    import signal

    global _WORKER_SETTINGS
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER_SETTINGS = (rules, min_confidence, verify_crc)


def _diagnose_chunk(specs: list[RunSpec]) -> list[tuple[Diagnosis | None, list[Problem]]]:
    rules, min_confidence, verify_crc = _WORKER_SETTINGS
    return [diagnose_spec(spec, rules, min_confidence, verify_crc) for spec in specs]


def _stop_workers(pool) -> None:
    workers = list((getattr(pool, "_processes", None) or {}).values())  # before shutdown() forgets them; Python < 3.14 has no terminate_workers()
    manager = getattr(pool, "_executor_manager_thread", None)
    pool.shutdown(wait=False, cancel_futures=True)
    for process in workers:
        process.terminate()
    # Let the pool's manager thread see the workers gone and close its wake-up pipe now: left running,
    # it races the interpreter's exit hook, which writes to that pipe (Python 3.11 prints
    # "OSError: [Errno 9] Bad file descriptor" from concurrent.futures after our one line).
    if manager is not None:
        manager.join(timeout=5)
