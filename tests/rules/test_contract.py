"""Every registered rule keeps the public contract: stable id and slug, documented sections, typed params."""

from __future__ import annotations

import re

from nandoctor.causes import CAUSES
from nandoctor.model import ROLES, SEVERITIES
from nandoctor.rules import DOC_SECTIONS, FAMILIES, all_rules


def test_ids_and_slugs_are_unique_and_well_formed():
    rules = all_rules()
    assert rules, "no rule is registered"
    ids = [rule.id for rule in rules]
    slugs = [rule.slug for rule in rules]
    assert len(set(ids)) == len(ids)
    assert len(set(slugs)) == len(slugs)
    for rule in rules:
        assert re.fullmatch(r"[A-Z]{2,4}\d{3}", rule.id), rule.id
        assert rule.id.rstrip("0123456789") in FAMILIES, rule.id
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.slug), rule.slug


def test_no_family_prefix_is_a_prefix_of_another():
    for first in FAMILIES:
        for second in FAMILIES:
            assert first == second or not second.startswith(first)


def test_docstrings_have_every_section():
    for rule in all_rules():
        doc = rule.documentation()
        assert doc.split("\n", 1)[0].strip(), f"{rule.id} has no one-line summary"
        for section in DOC_SECTIONS:
            assert f"## {section}" in doc, f"{rule.id} docstring lacks '## {section}'"


def test_declared_roles_causes_severity_and_params_are_valid():
    for rule in all_rules():
        assert rule.severity in SEVERITIES
        assert set(rule.requires) <= set(ROLES), rule.id
        assert set(rule.optional) <= set(ROLES), rule.id
        assert set(rule.causes) <= set(CAUSES), rule.id
        for name, param in rule.params.items():
            assert isinstance(param.default, (int, float)) and param.doc, f"{rule.id}.{name}"
            assert name in rule.documentation(), f"{rule.id} does not document parameter {name}"
