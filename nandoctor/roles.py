"""Series name -> role (train_loss, val_loss, lr, ...), and which series is a run's train loss.

Names come as the frameworks log them: `loss`, `train/loss`, `Loss/train`, `epoch_loss` under a Keras
`train/` folder, `train_loss_step`, `val_loss`, `eval_loss`, `validation/epoch_loss`, `test/loss`
(a Caffe test net output), `lr-Adam`, `learning_rate`, `grad_norm`, `gnorm`, `loss_scale`.
"""

from __future__ import annotations

import re

from .model import Series

_SPLIT = re.compile(r"[\s/.:|#\-]+")
_VALIDATION_WORDS = {"val", "valid", "validation", "eval", "evaluation", "test", "dev", "testing"}
_TRAIN_WORDS = {"train", "training", "tr"}
_AGGREGATE_SUFFIXES = ("step", "epoch")
_LR_WORDS = {"lr", "learning_rate", "learningrate", "learning rate"}
_GRAD_NORM_NAMES = {"grad_norm", "gnorm", "gradient_norm", "grad norm", "gradnorm", "grad_norm_total", "total_grad_norm", "global_grad_norm", "grad_l2_norm"}
_LOSS_SCALE_NAMES = {"loss_scale", "loss scale", "lossscale", "scaler", "grad_scale", "amp_scale", "loss_scaler", "scale"}
_ACCURACY_WORDS = ("acc", "accuracy", "top1", "top-1", "top_1", "mean_token_accuracy")
# A run's train loss is preferably the total one, named plainly; sub-losses (`loss_cls`) come after.
# Words that mark a loss as the sum or mean of its parts (`mean_loss`, `total_loss`), not one term.
_AGGREGATE_WORDS = ("total", "mean", "overall", "combined", "sum", "avg", "average")
_TOTAL_LOSS_NAMES = ("loss", "train_loss", "train/loss", "loss/train", "training_loss", "training loss", "train loss", "train/epoch_loss", "epoch_loss", "train_loss_step", "train/loss_step", "loss_step", "train_loss_epoch", "train/loss_epoch", "loss_epoch")
_TOTAL_VAL_NAMES = ("val_loss", "validation/epoch_loss", "eval_loss", "val/loss", "valid_loss", "loss/val", "validation_loss", "val_loss_epoch", "test/loss", "loss/test", "test_loss", "validation/loss")


def _words(name: str) -> list[str]:
    """Lower-case words of a name, trailing digits dropped (`test1`, `SoftmaxWithLoss1`, `acc2`)."""
    return [word.rstrip("0123456789") or word for word in _SPLIT.split(name.lower()) if word]


def _strip_aggregate(word: str) -> str:
    for suffix in _AGGREGATE_SUFFIXES:
        if word.endswith("_" + suffix):
            return word[: -len(suffix) - 1]
    return word


def role_for(name: str) -> str:
    """The role of a series from its logged name alone (folder prefixes such as `validation/` included)."""
    lowered = name.lower().strip()
    words = [_strip_aggregate(word) for word in _words(name)]
    if not words:
        return "other"
    flat = "_".join(words)
    if lowered in _GRAD_NORM_NAMES or flat in _GRAD_NORM_NAMES or words[-1] in _GRAD_NORM_NAMES or "grad_norm" in flat or "gnorm" in words:
        return "grad_norm"
    if lowered in _LOSS_SCALE_NAMES or words[-1] in ("loss_scale", "lossscale") or "loss_scale" in flat or "loss scale" in lowered:
        return "loss_scale"
    if _is_learning_rate(words, lowered):
        return "lr"
    validation = _mentions_validation(words)
    if _is_accuracy(words) or any(mark in lowered for mark in ("top1", "top-1", "top_1", "top5", "top-5", "top_5")):
        return "val_accuracy" if validation else "accuracy"
    if any(word in ("ppl", "perplexity") for word in words):
        return "other"  # exp(loss), not a loss: Megatron's `lm loss PPL`, fairseq's `ppl`
    if _is_loss(words):
        return "val_loss" if validation else "train_loss"
    return "other"


def _is_learning_rate(words: list[str], lowered: str) -> bool:
    if lowered.startswith("lr-") or lowered.startswith("lr/") or lowered.startswith("lr_"):
        return True
    if "learning rate" in lowered or "learning_rate" in lowered or "learningrate" in lowered:
        return True
    return any(word in _LR_WORDS for word in words)


def _mentions_validation(words: list[str]) -> bool:
    for word in words:
        head = word.split("_", 1)[0]
        if word in _VALIDATION_WORDS or head in _VALIDATION_WORDS:
            return True
    return False


def _is_accuracy(words: list[str]) -> bool:
    for word in words:
        parts = word.split("_")
        if any(part in ("acc", "accuracy", "top1") for part in parts) or word in _ACCURACY_WORDS:
            return True
    return False


def _is_loss(words: list[str]) -> bool:
    return any("loss" in word.split("_") or word.endswith("loss") for word in words)


def assign_roles(series: list[Series]) -> list[Series]:
    """Give each series its role from its name, keeping a role a reader already knew for sure."""
    return [item if item.role != "other" else item.with_role(role_for(item.name)) for item in series]


def pick_primary(series: list[Series], role: str) -> str | None:
    """The name of a run's main series of a role: a plainly named total first, then the one with most points."""
    candidates = [item for item in series if item.role == role and len(item) > 0]
    if not candidates:
        return None
    preferred = _TOTAL_LOSS_NAMES if role == "train_loss" else _TOTAL_VAL_NAMES
    ranking = {name: index for index, name in enumerate(preferred)}

    def preference(item: Series) -> tuple[int, int, int]:
        name = item.name.lower()
        aggregate = any(word in _words(name) or word in name.split("_") for word in _AGGREGATE_WORDS)
        return (ranking.get(name, len(ranking)), 0 if aggregate else 1, -len(item))

    return min(candidates, key=preference).name
