"""INI001: a classifier's first loss is far above ln(classes), the loss of an untrained network."""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from ..features import Facts, learning_rate_near
from ..model import Finding, Run, Series
from . import Param, Rule


class HighInitialLoss(Rule):
    """A classifier's first loss is far above ln(classes): the network started far from a sane point.

    ## What it detects
    A run that logs an accuracy (so it is a classifier trained with a cross-entropy-like loss) whose
    first finite train loss is more than `ratio_to_chance` times ln C, where C is the most classes
    the accuracy allows (1 / the lowest accuracy logged early, at most `max_classes`). A correctly
    initialised classifier starts at about ln C: 2.30 for 10 classes, 6.91 for 1000.

    ## Why it matters
    A first loss of 100 or 1000 means the logits start huge: weights drawn with a far too large
    std, a missing normalisation, or pretrained weights that do not fit. Training then spends its
    steps undoing the start (or never does). When the loss comes down a lot afterwards the start is
    the problem (bad initialisation); when it stays up, the updates themselves may be blowing it up
    (a first point logged after a whole epoch at a too-high learning rate looks the same).

    ## Signature
    first finite loss (divided by the sum of Caffe loss weights, when the log gives them) >
    `ratio_to_chance` x ln C and > `min_loss`. Causes: bad initialisation, with
    the learning rate too high when the loss does not fall below `recovered_fraction` of its start
    by the end of the run (then the start is more likely the first epoch's damage), and bad input
    as a lesser alternative (unscaled inputs also make huge logits). A first loss `wrecked_ratio`
    times ln C or more with the accuracy at chance for the whole run is blamed on the learning rate.

    ## Suggested fixes
    Use He/Kaiming (ReLU) or Xavier (tanh) initialisation and a small final layer so the first loss
    is about ln C; add normalisation layers; normalise the inputs; if the first point is logged after
    a whole epoch, lower the learning rate and log per step to see the start.

    ## Parameters
    - `ratio_to_chance`: how many times ln C the first loss must exceed (3.0, research catalog S08).
    - `min_loss`: a first loss below this never fires, whatever C is (5.0).
    - `max_classes`: the most classes assumed when the accuracy says nothing (1000).
    - `recovered_fraction`: the last loss below this fraction of the first counts as recovering (0.2).
    - `wrecked_ratio`: a first loss this many times ln C or more, with the accuracy never leaving
      chance (its best within 1.5x of its early worst), points at the learning rate rather than the
      start (1000): the weights have blown up, and a per-epoch log hides the blow-up inside epoch 1.

    ## References
    - research catalog S08 ("L_0 > 3 x ln C ⇒ initial loss far above uniform") and S03 (ln C at a correct init).
    - Karpathy, "A Recipe for Training Neural Networks": verify the loss at init is -log(1/n_classes).
    - BVLC/caffe#4670 (labels out of range: 75-77 at iteration 0 with 3 classes).
    """

    id = "INI001"
    slug = "high-initial-loss"
    severity = "warning"
    requires = ("train_loss",)
    optional = ("accuracy", "val_accuracy", "lr")
    causes = ("bad_init", "lr_too_high", "bad_input")
    params = {
        "ratio_to_chance": Param(3.0, "how many times ln C the first loss must exceed"),
        "min_loss": Param(5.0, "a first loss below this never fires"),
        "max_classes": Param(1000, "the most classes assumed when the accuracy says nothing"),
        "recovered_fraction": Param(0.2, "the last loss below this fraction of the first counts as recovering"),
        "wrecked_ratio": Param(1000.0, "first loss over ln C from which, with accuracy at chance all along, the updates are to blame"),
    }

    def check(self, run: Run, facts: Facts) -> Iterable[Finding]:
        accuracy = facts.accuracy or facts.val_accuracy
        loss = facts.loss
        if accuracy is None or loss is None:
            return
        finite = np.flatnonzero(np.isfinite(loss.values))
        if finite.size < 2:
            return
        first_index = int(finite[0])
        # A Caffe total is the sum of its outputs times their loss weights (a captioner's x20).
        weight = _total_loss_weight(run)
        first_loss = float(loss.values[first_index]) / weight
        classes = self._class_bound(accuracy)
        chance_loss = math.log(classes)
        if first_loss <= max(self.min_loss, self.ratio_to_chance * chance_loss):
            return
        last_loss = float(loss.values[finite[-1]]) / weight
        recovered = last_loss < self.recovered_fraction * first_loss
        wrecked = first_loss >= self.wrecked_ratio * chance_loss and _stays_at_chance(accuracy)
        if wrecked:
            causes = {"lr_too_high": 1.0, "bad_init": 0.4, "bad_input": 0.3}
        elif recovered:
            causes = {"bad_init": 1.0, "bad_input": 0.4, "lr_too_high": 0.3}
        else:
            causes = {"bad_init": 0.6, "lr_too_high": 0.5, "bad_input": 0.3}
        lr = learning_rate_near(facts, int(loss.steps[first_index]))
        evidence = {"first_loss": first_loss, "chance_loss": chance_loss, "classes_at_most": classes, "ratio_to_chance": first_loss / chance_loss, "last_loss": last_loss}
        if lr is not None:
            evidence["lr"] = lr
        if weight != 1.0:
            evidence["loss_weight"] = weight
        trend = f"it fell to {last_loss:.4g} by the end" if recovered else f"it was still {last_loss:.4g} at the end"
        if wrecked:
            trend += ", with the accuracy at chance throughout: the updates, not the start, keep the network wrecked"
        message = f"{loss.name} started at {first_loss:.4g}, {first_loss / chance_loss:.0f}x ln {classes} = {chance_loss:.3g} (the loss of an untrained classifier with at most {classes} classes); {trend}"
        confidence = min(0.9, 0.5 + 0.1 * math.log10(first_loss / chance_loss))
        yield self.finding(message, confidence=confidence, series=loss, index=first_index, evidence=evidence, causes=causes)

    def _class_bound(self, accuracy: Series) -> int:
        """The most classes the early accuracy allows: a classifier at chance scores 1/C, so C <= 1/acc."""
        early = accuracy.values[: max(3, accuracy.values.size // 10)]
        early = early[np.isfinite(early) & (early > 0) & (early <= 1)]
        if early.size == 0:
            return int(self.max_classes)
        return int(min(self.max_classes, max(2, math.floor(min(1.0 / float(early.min()), self.max_classes)))))  # 1/5e-324 is inf


def _total_loss_weight(run: Run) -> float:
    weights = run.meta.get("loss_weights") or {}
    total = sum(value for value in weights.values() if isinstance(value, (int, float)) and value > 0)
    return float(total) if total > 1.0 else 1.0


def _stays_at_chance(accuracy: Series) -> bool:
    """The accuracy never gets clearly above where it started: the network learns nothing at all."""
    values = accuracy.values[np.isfinite(accuracy.values)]
    if values.size < 3:
        return False
    early = values[: max(3, values.size // 10)]
    return float(values.max()) <= 1.5 * max(float(early.min()), 1e-9)
