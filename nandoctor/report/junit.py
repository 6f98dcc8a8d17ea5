"""JUnit XML for CI dashboards: a testsuite per run, a testcase per rule.

A rule with a finding at or above `--fail-on` fails its testcase; a rule whose series the run lacks is
skipped; findings below the threshold go to the testcase's system-out.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from ..api import Analysis
from ..discover import one_line
from ..model import Diagnosis

SEVERITY_RANK = {"error": 3, "warning": 2, "info": 1, "never": 99}


def render(analysis: Analysis, *, fail_on: str = "error", **_: Any) -> str:
    threshold = SEVERITY_RANK[fail_on]
    root = ET.Element("testsuites", name="nandoctor", time=f"{analysis.seconds:.3f}")
    totals = {"tests": 0, "failures": 0, "skipped": 0, "errors": 0}
    for diagnosis in analysis.diagnoses:
        suite = _suite(diagnosis, analysis.rules, threshold)
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _suite(diagnosis: Diagnosis, rules: list[tuple[str, str]], threshold: int) -> ET.Element:
    run = diagnosis.run
    # one_line: XML 1.0 cannot hold most control characters at all (ElementTree would write them
    # anyway, and the file would not parse), and a name or message is one line in a CI dashboard.
    suite = ET.Element("testsuite", name=one_line(run.id), file=one_line(run.path))
    findings_by_rule: dict[str, list] = {}
    for finding in diagnosis.findings:
        findings_by_rule.setdefault(finding.rule_id, []).append(finding)
    failures = skipped = errors = 0
    for rule_id, slug in rules:
        case = ET.SubElement(suite, "testcase", classname=f"nandoctor.{one_line(run.id)}", name=f"{rule_id} {slug}")
        if rule_id in diagnosis.not_applicable:
            ET.SubElement(case, "skipped", message="not applicable: the run lacks the series this rule needs")
            skipped += 1
            continue
        crashed = [error for error in diagnosis.errors if error.startswith(f"rule {rule_id} ")]
        if crashed:
            ET.SubElement(case, "error", message=one_line(crashed[0]))
            errors += 1
            continue
        found = findings_by_rule.get(rule_id, [])
        failing = [finding for finding in found if SEVERITY_RANK[finding.severity] >= threshold]
        if failing:
            first = failing[0]
            failure = ET.SubElement(case, "failure", message=one_line(first.message), type=first.severity)
            failure.text = "\n".join(one_line(f"{finding.severity}: {finding.message}" + (f" ({finding.source}:{finding.line})" if finding.source and finding.line is not None else "")) for finding in failing)
            failures += 1
        elif found:
            ET.SubElement(case, "system-out").text = "\n".join(one_line(f"{finding.severity}: {finding.message}") for finding in found)
    suite.set("tests", str(len(rules)))
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    suite.set("errors", str(errors))
    return suite
