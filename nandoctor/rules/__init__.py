"""The rule registry: one module per failure signature, each defining one `Rule` subclass.

A rule declares its id (family prefix + 3 digits) and slug, default severity, the roles it requires,
typed parameters, and the causes it can support. Its class docstring is its documentation, in fixed
sections (What it detects / Why it matters / Signature / Suggested fixes / Parameters / References),
and `nandoctor explain ID` renders it.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable

from ..features import Facts
from ..model import Finding, Run

DOC_SECTIONS = ("What it detects", "Why it matters", "Signature", "Suggested fixes", "Parameters", "References")
FAMILIES = {
    "NAN": "non-finite loss",
    "DIV": "divergence",
    "LR": "learning rate",
    "SAT": "saturated output",
    "IMP": "impossible values",
    "INI": "initialisation",
    "GRD": "gradients",
    "AMP": "mixed precision",
    "SPK": "loss spikes",
    "OSC": "oscillation",
    "PLT": "plateau",
    "OVF": "overfitting",
    "LOG": "log integrity",
}


@dataclass(frozen=True)
class Param:
    """A tunable threshold: its default and what it means."""

    default: float
    doc: str


class Rule:
    """Base of every rule. Subclasses set the class attributes and implement `check`."""

    id: ClassVar[str]
    slug: ClassVar[str]
    severity: ClassVar[str] = "warning"
    status: ClassVar[str] = "stable"
    requires: ClassVar[tuple[str, ...]] = ("train_loss",)
    optional: ClassVar[tuple[str, ...]] = ()
    causes: ClassVar[tuple[str, ...]] = ()
    fix_topics: ClassVar[tuple[str, ...]] = ()  # fix topics that address this rule's finding: its causes list those fixes first
    params: ClassVar[dict[str, Param]] = {}

    def __init__(self, overrides: dict[str, Any] | None = None):
        self.values = {name: param.default for name, param in self.params.items()}
        for name, value in (overrides or {}).items():
            key = name.replace("-", "_")
            if key in self.values:
                self.values[key] = type(self.params[key].default)(value)

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(name)

    @property
    def family(self) -> str:
        return self.id.rstrip("0123456789")

    def applicable(self, run: Run) -> bool:
        return all(has_role(run, role) for role in self.requires)

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:  # pragma: no cover - abstract
        raise NotImplementedError

    def finding(self, message: str, *, confidence: float, onset_step: int | None = None, series: Any = None, index: int | None = None, evidence: dict[str, Any] | None = None, causes: dict[str, float] | None = None, severity: str | None = None) -> Finding:
        """A finding of this rule; `series` and `index` locate the onset point in its file."""
        source = line = None
        series_name = None
        if series is not None:
            series_name = series.name
            source = series.source or None
            if index is not None:
                line = series.location_of(index)
                if onset_step is None:
                    onset_step = int(series.steps[index])
        return Finding(
            rule_id=self.id,
            slug=self.slug,
            severity=severity or self.severity,
            confidence=float(min(1.0, max(0.0, confidence))),
            message=message,
            onset_step=onset_step,
            series=series_name,
            evidence=evidence or {},
            causes=causes if causes is not None else {cause: 1.0 for cause in self.causes},
            source=source,
            line=line,
            fix_topics=self.fix_topics,
        )

    @classmethod
    def documentation(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def summary(cls) -> str:
        return cls.documentation().split("\n", 1)[0]


def has_role(run: Run, role: str) -> bool:
    """The run logged at least one point of the series that plays `role`."""
    series = run.primary(role)
    return series is not None and len(series) > 0


_REGISTRY: dict[str, type[Rule]] = {}


def all_rules() -> list[type[Rule]]:
    """Every registered rule class, in id order (imports every module of this package once)."""
    if not _REGISTRY:
        for module_info in pkgutil.iter_modules(__path__):
            module = importlib.import_module(f"{__name__}.{module_info.name}")
            for value in vars(module).values():
                if inspect.isclass(value) and issubclass(value, Rule) and value is not Rule and value.__module__ == module.__name__:
                    if value.id in _REGISTRY:
                        raise RuntimeError(f"rule id {value.id} defined twice")
                    _REGISTRY[value.id] = value
    return [_REGISTRY[key] for key in sorted(_REGISTRY)]


def find_rule(key: str) -> type[Rule] | None:
    """A rule by id or slug, case-insensitive."""
    wanted = key.strip().lower()
    for rule in all_rules():
        if rule.id.lower() == wanted or rule.slug == wanted:
            return rule
    return None


def selects(selector: str, rule: type[Rule]) -> bool:
    """Does a --select/--ignore entry (an id, a slug, or a family prefix) name this rule?"""
    wanted = selector.strip()
    upper = wanted.upper()
    if upper == "ALL":
        return True
    if rule.id.upper() == upper or rule.slug == wanted.lower():
        return True
    return upper.rstrip("0123456789") in FAMILIES and rule.id.upper().startswith(upper)
