"""OVF001: the validation loss turned back up after its minimum while the train loss kept falling."""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from ..features import Facts
from ..model import Finding, Run, Series
from . import Param, Rule


class Overfitting(Rule):
    """The validation loss rose after its minimum while the train loss kept falling.

    ## What it detects
    The validation loss reaches its minimum V_min at evaluation e*, and each of the last
    `last_evals` evaluations (all after e*) is at least `rise_ratio` x V_min, while the train loss,
    smoothed (the median of a window centred on each step, a tenth of the run wide), is at each of
    those evaluations no higher than it was at e*. e* is
    reported as the early-stopping point, with the gap between validation and train loss.

    ## Why it matters
    The model is memorising the training set: every evaluation after e* is a worse model, and the
    checkpoint at e* is the one to keep. It is a warning, not an error - training worked, it went
    on for too long or with too little regularisation.

    ## Signature
    Catalog S18: V_min at e*; for the last k >= 3 evaluations V >= 1.1 x V_min while the train EMA
    at the same points is <= its value at e*. Two guards of ours keep near-misses quiet. The
    evaluations after e* must *trend* up: a Mann-Kendall test (rank-based, so scale-free and robust
    to outliers) must reach z >= `trend_z`, which takes at least 4 evaluations after e*. The lowest
    of many evaluations of a noisy but flat validation loss sits well below the rest, so the
    catalog test alone fires on about half of such curves (8 % noise, 40 evaluations); with the
    trend test on 2-3 %. And when the validation loss had fallen before e*, the rise must be at
    least `min_rise_of_drop` of that fall (first evaluation minus V_min), so a late uptick that
    gives back a sliver of the improvement is not called a failure. The train level is a centred
    median rather than the catalog's EMA: an EMA seeded with the first loss still carries the
    start-up transient at an early e*, so a train loss that rose after e* (a learning rate raised
    mid-run: divergence, S15) could pass as still falling. Train-loss staircases at epoch
    boundaries do not matter: the rule only fires when the validation loss rises. Validation
    accuracy is not required to fall (it can still improve while the loss rises on over-confident
    mistakes).

    ## Suggested fixes
    - Stop early at the validation minimum: keep the checkpoint from e* (early stopping with patience).
    - Add regularisation: data augmentation, dropout, weight decay; or get more data.
    - Lower the learning rate late in training (reduce-on-plateau).

    ## Parameters
    - `last_evals`: how many final evaluations must all be above the threshold (catalog: k >= 3).
    - `rise_ratio`: each of them is at least this times V_min (catalog: 1.1).
    - `trend_z`: Mann-Kendall z of the evaluations after e* needed to call it a rise (2.0: one-sided p of about 0.02).
    - `min_rise_of_drop`: when V fell before e*, the rise must be at least this share of that fall.

    ## References
    - research catalog S18 (overfitting: training loss falls while validation loss rises) and S17.
    - threads/011 (the-deep-learners/deep-learning-illustrated#15: val loss 3.2-4.7 vs train 0.1-0.5).
    - jbohnslav/deepethogram#8, datlife/yolov2#6, ultralytics/yolov5#6996 (definition), keras-team/keras#3755.
    - allenai/open-instruct#128 and hiyouga/LlamaFactory#7485 (epoch staircases are not overfitting).
    """

    id = "OVF001"
    slug = "overfitting"
    severity = "warning"
    requires = ("train_loss", "val_loss")
    optional = ("lr",)
    causes = ("overfitting",)
    params = {
        "last_evals": Param(3, "final evaluations that must all be above the threshold"),
        "rise_ratio": Param(1.1, "each final evaluation is at least this times the minimum"),
        "trend_z": Param(2.0, "Mann-Kendall z the evaluations after the minimum must reach"),
        "min_rise_of_drop": Param(0.05, "share of the earlier fall the rise must reach"),
    }

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        val, train = facts.val_loss, facts.loss
        finite = np.isfinite(val.values)
        indices = np.flatnonzero(finite)
        steps, values = val.steps[finite], val.values[finite]
        k = max(1, int(self.last_evals))
        if values.size < k + 1:
            return
        best = int(np.argmin(values))
        best_value = float(values[best])
        evals_after = values.size - 1 - best
        if best_value <= 0 or evals_after < k:
            return
        last = values[-k:]
        if not np.all(last >= self.rise_ratio * best_value):
            return
        trend = mann_kendall_z(values[best + 1:])
        if trend < self.trend_z:
            return  # the last evaluations are high, but no more than noise around a flat curve
        with np.errstate(over="ignore", invalid="ignore"):
            typical_last = float(np.median(last))
            rise = typical_last - best_value
        fall = float(values[0]) - best_value
        if best > 0 and fall > 0 and rise < self.min_rise_of_drop * fall:
            return
        if not np.all(np.isfinite(train.values[train.steps >= steps[best]])):
            return  # a train loss that went non-finite is not "still falling": the NaN rules speak
        if not np.any(np.isfinite(train.values)):
            return
        train_at_best = train_level(train, int(steps[best]))
        train_after = [train_level(train, int(step)) for step in steps[-k:]]
        if train_at_best is None or any(value is None or not value <= train_at_best for value in train_after):
            return

        unit = val.step_unit if val.step_unit in ("step", "epoch") else "step"
        best_step, last_value = int(steps[best]), float(values[-1])
        train_last = float(train_after[-1])
        evidence = {
            "trend_z": trend,
            "best_step": best_step,
            "best_val_loss": best_value,
            "last_val_loss": last_value,
            "rise": last_value / best_value,
            "evals_after_best": int(evals_after),
            "train_loss_at_best": float(train_at_best),
            "train_loss_last": train_last,
        }
        if train_last > 0:
            evidence["gap"] = last_value / train_last
        lr = facts.lr_at(best_step)
        if lr is not None and math.isfinite(lr):
            evidence["lr"] = lr
        message = (
            f"The validation loss bottomed at {best_value:.4g} at {unit} {best_step} and rose to {last_value:.4g} ({last_value / best_value:.2f}x) "
            f"over the {evals_after} evaluations since, while the smoothed train loss fell from {train_at_best:.4g} to {train_last:.4g}: "
            f"{unit} {best_step} is the early-stopping point."
        )
        confidence = 0.5 + 0.2 * min(1.0, (typical_last / best_value - 1.0) / 0.5) + 0.15 * min(1.0, evals_after / 10.0)
        yield self.finding(message, confidence=confidence, series=val, index=int(indices[best]), evidence=evidence)


def mann_kendall_z(values: np.ndarray) -> float:
    """Mann-Kendall trend statistic as a z-score: positive when later values tend to be larger.

    S counts rising minus falling pairs (ties count as neither); with no trend it has variance
    m(m-1)(2m+5)/18. 0.0 for fewer than 3 values.
    """
    if values.size > 1000:  # S is quadratic in m; an even thinning keeps the trend
        values = values[np.linspace(0, values.size - 1, 1000).astype(np.int64)]
    m = values.size
    if m < 3:
        return 0.0
    signs = np.sign(values[None, :] - values[:, None])
    s = float(np.sum(np.triu(signs, k=1)))
    return s / math.sqrt(m * (m - 1) * (2 * m + 5) / 18.0)


def train_level(train: Series, step: int) -> float | None:
    """The train loss's level at `step`: the median of the finite points in a window centred there.

    The window spans about a tenth of the run (a twentieth on each side, at least one point), the
    memory the catalog's EMA would have; centred, it has no lag. A causal EMA seeded with the first
    loss still carries the start-up transient at an early e* and overstates the level there, so a
    train loss that rose after e* could pass as "still falling".
    """
    count = len(train)
    if count == 0:
        return None
    half = max(1, int(np.count_nonzero(np.isfinite(train.values))) // 20)
    at = max(0, int(np.searchsorted(train.steps, step, side="right")) - 1)  # the last point at or before `step` (the first if none)
    window = train.values[max(0, at - half) : at + half + 1]
    window = window[np.isfinite(window)]
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.median(window)) if window.size else None
