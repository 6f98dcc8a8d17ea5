"""The common model of a run that every reader produces, and the diagnosis that rules make of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

ROLES = (
    "train_loss",
    "val_loss",
    "lr",
    "grad_norm",
    "loss_scale",
    "accuracy",
    "val_accuracy",
    "other",
)
SEVERITIES = ("error", "warning", "info")
STATUSES = ("healthy", "warning", "failed")


@dataclass(frozen=True)
class Source:
    """One file a run was read from, with what its reader noticed about it."""

    path: str
    format: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Series:
    """One logged quantity: its points in step order, NaN and inf kept because they are the signal.

    A point exists only where the log wrote one: a sparse CSV's empty cell is simply absent,
    while a literal `nan` is a point whose value is NaN.
    """

    name: str
    steps: np.ndarray  # int64
    values: np.ndarray  # float64
    role: str = "other"
    source: str = ""  # path of the file the points came from
    locations: np.ndarray | None = None  # per point: 1-based line (text logs) or record index (event files)
    wall_time: np.ndarray | None = None
    step_unit: str = "step"  # "step" or "epoch": what one unit of `steps` counts

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def with_role(self, role: str) -> "Series":
        return Series(self.name, self.steps, self.values, role, self.source, self.locations, self.wall_time, self.step_unit)

    def location_of(self, index: int) -> int | None:
        if self.locations is None or not 0 <= index < len(self.locations):
            return None
        return int(self.locations[index])


def make_series(name: str, steps, values, **kwargs: Any) -> Series:
    """Build a Series from any sequences, with the dtypes the rest of nandoctor relies on."""
    steps_array = np.asarray(steps, dtype=np.int64)
    values_array = np.asarray(values, dtype=np.float64)
    if steps_array.shape != values_array.shape:
        raise ValueError(f"series {name!r}: {steps_array.shape[0]} steps but {values_array.shape[0]} values")
    for key in ("locations", "wall_time"):
        if kwargs.get(key) is not None:
            kwargs[key] = np.asarray(kwargs[key], dtype=np.int64 if key == "locations" else np.float64)
    return Series(name, steps_array, values_array, **kwargs)


@dataclass(frozen=True)
class RunEvent:
    """Something the logs say happened, other than a number: a restart, a truncated file, `lr = nan`."""

    kind: str  # restart, rewind, truncated, corrupt, aborted, failed_launch, early_stop, overflow, ...
    message: str
    step: int | None = None
    source: str = ""
    line: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict, compare=False)  # the numbers behind the message, for rules


@dataclass(frozen=True)
class Run:
    """Everything read about one training run: its series, the files they came from, and events."""

    id: str
    path: str
    series: tuple[Series, ...]
    sources: tuple[Source, ...]
    events: tuple[RunEvent, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    train_loss: str | None = None  # name of the series that is this run's train loss
    val_loss: str | None = None

    def get(self, name: str | None) -> Series | None:
        for series in self.series:
            if series.name == name:
                return series
        return None

    def by_role(self, role: str) -> list[Series]:
        return [series for series in self.series if series.role == role]

    def primary(self, role: str) -> Series | None:
        """The run's main series of a role: its named train/val loss, else the longest of that role."""
        if role == "train_loss":
            return self.get(self.train_loss)
        if role == "val_loss":
            return self.get(self.val_loss)
        candidates = self.by_role(role)
        return max(candidates, key=len) if candidates else None

    @property
    def framework(self) -> str | None:
        return self.meta.get("framework")


@dataclass(frozen=True)
class Finding:
    """A failure signature observed in one run, with the numbers that show it."""

    rule_id: str
    slug: str
    severity: str  # error | warning | info
    confidence: float  # 0..1
    message: str  # one sentence with the numbers that matter
    onset_step: int | None = None
    series: str | None = None  # the series where the signature shows
    evidence: Mapping[str, Any] = field(default_factory=dict)
    causes: Mapping[str, float] = field(default_factory=dict)  # cause id -> weight 0..1
    source: str | None = None  # file where the onset point was logged
    line: int | None = None  # its line (text logs) or record index (event files)
    fix_topics: tuple[str, ...] = ()  # the fixes that address this finding first (`causes.Fix.topics`)

    @property
    def family(self) -> str:
        return self.rule_id.rstrip("0123456789")


@dataclass(frozen=True)
class Cause:
    """One likely reason a run failed, ranked by score, with the findings behind it and what to change."""

    id: str
    score: float
    title: str
    findings: tuple[str, ...]
    fixes: tuple[str, ...]


@dataclass(frozen=True)
class Diagnosis:
    """What nandoctor concludes about one run."""

    run: Run
    status: str
    findings: tuple[Finding, ...] = ()
    causes: tuple[Cause, ...] = ()
    not_applicable: tuple[str, ...] = ()  # rule ids whose required series the run lacks
    errors: tuple[str, ...] = ()  # rules that crashed on this run (results incomplete)
