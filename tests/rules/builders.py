"""Build runs from plain trajectories, for rule tests: the same model a reader produces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from nandoctor.model import Run, Source, make_series
from nandoctor.roles import pick_primary


@dataclass(frozen=True)
class Case:
    """One trajectory for a rule test: what it is, in the user's words, and how to build its run."""

    story: str
    build: Callable[[], Run]


def make_run(
    train_loss: Sequence[float] | None = None,
    *,
    steps: Sequence[int] | None = None,
    framework: str | None = None,
    meta: dict | None = None,
    events: Sequence = (),
    step_unit: str = "step",
    **other: Sequence[float] | tuple[Sequence[int], Sequence[float]],
) -> Run:
    """A run whose train loss is `train_loss` at `steps` (0, 1, 2, ... by default).

    Other series are given by role as keywords: `lr=[...]` (same steps as the loss) or
    `val_loss=(steps, values)` for their own steps. Roles: val_loss, lr, grad_norm, loss_scale,
    accuracy, val_accuracy.
    """
    series = []
    if train_loss is not None:
        loss_steps = np.arange(len(train_loss)) if steps is None else np.asarray(steps)
        series.append(make_series("loss", loss_steps, train_loss, role="train_loss", source="run.log", locations=np.arange(1, len(train_loss) + 1), step_unit=step_unit))
    else:
        loss_steps = None if steps is None else np.asarray(steps)
    for role, data in other.items():
        if isinstance(data, tuple):
            role_steps, values = data
        else:
            values = data
            role_steps = loss_steps if loss_steps is not None and len(loss_steps) == len(values) else np.arange(len(values))
        series.append(make_series(role, role_steps, values, role=role, source="run.log", step_unit=step_unit))
    return Run(
        id="run",
        path="run",
        series=tuple(series),
        sources=(Source("run.log", "test"),),
        events=tuple(events),
        meta={"framework": framework, **(meta or {})},
        train_loss=pick_primary(series, "train_loss"),
        val_loss=pick_primary(series, "val_loss"),
    )


def noisy_decay(points: int, start: float = 2.3, end: float = 0.3, noise: float = 0.03, seed: int = 0) -> np.ndarray:
    """A healthy loss curve: exponential decay from `start` towards `end` with multiplicative noise."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, points)
    curve = end + (start - end) * np.exp(-5 * t)
    return curve * np.exp(rng.normal(0, noise, points))
