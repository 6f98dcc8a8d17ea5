"""`make samples`: write sample_logs/, small healthy and broken runs in every format, with the frameworks' own writers.

Trajectories are simulated by formulas with one fixed seed per run; the files are written the way
each framework writes them (tensorboard's record writer and protos, `csv.DictWriter` as Lightning's
and Keras's CSVLoggers use it, glog lines as BVLC Caffe prints them). Every byte is deterministic,
so `tests/test_sample_logs.py` can check that the committed samples are exactly this script's output.
"""

from __future__ import annotations

import argparse
import csv
import math
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.scalar import summary_v2
from tensorboard.summary.writer.record_writer import RecordWriter

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "sample_logs"

# Pinned instead of time.time(), hostname and pid, which EventFileWriter would put in the bytes.
START_WALL_TIME = 1700000000.0
EVENT_FILE_NAME = "events.out.tfevents.1700000000.sample"
KERAS_EVENT_FILE_NAME = EVENT_FILE_NAME + ".v2"  # TF2 appends `.v2` to its event files
EVENT_FILE_WRITER = "tensorboard.summary.writer.event_file_writer"

LN_10 = math.log(10.0)
CAFFE_SATURATED_LOSS = -math.log(np.finfo(np.float32).tiny)  # -ln(FLT_MIN) = 87.3365...


@dataclass(frozen=True)
class Sample:
    """One run folder under sample_logs/: what it shows, which reader reads it, and how to write it."""

    name: str
    reader: str  # nandoctor.readers module that reads it
    written_by: str
    what_happened: str
    expected: str  # `healthy` or the cause id nandoctor should rank first
    seed: int
    write: Callable[[Path, np.random.Generator], None]


# ---------------------------------------------------------------- trajectories (pure numpy)


def noisy(values: np.ndarray, relative_noise: float, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative log-normal noise: a loss stays positive and its scatter scales with it."""
    return values * np.exp(rng.normal(0.0, relative_noise, size=values.shape))


def exponential_decay(steps: np.ndarray, start: float, floor: float, steps_per_e_fold: float) -> np.ndarray:
    return floor + (start - floor) * np.exp(-steps / steps_per_e_fold)


def cosine_schedule(steps: np.ndarray, peak_lr: float, final_lr: float, total_steps: int) -> np.ndarray:
    return final_lr + 0.5 * (peak_lr - final_lr) * (1.0 + np.cos(np.pi * steps / total_steps))


def accuracy_for_loss(loss: np.ndarray, chance_loss: float, chance_accuracy: float, best_loss: float, best_accuracy: float) -> np.ndarray:
    """Accuracy that moves with the loss, from chance at the uniform-prediction loss to the best seen."""
    progress = np.clip((chance_loss - loss) / (chance_loss - best_loss), 0.0, 1.0)
    return chance_accuracy + (best_accuracy - chance_accuracy) * progress


def as_logged_float(value: float) -> float:
    """A float32 metric as frameworks hand it to their writers (`tensor.item()`, `float(np.float32)`)."""
    return float(np.float32(value))


# ---------------------------------------------------------------- TensorBoard


def file_version_event(wall_time: float) -> event_pb2.Event:
    """The first record of every event file, as EventFileWriter writes it, with the clock pinned."""
    return event_pb2.Event(
        wall_time=wall_time,
        file_version="brain.Event:2",
        source_metadata=event_pb2.SourceMetadata(writer=EVENT_FILE_WRITER),
    )


def simple_value_event(tag: str, step: int, value: float, wall_time: float) -> event_pb2.Event:
    """A TF1 / PyTorch SummaryWriter style scalar: `Summary.Value.simple_value`."""
    summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
    return event_pb2.Event(wall_time=wall_time, step=step, summary=summary)


def tensor_scalar_event(tag: str, step: int, value: float, wall_time: float) -> event_pb2.Event:
    """A TF2 style scalar: a float32 tensor summary of the `scalars` plugin, as Keras 2.x writes it."""
    return event_pb2.Event(wall_time=wall_time, step=step, summary=summary_v2.scalar_pb(tag, value))


def write_event_file(path: Path, events: Iterable[event_pb2.Event], opened_at: float) -> None:
    """Write with tensorboard's RecordWriter, the one EventFileWriter wraps: same framing and CRCs.

    EventFileWriter itself names the file after the clock, host and pid and stamps its first
    record with time.time(); writing through its record writer keeps every byte reproducible.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        writer = RecordWriter(handle)
        writer.write(file_version_event(opened_at).SerializeToString())
        for event in events:
            writer.write(event.SerializeToString())


def wall_times(steps: np.ndarray, seconds_per_step: float, rng: np.random.Generator) -> np.ndarray:
    jitter = rng.uniform(0.0, 0.05 * seconds_per_step, size=steps.shape)
    return START_WALL_TIME + 2.0 + steps * seconds_per_step + jitter


def tb_healthy_events(rng: np.random.Generator) -> list[event_pb2.Event]:
    """CIFAR-10 classifier, SGD with cosine decay: the loss falls from ln 10 and flattens."""
    total_steps, log_every, eval_every = 1000, 20, 200
    steps = np.arange(0, total_steps, log_every)
    train_loss = noisy(exponential_decay(steps, LN_10, 0.42, 260.0), 0.05, rng)
    lr = cosine_schedule(steps, 0.1, 0.001, total_steps)
    eval_steps = np.arange(eval_every, total_steps + 1, eval_every)
    val_loss = noisy(exponential_decay(eval_steps, LN_10, 0.55, 280.0), 0.015, rng)
    train_times = wall_times(steps, 0.11, rng)
    val_times = wall_times(eval_steps, 0.11, rng) + 1.5
    events = []
    for step, loss, rate, when in zip(steps, train_loss, lr, train_times):
        events.append(simple_value_event("train/loss", int(step), float(loss), float(when)))
        events.append(simple_value_event("lr", int(step), float(rate), float(when)))
    for step, loss, when in zip(eval_steps, val_loss, val_times):
        events.append(simple_value_event("val/loss", int(step), float(loss), float(when)))
    events.sort(key=lambda event: event.wall_time)
    return events


def write_tb_healthy(folder: Path, rng: np.random.Generator) -> None:
    write_event_file(folder / EVENT_FILE_NAME, tb_healthy_events(rng), START_WALL_TIME)


def lr_too_high_loss(rng: np.random.Generator) -> np.ndarray:
    """Two logged points of descent, fifteen of geometric growth (x1.4 to x1.75 each), then NaN for good."""
    descent = np.array([LN_10, 2.21])
    growth_factors = rng.uniform(1.4, 1.75, size=15)
    growth = descent[-1] * np.cumprod(growth_factors)
    return np.concatenate([noisy(descent, 0.01, rng), growth, np.full(4, np.nan)])


def tb_lr_too_high_events(rng: np.random.Generator) -> list[event_pb2.Event]:
    """The same classifier with lr 0.8: the loss grows geometrically, overflows and stays NaN."""
    train_loss = lr_too_high_loss(rng)
    steps = np.arange(train_loss.size) * 20
    times = wall_times(steps, 0.11, rng)
    events = []
    for step, loss, when in zip(steps, train_loss, times):
        events.append(simple_value_event("train/loss", int(step), float(loss), float(when)))
        events.append(simple_value_event("lr", int(step), 0.8, float(when)))
    return events


def write_tb_lr_too_high(folder: Path, rng: np.random.Generator) -> None:
    write_event_file(folder / EVENT_FILE_NAME, tb_lr_too_high_events(rng), START_WALL_TIME)


def overfitting_curves(epochs: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Train loss keeps falling; validation loss bottoms out near epoch 7 and then climbs."""
    train_loss = noisy(exponential_decay(epochs, 1.55, 0.03, 6.0), 0.02, rng)
    val_trend = exponential_decay(epochs, 1.45, 0.70, 2.8) + 0.028 * np.maximum(epochs - 7.0, 0.0) ** 1.1
    val_loss = noisy(val_trend, 0.012, rng)
    train_accuracy = np.clip(0.99 - 0.55 * np.exp(-epochs / 5.0) + rng.normal(0, 0.004, epochs.shape), 0, 1)
    val_accuracy = 0.74 - 0.20 * np.exp(-epochs / 2.5) - 0.0012 * np.maximum(epochs - 10.0, 0.0) + rng.normal(0, 0.004, epochs.shape)
    return {"loss": train_loss, "accuracy": train_accuracy, "val_loss": val_loss, "val_accuracy": val_accuracy}


def write_keras_tf2_overfitting(folder: Path, rng: np.random.Generator) -> None:
    """tf.keras `TensorBoard` callback layout: `train/` and `validation/`, each with epoch_* tensor scalars."""
    epochs = np.arange(30)
    curves = overfitting_curves(epochs, rng)
    seconds_per_epoch = 14.0
    train_times = START_WALL_TIME + 3.0 + (epochs + 1) * seconds_per_epoch + rng.uniform(0, 0.4, epochs.shape)
    val_times = train_times + 0.02  # Keras writes validation summaries right after the train ones
    train_events, val_events = [], []
    for epoch, train_time, val_time in zip(epochs, train_times, val_times):
        train_events.append(tensor_scalar_event("epoch_loss", int(epoch), as_logged_float(curves["loss"][epoch]), float(train_time)))
        train_events.append(tensor_scalar_event("epoch_accuracy", int(epoch), as_logged_float(curves["accuracy"][epoch]), float(train_time)))
        val_events.append(tensor_scalar_event("epoch_loss", int(epoch), as_logged_float(curves["val_loss"][epoch]), float(val_time)))
        val_events.append(tensor_scalar_event("epoch_accuracy", int(epoch), as_logged_float(curves["val_accuracy"][epoch]), float(val_time)))
    write_event_file(folder / "train" / KERAS_EVENT_FILE_NAME, train_events, START_WALL_TIME)
    write_event_file(folder / "validation" / KERAS_EVENT_FILE_NAME, val_events, START_WALL_TIME + 3.0)


# ---------------------------------------------------------------- CSV loggers


def write_dict_rows(path: Path, fieldnames: Sequence[str], rows: Iterable[dict]) -> None:
    """`csv.DictWriter` with the excel dialect (\\r\\n line ends), as both CSVLoggers write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(fieldnames))
        writer.writeheader()
        writer.writerows(rows)


def sudden_nan_step_losses(total_steps: int, first_nan_step: int, rng: np.random.Generator) -> np.ndarray:
    """A per-step loss that settles near 0.4 and then is NaN from one step on: no growth before it."""
    steps = np.arange(total_steps)
    losses = noisy(exponential_decay(steps, 1.10, 0.40, 150.0), 0.06, rng)
    losses[first_nan_step:] = np.nan
    return losses.astype(np.float32)


def lightning_rows(step_losses: np.ndarray, val_losses: np.ndarray, steps_per_epoch: int, log_every_n_steps: int, lr: float) -> list[dict]:
    """The rows Lightning's CSVLogger records: lr (LearningRateMonitor), step loss, val loss, epoch loss.

    Each `log_metrics` call is its own row; keys it did not log stay empty. The step of a row is
    the index of the last optimizer step, hence 49, 99, ... for `log_every_n_steps=50`.
    """
    rows: list[dict] = []
    epochs = step_losses.size // steps_per_epoch
    for epoch in range(epochs):
        first_step = epoch * steps_per_epoch
        for step in range(first_step + log_every_n_steps - 1, first_step + steps_per_epoch, log_every_n_steps):
            rows.append({"lr-Adam": lr, "step": step})
            rows.append({"train_loss_step": float(step_losses[step]), "epoch": epoch, "step": step})
        last_step = first_step + steps_per_epoch - 1
        epoch_mean = np.float32(np.mean(step_losses[first_step : last_step + 1], dtype=np.float32))
        rows.append({"val_loss": as_logged_float(val_losses[epoch]), "epoch": epoch, "step": last_step})
        rows.append({"train_loss_epoch": float(epoch_mean), "epoch": epoch, "step": last_step})
    return rows


def write_lightning_sudden_nan(folder: Path, rng: np.random.Generator) -> None:
    """A stable loss goes NaN at one step (a bad batch or a log(0)); training then runs on in NaN."""
    steps_per_epoch, epochs, first_nan_step = 200, 6, 863
    step_losses = sudden_nan_step_losses(steps_per_epoch * epochs, first_nan_step, rng)
    epoch_ends = np.arange(1, epochs + 1) * steps_per_epoch - 1
    val_losses = noisy(exponential_decay(epoch_ends.astype(float), 0.95, 0.44, 170.0), 0.01, rng)
    val_losses[epoch_ends >= first_nan_step] = np.nan
    rows = lightning_rows(step_losses, val_losses, steps_per_epoch, log_every_n_steps=50, lr=0.001)
    # CSVLogger's header is the sorted union of every key logged (it rewrites the file on a new key).
    fieldnames = sorted({key for row in rows for key in row})
    write_dict_rows(folder / "metrics.csv", fieldnames, rows)


def keras_csv_rows(curves: dict[str, np.ndarray]) -> list[dict]:
    """Keras CSVLogger rows: `epoch` and then the logged keys in sorted order, float32 values as Python floats."""
    keys = sorted(curves)
    epochs = len(curves[keys[0]])
    return [{"epoch": epoch, **{key: as_logged_float(curves[key][epoch]) for key in keys}} for epoch in range(epochs)]


def healthy_keras_curves(epochs: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Train and validation loss both fall and flatten; validation stays a little above train."""
    loss = noisy(exponential_decay(epochs, 1.25, 0.24, 4.5), 0.015, rng)
    val_loss = noisy(exponential_decay(epochs, 1.05, 0.33, 4.0), 0.008, rng)
    accuracy = accuracy_for_loss(loss, 1.6, 0.45, 0.24, 0.925) + rng.normal(0, 0.003, epochs.shape)
    val_accuracy = accuracy_for_loss(val_loss, 1.6, 0.45, 0.33, 0.895) + rng.normal(0, 0.003, epochs.shape)
    return {"accuracy": accuracy, "loss": loss, "val_accuracy": val_accuracy, "val_loss": val_loss}


def write_keras_csv_healthy(folder: Path, rng: np.random.Generator) -> None:
    curves = healthy_keras_curves(np.arange(20, dtype=float), rng)
    write_dict_rows(folder / "training.log", ["epoch", *sorted(curves)], keras_csv_rows(curves))


# ---------------------------------------------------------------- Caffe (glog)

CAFFE_THREAD_ID = 18342
CAFFE_START = datetime(2016, 11, 3, 14, 2, 15, 204851)
# The solver both Caffe samples share (CIFAR-10 style); only base_lr and the numbers differ.
CIFAR_MAX_ITER, CIFAR_DISPLAY, CIFAR_TEST_INTERVAL, CIFAR_LR_STEP = 3000, 100, 500, 2000


def caffe_float(value: float) -> str:
    """A float as Caffe's `LOG(INFO) << value` prints it: float32, 6 significant digits."""
    value = float(np.float32(value))
    if math.isnan(value):
        return "nan"
    return "%g" % value


def glog_line(moment: datetime, thread_id: int, source: str, message: str) -> str:
    """One glog INFO line: `I1103 14:02:15.204851 18342 solver.cpp:228] message`."""
    return f"I{moment:%m%d %H:%M:%S.%f} {thread_id:5d} {source}] {message}"


@dataclass(frozen=True)
class CaffeRun:
    """A simulated Caffe training run: solver settings and the numbers each display and test prints."""

    net_name: str
    net_file: str
    base_lr: float
    weight_decay: float
    max_iter: int
    display: int
    test_interval: int
    test_iter: int
    stepsize: int
    snapshot: int
    snapshot_prefix: str
    train_loss: Callable[[int], float]
    train_accuracy: Callable[[int], float]
    test_result: Callable[[int], tuple[float, float]]  # iteration -> (accuracy, loss)

    def lr_at(self, iteration: int) -> float:
        return self.base_lr * 0.1 ** (iteration // self.stepsize)  # lr_policy "step", gamma 0.1


def solver_parameter_dump(run: CaffeRun) -> list[str]:
    """`SolverParameter::DebugString()`: set fields in field-number order, as solver.cpp:48 prints it."""
    return [
        f"test_iter: {run.test_iter}",
        f"test_interval: {run.test_interval}",
        f"base_lr: {run.base_lr:g}",
        f"display: {run.display}",
        f"max_iter: {run.max_iter}",
        'lr_policy: "step"',
        "gamma: 0.1",
        "momentum: 0.9",
        f"weight_decay: {run.weight_decay:g}",
        f"stepsize: {run.stepsize}",
        f"snapshot: {run.snapshot}",
        f'snapshot_prefix: "{run.snapshot_prefix}"',
        "solver_mode: GPU",
        "device_id: 0",
        f'net: "{run.net_file}"',
        "train_state {",
        "  level: 0",
        '  stage: ""',
        "}",
    ]


def caffe_messages(run: CaffeRun) -> list[tuple[float, str, str]]:
    """Every line of the run as (seconds since the previous line, source file:line, message), in Solver::Solve order."""
    quick = 0.00004  # lines printed back to back are some tens of microseconds apart
    messages: list[tuple[float, str, str]] = [
        (0.0, "caffe.cpp:217", "Using GPUs 0"),
        (0.0263, "caffe.cpp:222", "GPU 0: GeForce GTX 1070"),
        (0.3357, "solver.cpp:48", "Initializing solver from parameters: \n" + "\n".join(solver_parameter_dump(run))),
        (0.0002, "solver.cpp:91", f"Creating training net from net file: {run.net_file}"),
        (0.0003, "net.cpp:322", "The NetState phase (0) differed from the phase (1) specified by a rule in layer cifar"),
        (0.1927, "net.cpp:261", "This network produces output accuracy"),
        (quick, "net.cpp:261", "This network produces output loss"),
        (quick, "net.cpp:274", "Network initialization done."),
        (0.0002, "solver.cpp:181", f"Creating test net (#0) specified by net file: {run.net_file}"),
        (0.0002, "net.cpp:322", "The NetState phase (1) differed from the phase (0) specified by a rule in layer cifar"),
        (0.0411, "net.cpp:261", "This network produces output accuracy"),
        (quick, "net.cpp:261", "This network produces output loss"),
        (quick, "net.cpp:274", "Network initialization done."),
        (0.0008, "solver.cpp:60", "Solver scaffolding done."),
        (0.0009, "caffe.cpp:251", "Starting Optimization"),
        (quick, "solver.cpp:279", f"Solving {run.net_name}"),
        (quick, "solver.cpp:280", "Learning Rate Policy: step"),
    ]

    def test_block(iteration: int) -> list[tuple[float, str, str]]:
        accuracy, loss = run.test_result(iteration)
        return [
            (0.0015, "solver.cpp:337", f"Iteration {iteration}, Testing net (#0)"),
            (1.2843, "solver.cpp:404", f"    Test net output #0: accuracy = {caffe_float(accuracy)}"),
            (quick, "solver.cpp:404", f"    Test net output #1: loss = {caffe_float(loss)} (* 1 = {caffe_float(loss)} loss)"),
        ]

    seconds_per_display = 4.1 * run.display / 100
    # The seconds spent training go on the first line printed after them: a test, a display or a snapshot.
    gap_before_next_line = 0.0
    for iteration in range(0, run.max_iter, run.display):
        block = test_block(iteration) if iteration % run.test_interval == 0 else []
        loss = caffe_float(run.train_loss(iteration))
        block += [
            (0.071, "solver.cpp:228", f"Iteration {iteration}, loss = {loss}"),
            (quick, "solver.cpp:244", f"    Train net output #0: accuracy = {caffe_float(run.train_accuracy(iteration))}"),
            (quick, "solver.cpp:244", f"    Train net output #1: loss = {loss} (* 1 = {loss} loss)"),
            (quick, "sgd_solver.cpp:106", f"Iteration {iteration}, lr = {caffe_float(run.lr_at(iteration))}"),
        ]
        messages += with_first_gap(block, gap_before_next_line)
        gap_before_next_line = seconds_per_display
        # A snapshot is taken once the update that completes iteration k * snapshot is applied.
        next_display = iteration + run.display
        if next_display % run.snapshot == 0:
            messages += with_first_gap(snapshot_lines(run, next_display), gap_before_next_line)
            gap_before_next_line = 0.0213
    messages += [
        (gap_before_next_line, "solver.cpp:317", f"Iteration {run.max_iter}, loss = {caffe_float(run.train_loss(run.max_iter))}"),
        *test_block(run.max_iter),
        (0.0003, "solver.cpp:322", "Optimization Done."),
        (0.0001, "caffe.cpp:255", "Optimization Done."),
    ]
    return messages


def with_first_gap(block: list[tuple[float, str, str]], gap_seconds: float) -> list[tuple[float, str, str]]:
    """The block with the time that passed before it added to its first line."""
    if not block:
        return block
    first_gap, source, message = block[0]
    return [(first_gap + gap_seconds, source, message), *block[1:]]


def snapshot_lines(run: CaffeRun, iteration: int) -> list[tuple[float, str, str]]:
    stem = f"{run.snapshot_prefix}_iter_{iteration}"
    return [
        (0.0, "solver.cpp:454", f"Snapshotting to binary proto file {stem}.caffemodel"),
        (0.0131, "sgd_solver.cpp:273", f"Snapshotting solver state to binary proto file {stem}.solverstate"),
    ]


def caffe_log_text(run: CaffeRun, rng: np.random.Generator) -> str:
    """The log as `caffe train ... 2>&1 | tee caffe.log` leaves it: glog lines with a running clock."""
    moment = CAFFE_START
    lines = []
    for gap_seconds, source, message in caffe_messages(run):
        jittered = gap_seconds * rng.uniform(0.9, 1.1) + rng.uniform(0.0, 0.00003)
        moment += timedelta(microseconds=round(jittered * 1e6))
        lines.append(glog_line(moment, CAFFE_THREAD_ID, source, message))
    return "\n".join(lines) + "\n"


def cifar_loss_trend(iterations, floor: float) -> np.ndarray:
    """The expected loss of a small CIFAR-10 net: ln 10 at iteration 0, falling to `floor`."""
    iterations = np.asarray(iterations, dtype=float)
    lr_step_drop = np.where(iterations >= CIFAR_LR_STEP, 0.9, 1.0)  # the lr step buys a last drop
    return exponential_decay(iterations, LN_10, floor, 650.0) * lr_step_drop


def cifar_loss_curve(rng: np.random.Generator, floor: float, noise: float) -> np.ndarray:
    """Per-display train loss, one batch each: the trend with batch-to-batch noise."""
    losses = noisy(cifar_loss_trend(np.arange(0, CIFAR_MAX_ITER + 1, CIFAR_DISPLAY), floor), noise, rng)
    losses[0] = LN_10 * math.exp(rng.normal(0, 0.002))
    return losses


def cifar_test_results(rng: np.random.Generator, floor: float, saturated_from: int | None = None) -> Callable[[int], tuple[float, float]]:
    """Test accuracy and loss per test pass (10,000 images): the trend plus a little noise, or saturated."""
    noise = {iteration: rng.normal(0, 0.01) for iteration in range(0, CIFAR_MAX_ITER + 1, CIFAR_TEST_INTERVAL)}

    def test_result(iteration: int) -> tuple[float, float]:
        if saturated_from is not None and iteration >= saturated_from:
            return 0.1, CAFFE_SATURATED_LOSS  # one class predicted for all: chance on balanced CIFAR-10
        loss = float(cifar_loss_trend(iteration, floor)) * math.exp(noise[iteration])
        accuracy = float(accuracy_for_loss(np.array(loss), LN_10, 0.1, 0.5, 0.84))
        return round(min(max(accuracy, 0.0), 1.0), 4), loss

    return test_result


def cifar_caffe_run(losses: np.ndarray, accuracies: np.ndarray, test_result: Callable[[int], tuple[float, float]], base_lr: float) -> CaffeRun:
    """The Caffe run of the given per-display numbers, with the shared CIFAR-10 solver."""
    return CaffeRun(
        net_name="CIFAR10_small",
        net_file="models/cifar10_small/train_val.prototxt",
        base_lr=base_lr,
        weight_decay=0.004,
        max_iter=CIFAR_MAX_ITER,
        display=CIFAR_DISPLAY,
        test_interval=CIFAR_TEST_INTERVAL,
        test_iter=100,
        stepsize=CIFAR_LR_STEP,
        snapshot=1500,
        snapshot_prefix="snapshots/cifar10_small",
        train_loss=lambda iteration: float(losses[iteration // CIFAR_DISPLAY]),
        train_accuracy=lambda iteration: float(accuracies[iteration // CIFAR_DISPLAY]),
        test_result=test_result,
    )


def write_caffe_healthy(folder: Path, rng: np.random.Generator) -> None:
    """base_lr 0.001: loss from ln 10 down to about 0.6, test accuracy up to about 0.78."""
    losses = cifar_loss_curve(rng, floor=0.62, noise=0.07)
    accuracies = rng.binomial(100, accuracy_for_loss(losses, LN_10, 0.1, 0.5, 0.84)) / 100
    test_result = cifar_test_results(rng, floor=0.70)
    write_text(folder / "caffe.log", caffe_log_text(cifar_caffe_run(losses, accuracies, test_result, base_lr=0.001), rng))


def write_caffe_saturated_softmax(folder: Path, rng: np.random.Generator) -> None:
    """base_lr 0.1: a noisy fall, then at iteration 1300 the softmax saturates: 87.3365, accuracy 0, for good."""
    saturated_from = 1300
    losses = cifar_loss_curve(rng, floor=1.45, noise=0.12)
    accuracies = rng.binomial(100, accuracy_for_loss(losses, LN_10, 0.1, 0.5, 0.84)) / 100
    saturated = np.arange(losses.size) * CIFAR_DISPLAY >= saturated_from
    losses[saturated] = CAFFE_SATURATED_LOSS
    accuracies[saturated] = 0.0
    test_result = cifar_test_results(rng, floor=1.55, saturated_from=saturated_from)
    write_text(folder / "caffe.log", caffe_log_text(cifar_caffe_run(losses, accuracies, test_result, base_lr=0.1), rng))


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))  # bytes, so no platform turns \n into \r\n


# ---------------------------------------------------------------- the samples

SAMPLES: tuple[Sample, ...] = (
    Sample(
        "tb-healthy", "tensorboard", "tensorboard RecordWriter, `simple_value` scalars",
        "CIFAR-10 classifier, SGD with cosine decay (`lr` scalar): `train/loss` falls from ln 10 to about 0.5, `val/loss` follows to 0.6.",
        "healthy", 101, write_tb_healthy,
    ),
    Sample(
        "tb-lr-too-high", "tensorboard", "tensorboard RecordWriter, `simple_value` scalars",
        "lr 0.8: after two points of descent `train/loss` grows geometrically (x1.4-1.75 per point) for 15 points to the thousands, then NaN to the end.",
        "lr_too_high", 102, write_tb_lr_too_high,
    ),
    Sample(
        "keras-tf2-overfitting", "tensorboard", "tensorboard RecordWriter, TF2 tensor scalars (`scalar_pb`) in `train/` + `validation/`",
        "30 epochs: `epoch_loss` keeps falling (1.6 to 0.04) while `validation/epoch_loss` bottoms out at 0.77 near epoch 7 and doubles by the end.",
        "overfitting", 103, write_keras_tf2_overfitting,
    ),
    Sample(
        "lightning-sudden-nan", "csv", "Lightning CSVLogger layout (`csv.DictWriter`, sparse rows)",
        "`train_loss_step` steady near 0.4 (last finite 0.42 at step 849), NaN at once from step 863 with no growth before it, first logged at 899; `val_loss` and `train_loss_epoch` NaN from epoch 4 on.",
        "sudden_nan", 104, write_lightning_sudden_nan,
    ),
    Sample(
        "keras-csv-healthy", "csv", "Keras CSVLogger layout (`csv.DictWriter`)",
        "20 epochs: `loss` and `val_loss` both fall and flatten (1.25 to 0.25, 1.04 to 0.34); accuracy to 0.92, `val_accuracy` to 0.89.",
        "healthy", 105, write_keras_csv_healthy,
    ),
    Sample(
        "caffe-saturated-softmax", "caffe", "BVLC Caffe glog lines (2016 master, before the iter/s display of 1.0)",
        "base_lr 0.1: the loss falls noisily from ln 10, then jumps to 87.3365 = -ln(FLT_MIN) at iteration 1300 and stays; train accuracy 0, test accuracy 0.1 (chance).",
        "saturated_output", 106, write_caffe_saturated_softmax,
    ),
    Sample(
        "caffe-healthy", "caffe", "BVLC Caffe glog lines (2016 master, before the iter/s display of 1.0)",
        "base_lr 0.001, lr step at 2000: loss from ln 10 to about 0.6, test accuracy up to 0.78; snapshots at 1500 and 3000.",
        "healthy", 107, write_caffe_healthy,
    ),
)

README_HEADER = """\
# Sample runs

Small training runs, healthy and broken, one folder per run, in every format nandoctor reads.
`make demo` diagnoses them all (`nandoctor analyze sample_logs`) and the tests read them.

Generated by `scripts/make_sample_logs.py` (`make samples`): the trajectories are simulated by
formulas with a fixed seed per run, and the files are written the way each framework writes them.
Do not edit these files by hand: change the script and regenerate. `tests/test_sample_logs.py`
fails when this folder and the script's output differ by a single byte.

| run | written as | what happened | expected diagnosis |
|---|---|---|---|
"""

README_FOOTER = """
Notes
- Event files are written with tensorboard's own `RecordWriter` and `Event`/`Summary` protos (what
  `EventFileWriter` does), with the wall clock and the file names pinned so that every byte repeats.
- The CSV files have `\\r\\n` line ends, as Python's `csv` module writes them for both CSVLoggers.
- The Caffe logs keep the lines a parser needs (solver parameters, `Solving`, displays, tests,
  snapshots, `Optimization Done.`) and leave out the per-layer set-up lines of a real log.
- `.gitattributes` marks everything here as not text, so git never rewrites a line end.
"""

GITATTRIBUTES = "# Byte-exact files: tests compare them with scripts/make_sample_logs.py output.\n* -text\n"


def readme_text(samples: Sequence[Sample]) -> str:
    rows = [f"| `{sample.name}/` | {sample.written_by} | {sample.what_happened} | `{sample.expected}` |" for sample in samples]
    return README_HEADER + "\n".join(rows) + "\n" + README_FOOTER


def write_samples(out: Path, samples: Sequence[Sample] = SAMPLES) -> None:
    """Write every sample run folder, the README and .gitattributes into `out`; other files there are left alone."""
    out.mkdir(parents=True, exist_ok=True)
    for sample in samples:
        folder = out / sample.name
        if folder.exists():
            shutil.rmtree(folder)  # a fresh folder, so no file of an older version lingers
        folder.mkdir()
        sample.write(folder, np.random.default_rng(sample.seed))
    write_text(out / "README.md", readme_text(samples))
    write_text(out / ".gitattributes", GITATTRIBUTES)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder to write the runs into (default: the repository's sample_logs/)")
    arguments = parser.parse_args(argv)
    write_samples(arguments.out)
    print(f"wrote {len(SAMPLES)} sample runs to {arguments.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
