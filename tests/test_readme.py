"""The README keeps up with the code: every rule and every output format is documented there."""

from __future__ import annotations

from pathlib import Path

from nandoctor.cli import FORMATS
from nandoctor.rules import all_rules

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_rule_is_in_the_readme_table():
    for rule in all_rules():
        assert f"| `{rule.id}` | `{rule.slug}` |" in README, f"{rule.id} {rule.slug} is missing from README.md"


def test_every_output_format_is_described():
    for output_format in FORMATS:
        assert f"`{output_format}`" in README
