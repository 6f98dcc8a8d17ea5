"""PLT002: a loss repeating the same value to the last printed digit: the outputs no longer depend on the input."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ..features import FLT_MIN_LOG, KERAS_CLIP_LOSSES, Facts, learning_rate_near, true_runs
from ..model import Finding, Run, Series
from . import Param, Rule
from .keras_clip_saturation import clip_levels


class ConstantLoss(Rule):
    """The loss repeats the same value point after point: dead units or a constant output, no jitter at all.

    ## What it detects
    A train or validation loss whose consecutive values are identical (|dL| <= `identical` x |L|)
    for at least `min_points` points. Real training always jitters: even a stalled loss moves in
    its last digits from batch to batch, so identical values mean the output no longer depends on
    the input. When the log prints too few digits to tell (Keras' progress bar prints 4 decimals,
    so 0.0123 can repeat honestly), twice the points are needed and the finding is a `warning`.
    Not reported: a loss of exactly 0 (IMP001), a loss that fell a thousandfold before going flat
    (convergence printed at its last digit), the Caffe and Keras saturation constants (SAT001,
    SAT002), and staircases of several identical stretches at different levels (an epoch value
    repeated on every step row by the logger).

    ## Why it matters
    A ReLU network whose units all died, a ReLU on the final output, or NaN weights masked by the
    framework produce the same output for every input, so the loss of each batch is the loss of a
    constant prediction: for classification ln C, for regression the mean of y^2 or |y|. No
    gradient flows and nothing will change without a restart.

    ## Signature
    |L_t - L_{t-1}| <= 1e-7 x |L_t| for >= 10 consecutive points (catalog S21, proposed, as is),
    with the printing-precision guard above (ours): the last printed digit of the repeated value,
    relative to it, above `coarse_resolution` marks a log that prints too few digits.

    ## Suggested fixes
    Remove any ReLU on the final outputs or logits; use LeakyReLU/ELU or a small positive bias;
    lower the learning rate (large updates kill ReLUs); use He initialisation; check the weights
    for NaN after the first steps; restart from a checkpoint before the loss froze.

    ## Parameters
    - `identical`: relative change below which two consecutive values are the same (1e-7).
    - `min_points`: consecutive identical points that make the finding (10).
    - `coarse_resolution`: relative printing step above which a log cannot show jitter (2e-5).
    - `converged_ratio`: a flat level below this fraction of the run's largest loss is convergence (0.001).

    ## References
    - research catalog S21 (dead ReLU / constant output), S03 (a constant ln C plateau), S23.
    - keras-team/keras#3687 (ReLU on an LSTM regressor's output), ProteomicsML/ProteomicsML#203,
      jvargasmu/population_estimation#68, WeiTang114/MVCNN-TensorFlow#14, CS231n notes on dead ReLUs.
    """

    id = "PLT002"
    slug = "constant-loss"
    severity = "error"
    requires = ("train_loss",)
    optional = ("val_loss", "lr", "accuracy", "val_accuracy")
    causes = ("vanishing_or_stalled", "lr_too_high")
    params = {
        "identical": Param(1e-7, "relative change below which two consecutive values are the same"),
        "min_points": Param(10, "consecutive identical points that make the finding"),
        "coarse_resolution": Param(2e-5, "relative printing step above which a log cannot show jitter"),
        "converged_ratio": Param(0.001, "a flat level below this fraction of the run's largest loss is convergence"),
    }

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        for loss in (facts.loss, facts.val_loss):
            if loss is None or len(loss) < 2 or (loss is facts.val_loss and loss is facts.loss):
                continue
            stretch = frozen_stretch(loss.values, self.values)
            if stretch is None or self._explained(loss, stretch.level, facts):
                continue
            yield self._finding(facts, loss, stretch)
            return

    def _explained(self, loss: Series, level: float, facts: Facts) -> bool:
        """A level another rule owns: zero, convergence, or a saturation constant."""
        finite = np.abs(loss.values[np.isfinite(loss.values)])
        if abs(level) <= 1e-7 or abs(level) <= float(self.converged_ratio) * float(np.max(finite)):
            return True
        multiple = level / FLT_MIN_LOG
        if multiple >= 0.5 and abs(level - round(multiple) * FLT_MIN_LOG) <= 0.0005 * max(1, round(multiple)):
            return True
        return any(abs(level - clip) <= 0.002 * clip for clip, _, _ in clip_levels()) or _at_clip_times_error(level, facts)

    def _finding(self, facts: Facts, loss: Series, stretch: "FrozenStretch") -> Finding:
        step = int(loss.steps[stretch.start])
        unit = loss.step_unit
        lr = learning_rate_near(facts, step)
        evidence = {"value": stretch.level, "points": stretch.length, "last_step": int(loss.steps[stretch.start + stretch.length - 1]), "printing_resolution": stretch.resolution}
        if lr is not None:
            evidence["lr"] = lr
        to_end = stretch.start + stretch.length == len(loss)
        until = "to the end of the log" if to_end else f"until {unit} {evidence['last_step']}"
        if stretch.coarse:
            message = f"{loss.name} repeats {stretch.level:.6g} for {stretch.length} consecutive points from {unit} {step} {until}; the log prints too few digits to be sure the output is constant."
            return self.finding(message, confidence=0.45, series=loss, index=stretch.start, evidence=evidence, causes={"vanishing_or_stalled": 1.0, "lr_too_high": 0.3}, severity="warning")
        message = f"{loss.name} is exactly {stretch.level:.7g} for {stretch.length} consecutive points from {unit} {step} {until}: no jitter at all, so the output no longer depends on the input (dead units or a constant output)."
        confidence = 0.85 if stretch.length >= 2 * int(self.min_points) or to_end else 0.75
        return self.finding(message, confidence=confidence, series=loss, index=stretch.start, evidence=evidence, causes={"vanishing_or_stalled": 1.0, "lr_too_high": 0.3})


@dataclass(frozen=True)
class FrozenStretch:
    """The longest run of identical consecutive values of a series."""

    start: int
    length: int
    level: float
    resolution: float  # relative step the log prints at this level
    coarse: bool  # too few digits printed to tell a frozen loss from a stalled one


def identical_runs(values: np.ndarray, identical: float) -> tuple[np.ndarray, np.ndarray]:
    """(starts, lengths) of every run of >= 2 consecutive finite values that are the same."""
    with np.errstate(invalid="ignore", over="ignore"):
        same = np.isfinite(values[1:]) & np.isfinite(values[:-1]) & (np.abs(np.diff(values)) <= identical * np.abs(values[1:]))
    starts, lengths = true_runs(same)
    return starts, lengths + 1  # a run of k equal steps holds k + 1 points


def frozen_stretch(values: np.ndarray, params: dict) -> FrozenStretch | None:
    """The longest identical stretch long enough to report (PLT002's parameters), or None."""
    min_points = int(params["min_points"])
    starts, lengths = identical_runs(values, float(params["identical"]))
    if not starts.size:
        return None
    long_levels = np.unique(values[starts[lengths >= min_points]])
    if long_levels.size >= 2:
        return None  # a staircase: the logger repeated one value per epoch on every step row
    longest = int(np.argmax(lengths))  # the first of the longest
    start, length = int(starts[longest]), int(lengths[longest])
    level = float(values[start])
    resolution = printing_resolution(level)
    coarse = resolution > float(params["coarse_resolution"])
    if length < (2 * min_points if coarse else min_points):
        return None
    return FrozenStretch(start, length, level, resolution, coarse)


def printing_resolution(level: float) -> float:
    """The relative step of the last digit the log printed for `level`: 41.2783 -> 2.4e-6, Keras' 1.2345 -> 8.1e-5.

    A value read back from text carries only the digits that were printed, so the digits the repeated value
    needs say how fine the log is; a float written in full (0.2487311065196991) needs 16.
    """
    if level == 0 or not math.isfinite(level):
        return math.inf
    digits = _significant_digits(level)
    last_digit = 10.0 ** (math.floor(math.log10(abs(level))) - digits + 1)
    return last_digit / abs(level)


def _significant_digits(value: float) -> int:
    for digits in range(1, 18):
        if float(f"{value:.{digits - 1}e}") == value:
            return digits
    return 17


def _at_clip_times_error(level: float, facts: Facts) -> bool:
    """The loss equals a clip ceiling times the logged error rate (SAT002's Keras constants, SAT001's 87.3365)."""
    for accuracy in (facts.accuracy, facts.val_accuracy):
        if accuracy is None or not len(accuracy):
            continue
        finite = accuracy.values[np.isfinite(accuracy.values)]
        if not finite.size:
            continue
        with np.errstate(over="ignore", invalid="ignore"):
            error_rate = 1.0 - float(np.median(finite))
        if error_rate > 0 and any(abs(level - clip * error_rate) <= 0.01 * clip * error_rate for clip in KERAS_CLIP_LOSSES + (FLT_MIN_LOG,)):
            return True
    return False
