"""Every rule fires on the trajectories it is for, and stays quiet on near-misses that look alarming.

Each rule has a module `tests/rules/cases/<id lower-case>.py` with two lists of `builders.Case`:
`FIRES` (the rule must report a warning or error) and `QUIET` (it must not).
A rule that is info-only by design sets `INFO_ONLY = True` in its cases module: its FIRES cases
must then report an info finding (and never more), and its QUIET cases no finding at all.
"""

from __future__ import annotations

import importlib
import pkgutil
import pytest

from nandoctor.features import Facts
from nandoctor.model import Run
from nandoctor.rules import all_rules, find_rule

from . import cases


def _collect(kind: str) -> list:
    collected = []
    for module_info in pkgutil.iter_modules(cases.__path__):
        module = importlib.import_module(f"{cases.__name__}.{module_info.name}")
        rule = find_rule(module_info.name.upper())
        for case in getattr(module, kind, []):
            collected.append(pytest.param(rule, case, id=f"{module_info.name}: {case.story}"))
    return collected


def _alarms(rule_class, run: Run, severities: tuple[str, ...] = ("error", "warning")) -> list:
    rule = rule_class()
    if not rule.applicable(run):
        return []
    return [finding for finding in rule.check(run, Facts(run)) if finding.severity in severities]


def _info_only(rule_class) -> bool:
    return bool(getattr(importlib.import_module(f"{cases.__name__}.{rule_class.id.lower()}"), "INFO_ONLY", False))


@pytest.mark.parametrize("rule_class, case", _collect("FIRES"))
def test_rule_fires(rule_class, case):
    assert rule_class is not None, "cases module names no registered rule"
    if _info_only(rule_class):
        assert not _alarms(rule_class, case.build()), f"info-only {rule_class.id} raised an alarm on: {case.story}"
        findings = _alarms(rule_class, case.build(), ("info",))
    else:
        findings = _alarms(rule_class, case.build())
    assert findings, f"{rule_class.id} stayed quiet on: {case.story}"
    for finding in findings:
        assert finding.message and 0.0 <= finding.confidence <= 1.0


@pytest.mark.parametrize("rule_class, case", _collect("QUIET"))
def test_rule_quiet(rule_class, case):
    assert rule_class is not None, "cases module names no registered rule"
    severities = ("error", "warning", "info") if _info_only(rule_class) else ("error", "warning")
    findings = _alarms(rule_class, case.build(), severities)
    assert not findings, f"{rule_class.id} fired on a near-miss ({case.story}): {findings[0].message}"


def test_every_rule_has_both_kinds_of_case():
    modules = {info.name.upper() for info in pkgutil.iter_modules(cases.__path__)}
    for rule in all_rules():
        assert rule.id in modules, f"{rule.id} has no tests/rules/cases/{rule.id.lower()}.py"
        module = importlib.import_module(f"{cases.__name__}.{rule.id.lower()}")
        assert getattr(module, "FIRES", None), f"{rule.id} has no FIRES case"
        assert getattr(module, "QUIET", None), f"{rule.id} has no QUIET case"
