"""DIV002: after reaching its minimum the train loss rises steadily, with no NaN (slow divergence)."""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from ..features import Facts, ema, learning_rate_near, trailing_increase_run
from ..model import Finding, Run
from . import Param, Rule

MAX_TREND_POINTS = 400  # the trend test subsamples longer stretches: O(n^2) pairs


class SlowDivergence(Rule):
    """The training loss reached a minimum and then rose steadily: the optimisation is drifting away.

    ## What it detects
    A train loss that first went down, reached its lowest (smoothed) level, and then rose with a
    consistent upward trend over a sizeable part of the run, ending clearly above that minimum,
    without any NaN. It is the *training* loss that rises: a rising validation loss under a falling
    training loss is overfitting (OVF).

    ## Why it matters
    A training loss that climbs back is not learning any more; every further step makes the model
    worse on the very data it sees. Seen with RMSprop in the Keras CIFAR-10 example
    (1.1237 -> 1.1419 -> 1.1594 -> 1.1765 ...) and with learning rates too high to settle.

    ## Signature
    The loss is smoothed with an exponential moving average (its span a tenth of the run, so one
    point per epoch is left unsmoothed). The smoothed minimum comes after a descent of at least
    `min_descent` from the start; the stretch after it holds at least `min_points_after` points and
    `min_share_after` of the run (catalog S15: >= 4 epochs / >= 20 % of points); a Mann-Kendall
    trend test on the raw log-loss of that stretch finds a rise (Kendall tau >= `min_tau`,
    z >= `min_z`), so a noisy flat curve is not divergence; and the median of the last points is at
    least `min_rise` times the minimum (catalog: last >= 1.05 x min). The rise must be a drift: no
    single logged step of the smoothed loss makes more than `max_step_share` of it (a jump is a
    spike or a jump to a plateau, SPK and DIV003). The finding is an error when the loss ends
    `error_rise` times its minimum or more.

    A log that ends mid-climb is the same drift seen too briefly for a trend test (a pasted excerpt,
    or a run killed as it diverged): when the loss rose at each of its last `min_points_after`
    points or more, by `end_climb_ratio` times in all (catalog S14's spike ratio), to the highest
    value of the whole log, and no NaN follows, it is a warning whatever came before (a healthy
    run's highest loss is at its start, and a noisy one does not rise at four points in a row by
    half its level).

    ## Suggested fixes
    Roll back to a checkpoint near the minimum and resume with a lower learning rate or with decay;
    switch RMSprop to Adam or SGD with momentum; add gradient clipping; for Adam try beta2 = 0.95.

    ## Parameters
    - `min_points_after`: points after the minimum (4).
    - `min_share_after`: share of the run after the minimum (0.2).
    - `min_descent`: how far the smoothed loss fell from its start to its minimum (0.05).
    - `min_tau`: Kendall tau of the log-loss after the minimum (0.5).
    - `min_z`: Mann-Kendall z of that trend (1.64, one-sided 95 %).
    - `min_rise`: median of the last points over the minimum (1.05).
    - `error_rise`: rise over the minimum that makes the finding an error (2.0).
    - `max_step_share`: largest share of the smoothed log-rise that one logged step may make (0.5).
    - `end_climb_ratio`: rise of a climb that ends the log, at every point, to the log's highest value (1.5).

    ## References
    - research catalog S15 (slow divergence) and S18 (overfitting, the validation-side look-alike).
    - threads/018 (BigScience tr8-104B: lm loss 6.37 -> 10.24 over the last 4 of 5 pasted iterations).
    - threads/010 (keras-team/keras#5239: RMSprop, train loss 1.1237 at epoch 4 then rising every epoch).
    - keras-team/keras#932, keras-team/keras#7384, keras-team/keras#4897 (switching RMSprop to Adam fixed it).
    """

    id = "DIV002"
    slug = "slow-divergence"
    severity = "warning"
    requires = ("train_loss",)
    optional = ("lr",)
    causes = ("divergence", "lr_too_high")
    params = {
        "min_points_after": Param(4, "points after the minimum"),
        "min_share_after": Param(0.2, "share of the run after the minimum"),
        "min_descent": Param(0.05, "fall of the smoothed loss from its start to its minimum"),
        "min_tau": Param(0.5, "Kendall tau of the log-loss after the minimum"),
        "min_z": Param(1.64, "Mann-Kendall z of the trend after the minimum"),
        "min_rise": Param(1.05, "median of the last points over the minimum"),
        "error_rise": Param(2.0, "rise over the minimum that makes the finding an error"),
        "max_step_share": Param(0.5, "largest share of the smoothed rise that one logged step may make"),
        "end_climb_ratio": Param(1.5, "rise of a climb that ends the log, at every point, to the log's highest value"),
    }

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        loss = facts.loss
        if loss is None:
            return
        drift = self._drift(facts, loss)
        if drift is not None:
            yield drift
            return
        end = facts.loss_end
        if end == len(loss) and end >= 2 and np.all(loss.values > 0):  # a NaN after the climb is NAN002's
            climb = climb_at_end(loss.values, int(self.min_points_after), float(self.end_climb_ratio))
            if climb is not None:
                yield self._climb_finding(facts, loss, climb)

    def _drift(self, facts: Facts, loss) -> Finding | None:
        """The steady rise after a minimum, as a finding (None when there is none)."""
        end = facts.loss_end
        values, steps, unit = loss.values[:end], loss.steps[:end], loss.step_unit
        if values.size < int(self.min_points_after) + 3 or np.any(values <= 0):
            return None  # a log-loss trend needs a positive loss
        span = min(50.0, max(1.0, values.size / 10.0))
        smooth = ema(values, alpha=2.0 / (span + 1.0))
        low = int(np.argmin(smooth))
        after = values.size - 1 - low
        if after < max(int(self.min_points_after), self.min_share_after * values.size):
            return None
        if smooth[low] > (1.0 - self.min_descent) * smooth[0]:
            return None  # it never went down: a rise from the start is LR001's
        tau, z = mann_kendall(np.log(values[low:]))
        if tau < self.min_tau or z < self.min_z:
            return None
        if largest_step_share(smooth[low:]) > self.max_step_share:
            return None  # one jump makes most of the rise: a spike or a jump to a plateau (SPK, DIV003), not a drift
        last = values[-max(2, after // 5) :]
        minimum = float(smooth[low])
        rise = float(np.median(last)) / minimum
        if rise < self.min_rise:
            return None
        low_step, unit_plural = int(steps[low]), f"{unit}s"
        lr = learning_rate_near(facts, int(steps[-1]))
        evidence: dict = {
            "minimum": minimum,
            "minimum_step": low_step,
            "last_level": float(np.median(last)),
            "rise_over_minimum": rise,
            "points_after_minimum": after,
            "share_after_minimum": after / values.size,
            "kendall_tau": tau,
            "mann_kendall_z": z,
        }
        lr_text = ""
        if lr is not None:
            evidence["lr"] = lr
            lr_text = f" (lr {lr:.3g})"
        message = (
            f"{loss.name} rose steadily after its minimum {minimum:.4g} at {unit} {low_step}: x{rise:.3g} by {unit} {int(steps[-1])}, "
            f"rising over the last {after} of {values.size} logged {unit_plural} (Kendall tau {tau:.2f}){lr_text}"
        )
        strength = min(1.0, math.log(rise) / math.log(1.3))
        confidence = 0.4 + 0.5 * tau * strength
        severity = "error" if rise >= self.error_rise else None
        return self.finding(message, confidence=confidence, series=loss, index=low, evidence=evidence, causes={"divergence": 1.0, "lr_too_high": 0.5}, severity=severity)


    def _climb_finding(self, facts: Facts, loss, start: int) -> Finding:
        values, steps, unit = loss.values, loss.steps, loss.step_unit
        rise = float(values[-1]) / float(values[start])
        climbed = values.size - 1 - start
        lr = learning_rate_near(facts, int(steps[-1]))
        evidence: dict = {"climb_start_step": int(steps[start]), "climb_start": float(values[start]), "last_level": float(values[-1]), "rise_over_climb_start": rise, "rising_points": climbed}
        lr_text = ""
        if lr is not None:
            evidence["lr"] = lr
            lr_text = f" (lr {lr:.3g})"
        message = (
            f"{loss.name} rose at each of its last {climbed} logged points, from {float(values[start]):.4g} at {unit} {int(steps[start])} "
            f"to {float(values[-1]):.4g} at {unit} {int(steps[-1])} (x{rise:.3g}), the highest of the log, and the log ends mid-climb{lr_text}"
        )
        confidence = 0.5 + 0.2 * min(1.0, math.log(rise) / math.log(3.0))
        return self.finding(message, confidence=confidence, series=loss, index=start, evidence=evidence, causes={"divergence": 1.0, "lr_too_high": 0.5})


def climb_at_end(values: np.ndarray, min_rises: int, min_ratio: float) -> int | None:
    """Where the climb that ends the log starts, when it rose at each of at least `min_rises` points, by
    `min_ratio` times or more in all, to the highest value of the whole log; None otherwise."""
    rises = trailing_increase_run(values)
    if rises < max(1, min_rises):
        return None
    start = values.size - 1 - rises
    if float(values[-1]) < min_ratio * float(values[start]) or float(values[-1]) < float(np.max(values)):
        return None
    return start


def largest_step_share(smooth: np.ndarray) -> float:
    """The largest single-step rise of a smoothed positive curve, as a share of its total log-rise."""
    logs = np.log(smooth)
    total = float(np.max(logs) - logs[0])
    if total <= 0:
        return 1.0
    return float(np.max(np.diff(logs))) / total


def mann_kendall(values: np.ndarray) -> tuple[float, float]:
    """Kendall tau of values against their order, and the Mann-Kendall z of the trend (no tie correction)."""
    if values.size > MAX_TREND_POINTS:
        values = values[np.linspace(0, values.size - 1, MAX_TREND_POINTS).round().astype(np.int64)]
    count = values.size
    if count < 3:
        return 0.0, 0.0
    signs = np.sign(values[None, :] - values[:, None])
    score = float(np.sum(np.triu(signs, k=1)))
    pairs = count * (count - 1) / 2.0
    variance = count * (count - 1) * (2 * count + 5) / 18.0
    z = (score - math.copysign(1.0, score)) / math.sqrt(variance) if score else 0.0
    return score / pairs, z
