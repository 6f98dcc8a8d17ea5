"""One analysis from PATHs to diagnoses: the function both the CLI and the Python API call."""

from __future__ import annotations

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
    on_total: Callable[[int], None] | None = None,
    on_run: Callable[[Diagnosis], None] | None = None,
) -> Analysis:
    """Discover, read and diagnose every run under the paths.

    `on_total(n)` is told how many runs were found before reading starts, and `on_run(diagnosis)`
    hears each run as soon as it is diagnosed: the hooks a progress bar and a streaming reporter need.
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
    for spec in specs:
        run, run_problems = load_run(spec)
        problems.extend(run_problems)
        if run is None:
            continue
        diagnosis = diagnose(run, rules, options.min_confidence)
        diagnoses.append(diagnosis)
        if on_run is not None:
            on_run(diagnosis)
    return Analysis(diagnoses=diagnoses, problems=problems, seconds=time.perf_counter() - started, rules=[(rule.id, rule.slug) for rule in rules])
