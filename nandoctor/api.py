"""One analysis from PATHs to diagnoses: the function both the CLI and the Python API call."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from os import PathLike

from .discover import Problem
from .engine import Options, diagnose, selected_rules
from .load import load_paths
from .model import Diagnosis


@dataclass
class Analysis:
    diagnoses: list[Diagnosis]
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rule_errors(self) -> list[str]:
        return [error for diagnosis in self.diagnoses for error in diagnosis.errors]


def run_analysis(paths: str | PathLike | list, *, select=(), ignore=(), min_confidence: float = 0.0, rule_params=None) -> Analysis:
    started = time.perf_counter()
    path_list = [str(paths)] if isinstance(paths, (str, PathLike)) else [str(path) for path in paths]
    options = Options(select=tuple(select), ignore=tuple(ignore), min_confidence=min_confidence, rule_params=dict(rule_params or {}))
    rules = selected_rules(options)
    runs, problems = load_paths(path_list)
    diagnoses = [diagnose(run, rules, options.min_confidence) for run in runs]
    return Analysis(diagnoses=diagnoses, problems=problems, seconds=time.perf_counter() - started)
