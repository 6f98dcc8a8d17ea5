#!/usr/bin/env python3
"""Build nandoctor's labelled evaluation corpus: real PyTorch training runs, causes injected on purpose.

Every run in the corpus is a real training run on CPU, on a data set that scikit-learn ships
(digits, moons, circles, make_classification, breast cancer, diabetes). A failure cause is
injected on purpose (a learning rate 100x too high, NaN in the inputs, a scheduler that drives the
learning rate negative, fp16 activations that overflow, ...), the run is logged the way a user's
run would be, and the logged numbers are then checked: a run whose logged curve does not show the
symptom of its label is dropped, never relabelled silently.

Logging: TensorBoard event files are written by `torch.utils.tensorboard.SummaryWriter`; Lightning
`metrics.csv` by Lightning's own `CSVLogger` and Keras `training.log` by Keras's own
`keras.callbacks.CSVLogger`, each called with the metrics, steps and in the order that the
Lightning Trainer (log_every_n_steps, `_step`/`_epoch` suffixes, LearningRateMonitor rows) and
Keras `fit` (per-epoch means, `val_*`, `learning_rate` from LearningRateScheduler) call them.
The training loop itself is always plain PyTorch.

Determinism: each run seeds torch and uses one thread; event files get a fixed name and a
synthetic wall clock (see `T0`, `DT`), so regeneration is byte-identical on the same torch build.

Usage (in a venv with the `corpus` extra: torch==2.13.0, scikit-learn, tensorboard, lightning, keras):

    python scripts/make_corpus.py --out corpus            # all runs, 2 processes
    python scripts/make_corpus.py --out /tmp/c --only sudden_nan   # one label (or a run name)
"""

from __future__ import annotations

import argparse
import csv
import math
import multiprocessing as mp
import os
import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np

LABELS = (
    "lr_too_high", "divergence", "sudden_nan", "bad_input", "bad_init", "lr_schedule_bug",
    "loss_scale_overflow", "exploding_gradients", "vanishing_or_stalled", "saturated_output",
    "overfitting", "oscillation", "healthy",
)
FORMATS = ("tensorboard", "lightning_csv", "keras_csv")
MANIFEST_COLUMNS = ("path", "format", "label", "model", "optimizer", "lr", "seed", "injection", "symptom")

T0 = 1735689600.0  # 2025-01-01T00:00:00Z: the synthetic start time of every event file
DT = 0.01  # synthetic seconds per optimizer step in event-file wall times
FLT_MIN = 1.1754943508222875e-38  # float32 smallest normal: Caffe's SoftmaxWithLoss clamp
KERAS_EPS = 1e-7  # keras.backend.epsilon()


# ----------------------------------------------------------------------------------------------
# Run specifications
# ----------------------------------------------------------------------------------------------

@dataclass
class Spec:
    label: str
    name: str
    fmt: str  # tensorboard | lightning_csv | keras_csv
    injection: str  # one line: what was done on purpose
    seed: int = 0
    data: str = "digits"  # digits | moons | circles | classif | cancer | diabetes
    data_opts: dict = field(default_factory=dict)
    model: str = "mlp"  # logreg | mlp | cnn | rnn | gru | lstm
    model_opts: dict = field(default_factory=dict)
    loss: str = "ce"
    opt: str = "sgd"  # sgd | adam | rmsprop | adagrad
    lr: float = 0.1
    opt_opts: dict = field(default_factory=dict)  # momentum, betas, weight_decay ...
    batch: int = 32
    epochs: int = 20
    sched: str | None = None
    sched_opts: dict = field(default_factory=dict)
    clip: float | None = None
    amp: dict | None = None  # fp16 autocast + dynamic loss scaling: {init_scale, growth_interval}
    inject: dict = field(default_factory=dict)  # poison_step, lr_jump ...
    val: bool = True
    log: dict = field(default_factory=dict)  # writer options, see the writers
    stop_after_nonfinite: int | None = None  # the job dies / is killed this many steps after a NaN
    check: dict = field(default_factory=dict)  # per-run thresholds for the label's check


# ----------------------------------------------------------------------------------------------
# Data (all shipped with scikit-learn: no download)
# ----------------------------------------------------------------------------------------------

@dataclass
class Data:
    xtr: Any
    ytr: Any
    xva: Any
    yva: Any
    kind: str  # multiclass | binary | regression
    n_classes: int
    in_dim: int


def _split(n: int, n_val: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.RandomState(0).permutation(n)  # one fixed split for every run
    return perm[n_val:], perm[:n_val]


def load_data(spec: Spec) -> Data:
    import torch
    from sklearn import datasets

    o = spec.data_opts
    name = spec.data
    if name == "digits":
        x, y = datasets.load_digits(return_X_y=True)
        kind, n_classes, n_val = "multiclass", 10, 500
    elif name == "moons":
        x, y = datasets.make_moons(n_samples=1000, noise=o.get("noise", 0.25), random_state=o.get("data_seed", 0))
        kind, n_classes, n_val = "binary", 2, 250
    elif name == "circles":
        x, y = datasets.make_circles(n_samples=1000, noise=o.get("noise", 0.08), factor=0.5, random_state=o.get("data_seed", 0))
        kind, n_classes, n_val = "binary", 2, 250
    elif name == "classif":
        x, y = datasets.make_classification(
            n_samples=2000, n_features=20, n_informative=8, n_redundant=4, n_classes=4,
            n_clusters_per_class=2, flip_y=o.get("flip_y", 0.03), class_sep=o.get("class_sep", 1.0),
            random_state=o.get("data_seed", 0))
        kind, n_classes, n_val = "multiclass", 4, 500
    elif name == "cancer":
        x, y = datasets.load_breast_cancer(return_X_y=True)
        kind, n_classes, n_val = "binary", 2, 142
    elif name == "diabetes":
        x, y = datasets.load_diabetes(return_X_y=True, scaled=False)
        kind, n_classes, n_val = "regression", 0, 100
    else:
        raise ValueError(name)
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    tr, va = _split(len(x), n_val)
    if "n_train" in o:
        tr = tr[: o["n_train"]]
    xtr, xva, ytr, yva = x[tr], x[va], y[tr], y[va]

    prep = o.get("prep", "digits16" if name == "digits" else "zscore")
    if prep == "digits16":  # pixel values 0..16 -> 0..1
        xtr, xva = xtr / 16.0, xva / 16.0
    elif prep == "zscore":  # per-feature standardisation with train statistics, guarded
        mu, sd = xtr.mean(0), xtr.std(0)
        sd[sd == 0] = 1.0
        xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
    elif prep == "zscore_no_eps":  # the bug: constant columns give 0/0 = NaN
        with np.errstate(invalid="ignore", divide="ignore"):
            mu, sd = xtr.mean(0), xtr.std(0)
            xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
    elif prep == "log":  # the bug: log of count features that contain zeros -> -inf
        with np.errstate(divide="ignore"):
            xtr, xva = np.log(xtr), np.log(xva)
    elif prep == "raw":
        pass
    else:
        raise ValueError(prep)

    if kind == "regression" and o.get("y_prep", "zscore") == "zscore":
        mu, sd = ytr.mean(), ytr.std()
        ytr, yva = (ytr - mu) / sd, (yva - mu) / sd
    if "nan_targets" in o:  # missing values left in the target column
        rng = np.random.RandomState(1)
        ytr = ytr.copy()
        ytr[rng.rand(len(ytr)) < o["nan_targets"]] = np.nan

    shape = o.get("shape", "flat")
    in_dim = xtr.shape[1]
    if shape == "img":
        xtr, xva = xtr.reshape(-1, 1, 8, 8), xva.reshape(-1, 1, 8, 8)
    elif shape == "rows":  # 8 time steps of 8 pixels
        xtr, xva = xtr.reshape(-1, 8, 8), xva.reshape(-1, 8, 8)
        in_dim = 8
    elif shape == "pixels":  # 64 time steps of 1 pixel
        xtr, xva = xtr.reshape(-1, 64, 1), xva.reshape(-1, 64, 1)
        in_dim = 1

    yt = torch.long if kind == "multiclass" else torch.float32
    return Data(torch.tensor(xtr, dtype=torch.float32), torch.tensor(ytr, dtype=yt),
                torch.tensor(xva, dtype=torch.float32), torch.tensor(yva, dtype=yt), kind, n_classes, in_dim)


# ----------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------

def build_model(spec: Spec, data: Data):
    import torch
    from torch import nn

    o = spec.model_opts
    out_dim = o.get("out_dim", data.n_classes if data.kind == "multiclass" else 1)
    acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}

    class BatchStd(nn.Module):
        """Standardise features over the batch (a home-made normaliser: x.std(0) of 1 sample is NaN)."""

        def forward(self, x):
            return (x - x.mean(0)) / (x.std(0) + 1e-5)

    class Residual(nn.Module):
        def __init__(self, width, act):
            super().__init__()
            self.f = nn.Sequential(nn.Linear(width, width), acts[act](), nn.Linear(width, width))

        def forward(self, x):
            return x + self.f(x)

    class SeqNet(nn.Module):
        def __init__(self, cell, in_dim, hidden, layers):
            super().__init__()
            extra = {"nonlinearity": o.get("nonlinearity", "tanh")} if cell == "rnn" else {}
            cls = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[cell]
            self.rnn = cls(in_dim, hidden, num_layers=layers, batch_first=True, **extra)
            self.head = nn.Linear(hidden, out_dim)

        def forward(self, x):
            h, _ = self.rnn(x)
            return self.head(h[:, -1])

    kind = spec.model
    if kind == "logreg":
        model = nn.Linear(data.in_dim, out_dim)
    elif kind == "mlp":
        layers: list = []
        width = data.in_dim
        if o.get("batch_std"):
            layers.append(BatchStd())
        for h in o.get("hidden", [64]):
            layers += [nn.Linear(width, h), acts[o.get("act", "relu")]()]
            width = h
        for _ in range(o.get("residual", 0)):
            layers.append(Residual(width, o.get("act", "relu")))
        layers.append(nn.Linear(width, out_dim))
        if o.get("out_act"):
            layers.append(acts[o["out_act"]]())
        model = nn.Sequential(*layers)
    elif kind == "cnn":
        c1, c2 = o.get("channels", (8, 16))
        model = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(c2 * 16, o.get("fc", 64)), nn.ReLU(),
            nn.Linear(o.get("fc", 64), out_dim))
    elif kind in ("rnn", "gru", "lstm"):
        model = SeqNet(kind, data.in_dim, o.get("hidden", 32), o.get("layers", 1))
    else:
        raise ValueError(kind)

    # initialisation overrides (the bad_init and exploding-gradient injections)
    if "init_std" in o:
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.normal_(m.weight, 0.0, o["init_std"])
    if "init_gain" in o:  # He init times a gain
        for m in model.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, o["init_gain"] * math.sqrt(2.0 / m.in_features))
                nn.init.zeros_(m.bias)
    if "out_bias" in o:
        last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
        nn.init.constant_(last.bias, o["out_bias"])
    if "recurrent_radius" in o:  # orthogonal recurrent weights scaled to a spectral radius
        for name, p in model.named_parameters():
            if "weight_hh" in name:
                with torch.no_grad():
                    for k in range(p.shape[0] // p.shape[1]):
                        block = p[k * p.shape[1]:(k + 1) * p.shape[1]]
                        if o.get("recurrent_init") == "identity":  # IRNN (Le et al. 2015)
                            block.copy_(torch.eye(p.shape[1]))
                        else:
                            nn.init.orthogonal_(block)
                        block.mul_(o["recurrent_radius"])
    if o.get("dtype") == "bfloat16":
        model = model.to(torch.bfloat16)
    return model


# ----------------------------------------------------------------------------------------------
# Losses (including the broken ones)
# ----------------------------------------------------------------------------------------------

def make_loss(name: str) -> Callable:
    import torch
    import torch.nn.functional as F

    class CaffeSoftmaxWithLoss(torch.autograd.Function):
        """Caffe's SoftmaxWithLoss: loss -= log(max(prob[label], FLT_MIN)); diff = prob - onehot."""

        @staticmethod
        def forward(ctx, logits, y):
            prob = torch.softmax(logits.float(), dim=1)
            pt = prob.gather(1, y[:, None]).squeeze(1)
            loss = -torch.log(torch.clamp(pt, min=FLT_MIN)).mean()
            ctx.save_for_backward(prob, y)
            return loss

        @staticmethod
        def backward(ctx, g):
            prob, y = ctx.saved_tensors
            diff = prob.clone()
            diff[torch.arange(len(y)), y] -= 1.0
            return diff * (g / len(y)), None

    def ce(out, y):
        return F.cross_entropy(out.float(), y)

    def keras_categorical(out, y):  # softmax layer + categorical_crossentropy(from_logits=False)
        p = torch.softmax(out.float(), dim=1)
        p = p / p.sum(1, keepdim=True)
        p = torch.clip(p, KERAS_EPS, 1.0 - KERAS_EPS)
        return -torch.log(p.gather(1, y[:, None])).mean()

    def keras_binary(out, y):  # sigmoid layer + binary_crossentropy(from_logits=False)
        p = torch.clip(torch.sigmoid(out.float().squeeze(1)), KERAS_EPS, 1.0 - KERAS_EPS)
        return F.binary_cross_entropy(p, y)

    def bce(out, y):
        return F.binary_cross_entropy_with_logits(out.float().squeeze(1), y)

    def bce_by_hand(out, y):  # -(y log p + (1-y) log(1-p)): 0 * log(0) = NaN once p rounds to 1
        p = torch.sigmoid(out.float().squeeze(1))
        return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()

    def bce_on_class_ids(out, y):  # multi-class ids 0..9 fed to a binary loss
        return F.binary_cross_entropy_with_logits(out.float().squeeze(1), y.float())

    def mse(out, y):
        return F.mse_loss(out.float().squeeze(1), y)

    def on_softmax(error):  # an error loss on a softmax layer's outputs against one-hot rows (keras loss="mse" / "mean_absolute_error")
        def loss(out, y):
            p = torch.softmax(out.float(), dim=1)
            return error(p, F.one_hot(y, p.shape[1]).float())
        return loss

    table = {"ce": ce, "caffe_softmax": CaffeSoftmaxWithLoss.apply, "keras_categorical": keras_categorical,
             "keras_binary": keras_binary, "bce": bce, "bce_by_hand": bce_by_hand,
             "bce_on_class_ids": bce_on_class_ids, "mse": mse, "mse_on_softmax": on_softmax(F.mse_loss), "mae_on_softmax": on_softmax(F.l1_loss)}
    return table[name]


def accuracy(out, y, kind: str) -> float | None:
    import torch

    with torch.no_grad():
        if kind == "multiclass":
            return float((out.float().argmax(1) == y).float().mean())
        if kind == "binary":
            return float(((out.float().squeeze(1) > 0).float() == y).float().mean())
    return None


# ----------------------------------------------------------------------------------------------
# Optimisers and schedules
# ----------------------------------------------------------------------------------------------

OPT_NAMES = {"sgd": "SGD", "adam": "Adam", "rmsprop": "RMSprop", "adagrad": "Adagrad"}


def make_optimizer(spec: Spec, params):
    import torch

    o = dict(spec.opt_opts)
    if spec.opt == "sgd":
        return torch.optim.SGD(params, lr=spec.lr, **o)
    if spec.opt == "adam":
        return torch.optim.Adam(params, lr=spec.lr, **o)
    if spec.opt == "rmsprop":
        return torch.optim.RMSprop(params, lr=spec.lr, **o)
    if spec.opt == "adagrad":
        return torch.optim.Adagrad(params, lr=spec.lr, **o)
    raise ValueError(spec.opt)


def optimizer_label(spec: Spec) -> str:
    mom = spec.opt_opts.get("momentum")
    return f"{spec.opt}-momentum{mom:g}" if mom else spec.opt


class Schedule:
    """The learning rate per optimizer step (`on_step`) and per epoch (`on_epoch`), written into the optimizer.

    Healthy schedules and the buggy ones (the lr_schedule_bug injections) live side by side, as in
    user code: the bug is in a parameter or in where `.step()` is called.
    """

    def __init__(self, spec: Spec, optimizer, steps_per_epoch: int, n_train: int):
        import torch

        self.kind, o, self.opt = spec.sched, spec.sched_opts, optimizer
        self.torch_sched = None
        self.keras_fn = None
        self.per = "step"
        total = steps_per_epoch * spec.epochs
        LambdaLR = torch.optim.lr_scheduler.LambdaLR
        k = self.kind
        if k is None:
            return
        if k == "cosine_warmup":  # healthy: linear warmup 5 % then cosine to 0
            warm = max(1, int(0.05 * total))
            self.torch_sched = LambdaLR(optimizer, lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, total - warm))))
        elif k == "step_epoch":  # healthy: StepLR stepped once per epoch
            self.torch_sched = torch.optim.lr_scheduler.StepLR(optimizer, step_size=o.get("step_size", 10), gamma=o.get("gamma", 0.3))
            self.per = "epoch"
        elif k == "poly_missing_max_iter":  # Caffe-style poly with max_iter left at its default 0 -> 0/0
            max_iter = np.float64(o.get("max_iter", 0.0))
            with np.errstate(all="ignore"):
                self.torch_sched = LambdaLR(optimizer, lambda s: float(np.power(np.float64(1.0) - np.float64(s) / max_iter, 0.9)))
        elif k == "linear_decay_wrong_total":  # decay horizon = one epoch of steps instead of the run
            horizon = steps_per_epoch * o.get("horizon_epochs", 1)
            self.torch_sched = LambdaLR(optimizer, lambda s: 1.0 - s / horizon)
        elif k == "warmup_in_samples":  # warmup length counted in samples, not steps: never ends
            warm = n_train * spec.epochs * o.get("factor", 1)
            self.torch_sched = LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warm))
        elif k == "steplr_per_batch":  # StepLR meant per epoch, stepped every batch
            self.torch_sched = torch.optim.lr_scheduler.StepLR(optimizer, step_size=o.get("step_size", 10), gamma=o.get("gamma", 0.1))
        elif k == "exp_per_batch":  # ExponentialLR meant per epoch, stepped every batch
            self.torch_sched = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=o.get("gamma", 0.95))
        elif k == "keras_step_decay":  # healthy Keras LearningRateScheduler: halve every N epochs
            n, g = o.get("every", 10), o.get("gamma", 0.5)
            self.keras_fn = lambda epoch, lr: lr * g if epoch > 0 and epoch % n == 0 else lr
        elif k == "keras_decay_every_epoch":  # `epoch % 1` instead of `epoch % 10`: x0.1 every epoch
            self.keras_fn = lambda epoch, lr: lr * 0.1 if epoch > 0 and epoch % 1 == 0 else lr
        elif k == "keras_linear_goes_negative":  # lr0 - rate*epoch with no floor at 0
            lr0, rate = spec.lr, o.get("rate", spec.lr / 10)
            self.keras_fn = lambda epoch, lr: lr0 - rate * epoch
        else:
            raise ValueError(k)
        if self.keras_fn is not None:
            self.per = "keras"

    def lr(self) -> float:
        return self.opt.param_groups[0]["lr"]

    def on_epoch_begin(self, epoch: int) -> None:
        if self.keras_fn is not None:
            new = float(np.float32(self.keras_fn(epoch, float(np.float32(self.lr())))))
            for g in self.opt.param_groups:
                g["lr"] = new

    def on_step(self) -> None:
        if self.torch_sched is not None and self.per == "step":
            self.torch_sched.step()

    def on_epoch_end(self) -> None:
        if self.torch_sched is not None and self.per == "epoch":
            self.torch_sched.step()


class LossScaler:
    """Dynamic loss scaling, the algorithm of torch.amp.GradScaler written out.

    Scale the loss, backpropagate, unscale the gradients; if any is inf/NaN skip the step and
    multiply the scale by `backoff`; after `growth_interval` clean steps in a row multiply it by `growth`.
    """

    def __init__(self, init_scale=2.0 ** 16, growth=2.0, backoff=0.5, growth_interval=2000):
        import torch

        self.scale = torch.tensor(init_scale, dtype=torch.float32)
        self.growth, self.backoff, self.interval = growth, backoff, growth_interval
        self.tracker = 0

    def backward_and_step(self, loss, params, optimizer, clip):
        import torch

        (loss * self.scale).backward()
        inv = self.scale.double().reciprocal().float()
        grads = [p.grad for p in params if p.grad is not None]
        for g in grads:
            g.mul_(inv)
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
        found_inf = not bool(torch.isfinite(norm))
        if found_inf:
            self.scale = self.scale * self.backoff
            self.tracker = 0
        else:
            if clip:
                torch.nn.utils.clip_grad_norm_(params, clip)
            optimizer.step()
            self.tracker += 1
            if self.tracker == self.interval:
                grown = self.scale * self.growth
                if bool(torch.isfinite(grown)):
                    self.scale = grown
                self.tracker = 0
        return float(norm), not found_inf


# ----------------------------------------------------------------------------------------------
# Writers: the loggers' own classes, called as their frameworks call them
# ----------------------------------------------------------------------------------------------

class Writer:
    """Base: keeps a copy of every value it writes, by role, for the symptom check."""

    def __init__(self, spec: Spec, run_dir: Path, steps_per_epoch: int):
        self.spec, self.run_dir, self.spe = spec, run_dir, steps_per_epoch
        self.logged: dict[str, list[tuple[int, float]]] = {}

    def _keep(self, role: str, step: int, value: float) -> None:
        self.logged.setdefault(role, []).append((int(step), float(value)))

    # hooks, all optional
    def epoch_begin(self, epoch: int, gstep: int, lr: float) -> None: ...
    def batch_begin(self, gstep: int, lr: float) -> None: ...
    def batch_end(self, gstep: int, epoch: int, m: dict) -> None: ...
    def epoch_end(self, epoch: int, gstep_last: int, train: dict, val: dict, lr: float, stopped: bool) -> None: ...
    def close(self) -> None: ...


TB_TAGS = {
    "slash": {"loss": "train/loss", "acc": "train/acc", "val_loss": "val/loss", "val_acc": "val/acc",
              "lr": "lr", "grad_norm": "grad_norm", "loss_scale": "loss_scale"},
    "caps": {"loss": "Loss/train", "acc": "Accuracy/train", "val_loss": "Loss/val", "val_acc": "Accuracy/val",
             "lr": "learning_rate", "grad_norm": "grad_norm", "loss_scale": "loss_scale"},
    "plain": {"loss": "loss", "acc": "acc", "val_loss": "val_loss", "val_acc": "val_acc",
              "lr": "lr", "grad_norm": "grad_norm", "loss_scale": "loss_scale"},
}


class TensorBoardWriter(Writer):
    """SummaryWriter scalars. log: tags (slash|caps|plain), every (N steps) or per_epoch, extra roles."""

    def __init__(self, spec, run_dir, spe):
        super().__init__(spec, run_dir, spe)
        from torch.utils.tensorboard import SummaryWriter
        import tensorboard.summary.writer.event_file_writer as efw

        o = spec.log
        self.tags = TB_TAGS[o.get("tags", "slash")]
        self.every = o.get("every", 1)
        self.per_epoch = o.get("per_epoch", False)
        self.roles = set(o.get("roles", ("loss",)))

        class _FixedClock:  # the file-version event's wall time: fixed, for byte-identical output
            @staticmethod
            def time():
                return T0

        real = efw.time
        efw.time = _FixedClock
        try:
            self.w = SummaryWriter(log_dir=str(run_dir))
        finally:
            efw.time = real

    def _add(self, role, value, step, gstep):
        if role in self.tags and value is not None:
            self.w.add_scalar(self.tags[role], float(value), int(step), walltime=T0 + DT * gstep)
            self._keep(role, step, value)

    def batch_end(self, gstep, epoch, m):
        if self.per_epoch or gstep % self.every:
            return
        for role in ("loss", "acc", "lr", "grad_norm", "loss_scale"):
            if role == "loss" or role in self.roles:
                self._add(role, m.get(role), gstep, gstep)

    def epoch_end(self, epoch, gstep_last, train, val, lr, stopped):
        if self.per_epoch:
            self._add("loss", train.get("loss"), epoch, gstep_last)
            if "acc" in self.roles:
                self._add("acc", train.get("acc"), epoch, gstep_last)
            if "lr" in self.roles:
                self._add("lr", lr, epoch, gstep_last)
        step = epoch if self.per_epoch else gstep_last
        for role in ("val_loss", "val_acc"):
            if role in val:
                self._add(role, val[role], step, gstep_last)

    def close(self):
        self.w.close()
        for f in sorted(self.run_dir.glob("events.out.tfevents.*")):  # name carries time, host, pid
            f.rename(self.run_dir / f"events.out.tfevents.{int(T0)}.nandoctor-corpus.{self.spec.seed}.0")


class LightningWriter(Writer):
    """lightning.pytorch.loggers.CSVLogger, fed as the Trainer feeds it.

    log: every (log_every_n_steps, default 50), names (train_loss | slash), lr_monitor (step|epoch|None),
    roles (extra on_step-only keys: grad_norm, loss_scale), epoch_metrics (bool: also *_epoch rows).
    Train step rows go at step i when (i+1) % n == 0 with the epoch; validation rows and the
    *_epoch row at the epoch's last step; LearningRateMonitor rows (`lr-Adam`) with no epoch.
    """

    def __init__(self, spec, run_dir, spe):
        super().__init__(spec, run_dir, spe)
        from lightning.pytorch.loggers import CSVLogger

        o = spec.log
        self.every = o.get("every", 50)
        self.lr_monitor = o.get("lr_monitor")
        self.roles = set(o.get("roles", ()))
        self.slash = o.get("names") == "slash"
        self.epoch_metrics = o.get("epoch_metrics", True)
        self.logger = CSVLogger(save_dir=str(run_dir.parent), name=run_dir.name, version="")
        self.logger.log_hyperparams({"lr": spec.lr, "batch_size": spec.batch, "optimizer": OPT_NAMES[spec.opt],
                                     "max_epochs": spec.epochs, "seed": spec.seed})
        self.lr_key = f"lr-{OPT_NAMES[spec.opt]}"

    def _k(self, base, suffix=""):
        if self.slash:
            head, _, tail = base.partition("_")
            return f"{head}/{tail}{suffix}"
        return base + suffix

    def _log(self, metrics: dict, step: int):
        self.logger.log_metrics(metrics, step=step)

    def epoch_begin(self, epoch, gstep, lr):
        if self.lr_monitor == "epoch":
            self._log({self.lr_key: lr}, gstep)
            self._keep("lr", gstep, lr)

    def batch_begin(self, gstep, lr):
        if self.lr_monitor == "step" and (gstep + 1) % self.every == 0:
            self._log({self.lr_key: lr}, gstep)
            self._keep("lr", gstep, lr)

    def batch_end(self, gstep, epoch, m):
        if (gstep + 1) % self.every:
            return
        row = {"epoch": epoch, self._k("train_loss", "_step" if self.epoch_metrics else ""): m["loss"]}
        self._keep("loss", gstep, m["loss"])
        if "acc" in self.roles and m.get("acc") is not None:
            row[self._k("train_acc", "_step" if self.epoch_metrics else "")] = m["acc"]
            self._keep("acc", gstep, m["acc"])
        for role in ("grad_norm", "loss_scale"):
            if role in self.roles:
                row[role] = m[role]
                self._keep(role, gstep, m[role])
        self._log(row, gstep)

    def epoch_end(self, epoch, gstep_last, train, val, lr, stopped):
        if val:
            row = {"epoch": epoch, self._k("val_loss"): val["val_loss"]}
            if "val_acc" in val:
                row[self._k("val_acc")] = val["val_acc"]
            self._log(row, gstep_last)
            self._keep("val_loss", gstep_last, val["val_loss"])
        if self.epoch_metrics:
            row = {"epoch": epoch, self._k("train_loss", "_epoch"): train["loss"]}
            if "acc" in self.roles and train.get("acc") is not None:
                row[self._k("train_acc", "_epoch")] = train["acc"]
            self._log(row, gstep_last)
            self._keep("loss_epoch", epoch, train["loss"])

    def close(self):
        self.logger.save()
        self.logger.finalize("success")


class KerasWriter(Writer):
    """keras.callbacks.CSVLogger, fed per epoch as `Model.fit` feeds it.

    Values are Keras's running means over the epoch's batches (float32); `val_*` from the
    validation pass; `learning_rate` when a LearningRateScheduler is in use. log: file name, metrics.
    """

    def __init__(self, spec, run_dir, spe):
        super().__init__(spec, run_dir, spe)
        import keras

        self.cb = keras.callbacks.CSVLogger(str(run_dir / spec.log.get("file", "training.log")))
        self.cb.on_train_begin()
        self.metric = spec.log.get("metric", "accuracy")

    def epoch_end(self, epoch, gstep_last, train, val, lr, stopped):
        logs = {"loss": train["loss"]}
        if train.get("acc") is not None and self.metric:
            logs[self.metric] = train["acc"]
        if val:
            logs["val_loss"] = val["val_loss"]
            if "val_acc" in val and self.metric:
                logs["val_" + self.metric] = val["val_acc"]
        if self.spec.sched and self.spec.sched.startswith("keras_"):
            logs["learning_rate"] = float(np.float32(lr))
            self._keep("lr", epoch, logs["learning_rate"])
        self.cb.on_epoch_end(epoch, logs)
        self._keep("loss_epoch", epoch, logs["loss"])
        if "accuracy" in logs or "acc" in logs:
            self._keep("acc", epoch, logs.get(self.metric))
        if val:
            self._keep("val_loss", epoch, val["val_loss"])

    def close(self):
        self.cb.on_train_end()


WRITERS = {"tensorboard": TensorBoardWriter, "lightning_csv": LightningWriter, "keras_csv": KerasWriter}


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------

class _Mean:
    """Keras/Lightning-style running mean, float32, weighted by batch size."""

    def __init__(self):
        self.total, self.count = np.float32(0.0), np.float32(0.0)

    def add(self, value: float, weight: int) -> None:
        with np.errstate(all="ignore"):
            self.total = np.float32(self.total + np.float32(value) * np.float32(weight))
        self.count = np.float32(self.count + weight)

    def result(self) -> float:
        with np.errstate(all="ignore"):
            return float(np.float32(self.total / self.count)) if self.count else float("nan")


def evaluate(model, data: Data, loss_fn, amp: bool) -> dict:
    import torch

    model.eval()
    with torch.no_grad():
        x = data.xva.to(next(model.parameters()).dtype)
        if amp:
            with torch.autocast("cpu", dtype=torch.float16):
                out = model(x)
        else:
            out = model(x)
        loss = float(loss_fn(out, data.yva))
    model.train()
    res = {"val_loss": float(np.float32(loss))}
    acc = accuracy(out, data.yva, data.kind)
    if acc is not None:
        res["val_acc"] = float(np.float32(acc))
    return res


def train(spec: Spec, run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Train for real, log as the spec says; return what was logged, by role."""
    import torch

    torch.manual_seed(spec.seed)
    torch.set_num_threads(1)
    data = load_data(spec)
    model = build_model(spec, data)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(spec, params)
    loss_fn = make_loss(spec.loss)
    n = len(data.xtr)
    spe = math.ceil(n / spec.batch)
    sched = Schedule(spec, opt, spe, n)
    scaler = LossScaler(**spec.amp) if spec.amp else None
    writer = WRITERS[spec.fmt](spec, run_dir, spe)
    gen = torch.Generator().manual_seed(spec.seed)
    dtype = next(model.parameters()).dtype
    inj = spec.inject
    keras_stop = spec.log.get("terminate_on_nan", False)
    labelled = None
    if "labelled_frac" in inj:  # which training samples carry a label: fixed per data set copy
        labelled = torch.rand(n, generator=torch.Generator().manual_seed(spec.seed + 1)) < inj["labelled_frac"]

    gstep, first_bad, stop = 0, None, False
    for epoch in range(spec.epochs):
        if "lr_jump" in inj and epoch == inj["lr_jump"]["epoch"]:  # resumed with a wrong (larger) lr
            for g in opt.param_groups:
                g["lr"] = g["lr"] * inj["lr_jump"]["factor"]
        if "seq_curriculum" in inj:
            plan = inj["seq_curriculum"]
            seq_len = plan[min(epoch, len(plan) - 1)]
        sched.on_epoch_begin(epoch)
        writer.epoch_begin(epoch, gstep, sched.lr())
        loss_mean, acc_mean = _Mean(), _Mean()
        perm = torch.randperm(n, generator=gen)
        for b in range(spe):
            idx = perm[b * spec.batch:(b + 1) * spec.batch]
            xb, yb = data.xtr[idx].to(dtype), data.ytr[idx]
            if "seq_curriculum" in inj:  # sequence-length curriculum: the last L time steps
                xb = xb[:, -seq_len:]
            if inj.get("poison_step") == gstep:  # one corrupt record reaches the model
                xb = xb.clone()
                xb[0] = float("nan")
            if labelled is not None:  # semi-supervised: unlabelled targets are ignore_index
                yb = torch.where(labelled[idx], yb, torch.full_like(yb, -100))
            writer.batch_begin(gstep, sched.lr())
            lr_now = sched.lr()
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                with torch.autocast("cpu", dtype=torch.float16):
                    out = model(xb)
                    loss = loss_fn(out, yb)
                gnorm, _ = scaler.backward_and_step(loss, params, opt, spec.clip)
            else:
                out = model(xb)
                loss = (torch.nn.functional.cross_entropy(out.float(), yb, ignore_index=-100)
                        if labelled is not None else loss_fn(out, yb))
                loss.backward()
                gnorm = float(torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None]))
                if spec.clip:
                    torch.nn.utils.clip_grad_norm_(params, spec.clip)
                opt.step()
            sched.on_step()
            lv = float(loss.detach().float())
            acc = accuracy(out, data.ytr[idx], data.kind)
            m = {"loss": lv, "acc": acc, "lr": lr_now, "grad_norm": gnorm,
                 "loss_scale": float(scaler.scale) if scaler is not None else None}
            loss_mean.add(lv, len(idx))
            if acc is not None:
                acc_mean.add(acc, len(idx))
            writer.batch_end(gstep, epoch, m)
            if not math.isfinite(lv) and first_bad is None:
                first_bad = gstep
            gstep += 1
            if first_bad is not None and keras_stop:  # TerminateOnNaN: stop after this batch
                stop = True
                break
            if first_bad is not None and spec.stop_after_nonfinite is not None and gstep - first_bad > spec.stop_after_nonfinite:
                stop = True
                break
        train_m = {"loss": loss_mean.result(), "acc": acc_mean.result() if data.kind != "regression" else None}
        val_data = data
        if "seq_curriculum" in inj:
            val_data = Data(data.xtr, data.ytr, data.xva[:, -seq_len:], data.yva, data.kind, data.n_classes, data.in_dim)
        val_m = evaluate(model, val_data, loss_fn, scaler is not None) if spec.val else {}
        writer.epoch_end(epoch, gstep - 1, train_m, val_m, sched.lr(), stop)
        sched.on_epoch_end()
        if stop:
            break
    writer.close()
    return {k: v for k, v in writer.logged.items()}


# ----------------------------------------------------------------------------------------------
# The runs
# ----------------------------------------------------------------------------------------------

def diabetes_gd_threshold() -> float:
    """2 / lambda_max of the MSE Hessian of linear regression on standardised diabetes: GD is stable below it."""
    spec = Spec(label="", name="", fmt="", injection="", data="diabetes")
    data = load_data(spec)
    x = np.c_[data.xtr.numpy().astype(np.float64), np.ones(len(data.xtr))]
    return float(2.0 / np.linalg.eigvalsh(2.0 * x.T @ x / len(x))[-1])


def build_specs() -> list[Spec]:
    thr = diabetes_gd_threshold()  # about 0.2409
    specs: list[Spec] = []

    def add(label, name, fmt, injection, **kw):
        specs.append(Spec(label=label, name=name, fmt=fmt, injection=injection, **kw))

    TB, PL, KE = "tensorboard", "lightning_csv", "keras_csv"
    digits_img, digits_rows, digits_px = {"shape": "img"}, {"shape": "rows"}, {"shape": "pixels"}
    mom9 = {"momentum": 0.9}

    # ---- healthy: sane settings, every logger style (the false-alarm traps are here too)
    H = "healthy"
    add(H, "mlp-digits-sgdm-tb-every-step", TB, "none (sane lr, weight decay 1e-3)", seed=1, opt_opts={"momentum": 0.9, "weight_decay": 1e-3},
        lr=0.05, epochs=12, log={"roles": ["lr", "grad_norm", "acc"]})
    add(H, "cnn-digits-adam-lightning", PL, "none", seed=2, model="cnn", data_opts=digits_img, opt="adam", lr=1e-3, epochs=10,
        log={"every": 20, "lr_monitor": "step", "roles": ["acc"]})
    add(H, "gru-digit-rows-adam-keras", KE, "none", seed=3, model="gru", data_opts=digits_rows, opt="adam", lr=3e-3, epochs=12)
    add(H, "logreg-digits-sgd-tb-per-epoch", TB, "none", seed=4, model="logreg", lr=0.5, epochs=30, log={"per_epoch": True, "tags": "caps"})
    add(H, "mlp-moons-rmsprop-keras", KE, "none", seed=5, data="moons", model_opts={"hidden": [32, 32]}, loss="bce", opt="rmsprop",
        lr=1e-3, epochs=40, batch=16)
    add(H, "tanh-mlp-circles-adagrad-lightning", PL, "none", seed=6, data="circles", model_opts={"hidden": [32, 32], "act": "tanh"},
        loss="bce", opt="adagrad", lr=0.05, epochs=40, log={"every": 10, "lr_monitor": "epoch"})
    add(H, "mlp-cancer-adam-tb", TB, "none", seed=7, data="cancer", model_opts={"hidden": [32]}, loss="bce", opt="adam", lr=1e-3,
        epochs=40, batch=16, log={"tags": "caps", "every": 5})
    add(H, "mlp-diabetes-adam-keras", KE, "none (regression, standardised targets)", seed=8, data="diabetes", model_opts={"hidden": [16]},
        loss="mse", opt="adam", lr=3e-3, opt_opts={"weight_decay": 1e-2}, epochs=30, batch=16, log={"metric": None}, check={"max_ratio": 0.8})
    add(H, "mlp-digits-fp16-loss-scale-tb", TB, "none (fp16 autocast + dynamic loss scaling; isolated halvings are normal)", seed=9,
        model_opts={"hidden": [128, 64]}, opt_opts={"momentum": 0.9, "weight_decay": 1e-3}, lr=0.05, epochs=10,
        amp={"growth_interval": 50}, log={"roles": ["loss_scale"], "every": 5})
    add(H, "mlp-digits-adam-warmup-cosine-lightning", PL, "none (linear warmup 5% then cosine to 0)", seed=10, model_opts={"hidden": [128]},
        opt="adam", lr=3e-3, sched="cosine_warmup", epochs=15, log={"every": 10, "lr_monitor": "step", "names": "slash"})
    add(H, "rnn-digit-rows-clipped-tb", TB, "none (grad clipping at 1.0; grad_norm logged before clipping)", seed=11, model="rnn",
        data_opts=digits_rows, opt_opts={"momentum": 0.9, "weight_decay": 1e-3}, lr=0.05, clip=1.0, epochs=10, log={"roles": ["grad_norm"], "every": 10})
    add(H, "cnn-digits-step-decay-keras", KE, "none (LearningRateScheduler halving every 5 epochs)", seed=12, model="cnn",
        data_opts=digits_img, opt_opts=mom9, lr=0.05, sched="keras_step_decay", sched_opts={"every": 5}, epochs=15)
    add(H, "mlp-classif-rmsprop-lightning-step-only", PL, "none", seed=13, data="classif", model_opts={"hidden": [64, 64]}, opt="rmsprop",
        lr=1e-3, epochs=20, batch=64, log={"every": 10, "epoch_metrics": False})
    add(H, "mlp-classif-adam-steplr-tb", TB, "none (StepLR x0.3 every 10 epochs)", seed=14, data="classif", model_opts={"hidden": [64]},
        opt="adam", lr=3e-3, sched="step_epoch", epochs=30, batch=64, log={"tags": "plain", "every": 25, "roles": ["lr"]},
        check={"max_ratio": 0.75})
    add(H, "logreg-cancer-sgd-keras", KE, "none", seed=15, data="cancer", model="logreg", loss="bce", lr=0.1, epochs=30)
    add(H, "lstm-digit-rows-adam-lightning", PL, "none", seed=16, model="lstm", data_opts=digits_rows, opt="adam", lr=3e-3, epochs=12,
        log={"every": 20, "lr_monitor": "step", "roles": ["grad_norm"]})

    # ---- lr_too_high: 10-1000x too large, the loss grows and blows up
    L = "lr_too_high"
    add(L, "relu-mlp3-digits-sgd-lr10-tb", TB, "SGD lr 10 (about 100x a working 0.1): weights blow up", seed=0,
        model_opts={"hidden": [128, 128, 128]}, lr=10.0, epochs=3, log={"roles": ["lr"]}, stop_after_nonfinite=40)
    add(L, "linreg-diabetes-gd-lr1.5-tb", TB, f"full-batch GD lr 1.5 = {1.5 / thr:.1f}x the stability limit 2/lambda_max", seed=22,
        data="diabetes", model="logreg", loss="mse", lr=1.5, batch=400, epochs=60, log={"tags": "caps"}, stop_after_nonfinite=20)
    add(L, "tanh-mlp-digits-sgdm-lr5-lightning", PL, "SGD momentum 0.9, lr 5 (about 100x too high)", seed=23,
        model_opts={"hidden": [64, 64], "act": "tanh"}, opt_opts=mom9, lr=5.0, epochs=6, log={"every": 2})
    add(L, "linreg-diabetes-sgd-lr0.26-keras", KE, f"mini-batch SGD lr {1.1 * thr:.3g} (1.1x the GD stability limit), no normalisation of the step",
        seed=24, data="diabetes", model="logreg", loss="mse", lr=round(1.1 * thr, 4), batch=64, epochs=60,
        log={"metric": None, "terminate_on_nan": True})
    add(L, "logreg-digits-sgdm-lr50-tb", TB, "SGD momentum 0.9 lr 50 on logistic regression (about 100x too high)", seed=25,
        model="logreg", opt_opts=mom9, lr=50.0, epochs=3, log={"tags": "plain"})
    add(L, "mlp-diabetes-rmsprop-lr0.5-lightning", PL, "RMSprop lr 0.5 (about 500x the usual 1e-3)", seed=26, data="diabetes",
        model_opts={"hidden": [64, 64]}, loss="mse", opt="rmsprop", lr=0.5, epochs=8, batch=16, log={"every": 1})

    # ---- divergence: trains, then the loss rises and stays worse, all finite
    D = "divergence"
    add(D, "linreg-diabetes-gd-edge-keras", KE, "full-batch GD at 1.004x the stability limit: one direction slowly diverges",
        seed=31, data="diabetes", model="logreg", loss="mse", lr=round(1.004 * thr, 5), batch=400, epochs=150, val=False, log={"metric": None})
    add(D, "linreg-diabetes-gd-edge-tb", TB, "full-batch GD at 1.006x the stability limit", seed=32, data="diabetes", model="logreg",
        loss="mse", lr=round(1.006 * thr, 5), batch=400, epochs=250, log={"tags": "caps"})
    add(D, "mlp-noisy-classif-lr-raised-lightning", PL, "resumed at epoch 10 with lr x20 (0.05 -> 1.0); lr not logged", seed=33,
        data="classif", data_opts={"flip_y": 0.3}, model_opts={"hidden": [32]}, opt_opts=mom9, lr=0.05,
        inject={"lr_jump": {"epoch": 10, "factor": 20}}, epochs=40, batch=64, log={"every": 10})
    add(D, "gru-digit-pixels-sgdm-keras", KE, "SGD momentum lr 0.5 on a GRU over 64 time steps, no clipping: trains then worsens", seed=0,
        model="gru", data_opts=digits_px, model_opts={"hidden": 64}, opt_opts=mom9, lr=0.5, epochs=20, batch=64)
    add(D, "mlp-noisy-classif-lr-raised-tb", TB, "resumed at epoch 10 with lr x12 (0.05 -> 0.6); lr not logged", seed=35,
        data="classif", data_opts={"flip_y": 0.3}, model_opts={"hidden": [32]}, opt_opts=mom9, lr=0.05,
        inject={"lr_jump": {"epoch": 10, "factor": 12}}, epochs=40, batch=64, log={"every": 5, "tags": "slash"})

    # ---- sudden_nan: finite and steady, then NaN with no growth
    N = "sudden_nan"
    add(N, "mlp-digits-poisoned-batch-tb", TB, "one record of the batch at step 700 is NaN (a corrupt sample)", seed=41,
        opt_opts=mom9, lr=0.05, inject={"poison_step": 700}, epochs=25, log={"roles": ["grad_norm"]}, stop_after_nonfinite=100)
    add(N, "mlp-cancer-bce-by-hand-lightning", PL, "hand-written BCE -(y log p + (1-y) log(1-p)): 0*log(0) = NaN once p rounds to 1",
        seed=42, data="cancer", model_opts={"hidden": [64]}, loss="bce_by_hand", opt="adam", lr=3e-3, epochs=40, batch=16,
        log={"every": 10})
    add(N, "mlp-digits-empty-labelled-batch-tb", TB, "semi-supervised CE over the labelled 30% (ignore_index): a batch with none is 0/0 = NaN",
        seed=43, model_opts={"hidden": [128]}, opt="adam", lr=1e-3, inject={"labelled_frac": 0.3}, batch=16, epochs=8,
        log={"tags": "plain"})
    add(N, "mlp-digits-batch-std-size1-tb", TB, "a batch-standardising layer (x.std(0)) meets a last batch of 1 sample: std = NaN",
        seed=44, model_opts={"hidden": [64], "batch_std": True}, lr=0.1, data_opts={"n_train": 1281}, batch=32, epochs=4,
        log={"tags": "caps"}, stop_after_nonfinite=60)
    add(N, "cnn-digits-poisoned-batch-keras", KE, "one record at step 450 (epoch 10) is NaN; TerminateOnNaN stops the run", seed=45,
        model="cnn", data_opts=digits_img, opt="adam", lr=1e-3, inject={"poison_step": 450}, batch=32, epochs=14,
        log={"terminate_on_nan": True})
    add(N, "mlp-cancer-bce-by-hand-keras", KE, "hand-written BCE: 0*log(0) = NaN once a logit passes ~17 (p rounds to 1)", seed=46,
        data="cancer", model_opts={"hidden": [64]}, loss="bce_by_hand", opt="adam", lr=3e-3, epochs=40, batch=16)

    # ---- bad_input: the data, targets or loss set-up are wrong from the first step
    B = "bad_input"
    add(B, "mlp-digits-zscore-no-eps-tb", TB, "z-score without epsilon: always-zero pixel columns become 0/0 = NaN", seed=51,
        data_opts={"prep": "zscore_no_eps"}, lr=0.1, epochs=3, stop_after_nonfinite=60)
    add(B, "linreg-diabetes-raw-units-keras", KE, "raw inputs and targets (no standardisation), SGD lr 0.1", seed=52, data="diabetes",
        data_opts={"prep": "raw", "y_prep": "raw"}, model_opts={"hidden": [32]}, loss="mse", lr=0.1, batch=16, epochs=15,
        log={"metric": None}, check={"absurd_over": 1e6})
    add(B, "mlp-digits-class-ids-into-bce-lightning", PL, "class ids 0..9 fed as targets to a one-logit binary cross-entropy", seed=53,
        model_opts={"out_dim": 1}, loss="bce_on_class_ids", opt="adam", lr=1e-3, epochs=15, log={"every": 20})
    add(B, "mlp-digits-log-features-keras", KE, "log() of pixel counts that contain 0: -inf inputs", seed=54, data_opts={"prep": "log"},
        opt="adam", lr=1e-3, epochs=5, val=False)
    add(B, "logreg-cancer-unscaled-tb", TB, "unscaled features (values up to ~4000) into logistic regression", seed=55, data="cancer",
        data_opts={"prep": "raw"}, model="logreg", loss="bce", lr=0.01, epochs=10, log={"tags": "caps"}, check={"absurd_over": 10})
    add(B, "mlp-digits-mse-on-softmax-sgd-tb", TB, "a 10-class classifier trained with MSE on its softmax outputs (one-hot targets)", seed=57,
        loss="mse_on_softmax", opt_opts=mom9, lr=0.05, epochs=15, log={"roles": ["acc"]}, check={"below_ce_bound": True})
    add(B, "cnn-digits-mae-on-softmax-keras", KE, "loss='mean_absolute_error' on a softmax classifier (one-hot targets)", seed=58,
        model="cnn", data_opts=digits_img, loss="mae_on_softmax", opt="adam", lr=1e-3, epochs=15, check={"below_ce_bound": True})
    add(B, "mlp-diabetes-nan-targets-tb", TB, "5% of the targets are NaN (missing values left in the label column)", seed=56,
        data="diabetes", data_opts={"nan_targets": 0.05}, loss="mse", opt="adam", lr=1e-3, epochs=10, log={"tags": "plain"})

    # ---- bad_init: weights with a huge std, first loss far above ln C
    I = "bad_init"
    add(I, "mlp-digits-std3-sgd-tb", TB, "every weight ~ N(0, 3^2) (He init would be ~0.18)", seed=61, model_opts={"init_std": 3.0},
        lr=0.01, epochs=15)
    add(I, "cnn-digits-std1-adam-lightning", PL, "every conv/linear weight ~ N(0, 1)", seed=62, model="cnn", data_opts=digits_img,
        model_opts={"init_std": 1.0}, opt="adam", lr=1e-3, epochs=10, log={"every": 10})
    add(I, "logreg-classif-std20-keras", KE, "weights ~ N(0, 20^2)", seed=63, data="classif", model="logreg",
        model_opts={"init_std": 20.0}, lr=0.01, epochs=20, check={"classes": 4})
    add(I, "tanh-mlp-digits-std5-adam-tb", TB, "every weight ~ N(0, 5^2): tanh units saturated", seed=64,
        model_opts={"init_std": 5.0, "act": "tanh", "hidden": [128, 128]}, opt="adam", lr=1e-3, epochs=20, log={"every": 5, "tags": "caps"})
    add(I, "mlp-moons-std4-rmsprop-keras", KE, "every weight ~ N(0, 4^2)", seed=65, data="moons", model_opts={"hidden": [32, 32], "init_std": 4.0},
        loss="bce", opt="rmsprop", lr=1e-3, epochs=20, check={"classes": 2})

    # ---- lr_schedule_bug: the logged lr goes NaN / negative / to zero / never stops warming up
    S = "lr_schedule_bug"
    add(S, "mlp-digits-poly-missing-max-iter-tb", TB, "poly schedule (1 - it/max_iter)^0.9 with max_iter left at 0: lr = nan, inf",
        seed=71, opt_opts=mom9, lr=0.05, sched="poly_missing_max_iter", epochs=4, log={"roles": ["lr"]}, stop_after_nonfinite=150)
    add(S, "mlp-digits-linear-decay-wrong-horizon-lightning", PL, "linear decay to 0 over 3 epochs (meant: the whole run), lr goes negative",
        seed=72, opt_opts=mom9, lr=0.05, sched="linear_decay_wrong_total", sched_opts={"horizon_epochs": 3}, epochs=12,
        log={"every": 10, "lr_monitor": "step"})
    add(S, "cnn-digits-warmup-in-samples-tb", TB, "warmup length counted in samples, not steps: lr rises for the whole run", seed=73,
        model="cnn", data_opts=digits_img, opt_opts=mom9, lr=0.1, sched="warmup_in_samples", epochs=10,
        log={"every": 5, "roles": ["lr"], "tags": "caps"})
    add(S, "mlp-classif-steplr-per-batch-lightning", PL, "StepLR(step_size=5, gamma=0.5) meant per epoch, stepped per batch", seed=74,
        data="classif", model_opts={"hidden": [64]}, opt="adam", lr=0.01, sched="steplr_per_batch",
        sched_opts={"step_size": 5, "gamma": 0.5}, epochs=15, log={"every": 10, "lr_monitor": "step"})
    add(S, "gru-digit-rows-decay-every-epoch-keras", KE, "LearningRateScheduler: `epoch % 1` instead of `epoch % 10`, lr x0.1 every epoch",
        seed=75, model="gru", data_opts=digits_rows, opt="adam", lr=0.01, sched="keras_decay_every_epoch", epochs=15)
    add(S, "mlp-moons-linear-lr-goes-negative-keras", KE, "LearningRateScheduler lr0 - 0.01*epoch with no floor: negative from epoch 11",
        seed=76, data="moons", model_opts={"hidden": [32, 32]}, loss="bce", opt_opts=mom9, lr=0.1,
        sched="keras_linear_goes_negative", sched_opts={"rate": 0.01}, epochs=30)

    # ---- loss_scale_overflow: a dynamic loss scaler (GradScaler algorithm) with real fp16 overflow
    O = "loss_scale_overflow"
    add(O, "mlp-digits-fp16-lr-raised-tb", TB, "fp16 autocast; resumed at epoch 4 with lr x60: activations overflow fp16, every step skipped",
        seed=0, model_opts={"hidden": [64, 64]}, opt_opts=mom9, lr=0.05, inject={"lr_jump": {"epoch": 4, "factor": 60}}, epochs=8,
        amp={"growth_interval": 100}, log={"roles": ["loss_scale", "grad_norm"]})
    add(O, "linreg-diabetes-fp16-gd-edge-lightning", PL, "fp16 autocast, GD at 1.02x the stability limit: gradients outgrow every scale",
        seed=82, data="diabetes", model="logreg", loss="mse", lr=round(1.02 * thr, 4), batch=400, epochs=500,
        amp={"growth_interval": 100}, log={"every": 5, "roles": ["loss_scale"]})
    add(O, "relu-mlp3-digits-fp16-sgd-lr10-tb", TB, "fp16 autocast, SGD lr 10: activations pass 65504", seed=83,
        model_opts={"hidden": [128, 128, 128]}, lr=10.0, epochs=2, amp={"growth_interval": 100},
        log={"roles": ["loss_scale"], "tags": "caps"})
    add(O, "mlp-diabetes-fp16-gd-lr0.5-lightning", PL, "fp16 autocast, full-batch GD lr 0.5 on an MLP: activations pass 65504",
        seed=86, data="diabetes", model_opts={"hidden": [32]}, loss="mse", lr=0.5, batch=400, epochs=100, amp={"growth_interval": 100},
        log={"every": 2, "roles": ["loss_scale"]})
    add(O, "mlp-diabetes-fp16-gd-lr0.5-tb", TB, "fp16 autocast, full-batch GD lr 0.5 on an MLP: activations pass 65504", seed=85,
        data="diabetes", model_opts={"hidden": [64]}, loss="mse", lr=0.5, batch=400, epochs=100, amp={"growth_interval": 100},
        log={"roles": ["loss_scale"], "tags": "plain"})

    # ---- exploding_gradients: ReLU RNN (IRNN) over 64 time steps, no clipping, grad_norm logged
    E = "exploding_gradients"
    irnn = lambda r, h=32: {"hidden": h, "nonlinearity": "relu", "recurrent_init": "identity", "recurrent_radius": r}
    add(E, "irnn-digit-pixels-sgdm-tb", TB, "ReLU RNN, recurrent weights 0.9*I, SGD momentum 0.5 lr 0.02, no clipping", seed=0,
        model="rnn", data_opts=digits_px, model_opts=irnn(0.9), opt_opts={"momentum": 0.5}, lr=0.02, epochs=6,
        log={"roles": ["grad_norm"]}, stop_after_nonfinite=30)
    add(E, "irnn-digit-pixels-sgd-r0.93-tb", TB, "ReLU RNN, recurrent weights 0.93*I, SGD lr 0.02, no clipping", seed=0,
        model="rnn", data_opts=digits_px, model_opts=irnn(0.93), lr=0.02, epochs=6, log={"roles": ["grad_norm"], "tags": "caps"},
        stop_after_nonfinite=30)
    add(E, "irnn-digit-pixels-sgd-r0.95-lightning", PL, "ReLU RNN, recurrent weights 0.95*I, SGD lr 0.02, no clipping", seed=0,
        model="rnn", data_opts=digits_px, model_opts=irnn(0.95), lr=0.02, epochs=6, log={"every": 1, "roles": ["grad_norm"]},
        stop_after_nonfinite=30)
    add(E, "irnn-digit-pixels-sgdm-lr0.03-lightning", PL, "ReLU RNN, recurrent weights 0.9*I, SGD momentum 0.5 lr 0.03, no clipping",
        seed=0, model="rnn", data_opts=digits_px, model_opts=irnn(0.9), opt_opts={"momentum": 0.5}, lr=0.03, epochs=6,
        log={"every": 1, "roles": ["grad_norm"]}, stop_after_nonfinite=30)
    add(E, "irnn-digit-pixels-sgd-lr0.01-tb", TB, "ReLU RNN, recurrent weights 0.93*I, SGD lr 0.01, no clipping", seed=0,
        model="rnn", data_opts=digits_px, model_opts=irnn(0.93), lr=0.01, epochs=6, log={"roles": ["grad_norm"], "tags": "plain"},
        stop_after_nonfinite=30)

    # ---- vanishing_or_stalled: nothing moves
    V = "vanishing_or_stalled"
    add(V, "deep-sigmoid-mlp-digits-tb", TB, "10 sigmoid layers, SGD lr 0.05: gradients vanish", seed=91,
        model_opts={"hidden": [32] * 10, "act": "sigmoid"}, lr=0.05, epochs=10, log={"every": 2, "roles": ["grad_norm"]})
    add(V, "cnn-digits-lr1e-7-lightning", PL, "Adam lr 1e-7 (10^4 x too small)", seed=92, model="cnn", data_opts=digits_img, opt="adam",
        lr=1e-7, epochs=8, log={"every": 10, "lr_monitor": "epoch"})
    add(V, "mlp-diabetes-dead-relu-output-keras", KE, "ReLU on the regression output with bias -3: the output is 0 for every input",
        seed=93, data="diabetes", model_opts={"hidden": [32], "out_act": "relu", "out_bias": -3.0}, loss="mse", opt="adam", lr=1e-3,
        epochs=40, batch=16, log={"metric": None})
    add(V, "mlp-digits-pure-bf16-adam-tb", TB, "weights and Adam state in bfloat16, lr 1e-4: updates below half the bf16 spacing round "
        "away (the same run in float32 falls 2.27 -> 1.46)", seed=94, model_opts={"hidden": [64], "dtype": "bfloat16"}, opt="adam",
        lr=1e-4, epochs=20, log={"every": 5, "tags": "caps"})
    add(V, "gru-digit-rows-lr1e-5-keras", KE, "SGD lr 1e-5 on a GRU", seed=95, model="gru", data_opts=digits_rows, lr=1e-5, epochs=10)
    add(V, "logreg-classif-sgd-lr1e-6-lightning", PL, "SGD lr 1e-6", seed=96, data="classif", model="logreg", lr=1e-6, epochs=10,
        log={"every": 10, "lr_monitor": "step"})

    # ---- saturated_output: probabilities clipped, loss pinned at -log(eps) x (1 - accuracy)
    T = "saturated_output"
    add(T, "tanh-mlp-digits-caffe-softmax-tb", TB, "Caffe SoftmaxWithLoss (prob clamped at FLT_MIN), SGD momentum lr 5: logits blow up",
        seed=101, model_opts={"hidden": [64, 64], "act": "tanh"}, loss="caffe_softmax", opt_opts=mom9, lr=5.0, epochs=6,
        log={"roles": ["acc"]}, check={"clip": "caffe"})
    add(T, "tanh-mlp-digits-keras-ce-keras", KE, "softmax + categorical_crossentropy on probabilities (clip 1e-7), SGD momentum lr 5",
        seed=102, model_opts={"hidden": [64, 64], "act": "tanh"}, loss="keras_categorical", opt_opts=mom9, lr=5.0, epochs=15,
        check={"clip": "keras"})
    add(T, "mlp-classif-keras-ce-rmsprop-tb", TB, "softmax probabilities + clipped log (Keras style), RMSprop lr 0.5", seed=103,
        data="classif", model_opts={"hidden": [64, 64]}, loss="keras_categorical", opt="rmsprop", lr=0.5, epochs=15,
        log={"every": 5, "tags": "plain", "roles": ["acc"]}, check={"clip": "keras"})
    add(T, "tanh-mlp-digits-keras-ce-rmsprop-lightning", PL, "softmax probabilities + clipped log (Keras style), RMSprop lr 0.3",
        seed=104, model_opts={"hidden": [64], "act": "tanh"}, loss="keras_categorical", opt="rmsprop", lr=0.3, epochs=10,
        log={"every": 20, "roles": ["acc"]}, check={"clip": "keras"})
    add(T, "mlp-moons-keras-bce-adam-keras", KE, "sigmoid + binary_crossentropy on probabilities (clip 1e-7), Adam lr 1.0", seed=0,
        data="moons", model_opts={"hidden": [32, 32]}, loss="keras_binary", opt="adam", lr=1.0, epochs=20, check={"clip": "keras"})
    add(T, "tanh-mlp-digits-caffe-softmax-lightning", PL, "Caffe SoftmaxWithLoss (FLT_MIN clamp), SGD momentum lr 5", seed=106,
        model_opts={"hidden": [64, 64], "act": "tanh"}, loss="caffe_softmax", opt_opts=mom9, lr=5.0, epochs=6,
        log={"every": 5, "roles": ["acc"]}, check={"clip": "caffe"})

    # ---- overfitting: tiny noisy train subset, big model, long training, validation logged
    F = "overfitting"
    add(F, "mlp-classif-120-samples-lightning", PL, "120 training samples, 2x256 MLP, 150 epochs", seed=111, data="classif",
        data_opts={"n_train": 120}, model_opts={"hidden": [256, 256]}, opt="rmsprop", lr=1e-3, epochs=150, batch=20, log={"every": 6})
    add(F, "gru-digit-rows-150-samples-keras", KE, "150 training samples, GRU 128, 120 epochs", seed=112, model="gru",
        data_opts={"n_train": 150, "shape": "rows"}, model_opts={"hidden": 128}, opt="adam", lr=3e-3, epochs=120, batch=25)
    add(F, "mlp-noisy-moons-60-samples-tb", TB, "60 noisy training samples, 2x256 MLP, 200 epochs", seed=113, data="moons",
        data_opts={"n_train": 60, "noise": 0.35}, model_opts={"hidden": [256, 256]}, loss="bce", opt="adam", lr=3e-3, epochs=200,
        batch=20, log={"per_epoch": True, "tags": "caps"})
    add(F, "mlp-classif-100-samples-tb", TB, "100 training samples, 2x256 MLP, 150 epochs", seed=114, data="classif",
        data_opts={"n_train": 100, "data_seed": 1}, model_opts={"hidden": [256, 256]}, opt="adam", lr=1e-3, epochs=150, batch=20,
        log={"every": 10})
    add(F, "mlp-noisy-circles-80-samples-keras", KE, "80 noisy training samples, 2x256 MLP, 200 epochs", seed=115, data="circles",
        data_opts={"n_train": 80, "noise": 0.25}, model_opts={"hidden": [256, 256]}, loss="bce", opt="adam", lr=3e-3, epochs=200,
        batch=20)

    # ---- oscillation: lr just below divergence, the loss swings without a trend
    C = "oscillation"
    add(C, "logreg-classif-sgdm-lr1-tb", TB, "SGD momentum 0.9 lr 1.0 on logistic regression", seed=121, data="classif", model="logreg",
        opt_opts=mom9, lr=1.0, epochs=15, log={"every": 5})
    add(C, "linreg-diabetes-sgd-edge-keras", KE, f"mini-batch SGD lr {0.98 * thr:.3g} (0.98x the GD stability limit)", seed=122,
        data="diabetes", model="logreg", loss="mse", lr=round(0.98 * thr, 4), batch=64, epochs=100, log={"metric": None})
    add(C, "linreg-diabetes-sgd-edge-tb", TB, f"mini-batch SGD lr {0.95 * thr:.3g} (0.95x the GD stability limit)", seed=123,
        data="diabetes", model="logreg", loss="mse", lr=round(0.95 * thr, 4), batch=32, epochs=40, log={"tags": "caps"})
    add(C, "mlp-moons-sgd-momentum0.99-tb", TB, "SGD momentum 0.99 lr 0.5", seed=124, data="moons", model_opts={"hidden": [16]},
        loss="bce", opt_opts={"momentum": 0.99}, lr=0.5, epochs=30, log={"every": 5, "tags": "plain"})
    add(C, "linreg-diabetes-sgd-edge-lightning", PL, f"mini-batch SGD lr {0.97 * thr:.3g} (0.97x the GD stability limit)", seed=125,
        data="diabetes", model="logreg", loss="mse", lr=round(0.97 * thr, 4), batch=32, epochs=40, log={"every": 2})
    return specs


# ----------------------------------------------------------------------------------------------
# Symptom checks: each run's LOGGED numbers must show its label's signature, or the run is dropped
# ----------------------------------------------------------------------------------------------

def _series(logged: dict, role: str) -> tuple[np.ndarray, np.ndarray]:
    pts = logged.get(role, [])
    return np.array([p[0] for p in pts], dtype=np.int64), np.array([p[1] for p in pts], dtype=np.float64)


def _train_loss(logged: dict) -> tuple[np.ndarray, np.ndarray, str]:
    """The train loss as a reader sees it: the step series if logged (>= 8 points), else per epoch."""
    s, v = _series(logged, "loss")
    if len(v) >= 8:
        return s, v, "step"
    s, v = _series(logged, "loss_epoch")
    return s, v, "epoch"


def _g(x: float) -> str:
    if not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return f"{x:.4g}"


def _first_nonfinite(v: np.ndarray) -> int | None:
    bad = np.flatnonzero(~np.isfinite(v))
    return int(bad[0]) if len(bad) else None


def _smooth(v: np.ndarray, k: int) -> np.ndarray:
    if k <= 1 or len(v) < k:
        return v
    c = np.convolve(v, np.ones(k) / k, mode="valid")
    return c


class CheckFailed(Exception):
    pass


def _need(cond: bool, why: str) -> None:
    if not cond:
        raise CheckFailed(why)


def check_healthy(spec, logged):
    s, v, unit = _train_loss(logged)
    _need(len(v) >= 5 and np.isfinite(v).all(), "non-finite or too short train loss")
    k = max(1, len(v) // 10)
    first, last = float(np.mean(v[:k])), float(np.mean(v[-k:]))
    _need(last <= spec.check.get("max_ratio", 0.6) * first, f"loss did not fall enough {first:.4g}->{last:.4g}")
    msg = f"train loss {_g(first)} -> {_g(last)} over {int(s[-1])} {unit}s"
    vs, vv = _series(logged, "val_loss")
    if len(vv):
        _need(np.isfinite(vv).all(), "val non-finite")
        vmin = float(vv.min())
        _need(vv[-1] <= 1.10 * vmin + 1e-4, f"val rises {vmin:.4g}->{vv[-1]:.4g}")
        msg += f"; val loss min {_g(vmin)}, last {_g(vv[-1])}"
    ls, lv = _series(logged, "lr")
    if len(lv):
        _need(np.isfinite(lv).all() and (lv[1:] > 0).all() if len(lv) > 1 else True, "lr not positive/finite")
        msg += f"; lr {_g(lv[0])}..{_g(lv.max())}..{_g(lv[-1])}"
    ss, sv = _series(logged, "loss_scale")
    if len(sv):
        halvings = int(np.sum(sv[1:] < sv[:-1]))
        late = sv[len(sv) // 10:]
        consec = _longest_halving_run(late)
        _need(consec <= 2 and sv.min() >= 1.0, "loss scale collapsing")
        msg += f"; loss_scale {_g(sv[0])}..{_g(sv[-1])} with {halvings} isolated halvings"
    gs, gv = _series(logged, "grad_norm")
    if len(gv):
        _need(np.isfinite(gv).all(), "grad norm non-finite")
        msg += f"; grad_norm median {_g(float(np.median(gv)))}, max {_g(float(gv.max()))}"
    return msg


def _longest_halving_run(sv: np.ndarray) -> int:
    best = cur = 0
    for a, b in zip(sv[:-1], sv[1:]):
        cur = cur + 1 if b < a else 0
        best = max(best, cur)
    return best


def check_lr_too_high(spec, logged):
    s, v, unit = _train_loss(logged)
    _need(math.isfinite(v[0]), "first loss already non-finite")
    bad = _first_nonfinite(v)
    fin = v[: bad if bad is not None else len(v)]
    over = np.flatnonzero(fin >= 10 * v[0])
    cross = int(over[0]) if len(over) else bad
    _need(cross is not None, f"no blow-up (max x{fin.max() / v[0]:.3g})")
    peak = int(np.argmax(fin))
    longest = cur = 0
    for a, b in zip(fin[:-1], fin[1:]):
        cur = cur + 1 if b > a else 0
        longest = max(longest, cur)
    _need(longest >= spec.check.get("min_ups", 2), f"only {longest} rises in a row")
    msg = (f"loss {_g(v[0])} at {unit} {s[0]}, above 10x that from {unit} {s[cross]}, peak {_g(fin[peak])} "
           f"(x{fin[peak] / v[0]:.3g}) at {unit} {s[peak]}; up to {longest} rises in a row")
    if bad is not None:
        msg += f"; {_g(v[bad])} from {unit} {s[bad]}"
    return msg


def check_divergence(spec, logged):
    s, v, unit = _train_loss(logged)
    _need(np.isfinite(v).all(), "non-finite loss: not a slow divergence")
    _, ve = _series(logged, "loss_epoch")
    if len(ve) < 8:  # no epoch series logged: average the step series per epoch-sized window
        w = max(1, len(v) // spec.epochs)
        ve = np.array([v[i:i + w].mean() for i in range(0, len(v) - w + 1, w)])
    i = int(np.argmin(ve))
    _need(i <= 0.7 * (len(ve) - 1), "minimum too late")
    rise = ve[-1] / ve[i]
    _need(rise >= spec.check.get("min_rise", 1.3), f"rise only x{rise:.3g}")
    after = ve[i:]
    ratios = after[1:] / after[:-1]
    _need(ratios.max() < 5, "a jump, not a slow rise")
    ups = int(np.sum(np.diff(_smooth(after, 3)) > 0))
    _need(ups >= 4, "not enough rising epochs")
    return (f"loss per epoch falls to {_g(ve[i])} at epoch {i}, then rises to {_g(ve[-1])} by epoch {len(ve) - 1} "
            f"(x{rise:.2f}, largest step x{ratios.max():.2f}); all finite")


def check_sudden_nan(spec, logged):
    s, v, unit = _train_loss(logged)
    bad = _first_nonfinite(v)
    _need(bad is not None, "no NaN")
    _need(bad >= spec.check.get("min_finite", 8), f"NaN too early ({bad})")
    fin = v[:bad]
    prev = fin[-5:]
    window = fin[-20:]
    # no growth phase: the last finite values are not above the usual band of the run so far
    _need(not (np.all(np.diff(prev) > 0) and prev[-1] > 2 * prev[0]), f"growth before the NaN: {prev}")
    _need(float(np.max(prev)) <= float(np.max(fin[: max(1, bad - 5)])), f"a new high just before the NaN: {prev}")
    after = v[bad:]
    recovers = bool(np.isfinite(after).any())
    tail = (f"; isolated: {int(np.sum(~np.isfinite(v)))} non-finite points, finite in between" if recovers
            else f"; non-finite from then on ({len(after)} points)")
    return (f"finite and steady for {bad} points (last 5 in [{_g(prev.min())}, {_g(prev.max())}], median of the last 20 "
            f"{_g(float(np.median(window)))}), then {_g(v[bad])} at {unit} {s[bad]} with no growth before it" + tail)


def check_bad_input(spec, logged):
    s, v, unit = _train_loss(logged)
    bad = _first_nonfinite(v)
    if bad is not None and bad <= spec.check.get("max_first_bad", 1):
        return f"loss is {_g(v[bad])} from {unit} {s[bad]} (first logged point{'s' if bad else ''})" + (
            f"; stays non-finite ({int(np.sum(~np.isfinite(v)))}/{len(v)} points)")
    head = v[: max(3, len(v) // 10)]
    if np.isfinite(head).all() and head.min() < -1e-6:
        return f"binary cross-entropy is negative from the start: {_g(v[0])} at {unit} {s[0]}, {_g(v[-1])} at the end"
    if spec.check.get("below_ce_bound"):
        return _below_cross_entropy_bound(logged)
    ratio = spec.check.get("absurd_over")
    if ratio and math.isfinite(v[0]) and v[0] >= ratio:
        bad_txt = f"; {_g(v[bad])} from {unit} {s[bad]}" if bad is not None else ""
        return f"first loss {_g(v[0])} is absurd for the task (>= {ratio:g}){bad_txt}"
    raise CheckFailed(f"no bad-input symptom: {v[:5]}")


def _below_cross_entropy_bound(logged):
    """The loss is lower than a cross-entropy can be at the logged accuracy (2 exp(-L) - 1 - 0.05) on at least half the points."""
    acc_s, acc_v = _series(logged, "acc")
    _need(len(acc_v) >= 3, "accuracy not logged")
    # the loss logged beside the accuracy: per step (TensorBoard, Lightning) or per epoch (Keras)
    s, v = max((_series(logged, role) for role in ("loss", "loss_epoch")), key=lambda sv: len(np.intersect1d(sv[0], acc_s)))
    common, li, ai = np.intersect1d(s, acc_s, return_indices=True)
    _need(len(common) >= 3, "loss and accuracy share fewer than 3 steps")
    gap = 2 * np.exp(-v[li]) - 1 - acc_v[ai]
    below = int(np.sum(gap > 0.05))
    _need(below >= len(common) / 2, f"accuracy not below the cross-entropy bound ({below}/{len(common)} points)")
    worst = int(np.argmax(gap))
    return (f"loss {_g(v[li][worst])} at accuracy {acc_v[ai][worst]:.3f} where a cross-entropy needs "
            f"{2 * math.exp(-v[li][worst]) - 1:.3f} ({below}/{len(common)} points below); final accuracy {acc_v[-1]:.3f}")


def check_bad_init(spec, logged):
    s, v, unit = _train_loss(logged)
    lnc = math.log(spec.check.get("classes", 10))
    _need(math.isfinite(v[0]) and v[0] >= spec.check.get("init_factor", 4) * lnc, f"first loss {v[0]:.4g} not far above ln C")
    k = max(1, len(v) // 10)
    last = float(np.nanmean(v[-k:]))
    _need(last >= spec.check.get("struggle_over", 0.5), f"recovered fully ({last:.4g})")
    return (f"first loss {_g(v[0])} = {v[0] / lnc:.1f} x ln {spec.check.get('classes', 10)} ({lnc:.4f}); "
            f"still {_g(last)} after {int(s[-1])} {unit}s")


def check_lr_schedule_bug(spec, logged):
    s, v, unit = _train_loss(logged)
    ls, lv = _series(logged, "lr")
    _need(len(lv) >= 3, "lr not logged")
    what = None
    if not np.isfinite(lv).all():
        i = _first_nonfinite(lv)
        what = f"lr = {_g(lv[i])} from step {ls[i]}"
    elif (lv[1:] < 0).any():
        i = int(np.flatnonzero(lv < 0)[0])
        what = f"lr decays through 0 to negative ({_g(lv[i])} at step {ls[i]}, {_g(lv[-1])} at the end)"
    elif lv[-1] <= 1e-6 * lv.max() and int(np.flatnonzero(lv <= 1e-6 * lv.max())[0]) <= 0.5 * len(lv):
        i = int(np.flatnonzero(lv <= 1e-6 * lv.max())[0])
        what = f"lr collapses {_g(lv.max())} -> {_g(lv[i])} by step {ls[i]} ({_g(lv[-1])} at the end)"
    elif np.all(np.diff(lv) >= 0) and lv[-1] > lv[len(lv) // 2] * 1.5:
        what = f"lr still rising at the end of the run ({_g(lv[0])} -> {_g(lv[-1])}, warmup never ends)"
    _need(what is not None, "lr looks fine")
    bad = _first_nonfinite(v)
    k = max(1, len(v) // 10)
    half = v[len(v) // 2:]
    if bad is not None:
        effect = f"loss {_g(v[bad])} from {unit} {s[bad]}"
    else:
        first, last, low = float(np.mean(v[:k])), float(np.mean(v[-k:])), float(np.min(v))
        frozen = float(np.ptp(half) / max(abs(float(np.mean(half))), 1e-12))
        if last >= 1.5 * low and last > low + 0.1:
            effect = f"loss falls to {_g(low)} then rises to {_g(last)}"
        elif frozen <= 0.02:
            effect = f"loss frozen at {_g(float(np.mean(half)))} for the second half of the run (range {100 * frozen:.2f}%)"
        elif last >= spec.check.get("stall_ratio", 0.8) * first:
            effect = f"loss stalls: {_g(first)} -> {_g(last)}"
        else:
            raise CheckFailed(f"loss fine {first:.4g}->{last:.4g}")
    return f"{what}; {effect}"


def check_loss_scale_overflow(spec, logged):
    ss, sv = _series(logged, "loss_scale")
    _need(len(sv) >= 10, "loss scale not logged")
    run = _longest_halving_run(sv)
    _need(run >= 8 or sv.min() < 1.0, f"no collapse (longest halving run {run}, min {sv.min():.3g})")
    j = int(np.flatnonzero(sv < 1.0)[0]) if (sv < 1.0).any() else None
    s, v, unit = _train_loss(logged)
    bad = _first_nonfinite(v)
    tail = f"loss {_g(v[bad])} from {unit} {s[bad]}" if bad is not None else f"loss {_g(v[0])} -> {_g(v[-1])}"
    below = f", below 1 from step {ss[j]}" if j is not None else ""
    return (f"loss_scale {_g(sv[0])} -> {_g(sv[-1])} ({run} halvings in a row{below}); {tail}")


def check_exploding_gradients(spec, logged):
    gs, gv = _series(logged, "grad_norm")
    _need(len(gv) >= 10, "grad norm not logged")
    k = max(3, len(gv) // 10)
    base = float(np.median(gv[:k]))
    fin = np.where(np.isfinite(gv), gv, np.inf)
    peak = float(np.max(fin))
    _need(peak >= spec.check.get("min_factor", 100) * base, f"grad norm peak only x{peak / base:.3g}")
    big = np.flatnonzero(fin >= 20 * base)
    t = int(big[big >= 5][0]) if (big >= 5).any() else None
    _need(t is not None, "only an initial gradient spike")
    s, v, unit = _train_loss(logged)
    j = min(int(np.searchsorted(s, gs[t])), len(v) - 1)
    before = v[:j + 1]
    _need(np.isfinite(before).all(), "loss already non-finite when the gradient exploded")
    lo = float(np.min(before))
    _need(v[j] <= 3 * lo + 0.5, f"loss already high ({v[j]:.4g}) when the gradient exploded")
    after = v[j + 1:]
    _need(len(after) > 0 and (not np.isfinite(after).all() or float(np.max(after)) >= 2 * lo),
          "the loss never goes bad afterwards")
    nf = _first_nonfinite(v)
    worst = f"{_g(v[nf])} from {unit} {s[nf]}" if nf is not None else f"max {_g(float(np.max(after)))}"
    return (f"grad_norm {_g(base)} (median of the first 10%) -> {_g(float(gv[t]))} at step {gs[t]} "
            f"(x{float(fin[t]) / base:.3g}) while the loss is still {_g(float(v[j]))}; peak grad_norm {_g(peak)}; "
            f"then the loss goes bad: {worst}")


def check_vanishing_or_stalled(spec, logged):
    s, v, unit = _train_loss(logged)
    _need(np.isfinite(v).all(), "non-finite")
    k = max(1, len(v) // 10)
    first, last = float(np.mean(v[:k])), float(np.mean(v[-k:]))
    after = v[len(v) // 5:]
    drift = abs(float(np.mean(after[-k:])) - float(np.mean(after[:k]))) / max(abs(float(np.mean(after[:k]))), 1e-12)
    _need(last >= spec.check.get("min_keep", 0.85) * first, f"it learns {first:.4g}->{last:.4g}")
    _need(drift <= spec.check.get("max_drift", 0.05), f"drifts {drift:.3g}")
    distinct = len(np.unique(np.round(after, 7)))
    msg = f"loss flat: {_g(first)} -> {_g(last)} over {int(s[-1])} {unit}s (last 80% moves {100 * drift:.2f}%"
    msg += f", {distinct} distinct values)" if distinct <= 3 else ")"
    gs, gv = _series(logged, "grad_norm")
    if len(gv):
        msg += f"; grad_norm median {_g(float(np.median(gv)))}"
    return msg


def check_saturated_output(spec, logged):
    s, v, unit = _train_loss(logged)
    consts = {"keras": [-math.log(np.float32(KERAS_EPS)), -math.log(1.0 - float(np.float32(1.0 - KERAS_EPS)))],
              "caffe": [-math.log(FLT_MIN)]}[spec.check["clip"]]
    const = consts[0]
    n = len(v)
    cut = int(0.6 * n)
    tail, ts = v[cut:], s[cut:]
    _need(np.isfinite(tail).all(), "non-finite tail")
    level = float(np.median(tail))
    _need(0.3 * const <= level <= 1.0001 * const, f"tail {level:.4g} not near the clip constant")
    as_, av = _series(logged, "acc")
    acc = dict(zip(as_.tolist(), av.tolist()))
    pairs = [(val, acc[int(st)]) for st, val in zip(ts, tail) if int(st) in acc]
    _need(len(pairs) >= 5, "accuracy not logged beside the loss")
    best = None
    for c in consts:  # Keras binary CE: 1 - 1e-7 rounds to 1 - 1.19e-7 in float32, so -log gives 15.9424
        m = float(np.mean([abs(val - c * (1 - a)) <= 0.005 * c for val, a in pairs]))
        dev = float(np.median([abs(val - c * (1 - a)) / c for val, a in pairs]))
        if best is None or m > best[1]:
            best = (c, m, dev)
    const, match, dev = best
    _need(match >= 0.5 and dev <= 0.02, f"loss != const x (1 - acc) on {100 * (1 - match):.0f}% of the tail (median dev {dev:.3g})")
    head = v[:cut]
    low = float(np.nanmin(head))
    onset = int(np.flatnonzero(v >= 0.3 * const)[0])
    how = (f"jumps from {_g(low)} at {unit} {s[onset]} to" if low <= level / 3 and onset > 0
           else "is pinned from the first logged point at")
    a_med = float(np.median([a for _, a in pairs]))
    return (f"loss {how} {_g(level)} (median, last 40%) = {const:.4f} x (1 - accuracy) within 0.5% on {100 * match:.0f}% of "
            f"those points (-log of the {spec.check['clip']} probability clip {'1e-7' if spec.check['clip'] == 'keras' else 'FLT_MIN'}); "
            f"accuracy {a_med:.3f}")


def check_overfitting(spec, logged):
    vs, vv = _series(logged, "val_loss")
    _need(len(vv) >= 10 and np.isfinite(vv).all(), "val loss missing/non-finite")
    i = int(np.argmin(vv))
    _need(i <= 0.6 * (len(vv) - 1), "val minimum too late")
    _need(vv[-1] >= spec.check.get("min_rise", 1.25) * vv[i], f"val rises only x{vv[-1] / vv[i]:.3g}")
    s, v, unit = _train_loss(logged)
    _need(np.isfinite(v).all(), "train non-finite")
    t_at = v[min(np.searchsorted(s, vs[i]), len(v) - 1)]
    k = max(1, len(v) // 10)
    t_last = float(np.mean(v[-k:]))
    _need(t_last <= t_at, "train loss not falling")
    return (f"val loss min {_g(vv[i])} at eval {i} (step {vs[i]}), then rises to {_g(vv[-1])} (x{vv[-1] / vv[i]:.2f}) "
            f"while train loss falls {_g(t_at)} -> {_g(t_last)}")


def check_oscillation(spec, logged):
    s, v, unit = _train_loss(logged)
    _need(np.isfinite(v).all(), "non-finite")
    half = v[len(v) // 2:]
    q3, q4 = half[: len(half) // 2], half[len(half) // 2:]
    med = float(np.median(half))
    trend = (float(np.median(q4)) - float(np.median(q3))) / med
    cv = float(np.std(half) / np.mean(half))
    d = np.diff(half)
    ac = float(np.corrcoef(d[:-1], d[1:])[0, 1]) if len(d) > 3 else 0.0
    best = float(np.min(v))
    _need(abs(trend) <= spec.check.get("max_trend", 0.2), f"trend {trend:.3g}")
    _need(cv >= spec.check.get("min_cv", 0.15), f"cv {cv:.3g}")
    _need(med >= spec.check.get("above_min", 1.2) * best, f"settled near its best ({med:.4g} vs {best:.4g})")
    _need(med <= 2.0 * float(v[0]), f"far above the start ({med:.4g} vs {v[0]:.4g}): a blow-up, not a swing")
    return (f"loss swings {_g(float(half.min()))}..{_g(float(half.max()))} (CV {100 * cv:.0f}%) around {_g(med)} over the last "
            f"{len(half)} points with no trend (median of last quarter vs the one before: {100 * trend:+.1f}%), "
            f"lag-1 autocorrelation of changes {ac:.2f}; best value seen {_g(best)}")


CHECKS = {
    "healthy": check_healthy, "lr_too_high": check_lr_too_high, "divergence": check_divergence,
    "sudden_nan": check_sudden_nan, "bad_input": check_bad_input, "bad_init": check_bad_init,
    "lr_schedule_bug": check_lr_schedule_bug, "loss_scale_overflow": check_loss_scale_overflow,
    "exploding_gradients": check_exploding_gradients, "vanishing_or_stalled": check_vanishing_or_stalled,
    "saturated_output": check_saturated_output, "overfitting": check_overfitting, "oscillation": check_oscillation,
}


# ----------------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------------

def model_label(spec: Spec) -> str:
    o = spec.model_opts
    if spec.model == "logreg":
        txt = "logreg"
    elif spec.model == "mlp":
        hidden = o.get("hidden", [64])
        txt = f"mlp-{'x'.join(str(h) for h in hidden)}-{o.get('act', 'relu')}"
        if o.get("residual"):
            txt += f"-res{o['residual']}"
        if o.get("out_act"):
            txt += f"-out{o['out_act']}"
        if o.get("batch_std"):
            txt += "-batchstd"
    elif spec.model == "cnn":
        txt = "cnn-2conv"
    else:
        txt = f"{spec.model}-{o.get('layers', 1)}x{o.get('hidden', 32)}"
    if o.get("dtype"):
        txt += f"-{o['dtype']}"
    if spec.amp:
        txt += "-fp16amp"
    return f"{txt}@{spec.data}"


def run_one(spec: Spec, out: str) -> dict:
    run_dir = Path(out) / spec.label / spec.name
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    t = time.time()
    row = {"path": f"{spec.label}/{spec.name}", "format": spec.fmt, "label": spec.label, "model": model_label(spec),
           "optimizer": optimizer_label(spec), "lr": f"{spec.lr:g}", "seed": str(spec.seed),
           "injection": spec.injection, "symptom": ""}
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logged = train(spec, run_dir)
        row["symptom"] = CHECKS[spec.label](spec, logged)
        ok, why = True, ""
    except CheckFailed as exc:
        ok, why = False, f"check failed: {exc}"
    except Exception:  # a crashing run is dropped, loudly
        ok, why = False, traceback.format_exc()
    if not ok:
        shutil.rmtree(run_dir, ignore_errors=True)
    return {"row": row, "ok": ok, "why": why, "seconds": time.time() - t}


def _worker(args):
    return run_one(*args)


def write_manifest(out: Path, rows: list[dict]) -> None:
    with open(out / "MANIFEST.tsv", "w", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(MANIFEST_COLUMNS)
        for r in sorted(rows, key=lambda r: r["path"]):
            w.writerow([str(r[c]).replace("\t", " ").replace("\n", " ") for c in MANIFEST_COLUMNS])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="corpus", help="output folder (default: corpus)")
    ap.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    ap.add_argument("--only", nargs="*", help="labels or run names to (re)build; the MANIFEST keeps the other rows")
    args = ap.parse_args(argv)

    specs = build_specs()
    names = [s.name for s in specs]
    assert len(names) == len(set(names)), "run names must be unique"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    chosen = [s for s in specs if not args.only or s.label in args.only or s.name in args.only]
    if not args.only:  # a full build starts from empty label folders
        for label in LABELS:
            shutil.rmtree(out / label, ignore_errors=True)

    t0 = time.time()
    results = []
    ctx = mp.get_context("spawn")
    jobs = [(s, str(out)) for s in chosen]
    if args.jobs > 1:
        with ctx.Pool(args.jobs, maxtasksperchild=8) as pool:
            for r in pool.imap_unordered(_worker, jobs):
                results.append(r)
                _report(r)
    else:
        for j in jobs:
            r = _worker(j)
            results.append(r)
            _report(r)

    rows = [r["row"] for r in results if r["ok"]]
    if args.only and (out / "MANIFEST.tsv").exists():  # keep the rows of runs not rebuilt
        rebuilt = {f"{s.label}/{s.name}" for s in chosen}
        with open(out / "MANIFEST.tsv", newline="") as f:
            old = [r for r in csv.DictReader(f, delimiter="\t") if r["path"] not in rebuilt]
        rows = old + rows
    write_manifest(out, rows)
    dropped = [r for r in results if not r["ok"]]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["label"]] = counts.get(r["label"], 0) + 1
    print(f"\n{len(results) - len(dropped)} runs kept, {len(dropped)} dropped, {time.time() - t0:.0f} s", file=sys.stderr)
    print("  " + ", ".join(f"{k} {counts[k]}" for k in LABELS if k in counts), file=sys.stderr)
    for r in dropped:
        print(f"DROPPED {r['row']['path']}: {r['why'].strip().splitlines()[-1]}", file=sys.stderr)
    return 0


def _report(r: dict) -> None:
    state = "ok  " if r["ok"] else "DROP"
    detail = r["row"]["symptom"] if r["ok"] else r["why"].strip().splitlines()[-1]
    print(f"{state} {r['seconds']:5.1f}s {r['row']['path']}: {detail}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
