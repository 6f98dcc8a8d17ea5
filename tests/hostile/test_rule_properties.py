"""Every registered rule, on any trajectory at all: findings or nothing, never an exception, never a
numpy warning on the user's terminal; and the ranking is a pure function of the run.

The runs come from `trajectories.runs`: NaN, inf, constant, huge, tiny, one point, unsorted and
repeated steps, negative values, in every role (lr, grad_norm, loss_scale, val_loss, accuracy ...).
No warning is tolerated. The minimal inputs of leaks found and fixed so far are kept in FIXED_LEAKS
and checked on every run, so a fix cannot quietly come undone.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import traceback
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nandoctor.engine import Options, diagnose, selected_rules
from nandoctor.features import Facts, median_without_overflow
from nandoctor.model import SEVERITIES, Finding, Run, Source, make_series
from nandoctor.roles import pick_primary
from nandoctor.rules import all_rules

from .helpers import REPO, SAMPLES
from .trajectories import describe, runs

# A few hundred runs per property keep CI fast; `HOSTILE_EXAMPLES=5000` hunts harder locally.
EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "400"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
RULE_CLASSES = all_rules()
EVERY_RULE = [rule_class() for rule_class in RULE_CLASSES]


@dataclass(frozen=True)
class Leak:
    rule_id: str
    file: str  # the nandoctor module whose line emitted the warning
    reproducer: dict  # role -> values of a minimal run that showed it


# np.median adds the two middle values before halving: for losses near the float maximum (>= 9e307)
# the sum overflowed. Fixed by features.median_without_overflow; kept as regression cases.
FIXED_LEAKS = (
    Leak("LR001", "early_blowup.py", {"train_loss": [8.98846567431158e307] * 8}),
    Leak("NAN001", "sudden_nan.py", {"train_loss": [1.7e308] * 4 + [math.nan] * 3}),
    Leak("LR005", "lr_collapsed.py", {"train_loss": [1.7e308] * 48, "lr": [0.1] * 8 + [0.0] * 40}),
    Leak("NAN003", "nan_from_start.py", {"train_loss": [math.nan] * 2, "grad_norm": [8.98846567431158e307] * 3}),  # its companion metric's median
)


class _Terminal:
    """What a user's terminal would show: numpy's floating-point warnings at their defaults, and every
    Python warning recorded (not shown once and then hidden) with the nandoctor line that caused it."""

    def __enter__(self):
        self._errstate = np.errstate(divide="warn", over="warn", invalid="warn", under="ignore")  # numpy's defaults, pinned
        self._errstate.__enter__()
        self._catcher = warnings.catch_warnings()
        self._catcher.__enter__()
        warnings.simplefilter("always")
        self.shown: list[tuple[str, str, str]] = []  # (file, line, message)
        warnings.showwarning = self._record
        return self

    def _record(self, message, category, filename, lineno, file=None, line=None):
        ours = [frame for frame in traceback.extract_stack()[:-1] if f"{os.sep}nandoctor{os.sep}" in frame.filename]
        where = ours[-1] if ours else traceback.extract_stack()[-2]
        self.shown.append((os.path.basename(where.filename), str(where.lineno), f"{category.__name__}: {message}"))

    def __exit__(self, *exc):
        self._catcher.__exit__(*exc)
        self._errstate.__exit__(*exc)
        return False


def _checked_finding(finding, rule, run) -> None:
    assert isinstance(finding, Finding), f"{rule.id} yielded {finding!r}\n{describe(run)}"
    assert finding.rule_id == rule.id and finding.severity in SEVERITIES
    assert 0.0 <= finding.confidence <= 1.0 and isinstance(finding.message, str) and finding.message
    assert all(isinstance(weight, float | int) and math.isfinite(weight) for weight in finding.causes.values())


def _fingerprint(diagnosis) -> tuple:
    """Everything a report shows of a diagnosis, as text (NaN == NaN here, unlike in floats)."""
    findings = [(f.rule_id, f.severity, repr(f.confidence), f.message, f.onset_step, f.series, repr(sorted(f.causes.items())), repr(sorted(f.evidence.items(), key=lambda item: item[0]))) for f in diagnosis.findings]
    causes = [(c.id, repr(c.score), c.findings, c.fixes) for c in diagnosis.causes]
    return diagnosis.status, findings, causes, diagnosis.not_applicable


def _rule_failures(run) -> list[str]:
    """Every rule on its own: an exception, a malformed finding or a warning on the terminal is a failure."""
    facts = Facts(run)
    with _Terminal() as terminal:  # the shared facts first, so their warnings are not blamed on a rule
        for name in ("loss", "val_loss", "lr", "grad_norm", "loss_scale", "accuracy", "val_accuracy", "loss_nonfinite_index", "lr_facts"):
            getattr(facts, name)
    failures = [f"the shared facts (features.py) let a warning reach the terminal: {shown}" for shown in terminal.shown]
    for rule in EVERY_RULE:
        with _Terminal() as terminal:
            if not rule.applicable(run):
                continue
            try:
                found = list(rule.check(run, facts))
            except Exception as error:  # the message is the bug report
                where = traceback.extract_tb(error.__traceback__)[-1]
                failures.append(f"rule {rule.id} ({rule.slug}) raised {type(error).__name__}: {error} at {os.path.basename(where.filename)}:{where.lineno}")
                continue
        for finding in found:
            _checked_finding(finding, rule, run)
        failures += [f"rule {rule.id} ({rule.slug}) let a warning reach the terminal: {file}:{line} {message}" for file, line, message in terminal.shown]
    return failures


# One property for both checks: generating the runs is most of its time (~15 ms a run, ~1.5 ms to
# diagnose one), and two properties with the same settings would generate the same runs twice.
@PROPERTY
@given(run=runs())
def test_every_rule_survives_any_run_and_the_diagnosis_is_a_pure_function_of_it(run):
    failures = _rule_failures(run)
    assert not failures, "\n".join(failures) + "\n" + describe(run)
    with _Terminal():
        first = diagnose(run, selected_rules(Options(select=("ALL",))))
        second = diagnose(run, selected_rules(Options(select=("ALL",))))
    assert first.errors == (), "\n".join(first.errors) + "\n" + describe(run)
    assert _fingerprint(first) == _fingerprint(second), describe(run)


def _run_of(values_by_role: dict) -> Run:
    series = [make_series(role, np.arange(len(values)), values, role=role, source="run.log") for role, values in values_by_role.items()]
    return Run("leak", "leak", tuple(series), (Source("run.log", "test"),), train_loss=pick_primary(series, "train_loss"), val_loss=pick_primary(series, "val_loss"))


@pytest.mark.parametrize("leak", FIXED_LEAKS, ids=[f"{leak.rule_id}-{leak.file}" for leak in FIXED_LEAKS])
def test_a_fixed_leak_stays_fixed(leak):
    run = _run_of(leak.reproducer)
    rule = next(rule_class for rule_class in RULE_CLASSES if rule_class.id == leak.rule_id)()
    with _Terminal() as terminal:
        found = list(rule.check(run, Facts(run)))
    assert not terminal.shown, terminal.shown
    for finding in found:
        _checked_finding(finding, rule, run)
        assert all(not isinstance(value, float) or math.isfinite(value) for value in finding.evidence.values()), finding.evidence  # no inf median


_MIDDLES = st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64) | st.sampled_from([1.7e308, -1.7e308, 8.98846567431158e307, 5e-324]), min_size=1, max_size=12)


@PROPERTY
@given(values=_MIDDLES)
def test_the_median_without_overflow_is_numpys_bit_for_bit_wherever_numpy_does_not_overflow(values):
    array = np.array(values, dtype=np.float64)
    with np.errstate(all="ignore"):
        expected = float(np.median(array))
    ours = median_without_overflow(array)
    halves = sorted(values)[(len(values) - 1) // 2 : len(values) // 2 + 1]
    if math.isinf(expected) and all(math.isfinite(value) for value in halves):
        assert ours == halves[0] / 2 + halves[-1] / 2 and math.isfinite(ours)  # where numpy overflowed
    else:
        assert ours == expected or (math.isnan(ours) and math.isnan(expected))


def _hostile_csvs(folder) -> None:
    """A few runs whose values every rule must handle: NaN, inf, huge, tiny, constant, restarts."""
    rows = {
        "nan-and-inf": [(step, value) for step, value in enumerate([2.3, 2.1, float("nan"), float("inf"), 1.9, float("-inf"), 1.5])],
        "huge-and-tiny": [(step, value) for step, value in enumerate([1e300, 1e-300, 5e-324, 1.7e308, 2.0, 1.0])],
        "constant": [(step, 0.6931) for step in range(50)],
        "restarted": [(step, 2.0 - 0.01 * step) for step in range(20)] + [(step, 1.9 - 0.01 * step) for step in range(10, 30)],
        "one-point": [(0, 2.3)],
    }
    for name, points in rows.items():
        (folder / name).mkdir()
        lines = ["step,loss,lr,grad_norm,val_loss"] + [f"{step},{value},0.1,{value},{value}" for step, value in points]
        (folder / name / "metrics.csv").write_text("\n".join(lines) + "\n")


def test_the_report_is_the_same_under_any_hash_seed_and_any_job_count(tmp_path):
    """Set and dict orders must not leak into the ranking: three processes with different string
    hashing and worker counts write the same report, byte for byte (the timing aside)."""
    _hostile_csvs(tmp_path)
    reports = []
    for seed, jobs in (("0", "1"), ("1", "2"), ("12345", "1")):
        result = subprocess.run([sys.executable, "-m", "nandoctor", "analyze", str(SAMPLES), str(tmp_path), "--format", "json", "-j", jobs], cwd=REPO, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": seed}, timeout=300)
        assert result.returncode in (0, 1), result.stderr
        report = json.loads(result.stdout)
        report["summary"].pop("seconds")
        reports.append(report)
    assert reports[0] == reports[1] == reports[2]
