"""Defaults for `nandoctor analyze` from `[tool.nandoctor]` in the nearest pyproject.toml; the CLI wins.

    [tool.nandoctor]
    fail-on = "warning"
    select = ["NAN", "DIV", "LR"]
    ignore = ["SPK001"]
    min-confidence = 0.5

    [tool.nandoctor.rules.NAN001]     # a rule's parameters, by id or slug
    stable_window = 8
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

OPTION_KEYS = {"fail-on", "select", "ignore", "min-confidence", "format", "exit-zero", "color", "jobs"}


class ConfigError(Exception):
    """A pyproject.toml whose [tool.nandoctor] table nandoctor cannot use."""


def find_pyproject(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_config(start: Path | None = None) -> tuple[dict[str, Any], Path | None]:
    """The [tool.nandoctor] table of the nearest pyproject.toml (empty when none), and its path."""
    path = find_pyproject((start or Path.cwd()).resolve())
    if path is None:
        return {}, None
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path}: {error}") from error
    table = document.get("tool", {}).get("nandoctor", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.nandoctor] must be a table")
    unknown = set(table) - OPTION_KEYS - {"rules"}
    if unknown:
        raise ConfigError(f"{path}: unknown [tool.nandoctor] keys: {', '.join(sorted(unknown))}")
    return table, path


def analyze_defaults(table: dict[str, Any]) -> dict[str, Any]:
    """The table as click default_map entries for the `analyze` command."""
    defaults = {}
    for key, value in table.items():
        if key == "rules":
            continue
        name = "output_format" if key == "format" else key.replace("-", "_")
        if key in ("select", "ignore") and isinstance(value, str):
            value = [value]
        defaults[name] = value
    return defaults


def rule_params(table: dict[str, Any]) -> dict[str, dict[str, Any]]:
    rules = table.get("rules", {})
    if not isinstance(rules, dict) or not all(isinstance(value, dict) for value in rules.values()):
        raise ConfigError("[tool.nandoctor.rules] must hold one table per rule id or slug")
    return {key: dict(value) for key, value in rules.items()}
