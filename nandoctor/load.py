"""Read the files of a discovered run into one `Run`: merge parts, resolve restarts, assign roles."""

from __future__ import annotations

import importlib
from collections import defaultdict
from dataclasses import replace
from typing import Any

import numpy as np

from .discover import Problem, RunSpec, discover
from .model import Run, RunEvent, Series, Source
from .readers import ReadError
from .roles import assign_roles, pick_primary


def load_paths(paths: list[str], *, verify_crc: bool = True) -> tuple[list[Run], list[Problem]]:
    """Every run under the PATHs given, and one problem per path or file that could not be read."""
    runs: list[Run] = []
    problems: list[Problem] = []
    for given in paths:
        specs, found_problems = discover(given)
        problems.extend(found_problems)
        for spec in specs:
            run, run_problems = load_run(spec, verify_crc=verify_crc)
            problems.extend(run_problems)
            if run is not None:
                runs.append(run)
    return runs, problems


def load_run(spec: RunSpec, *, verify_crc: bool = True) -> tuple[Run | None, list[Problem]]:
    """Read one run; None when none of its files could be read.

    `verify_crc=False` lets the event-file reader skip its record checksums; other formats have none.
    """
    problems: list[Problem] = []
    series: list[Series] = []
    # Files of the run that discovery could not open: reported there already; here they make LOG004.
    events: list[RunEvent] = [RunEvent("unreadable", str(problem), source=problem.path) for problem in spec.unreadable]
    sources: list[Source] = []
    meta: dict[str, Any] = {}
    for log in spec.files:
        reader = importlib.import_module(f"nandoctor.readers.{log.format}")
        try:
            part = reader.read(log.path, verify_crc=verify_crc) if log.format == "tensorboard" else reader.read(log.path)
        except ReadError as error:
            problems.append(Problem(log.display, str(error)))
            events.append(RunEvent("unreadable", f"{log.display}: {error}", source=log.display))
            continue
        except (OSError, MemoryError) as error:
            message = getattr(error, "strerror", None) or str(error) or type(error).__name__
            problems.append(Problem(log.display, message))
            events.append(RunEvent("unreadable", f"{log.display}: {message}", source=log.display))
            continue
        sources.append(Source(log.display, part.format, tuple(part.warnings)))
        problems.extend(_damage_problem(log.display, part.events))
        series.extend(_relabel(item, log.prefix, log.display) for item in part.series)
        events.extend(_event_with_source(event, log.display) for event in part.events)
        for key, value in part.meta.items():
            meta.setdefault(key, value)
    if not sources:
        return None, problems
    if not any(len(item) for item in series):
        return None, problems + _no_metric_problems(sources, events)
    merged, rewind_events = _merge_same_names(series)
    events.extend(rewind_events)
    merged = assign_roles(merged)
    run = Run(
        id=spec.id,
        path=spec.display,
        series=tuple(merged),
        sources=tuple(sources),
        events=tuple(events),
        meta=meta,
        train_loss=pick_primary(merged, "train_loss"),
        val_loss=pick_primary(merged, "val_loss"),
    )
    return run, problems


CRASH_KINDS = ("failed_launch", "aborted")


def _no_metric_problems(sources: list[Source], events: list[RunEvent]) -> list[Problem]:
    """A run whose files were read but hold no metric point has nothing to diagnose (a Caffe run that
    crashed while it set up its net; an event file of only its header): one line per file, as for an
    unreadable one, naming the crash that stopped the run when the log shows one. Never "healthy"."""
    problems = []
    for source in sources:
        crash = next((event.message for event in events if event.kind in CRASH_KINDS and event.source == source.path), None)
        problems.append(Problem(source.path, "no metrics in it" + (f": {crash}" if crash else "")))
    return problems


def _damage_problem(display: str, events) -> list[Problem]:
    """One line per file whose reader read around damage (a cut, corrupt records): it hides data."""
    damage = [event.message for event in events if event.kind in ("truncated", "corrupt")]
    if not damage:
        return []
    others = len(damage) - 1
    more = f" (and {others} more damaged part{'s' if others > 1 else ''})" if others else ""
    return [Problem(display, damage[0] + more)]


def _relabel(series: Series, prefix: str, display: str) -> Series:
    name = prefix + series.name if prefix else series.name
    return Series(name, series.steps, series.values, series.role, series.source or display, series.locations, series.wall_time, series.step_unit)


def _event_with_source(event: RunEvent, display: str) -> RunEvent:
    if event.source:
        return event
    return replace(event, source=display)


def _merge_same_names(series: list[Series]) -> tuple[list[Series], list[RunEvent]]:
    """Join the pieces of each name (several event files of one run) in file order, then resolve rewinds."""
    pieces: dict[str, list[Series]] = defaultdict(list)
    for item in series:
        pieces[item.name].append(item)
    merged: list[Series] = []
    events: list[RunEvent] = []
    for name, parts in pieces.items():
        joined = parts[0] if len(parts) == 1 else _concatenate(parts)
        resolved, dropped, rewind_step = resolve_rewinds(joined)
        if dropped:
            events.append(rewind_event(name, rewind_step, dropped, joined.source))
        merged.append(resolved)
    return merged, events


def rewind_event(name: str, step: int | None, superseded: int, source: str = "") -> RunEvent:
    """The event a rewind leaves: its message for people, the series and count for LOG002."""
    message = f"series {name!r} restarted at step {step}; {superseded} earlier points at or after that step were superseded"
    return RunEvent("rewind", message, step=step, source=source, data={"series": name, "superseded": superseded})


def _concatenate(parts: list[Series]) -> Series:
    def join(attribute: str) -> np.ndarray | None:
        arrays = [getattr(part, attribute) for part in parts]
        if any(array is None for array in arrays):
            return None
        return np.concatenate(arrays)

    first = parts[0]
    return Series(first.name, join("steps"), join("values"), first.role, first.source, join("locations"), join("wall_time"), first.step_unit)


def resolve_rewinds(series: Series) -> tuple[Series, int, int | None]:
    """Keep what a restarted run logged last: a point survives only if every later point has a larger step.

    This is TensorBoard's purge on restart, and it also orders the points by step. Returns the
    resolved series, how many points were superseded, and the step of the earliest rewind.
    """
    steps = series.steps
    if steps.size < 2 or bool(np.all(steps[1:] > steps[:-1])):
        return series, 0, None
    following_min = np.minimum.accumulate(steps[::-1])[::-1]
    keep = np.ones(steps.size, dtype=bool)
    keep[:-1] = steps[:-1] < following_min[1:]
    rewound_at = np.flatnonzero(steps[1:] <= steps[:-1])
    rewind_step = int(steps[rewound_at[0] + 1]) if rewound_at.size else None

    def take(array: np.ndarray | None) -> np.ndarray | None:
        return None if array is None else array[keep]

    resolved = Series(series.name, steps[keep], series.values[keep], series.role, series.source, take(series.locations), take(series.wall_time), series.step_unit)
    return resolved, int(steps.size - keep.sum()), rewind_step
