"""Run the rules on a run, catch a crashing rule into errors, and rank the causes the findings support."""

from __future__ import annotations

import math
import traceback
from dataclasses import dataclass, field
from typing import Any, Iterable

from .causes import CAUSES, EXPLAINING_SCORE, EXPLAINS, fixes_for
from .features import Facts
from .model import Cause, Diagnosis, Finding, Run
from .rules import Rule, all_rules, selects

SEVERITY_RANK = {"error": 3, "warning": 2, "info": 1}
# How much a finding of each severity counts towards a cause; info findings never make a run fail.
SEVERITY_WEIGHT = {"error": 1.0, "warning": 0.6, "info": 0.0}


@dataclass
class Options:
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    min_confidence: float = 0.0
    rule_params: dict[str, dict[str, Any]] = field(default_factory=dict)


def selected_rules(options: Options) -> list[Rule]:
    """The rule instances the options ask for (all stable rules by default), with parameter overrides."""
    chosen = []
    for rule_class in all_rules():
        if options.select:
            if not any(selects(selector, rule_class) for selector in options.select):
                continue
        elif rule_class.status != "stable":
            continue
        if any(selects(selector, rule_class) for selector in options.ignore):
            continue
        overrides = options.rule_params.get(rule_class.id, {}) | options.rule_params.get(rule_class.slug, {})
        chosen.append(rule_class(overrides))
    return chosen


def diagnose(run: Run, rules: list[Rule], min_confidence: float = 0.0) -> Diagnosis:
    """Every applicable rule on one run; findings ranked, causes scored, the run's status decided."""
    facts = Facts(run)
    findings: list[Finding] = []
    not_applicable: list[str] = []
    errors: list[str] = []
    for rule in rules:
        if not rule.applicable(run):
            not_applicable.append(rule.id)
            continue
        try:
            found = list(rule.check(run, facts))
        except Exception as error:  # a crashing rule must not take the others down
            where = traceback.extract_tb(error.__traceback__)[-1]
            errors.append(f"rule {rule.id} ({rule.slug}) crashed on run {run.id}: {type(error).__name__}: {error} at {where.filename.rsplit('/', 1)[-1]}:{where.lineno}")
            continue
        findings.extend(finding for finding in found if finding.confidence >= min_confidence)
    findings.sort(key=finding_order)
    causes = rank_causes(findings, run.framework)
    return Diagnosis(run=run, status=status_of(findings), findings=tuple(findings), causes=tuple(causes), not_applicable=tuple(not_applicable), errors=tuple(errors))


def finding_order(finding: Finding) -> tuple:
    onset = finding.onset_step if finding.onset_step is not None else math.inf
    return (-SEVERITY_RANK.get(finding.severity, 0), -finding.confidence, onset, finding.rule_id)


def status_of(findings: Iterable[Finding]) -> str:
    severities = {finding.severity for finding in findings}
    if "error" in severities:
        return "failed"
    if "warning" in severities:
        return "warning"
    return "healthy"


def rank_causes(findings: list[Finding], framework: str | None) -> list[Cause]:
    """Noisy-OR of the findings behind each cause; the first cause is the diagnosis."""
    support: dict[str, list[tuple[float, Finding]]] = {}
    for finding in findings:
        weight = SEVERITY_WEIGHT.get(finding.severity, 0.0) * finding.confidence
        if weight <= 0:
            continue
        for cause_id, cause_weight in finding.causes.items():
            if cause_id in CAUSES and cause_weight > 0:
                support.setdefault(cause_id, []).append((weight * cause_weight, finding))
    support = credit_explaining_causes(support)
    causes = []
    for cause_id, items in support.items():
        items.sort(key=lambda item: -item[0])
        rule_ids = tuple(dict.fromkeys(finding.rule_id for _, finding in items))
        numbers = fix_numbers([finding for _, finding in items])
        first_topics = tuple(dict.fromkeys(topic for _, finding in items for topic in finding.fix_topics))
        causes.append(Cause(id=cause_id, score=round(noisy_or(items), 3), title=CAUSES[cause_id].title, findings=rule_ids, fixes=fixes_for(cause_id, framework, numbers, first_topics)))
    causes.sort(key=lambda cause: (-cause.score, cause.id))
    return causes


def noisy_or(items: list[tuple[float, Finding]]) -> float:
    miss = 1.0
    for strength, _ in items:
        miss *= 1.0 - min(strength, 0.999)
    return 1.0 - miss


def credit_explaining_causes(support: dict[str, list[tuple[float, Finding]]]) -> dict[str, list[tuple[float, Finding]]]:
    """A cause established by its own findings also takes the findings of the symptoms it explains."""
    own_scores = {cause_id: noisy_or(items) for cause_id, items in support.items()}
    credited = {cause_id: list(items) for cause_id, items in support.items()}
    for explaining, explained in EXPLAINS.items():
        if own_scores.get(explaining, 0.0) < EXPLAINING_SCORE:
            continue
        for symptom in explained:
            for strength, finding in support.get(symptom, []):
                if all(finding is not other for _, other in credited[explaining]):
                    credited[explaining].append((strength, finding))
    return credited


def fix_numbers(findings: list[Finding]) -> dict[str, float]:
    """Numbers a fix can quote: the highest learning rate the findings measured, the one to lower.

    The fixes that quote it lower the learning rate, so the rate in force where the trouble was (a
    peak, the rate before a decay) is the one to name, not a rate a schedule later collapsed to.
    """
    rates = [float(lr) for lr in (finding.evidence.get("lr") for finding in findings) if isinstance(lr, (int, float)) and not isinstance(lr, bool) and math.isfinite(lr) and lr > 0]
    if not rates:
        return {}
    highest = max(rates)
    return {"lr": highest, "lr_lower": highest / 10.0}
