"""OSC001: a loss that swings up and down by large, alternating amounts with no downward trend: no progress."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ..features import Facts, learning_rate_near
from ..model import Finding, Run, Series
from . import Param, Rule


class Oscillation(Rule):
    """The loss swings up and down by large, alternating amounts and makes no progress: steps too large for the curvature.

    ## What it detects
    A train or validation loss whose last `window_fraction` of points (at least `min_window`)
    has no significant trend, large swings around its fitted line (detrended coefficient of
    variation above `min_cv`), changes that alternate in sign (lag-1 autocorrelation of the first
    differences below `max_autocorrelation`), and a level still at `min_progress_ratio` or more of
    where the run started. Mini-batch noise around a decreasing loss is not oscillation (the trend
    is significant), nor is a noisy loss that has settled far below its start (a converged run).
    It also reports the bursts of SGD at the edge of stability: changes only weakly anti-correlated
    (between `max_autocorrelation` and `max_burst_autocorrelation`: the loss climbs for a few
    steps and falls back) whose excursions keep carrying the loss back to where the run started
    (the window's `burst_quantile` at or above the start level) while between them it gets well
    below its start (the window's 1 - `burst_quantile` quantile under `min_progress_ratio` of it),
    however low its median.

    ## Why it matters
    A loss that zig-zags without going down means each update overshoots the minimum: the
    learning rate is too large for the curvature (RMSProp with a small decay, Adam at 0.01 on a
    CNN), the batch too small, or the data unshuffled. Training longer will not help.

    ## Signature
    Over the window: |slope| not significant (|t| < `max_trend_t`) or the fitted change under 2 %
    of the mean; std(residuals) / mean > 10 %; autocorr(diff(L), lag 1) < -0.3 (catalog S19,
    proposed features, as is; the catalog's 2 % slope bound alone rejects real oscillation,
    whose fitted slope is noisy, so we accept an insignificant slope too). The progress guard
    (median of the window >= `min_progress_ratio` x the start) is ours. The start is the median of
    the first 5 % of the points, unless the loss blew up inside them (their median at least
    `head_blowup_ratio` times the first point, which is not below nearly all later points, as an
    artefact would be): then the first point, the untrained network's loss, is where the run started.
    Bursts (ours, from the mechanism): at lr near 2/lambda_max the parameters zig-zag along the
    sharpest direction, but the loss is quadratic in that coordinate, so it does not alternate: it
    grows for several steps while the zig-zag grows and drops when it recovers (a catapult).
    Lag-1 autocorrelation of the changes is then near -0.1 rather than below -0.3, which iid batch
    noise (-0.5) and period-2 swings reach. A burst lasting several points is the model's own loss,
    not one bad batch; when such bursts keep reaching the starting loss (P90 of the window >= the
    start) from well below it (P10 < 0.8 x the start), the optimiser keeps undoing its progress:
    no convergence, whatever the median. A loss that only wanders around its start never left it
    (a smoothed stall, PLT001's).

    ## Suggested fixes
    Lower the learning rate (by 3-10x) or add decay; for RMSProp raise the decay (rms_decay
    0.98-0.99) or switch to SGD with momentum 0.9 or Adam at a lower rate; use a larger batch;
    shuffle the data every epoch.

    ## Parameters
    - `window_fraction`: share of the run at its end that is examined (0.5).
    - `min_window`: fewest points in the window (10).
    - `min_cv`: smallest detrended coefficient of variation that counts as large swings (0.1).
    - `max_autocorrelation`: lag-1 autocorrelation of differences below which changes alternate (-0.3).
    - `max_trend_t`: t-statistic of the window's slope below which there is no trend (2.0).
    - `min_progress_ratio`: window median over the start above which the run made no progress (0.8).
    - `max_burst_autocorrelation`: lag-1 autocorrelation of differences below which weakly anti-correlated bursts count (0.0).
    - `burst_quantile`: share of the window below the level the bursts must reach (0.9: 10 % of the points at or above the start).
    - `head_blowup_ratio`: median of the first 5 % over the first point from which they blew up (10).

    ## References
    - research catalog S19 (oscillation without convergence), S23 (healthy noisy decrease).
    - thtrieu/darkflow#118 ("it loop between 0.2 and 0.5"; "decrease learning rate"), hiyouga/LlamaFactory#1145 and #2790,
      PaddlePaddle/docs#342, sergeywong/cp-vton#17 (mini-batch noise is normal), threads/006 (wy1iu/sphereface#30).
    """

    id = "OSC001"
    slug = "oscillation"
    severity = "warning"
    requires = ("train_loss",)
    optional = ("val_loss", "lr")
    causes = ("oscillation", "lr_too_high")
    params = {
        "window_fraction": Param(0.5, "share of the run at its end that is examined"),
        "min_window": Param(10, "fewest points in the window"),
        "min_cv": Param(0.1, "smallest detrended coefficient of variation that counts as large swings"),
        "max_autocorrelation": Param(-0.3, "lag-1 autocorrelation of differences below which changes alternate"),
        "max_trend_t": Param(2.0, "t-statistic of the window's slope below which there is no trend"),
        "min_progress_ratio": Param(0.8, "window median over the start above which the run made no progress"),
        "max_burst_autocorrelation": Param(0.0, "lag-1 autocorrelation of differences below which weakly anti-correlated bursts count"),
        "burst_quantile": Param(0.9, "share of the window below the level the bursts must reach"),
        "head_blowup_ratio": Param(10.0, "head median over the first point beyond which the head blew up and the first point is the start"),
    }

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        for loss in (facts.loss, facts.val_loss):
            if loss is None:
                continue
            swing = swings(loss.values, self.values)
            if swing is not None:
                yield self._finding(facts, loss, swing)

    def _finding(self, facts: Facts, loss: Series, swing: "Swing") -> Finding:
        step = int(loss.steps[swing.window_start])
        unit = loss.step_unit
        lr = learning_rate_near(facts, step)
        evidence = {"detrended_cv": round(swing.cv, 4), "lag1_autocorrelation_of_changes": round(swing.autocorrelation, 3), "trend_t": round(swing.trend_t, 2), "window_points": swing.window_points, "window_median": swing.median, "start_level": swing.start_level, "low": swing.low, "high": swing.high}
        if lr is not None:
            evidence["lr"] = lr
        at_lr = f" at lr {lr:.3g}" if lr is not None else ""
        if swing.bursts:
            evidence["burst_level"] = swing.burst_level
            message = (
                f"{loss.name} keeps bursting from {swing.low:.4g} up to {swing.high:.4g} ({swing.cv:.0%} around its line, rising for several points at a time) "
                f"with no trend over its last {swing.window_points} points from {unit} {step}{at_lr}: a tenth of them are back at or above where it started ({swing.start_level:.4g}), so it never converges."
            )
        else:
            message = (
                f"{loss.name} swings between {swing.low:.4g} and {swing.high:.4g} ({swing.cv:.0%} around its line, changes alternating at autocorrelation {swing.autocorrelation:.2f}) "
                f"with no trend over its last {swing.window_points} points from {unit} {step}{at_lr}, still at {swing.median / swing.start_level:.0%} of where it started."
            )
        alternation = min(1.0, -swing.autocorrelation / 0.6) if not swing.bursts else 0.5
        confidence = 0.55 + 0.3 * min(1.0, (swing.cv - float(self.min_cv)) / 0.3) * alternation
        return self.finding(message, confidence=confidence, series=loss, index=swing.window_start, evidence=evidence, causes={"oscillation": 1.0, "lr_too_high": 0.5})


@dataclass(frozen=True)
class Swing:
    """Large alternating swings without a trend over the end of a series."""

    window_start: int  # index into the series
    window_points: int
    cv: float
    autocorrelation: float
    trend_t: float
    median: float
    start_level: float
    low: float
    high: float
    bursts: bool = False  # weakly anti-correlated bursts back to the start level, not alternation
    burst_level: float = math.nan  # the window's burst_quantile, in the loss's units


def swings(values: np.ndarray, params: dict) -> Swing | None:
    """The oscillation over the end of `values` by OSC001's parameters, or None."""
    finite_index = np.flatnonzero(np.isfinite(values))
    min_window = int(params["min_window"])
    if finite_index.size < 2 * min_window:
        return None
    window_size = max(min_window, int(finite_index.size * float(params["window_fraction"])))
    window_index = finite_index[-window_size:]
    window = values[window_index]
    with np.errstate(over="ignore", invalid="ignore"):
        scale = float(np.median(np.abs(window)))
    if not math.isfinite(scale) or scale <= 0:
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        relative = window / scale  # in units of the level, so 1e-3 and 1e30 losses behave alike
        mean = float(np.mean(relative))
    if not math.isfinite(mean) or mean <= 0:
        return None  # swings of a loss that crosses zero have no scale to compare with
    line = fitted_line(relative)
    cv = line.residual_std / mean
    if not math.isfinite(cv) or cv <= float(params["min_cv"]):
        return None
    autocorrelation = lag1_autocorrelation(np.diff(relative))
    if autocorrelation is None or autocorrelation >= max(float(params["max_autocorrelation"]), float(params["max_burst_autocorrelation"])):
        return None
    trend_t = line.trend_t
    if abs(trend_t) >= float(params["max_trend_t"]) and abs(line.change) >= 0.02:
        return None  # a real trend: noise around a decrease (healthy) or a rise (divergence)
    with np.errstate(over="ignore", invalid="ignore"):
        head = values[finite_index[: max(1, finite_index.size // 20)]] / scale
        # the head's median, unless the loss blew up inside the head: then the first point is where the run
        # started. A first point below nearly every later one (their 5th percentile) is an artefact, not a start.
        head_level = float(np.median(head))
        first = float(head[0])
        blew_up = head.size >= 3 and head_level >= float(params["head_blowup_ratio"]) * first and first >= float(np.percentile(values[finite_index[1:]], 5)) / scale
        start_level = (first if blew_up else head_level) * scale
        median = float(np.median(relative)) * scale
    if not (math.isfinite(start_level) and start_level > 0):
        return None
    low, high = float(np.min(window)), float(np.max(window))
    if autocorrelation < float(params["max_autocorrelation"]):  # alternating changes (catalog S19)
        if median < float(params["min_progress_ratio"]) * start_level:
            return None  # settled well below its start: a converged, noisy loss
        return Swing(int(window_index[0]), int(window.size), cv, autocorrelation, trend_t, median, start_level, low, high)
    # weakly anti-correlated: bursts that last several points. Between them the run gets well below
    # its start (it can learn), and they keep carrying it back there (it never converges); a loss that
    # only wanders around its start (a smoothed stall) never left it
    quantile = float(params["burst_quantile"])
    floor_level, burst_level = (float(level) * scale for level in np.quantile(relative, (1.0 - quantile, quantile)))
    if not (burst_level >= start_level and floor_level < float(params["min_progress_ratio"]) * start_level):
        return None
    return Swing(int(window_index[0]), int(window.size), cv, autocorrelation, trend_t, median, start_level, low, high, True, burst_level)


@dataclass(frozen=True)
class Line:
    """A least-squares line through a series, in units of the series' mean."""

    change: float  # fitted change from the first to the last point, as a fraction of the mean
    trend_t: float  # slope over its standard error: |t| < 2 is no trend distinguishable from noise
    residual_std: float  # spread around the line, in the series' own units


def fitted_line(values: np.ndarray) -> Line:
    """The least-squares line through `values` (finite, at least 3), its change relative to the mean and its t-statistic."""
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(np.mean(values)) if values.size else 0.0
    if values.size < 3 or mean == 0 or not math.isfinite(mean):
        return Line(0.0, 0.0, 0.0)
    # least squares in closed form about the middle of the x range (np.polyfit's numbers, without its lstsq)
    count = values.size
    centered = np.arange(count, dtype=np.float64) - (count - 1) / 2.0
    spread_x = count * (count * count - 1) / 12.0  # sum of centered x squared
    with np.errstate(over="ignore", invalid="ignore"):
        slope = float(np.dot(centered, values - mean)) / spread_x
        residual_std = float(np.std(values - mean - slope * centered))
    slope_error = residual_std * math.sqrt(count / (count - 2)) / math.sqrt(spread_x)
    trend_t = float(slope / slope_error) if slope_error > 0 else (0.0 if slope == 0 else math.copysign(math.inf, slope))
    return Line(float(slope * (count - 1) / mean), trend_t, residual_std)


def lag1_autocorrelation(changes: np.ndarray) -> float | None:
    """Pearson correlation of consecutive changes (None when they do not vary)."""
    if changes.size < 4:
        return None
    first, second = changes[:-1], changes[1:]
    with np.errstate(invalid="ignore", over="ignore"):
        if not (np.std(first) > 0 and np.std(second) > 0):
            return None  # no variation (or none that a float can hold)
        value = float(np.corrcoef(first, second)[0, 1])
    return value if math.isfinite(value) else None
