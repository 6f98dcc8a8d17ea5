"""Hypothesis strategies for hostile runs: trajectories no healthy training writes, in every role.

A run here is built the way the rules receive it (`Run` with role-tagged `Series`), but without the
loader's guarantees: steps may be unsorted, repeated or negative, values NaN, +-inf, huge, tiny,
subnormal, constant, negative, or a single point. The API (`nandoctor.engine.diagnose`) accepts
such runs, so every rule must survive them.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from nandoctor.model import Run, RunEvent, Series, Source
from nandoctor.roles import pick_primary

ROLE_NAMES = {
    "train_loss": ("loss", "train/loss", "epoch_loss", "train_loss_step"),
    "val_loss": ("val_loss", "validation/epoch_loss", "test/loss"),
    "lr": ("lr", "learning_rate", "lr-Adam"),
    "grad_norm": ("grad_norm", "gnorm"),
    "loss_scale": ("loss_scale", "scaler"),
    "accuracy": ("acc", "train/accuracy"),
    "val_accuracy": ("val_acc", "test/accuracy"),
    "other": ("epoch", "throughput"),
}
EVENT_KINDS = ("restart", "rewind", "truncated", "corrupt", "unreadable", "aborted", "failed_launch", "early_stop", "overflow", "lr_nonfinite", "optimization_done")
# Values that sit on a rule's edge: Caffe's softmax floor, Keras's clip, ln C for common C, float limits.
SPECIAL_VALUES = (
    0.0, -0.0, 1.0, -1.0, 5e-324, 2.2250738585072014e-308, 1e-300, 1e-30, 1e-8, 1e300, 1.7976931348623157e308,
    -1.7976931348623157e308, math.nan, math.inf, -math.inf, 87.33654475, 87.3365, 16.1181, 15.9424, math.log(10),
    math.log(1000), 0.6931, 65536.0, 2.0**24, 1e-4,
)

values_element = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from(SPECIAL_VALUES),
    st.floats(min_value=0.0, max_value=10.0),
)


@st.composite
def trajectory(draw, max_points: int = 80) -> np.ndarray:
    """Values of one series: arbitrary, constant, a smooth curve with a twist, or a single point."""
    kind = draw(st.sampled_from(("arbitrary", "constant", "curve", "single", "empty", "scaled")))
    if kind == "empty":
        return np.empty(0)
    if kind == "single":
        return np.array([draw(values_element)])
    if kind == "constant":
        return np.full(draw(st.integers(2, max_points)), draw(values_element))
    if kind == "arbitrary":
        return np.array(draw(st.lists(values_element, min_size=2, max_size=max_points)), dtype=np.float64)
    count = draw(st.integers(2, max_points))
    t = np.linspace(0.0, 1.0, count)
    shape = draw(st.sampled_from(("decay", "growth", "flat", "oscillate", "spike", "plateau")))
    start = draw(st.floats(min_value=1e-6, max_value=1e4))
    curve = {
        "decay": start * np.exp(-4 * t),
        "growth": start * np.exp(8 * t),
        "flat": np.full(count, start),
        "oscillate": start * (1.5 + np.sin(40 * t)),
        "spike": start * (1 + 50 * (np.abs(t - 0.5) < 0.03)),
        "plateau": np.where(t < 0.3, start * np.exp(-4 * t), start * 0.3),
    }[shape]
    if kind == "scaled":
        curve = curve * draw(st.sampled_from((1e-300, 1e-30, 1e30, 1e300, -1.0)))
    twist = draw(st.sampled_from(("none", "nan_tail", "inf_point", "nan_head", "negative")))
    curve = curve.astype(np.float64)
    at = draw(st.integers(0, count - 1))
    if twist == "nan_tail":
        curve[at:] = math.nan
    elif twist == "inf_point":
        curve[at] = math.inf
    elif twist == "nan_head":
        curve[: at + 1] = math.nan
    elif twist == "negative":
        curve[at] = -abs(curve[at]) - 1.0
    return curve


@st.composite
def step_axis(draw, count: int) -> np.ndarray:
    """Steps for `count` points: increasing (any stride), repeated, unsorted, negative or enormous."""
    kind = draw(st.sampled_from(("increasing", "increasing", "strided", "duplicated", "unsorted", "negative", "huge", "constant")))
    base = np.arange(count, dtype=np.int64)
    if kind == "strided":
        return base * draw(st.integers(1, 1000)) + draw(st.integers(0, 10**6))
    if kind == "duplicated":
        return np.sort(draw(st.lists(st.integers(0, max(1, count // 2)), min_size=count, max_size=count))).astype(np.int64) if count else base
    if kind == "unsorted":
        return np.array(draw(st.permutations(base.tolist())), dtype=np.int64) if count else base
    if kind == "negative":
        return base - draw(st.integers(1, 10**6))
    if kind == "huge":
        return base + np.int64(2**62)
    if kind == "constant":
        return np.zeros(count, dtype=np.int64)
    return base


@st.composite
def events(draw, max_events: int = 4) -> tuple[RunEvent, ...]:
    items = draw(st.lists(st.tuples(st.sampled_from(EVENT_KINDS), st.one_of(st.none(), st.integers(-5, 10**6)), st.one_of(st.none(), st.integers(1, 10**6))), max_size=max_events))
    return tuple(RunEvent(kind, f"{kind} at byte {abs(step or 0)} (scale 0.5 minimum 1)", step=step, source="run.log", line=line) for kind, step, line in items)


@st.composite
def meta(draw) -> dict:
    framework = draw(st.sampled_from((None, "caffe", "keras", "lightning", "pytorch", "tensorflow")))
    result: dict = {"framework": framework}
    if draw(st.booleans()):
        result["num_classes"] = draw(st.one_of(st.integers(-2, 100_000), st.none(), st.just(1), st.just(0)))
    if framework == "caffe" and draw(st.booleans()):
        result["loss_weights"] = draw(st.dictionaries(st.sampled_from(("loss", "loss1", "aux")), st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(0.0), st.just(1.0)), max_size=3))
        result["solver"] = draw(st.dictionaries(st.sampled_from(("base_lr", "lr_policy", "clip_gradients", "stepvalue")), st.one_of(st.floats(allow_nan=True), st.text(max_size=5), st.lists(st.integers(0, 10), max_size=3)), max_size=4))
    return result


@st.composite
def runs(draw) -> Run:
    """A run with a train loss (usually) and any mix of the other roles, each on its own step axis."""
    roles = draw(st.lists(st.sampled_from(tuple(ROLE_NAMES)), max_size=6, unique=True))
    if draw(st.integers(0, 9)) > 0 and "train_loss" not in roles:
        roles.insert(0, "train_loss")
    unit = draw(st.sampled_from(("step", "epoch")))
    series = []
    shared_steps = None
    for role in roles:
        values = draw(trajectory())
        if shared_steps is not None and shared_steps.size == values.size and draw(st.booleans()):
            steps = shared_steps  # the usual case: the roles logged at the same steps
        else:
            steps = draw(step_axis(values.size))
        shared_steps = steps
        name = draw(st.sampled_from(ROLE_NAMES[role]))
        locations = np.arange(1, values.size + 1, dtype=np.int64) if draw(st.booleans()) else None
        series.append(Series(name, steps, values, role, "run.log", locations, None, unit))
    return Run(
        id="hostile",
        path="hostile",
        series=tuple(series),
        sources=(Source("run.log", "test"),),
        events=draw(events()),
        meta=draw(meta()),
        train_loss=pick_primary(series, "train_loss"),
        val_loss=pick_primary(series, "val_loss"),
    )


def describe(run: Run) -> str:
    """A reproducible text of a run for a bug report: every series with its steps and values."""
    lines = [f"meta={dict(run.meta)!r} events={[(event.kind, event.step) for event in run.events]!r}"]
    for item in run.series:
        lines.append(f"{item.role} {item.name!r} ({item.step_unit}): steps={item.steps.tolist()!r} values={item.values.tolist()!r}")
    return "\n".join(lines)
