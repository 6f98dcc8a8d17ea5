"""One analysis from PATHs to diagnoses: the function both the CLI and the Python API call."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from os import PathLike
from typing import Callable, Iterable

from .discover import Problem, RunSpec, discover
from .engine import Options, diagnose, selected_rules
from .load import load_run
from .model import Diagnosis


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
    for given in as_path_list(paths):
        found, found_problems = discover(given)
        specs.extend(found)
        problems.extend(found_problems)
    if on_total is not None:
        on_total(len(specs))
    diagnoses = []
    for diagnosis, run_problems in _diagnose_all(specs, rules, options.min_confidence, jobs, verify_crc):
        problems.extend(run_problems)
        if diagnosis is None:
            continue
        diagnoses.append(diagnosis)
        if on_run is not None:
            on_run(diagnosis)
    return Analysis(diagnoses=diagnoses, problems=problems, seconds=time.perf_counter() - started, rules=[(rule.id, rule.slug) for rule in rules])


def diagnose_spec(spec: RunSpec, rules: list, min_confidence: float, verify_crc: bool = True) -> tuple[Diagnosis | None, list[Problem]]:
    """Read and diagnose one run: a pure function of its files, so it can run in any process."""
    run, problems = load_run(spec, verify_crc=verify_crc)
    if run is None:
        return None, problems
    return diagnose(run, rules, min_confidence), problems


def _diagnose_all(specs: list[RunSpec], rules: list, min_confidence: float, jobs: int, verify_crc: bool = True):
    workers = (os.cpu_count() or 1) if jobs <= 0 else jobs
    workers = min(workers, len(specs))
    if workers <= 1:
        for spec in specs:
            yield diagnose_spec(spec, rules, min_confidence, verify_crc)
        return
    from concurrent.futures import ProcessPoolExecutor  # ~25 ms of imports a single run does not need

    # Several runs per task keep the pickling overhead small for sweeps of many tiny runs.
    chunk = max(1, len(specs) // (workers * 8))
    with ProcessPoolExecutor(max_workers=workers, initializer=_leave_interrupts_to_the_parent) as pool:
        try:
            yield from pool.map(diagnose_spec, specs, [rules] * len(specs), [min_confidence] * len(specs), [verify_crc] * len(specs), chunksize=chunk)
        except BaseException:  # Ctrl-C (or the caller gave up): stop the workers now, not after their current runs
            _stop_workers(pool)
            raise


def _leave_interrupts_to_the_parent() -> None:
    """Ctrl-C reaches every process of the group: a worker ignores it (else each prints a traceback);
    the parent stops, the pool cancels what has not started, and the CLI exits 130 with one line."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop_workers(pool) -> None:
    workers = list((getattr(pool, "_processes", None) or {}).values())  # before shutdown() forgets them; Python < 3.14 has no terminate_workers()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in workers:
        process.terminate()
