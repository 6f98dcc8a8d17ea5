"""The console-log reader, on text written the way each framework prints it and on real third-party logs."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest

from nandoctor.api import run_analysis
from nandoctor.load import load_paths
from nandoctor.readers import ReadError, read_head, reader_for
from nandoctor.readers import stdout as stdout_reader
from nandoctor.roles import role_for

# ---------------------------------------------------------------- writers, as the frameworks print


def keras_value(value: float) -> str:
    """Keras Progbar: ' %.4f' when |value| > 1e-3, else ' %.4e' (so a zero loss reads 0.0000e+00)."""
    return f"{value:.4f}" if abs(value) > 1e-3 or math.isnan(value) else f"{value:.4e}"


def keras_fit(epochs: list[list[dict]], final: list[dict], first_epoch: int = 1, total_epochs: int | None = None, samples: int = 320) -> str:
    """`model.fit(verbose=1)` on a terminal: an `Epoch i/n` header, then the progress bar redrawn with
    backspaces and `\\r` after every batch, then the epoch's last line with the validation metrics."""
    total_epochs = total_epochs or len(epochs)
    out = []
    for offset, (batches, end) in enumerate(zip(epochs, final)):
        out.append(f"Epoch {first_epoch + offset}/{total_epochs}\n")
        width = 0
        for index, logs in enumerate(batches, start=1):
            done = samples * index // len(batches)
            bar = "=" * (29 * index // len(batches)) + ">" + "." * (29 - 29 * index // len(batches))
            line = f"{done:>{len(str(samples))}}/{samples} [{bar}] - ETA: {len(batches) - index}s" + "".join(f" - {key}: {keras_value(value)}" for key, value in logs.items())
            out.append("\b" * width + "\r" + line)
            width = len(line)
        line = f"{samples}/{samples} [==============================] - 2s 6ms/step" + "".join(f" - {key}: {keras_value(value)}" for key, value in end.items())
        out.append("\b" * width + "\r" + line + "\n")
    return "".join(out)


def tqdm_bar(description: str, done: int, total: int, postfix: str = "") -> str:
    filled = 10 * done // total
    bar = "\u2588" * filled + " " * (10 - filled)
    tail = f", {postfix}" if postfix else ""
    return f"{description}{100 * done // total:3d}%|{bar}| {done}/{total} [00:{done:02d}<00:{total - done:02d},  8.55it/s{tail}]"


def lightning_bars(losses: list[list[float]], extra: str = "", one_line: bool = False) -> str:
    """Lightning 1.x TQDM bar: `Epoch N:  65%|...| 13/20 [..., loss=0.168, v_num=6]`, redrawn with `\\r`."""
    out = []
    for epoch, batch_losses in enumerate(losses):
        for index, loss in enumerate(batch_losses, start=1):
            out.append("\r" + tqdm_bar(f"Epoch {epoch}: ", index, len(batch_losses), f"loss={loss:.3g}, v_num=6{extra}"))
        if not one_line:
            out.append("\n")
    return "".join(out) + ("\n" if one_line else "")


def megatron_line(iteration: int, loss: float, scale: float, grad_norm: float, skipped: int = 0) -> str:
    """Megatron-LM `training_log`: ` | key: value |` fields after the iteration counter."""
    return (
        f" iteration {iteration:8d}/{159576:8d} | consumed samples: {iteration * 96:12d} | elapsed time per iteration (ms): 18706.1 |"
        f" learning rate: {6e-5:.3E} | global batch size: {96:5d} | lm loss: {loss:.6E} | loss scale: {scale:.1f} |"
        f" grad norm: {grad_norm:.3f} | number of skipped iterations: {skipped:3d} | number of nan iterations: {0:3d} |\n"
    )


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def read(tmp_path: Path, text: str | bytes, name: str = "train.log"):
    return stdout_reader.read(write(tmp_path, name, text))


def by_name(part) -> dict:
    return {series.name: series for series in part.series}


def only_run(path: Path):
    runs, problems = load_paths([str(path)])
    assert not problems, problems
    assert len(runs) == 1
    return runs[0]


# ---------------------------------------------------------------- Keras


def test_keras_progress_bar_gives_the_final_value_of_each_epoch(tmp_path):
    batches = [[{"loss": 2.0 - 0.1 * b, "accuracy": 0.1 * b} for b in range(1, 6)] for _ in range(3)]
    final = [{"loss": 1.5, "accuracy": 0.5, "val_loss": 1.6, "val_accuracy": 0.45, "lr": 0.01}, {"loss": 1.2, "accuracy": 0.6, "val_loss": 1.3, "val_accuracy": 0.55, "lr": 0.01}, {"loss": 1.0, "accuracy": 0.7, "val_loss": 1.35, "val_accuracy": 0.5, "lr": 0.001}]
    part = read(tmp_path, keras_fit(batches, final))
    series = by_name(part)
    assert part.meta["framework"] == "keras"
    assert series["loss"].steps.tolist() == [1, 2, 3] and series["loss"].step_unit == "epoch"
    assert series["loss"].values.tolist() == [1.5, 1.2, 1.0]
    assert series["val_loss"].values.tolist() == [1.6, 1.3, 1.35]
    assert series["lr"].values.tolist() == [0.01, 0.01, 0.001]
    assert series["loss"].locations.tolist() == [2, 4, 6]  # the epoch's last line, 1-based


def test_keras_nan_and_tiny_values_as_keras_formats_them(tmp_path):
    final = [{"loss": 0.5}, {"loss": 0.0}, {"loss": float("nan")}]
    text = keras_fit([[{"loss": 0.6}]] * 3, final)
    assert "loss: 0.0000e+00" in text and "loss: nan" in text
    values = by_name(read(tmp_path, text))["loss"].values
    assert values[0] == 0.5 and values[1] == 0.0 and math.isnan(values[2])


def test_old_keras_epoch_0_headers_and_padded_values(tmp_path):
    text = "".join(f"Epoch {epoch}\n61878/61878 [==============================] - 5s - loss: {loss:.4f}     \n" for epoch, loss in enumerate([1.1788, 1.0403, 13.3614, 26.6396]))
    series = by_name(read(tmp_path, text))["loss"]
    assert series.steps.tolist() == [0, 1, 2, 3]
    assert series.values.tolist() == [1.1788, 1.0403, 13.3614, 26.6396]


def test_keras_terminate_on_nan_is_an_early_stop_at_its_epoch(tmp_path):
    text = keras_fit([[{"loss": 0.9}], [{"loss": 0.7}, {"loss": float("nan")}]], [{"loss": 0.8}, {"loss": float("nan")}])
    text = text.rstrip("\n") + "\nBatch 1: Invalid loss, terminating training\n"
    part = read(tmp_path, text)
    stops = [event for event in part.events if event.kind == "early_stop"]
    assert len(stops) == 1 and stops[0].step == 2 and "Invalid loss" in stops[0].message
    assert math.isnan(by_name(part)["loss"].values[-1])


def test_a_progress_line_before_the_first_header_belongs_to_the_epoch_before_it(tmp_path):
    line = "50000/50000 [==============================] - 455s - loss: 2.3030 - acc: 0.0994 - val_loss: 2.3026 - val_acc: 0.1000\n"
    part = read(tmp_path, line + "Epoch 34/400\n" + line + "Epoch 35/400\n" + line)
    assert by_name(part)["loss"].steps.tolist() == [33, 34, 35]
    assert any("before the first epoch header" in warning for warning in part.warnings)


def test_keras_epoch_counter_going_back_is_a_restart_and_the_loader_keeps_the_last_run(tmp_path):
    first = keras_fit([[{"loss": 1.0}]] * 3, [{"loss": 1.6}, {"loss": 1.2}, {"loss": 1.1}])
    second = keras_fit([[{"loss": 1.0}]] * 2, [{"loss": 1.5}, {"loss": 1.3}])
    path = write(tmp_path, "train.log", first + "[... cut ...]\n" + second)
    assert [event.kind for event in stdout_reader.read(path).events] == ["restart"]
    run = only_run(path)
    assert run.get("loss").values.tolist() == [1.5, 1.3]


# ---------------------------------------------------------------- PyTorch-style prints


@pytest.mark.parametrize(
    ("lines", "steps", "losses"),
    [
        (["epoch 1 step 100 loss 0.53", "epoch 1 step 200 loss 0.41", "epoch 2 step 300 loss 0.38"], [100, 200, 300], [0.53, 0.41, 0.38]),
        (["Epoch 1/200 | Loss: 0.6924", "Epoch 2/200 | Loss: 0.5995", "Epoch 3/200 | Loss: 0.5894"], [1, 2, 3], [0.6924, 0.5995, 0.5894]),
        (["iter 0 || Loss: 19.4798 ||", "iter 10 || Loss: 10.4773 ||", "iter 20 || Loss: 7.9610 ||"], [0, 10, 20], [19.4798, 10.4773, 7.961]),
        (["epoch:0 || iter:0 || Loss:26.3755", "epoch:0 || iter:10 || Loss:19.4519", "epoch:1 || iter:20 || Loss:18.0558"], [0, 10, 20], [26.3755, 19.4519, 18.0558]),
        (["=> STEP  748   lr: 0.000598   giou_loss: 2.10   conf_loss: 6.18   total_loss: 8.31", "=> STEP  749   lr: 0.000599   giou_loss: 2.54   conf_loss: 6.51   total_loss: 9.07", "=> STEP  750   lr: 0.000600   giou_loss:  nan   conf_loss: 10.89   total_loss:  nan"], [748, 749, 750], [8.31, 9.07, math.nan]),
        (["INFO:tensorflow:global step 1944: loss = 14.0053 (0.058 sec/step)", "INFO:tensorflow:global step 1945: loss = 13.9 (0.058 sec/step)", "INFO:tensorflow:global step 1946: loss = inf (0.058 sec/step)"], [1944, 1945, 1946], [14.0053, 13.9, math.inf]),
        (["INFO:tensorflow:loss = 0.52, step = 101 (0.3 sec)", "INFO:tensorflow:loss = 0.50, step = 201 (0.3 sec)", "INFO:tensorflow:loss = 0.47, step = 301 (0.3 sec)"], [101, 201, 301], [0.52, 0.50, 0.47]),
        (["iter: 5100  loss: 1.5 (1.7)  loss_classifier: 0.5 (0.6)  time: 0.5 (0.6)  lr: 0.000467  max mem: 3000", "iter: 5120  loss: 1.4 (1.6)  loss_classifier: 0.5 (0.6)  time: 0.5 (0.6)  lr: 0.000467  max mem: 3000", "iter: 5140  loss: nan (nan)  loss_classifier: nan (nan)  time: 0.5 (0.6)  lr: 0.000467  max mem: 3000"], [5100, 5120, 5140], [1.5, 1.4, math.nan]),
    ],
)
def test_print_lines_give_the_printed_step_and_loss(tmp_path, lines, steps, losses):
    run = only_run(write(tmp_path, "train.log", "\n".join(lines) + "\n"))
    loss = run.get(run.train_loss)
    assert loss.steps.tolist() == steps
    assert np.array_equal(loss.values, np.array(losses), equal_nan=True)


def test_epoch_and_loss_on_separate_lines_take_the_epoch_above(tmp_path):
    text = "".join(f"epoch {epoch:3d}\r\nloss: {loss:.6f}\r\ntest accuracy: {accuracy:.2f}%, (512570/2466133)\r\n" for epoch, loss, accuracy in [(1, 6.608444, 20.78), (2, 5.523848, 24.24), (3, 4.933521, 27.41)])
    part = read(tmp_path, text)
    series = by_name(part)
    assert series["loss"].steps.tolist() == [1, 2, 3] and series["loss"].step_unit == "epoch"
    assert series["loss"].locations.tolist() == [2, 5, 8]
    assert series["test accuracy"].values.tolist() == [20.78, 24.24, 27.41]
    assert role_for("test accuracy") == "val_accuracy"


def test_a_batch_counter_that_restarts_each_epoch_is_made_global(tmp_path):
    text = "".join(f"ep: {epoch}, batch: {batch}, time: 8.5, ntokens: 485.20/513, loss: {10 - epoch - batch / 100:.6f}\n" for epoch in range(3) for batch in (20, 40, 60))
    part = read(tmp_path, text)
    loss = by_name(part)["loss"]
    assert loss.steps.tolist() == [20, 40, 60, 100, 120, 140, 180, 200, 220]
    assert not [event for event in part.events if event.kind == "restart"]
    assert any("starts again every epoch" in warning for warning in part.warnings)


def test_bracketed_epoch_and_iteration_with_a_total_count_batches_across_epochs(tmp_path):
    text = "".join(f"[Epoch {epoch}][Iter {it}/500] loss={1.0 / (epoch * 500 + it):.6f} lr=0.01\n" for epoch in (1, 2) for it in (100, 500))
    loss = by_name(read(tmp_path, text))["loss"]
    assert loss.steps.tolist() == [100, 500, 600, 1000]


def test_a_python_warning_glued_to_the_loss_line_is_not_read_as_metrics(tmp_path):
    warning = "/home/u/ssd.pytorch/utils/augmentations.py:238: VisibleDeprecationWarning: Creating an ndarray from ragged nested sequences is deprecated.\n  mode = random.choice(self.sample_options)\n"
    text = "".join(f"timer: 0.35 sec.\niter {10 * i} || Loss: {20 / (i + 1):.4f} || " + warning for i in range(5))
    part = read(tmp_path, text)
    assert [series.name for series in part.series] == ["Loss"]
    assert by_name(part)["Loss"].steps.tolist() == [0, 10, 20, 30, 40]


def test_test_lines_become_validation_series_at_the_last_training_step(tmp_path):
    text = "epoch:0 || iter:0 || Loss:26.3\n->> pal1 conf loss:11.1 || pal1 loc loss:4.9\n->>lr:0.0005\nepoch:0 || iter:10 || Loss:19.4\nstart eval..........\ntest epoch:0 || Loss:4.3688\nSaving best state,epoch 0\nepoch:1 || iter:20 || Loss:8.8\n"
    run = only_run(write(tmp_path, "train.log", text))
    assert run.train_loss == "Loss" and run.val_loss == "test_Loss"
    assert run.get("test_Loss").steps.tolist() == [10]
    assert run.get("pal1 conf loss").steps.tolist() == [0]
    assert run.get("lr").role == "lr"


def test_argparse_namespace_is_hyperparameters_not_series(tmp_path):
    text = "Namespace(batch_size=64, lr=0.0001, momentum=0.9, resume=None)\n" + "".join(f"iter {i} || Loss: {1 / (i + 1):.4f} ||\n" for i in range(4))
    part = read(tmp_path, text)
    assert [series.name for series in part.series] == ["Loss"]
    assert part.meta["hparams"] == {"batch_size": 64.0, "lr": 0.0001, "momentum": 0.9}


# ---------------------------------------------------------------- Lightning and tqdm bars


def test_lightning_bar_loss_is_the_train_loss_when_nothing_better_exists(tmp_path):
    part = read(tmp_path, lightning_bars([[0.9, 0.8, 0.7], [0.6, 0.5, 0.4]]))
    assert part.meta["framework"] == "lightning"
    loss = by_name(part)["loss"]
    assert loss.steps.tolist() == [0, 1] and loss.values.tolist() == [0.7, 0.4]


def test_lightning_bar_loss_yields_to_the_logged_train_loss(tmp_path):
    text = lightning_bars([[0.9, 0.8], [0.6, 0.5]], extra=", train_loss_step=0.450")
    run = only_run(write(tmp_path, "train.log", text))
    assert run.train_loss == "train_loss_step"
    assert "smoothed_loss" in [series.name for series in run.series]


def test_a_bar_that_redraws_every_epoch_on_one_line_gives_each_epochs_last_redraw(tmp_path):
    losses = [[1.0 / (epoch + 1) + 0.01 * (9 - batch) for batch in range(10)] for epoch in range(40)]
    loss = by_name(read(tmp_path, lightning_bars(losses, one_line=True)))["loss"]
    assert loss.steps.tolist() == list(range(40))
    assert np.allclose(loss.values, [float(f"{epoch[-1]:.3g}") for epoch in losses])
    assert set(loss.locations.tolist()) == {1}


# ---------------------------------------------------------------- fairseq


def test_old_fairseq_progress_keeps_the_current_value_not_the_running_average(tmp_path):
    text = "| [en] dictionary: 43881 types\n" + "".join(
        f"| epoch 001  {1000 * i} / 331737 loss={loss} ({avg}), wps=18515, wpb=31259, bsz=861, lr=1.25, clip=100%, gnorm={gnorm}\n"
        for i, (loss, avg, gnorm) in enumerate([("9.57", "10.94", "2.0540"), ("8.61", "9.91", "1.7149"), ("10405.01", "136.96", "inf")], start=1)
    )
    part = read(tmp_path, text)
    series = by_name(part)
    assert part.meta["framework"] == "fairseq"
    assert series["loss"].steps.tolist() == [1000, 2000, 3000]
    assert series["loss"].values.tolist() == [9.57, 8.61, 10405.01]
    assert series["gnorm"].values[-1] == math.inf and role_for("gnorm") == "grad_norm"


def test_newer_fairseq_uses_num_updates_and_names_the_valid_subset(tmp_path):
    stamp = "2020-03-01 10:00:00 | INFO | "
    inner = [f"{stamp}train_inner | epoch 003:    {i:3d} / 356 loss=9.{i}, nll_loss=8.4, ppl=347.28, wps=1500, ups=1.2, wpb=3000, bsz=100, num_updates={712 + i}, lr=0.0005, gnorm=1.5, loss_scale=8, train_wall=10, wall=40\n" for i in (100, 200)]
    valid = f"{stamp}valid | epoch 003 | valid on 'valid' subset | loss 8.3 | nll_loss 7.1 | ppl 137.2 | wps 8000 | wpb 3000 | bsz 100 | num_updates 1068 | best_loss 8.3\n"
    summary = f"{stamp}train | epoch 003 | loss 9.4 | nll_loss 8.4 | ppl 340 | wps 1500 | num_updates 1068 | lr 0.0005 | gnorm 1.4 | loss_scale 8 | wall 60\n"
    run = only_run(write(tmp_path, "train.log", "".join(inner) + valid + summary))
    assert run.train_loss == "loss" and run.get("loss").steps.tolist() == [812, 912]
    assert run.val_loss == "valid_loss" and run.get("valid_loss").steps.tolist() == [1068]
    assert run.get("train_loss").values.tolist() == [9.4]  # the epoch summary, kept apart from the progress lines
    assert run.get("loss_scale").role == "loss_scale"


def test_fairseq_overflow_cascade_continues_the_printed_loss_scale(tmp_path):
    text = "| epoch 027 | loss 6.343 | nll_loss 4.984 | num_updates 10198 | lr 0.000626286 | gnorm 0.390 | loss_scale 0.500 | wall 23080\n"
    scales = [0.5 / 2**k for k in range(1, 6)]
    text += "".join(f"| WARNING: overflow detected, setting loss scale to: {scale}\n" for scale in scales)
    text += "Traceback (most recent call last):\n  File \"train.py\", line 1, in <module>\nFloatingPointError: Minimum loss scale reached (0.0001). Your loss is probably exploding. Try lowering the learning rate, using gradient clipping or increasing the batch size.\n"
    part = read(tmp_path, text)
    scale = by_name(part)["loss_scale"]
    assert scale.steps.tolist() == [10198, 10199, 10200, 10201, 10202, 10203]
    assert scale.values.tolist() == [0.5] + scales
    overflows = [event for event in part.events if event.kind == "overflow"]
    assert len(overflows) == 5 and all(event.step is None for event in overflows)
    assert "reducing loss scale to 0.25" in overflows[0].message
    kinds = [event.kind for event in part.events]
    assert "loss_scale_floor" in kinds and "aborted" in kinds
    aborted = next(event for event in part.events if event.kind == "aborted")
    assert "FloatingPointError: Minimum loss scale reached" in aborted.message and aborted.line == 7
    assert any("carry no step" in warning for warning in part.warnings)


# ---------------------------------------------------------------- Megatron, DeepSpeed, apex


def test_megatron_iterations_with_their_own_names_and_roles(tmp_path):
    text = megatron_line(7000, 6.444662, 2048.0, 98258.265) + "-" * 96 + "\n validation loss at iteration 7000 | lm loss value: 7.174200E+00 | lm loss PPL: 1.305315E+03 | \n" + "-" * 96 + "\n" + megatron_line(7010, 11.42026, 2048.0, 219645.978)
    run = only_run(write(tmp_path, "train.log", text))
    assert run.framework == "megatron"
    assert run.train_loss == "lm loss" and run.get("lm loss").steps.tolist() == [7000, 7010]
    assert run.get("loss scale").role == "loss_scale" and run.get("grad norm").role == "grad_norm"
    assert run.get("learning rate").role == "lr"
    assert run.val_loss == "validation lm loss value"
    assert run.get("validation lm loss PPL").role == "other"
    assert run.get("consumed samples") is None


def test_megatron_overflow_warning_joins_the_printed_loss_scale(tmp_path):
    text = megatron_line(823, 7.28, 65536.0, 48.3) + " WARNING: Overflow detected, setting loss scale to 32768.0\n" + megatron_line(824, math.nan, 32768.0, math.nan, skipped=1)
    part = read(tmp_path, text)
    scale = by_name(part)["loss scale"]
    assert scale.steps.tolist() == [823, 824] and scale.values.tolist() == [65536.0, 32768.0]
    assert "loss_scale" not in by_name(part)


def test_deepspeed_overflows_glued_to_tqdm_take_the_bars_step(tmp_path):
    stamp = "[2023-06-07 22:16:00,018] [INFO] [loss_scaler.py:181:update_scale] "
    text = ""
    for step, scale in [(378, 64), (379, 32), (380, 16)]:
        text += "\r" + tqdm_bar(" 14%", step, 2724) + f"{stamp}[deepspeed] OVERFLOW! Rank 0 Skipping step. Attempted loss scale: {scale}, reducing to {scale // 2}\n\n"
    text += "\r" + tqdm_bar(" 14%", 381, 2724) + f"{stamp}[deepspeed] OVERFLOW! Rank 0 Skipping step. Attempted loss scale: 8, but hysteresis is 2. Reducing hysteresis to 1\n"
    text += "Exception: Current loss scale already at minimum - cannot decrease scale anymore. Exiting run.\n"
    part = read(tmp_path, text)
    scale = by_name(part)["loss_scale"]
    assert scale.steps.tolist() == [378, 379, 380, 381] and scale.values.tolist() == [32, 16, 8, 8]
    overflows = [event for event in part.events if event.kind == "overflow"]
    assert [event.step for event in overflows] == [378, 379, 380, 381]
    assert "hysteresis 2 -> 1" in overflows[-1].message
    floor = next(event for event in part.events if event.kind == "loss_scale_floor")
    assert floor.step == 381 and part.meta["framework"] == "deepspeed"


def test_deepspeed_prints_three_lines_for_one_overflow_and_they_make_one_event(tmp_path):
    text = (
        "[2023-11-06 11:54:09,446] [INFO] [fused_optimizer.py:347:_update_scale] \nGrad overflow on iteration 0\n"
        "[2023-11-06 11:54:09,446] [INFO] [fused_optimizer.py:348:_update_scale] Reducing dynamic loss scale from 65536 to 32768.0\n"
        "[2023-11-06 11:54:09,446] [INFO] [logging.py:96:log_dist] [Rank 0] Overflow detected. Skipping step. Attempted loss scale: 65536, reducing to 32768.0\n"
        "[2023-11-06 11:54:10,000] [INFO] [logging.py:96:log_dist] [Rank 0] step=10, skipped=1, lr=[0.0001], mom=[(0.9, 0.999)]\n"
    )
    part = read(tmp_path, text)
    overflows = [event for event in part.events if event.kind == "overflow"]
    assert len(overflows) == 1 and overflows[0].step == 0
    assert by_name(part)["loss_scale"].values.tolist() == [32768.0]
    assert by_name(part)["lr"].steps.tolist() == [10]


def test_apex_overflows_without_steps_are_numbered_and_said_to_be(tmp_path):
    scales = [32768.0 / 2**k for k in range(6)]
    text = "".join(f"Gradient overflow.  Skipping step, loss scaler 0 reducing loss scale to {scale}\n" for scale in scales)
    text += "Gradient overflow. Skipping step, loss scaler 0 reducing loss scale to 512.0\n"  # one space, as pasted in NVIDIA/apex#318
    part = read(tmp_path, text)
    scale = by_name(part)["loss_scale"]
    assert scale.steps.tolist() == [1, 2, 3, 4, 5, 6, 7] and scale.values.tolist() == scales + [512.0]
    assert part.meta["framework"] == "pytorch"
    assert any("carry no step" in warning for warning in part.warnings)


def test_old_apex_grad_overflow_on_iteration_and_its_scale_are_one_event(tmp_path):
    text = "iter 7 loss: 1.2\n\nGrad overflow on iteration 8\nUsing dynamic loss scale of 8192.0\niter 9 loss: 1.1\n"
    part = read(tmp_path, text)
    overflows = [event for event in part.events if event.kind == "overflow"]
    assert len(overflows) == 1 and overflows[0].step == 8
    assert by_name(part)["loss_scale"].steps.tolist() == [8]


# ---------------------------------------------------------------- HF Trainer


def test_hf_trainer_dicts_take_the_step_of_the_training_bar(tmp_path):
    text = ""
    for step in range(1, 41):
        text += "\r" + tqdm_bar("  1%", step, 2724)
        if step % 20 == 0:
            text += "\r" + " " * 56 + "\n" + f"{{'loss': {2 - step / 100}, 'grad_norm': nan, 'learning_rate': 0.0001956204379562044, 'epoch': {step / 2724:.2f}}}\n\n"
            text += "".join("\r" + tqdm_bar("", batch, 50) for batch in range(1, 51)) + "\n"
            text += f"{{'eval_loss': nan, 'eval_runtime': 12.3, 'eval_samples_per_second': 81.2, 'eval_steps_per_second': 10.2, 'epoch': {step / 2724:.2f}}}\n"
    text += "{'train_runtime': 100.0, 'train_samples_per_second': 10.0, 'train_steps_per_second': 1.0, 'train_loss': 1.5, 'epoch': 1.0}\n"
    run = only_run(write(tmp_path, "train.log", text))
    assert run.framework == "hf"
    assert run.get("loss").steps.tolist() == [20, 40] and run.get("loss").values.tolist() == [1.8, 1.6]
    assert run.get("eval_loss").steps.tolist() == [20, 40] and run.val_loss == "eval_loss"
    assert run.get("grad_norm").role == "grad_norm" and math.isnan(run.get("grad_norm").values[0])
    assert run.get("train_loss") is None and run.get("eval_runtime") is None


def test_hf_dicts_with_tqdm_padding_and_no_bar_are_numbered_in_order(tmp_path):
    text = "".join(f"{{'loss': 0.0, 'grad_norm': nan, 'learning_rate': 5e-05, 'epoch': {epoch}}}" + " " * 60 + "\n" for epoch in (0.54, 0.55, 0.57))
    part = read(tmp_path, text)
    assert by_name(part)["loss"].steps.tolist() == [1, 2, 3]
    assert any("numbered 1, 2, 3" in warning for warning in part.warnings)


# ---------------------------------------------------------------- mmdetection


def test_mmdetection_epoch_iteration_counts_across_epochs_and_reads_val_lines(tmp_path):
    prefix = "2021-01-01 00:00:00,000 - mmdet - INFO - "
    text = "".join(f"{prefix}Epoch [{epoch}][{it}/7330]\tlr: 2.000e-02, eta: 1 day, 2:34:12, time: 0.512, data_time: 0.051, memory: 3000, loss_rpn_cls: 0.6, loss_rpn_bbox: 0.1, loss_cls: 1.2, acc: 85.3, loss_bbox: 0.3, loss: {2.2 - epoch / 10}\n" for epoch in (1, 2) for it in (50, 7330))
    text += f"{prefix}Epoch(val) [2][500]\tbbox_mAP: 0.3010, bbox_mAP_50: 0.5000\n"
    run = only_run(write(tmp_path, "train.log", text))
    assert run.train_loss == "loss" and run.get("loss").steps.tolist() == [50, 7330, 7380, 14660]
    assert run.get("eta") is None
    assert run.get("val_bbox_mAP").steps.tolist() == [14660]


# ---------------------------------------------------------------- sniffing


def sniffs(tmp_path: Path, name: str, text: str | bytes) -> bool:
    path = write(tmp_path, name, text)
    return stdout_reader.sniff(path, read_head(path))


def test_sniff_claims_console_logs_of_every_framework(tmp_path):
    samples = {
        "keras.log": keras_fit([[{"loss": 1.0}]] * 3, [{"loss": 0.9}, {"loss": 0.8}, {"loss": 0.7}]),
        "train.txt": "".join(f"iter {i} || Loss: {1 / (i + 1):.4f} ||\n" for i in range(3)),
        "slurm-1234.out": "".join(megatron_line(i, 6.0, 2048.0, 1.0) for i in range(3)),
        "job.stdout": "Gradient overflow.  Skipping step, loss scaler 0 reducing loss scale to 32768.0\n",
        "train": lightning_bars([[0.5], [0.4], [0.3]]),
        "run.err": "".join(f"{{'loss': {x}, 'learning_rate': 5e-05, 'epoch': 0.1}}\n" for x in (1.0, 0.9, 0.8)),
    }
    for name, text in samples.items():
        assert sniffs(tmp_path, name, text), name


def test_sniff_leaves_other_files_alone(tmp_path):
    loss_lines = "".join(f"iter {i} || Loss: {1 / (i + 1):.4f} ||\n" for i in range(5))
    assert not sniffs(tmp_path, "metrics.csv", "epoch,loss\n0,1.0\n1,0.5\n")
    assert not sniffs(tmp_path, "train.py", 'print(f"iter {i} || Loss: {loss:.4f} ||")\n' + loss_lines)
    assert not sniffs(tmp_path, "README", "Training output:\n" + loss_lines)
    assert not sniffs(tmp_path, "README.txt", loss_lines)
    assert not sniffs(tmp_path, "notes.md", loss_lines)
    assert not sniffs(tmp_path, "log.json", '{"loss": 1.0}\n')
    assert not sniffs(tmp_path, "events.log", '{"loss": 1.0, "step": 1}\n{"loss": 0.9, "step": 2}\n{"loss": 0.8, "step": 3}\n')
    assert not sniffs(tmp_path, "run.sh", "#!/bin/bash\n" + loss_lines)
    assert not sniffs(tmp_path, "caffe.log", "I0101 00:00:00.000 1 solver.cpp:228] Iteration 0, loss = 2.3\n" * 3)
    assert not sniffs(tmp_path, "two.log", loss_lines.splitlines(keepends=True)[0] * 2)
    assert not sniffs(tmp_path, "prose.txt", "We trained the model for 10 epochs.\nThe results were good.\n" * 20)
    assert not sniffs(tmp_path, "blob.log", bytes(random.Random(0).getrandbits(8) for _ in range(5000)))


def test_discovery_sends_an_unclaimed_console_log_to_this_reader(tmp_path):
    path = write(tmp_path, "train.log", "".join(f"ep: 0, batch: {20 * i}, time: 9.17, ntokens: 485.20/513, loss: {11 - i:.6f}\n" for i in range(1, 6)))
    assert reader_for(path, read_head(path)) is stdout_reader


# ---------------------------------------------------------------- bad input: no traceback, ever


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\n\n\r\n   \t",
        bytes(random.Random(1).getrandbits(8) for _ in range(200_000)),
        b"loss: " * 100_000,
        b"iter 1 || Loss: 2.0 || " + b"x" * 3_000_000 + b"\niter 2 || Loss: 1.0\n",
        b"iter 1 loss: 1.0 " + b"a" * 1_000_000 + b".py:\n",
        b"\xff\xfe\x00l\x00o\x00s\x00s\x00",
        b"step 99999999999999999999999 loss: 1.0\nstep 1 loss: 2\n",
        b"Epoch 1/2\n" + b"\b" * 10_000 + b"\r" * 10_000,
        b"Traceback (most recent call last):\n" * 1000,
        b"{'loss': " * 1000 + b"\n",
        b"Attempted loss scale: 1, reducing to 1\n" * 3 + b"Skipping step. Attempted loss scale: inf, reducing to nan\n",
    ],
)
def test_bad_input_reads_or_says_why_in_one_line(tmp_path, data):
    path = write(tmp_path, "bad.log", data)
    stdout_reader.sniff(path, read_head(path))
    try:
        part = stdout_reader.read(path)
    except ReadError as error:
        assert str(error) and "\n" not in str(error)
    else:
        assert all(series.steps.dtype == np.int64 and len(series.steps) == len(series.values) for series in part.series)


def test_crlf_ansi_colours_and_non_utf8_bytes_do_not_change_the_numbers(tmp_path):
    plain = "".join(f"Epoch {epoch} | loss: {1 / (epoch + 1):.4f}\n" for epoch in range(5))
    noisy = "".join(f"\x1b[32mEpoch {epoch}\x1b[0m | \x1b[1mloss\x1b[0m: \x1b[33m{1 / (epoch + 1):.4f}\x1b[0m \xe9t\xe9\r\n" for epoch in range(5))
    expected = by_name(read(tmp_path, plain, "plain.log"))["loss"]
    found = by_name(read(tmp_path, noisy.encode("latin-1"), "noisy.log"))["loss"]
    assert found.steps.tolist() == expected.steps.tolist() and found.values.tolist() == expected.values.tolist()
    assert found.locations.tolist() == [1, 2, 3, 4, 5]


def test_a_file_read_in_many_blocks_gives_the_same_series(tmp_path, monkeypatch):
    text = keras_fit([[{"loss": 1.0}]] * 50, [{"loss": 1 / (epoch + 1), "val_loss": 2 / (epoch + 1)} for epoch in range(50)])
    text += "".join(f"iter {i} || Loss: {1 / (i + 1):.4f} || lr: 0.001\n" for i in range(200))
    text += "".join("\r" + tqdm_bar(" 1%", step, 4000) + ("\n{'eval_loss': %s, 'epoch': 0.1}\n" % (1 / step) if step % 7 == 0 else "") for step in range(1, 400))
    whole = read(tmp_path, text)
    monkeypatch.setattr(stdout_reader, "BLOCK_BYTES", 257)
    pieces = read(tmp_path, text, "again.log")
    for name, series in by_name(whole).items():
        other = by_name(pieces)[name]
        assert series.steps.tolist() == other.steps.tolist() and np.array_equal(series.values, other.values, equal_nan=True)
        assert series.locations.tolist() == other.locations.tolist()


def test_lines_of_many_shapes_read_the_same_with_and_without_templates(tmp_path, monkeypatch):
    rng = random.Random(3)
    shapes = ["iter {i} || Loss: {x} ||", "epoch:{e} || iter:{i} || Loss:{x}", "->> pal1 conf loss:{x} || pal1 loc loss:{y}", "->>lr:{y}", "Timer: {y}"]
    lines = [rng.choice(shapes).format(i=10 * k, e=k // 50, x=rng.choice(["nan", "inf", f"{rng.random():.4f}", f"{rng.random():.2e}"]), y=f"{rng.random():.5f}") for k in range(400)]
    text = "\n".join(lines) + "\n"
    with_templates = read(tmp_path, text)
    monkeypatch.setattr(stdout_reader, "MAX_TEMPLATES", 0)
    without = read(tmp_path, text, "again.log")
    assert sorted(by_name(with_templates)) == sorted(by_name(without))
    for name, series in by_name(with_templates).items():
        other = by_name(without)[name]
        assert series.steps.tolist() == other.steps.tolist() and np.array_equal(series.values, other.values, equal_nan=True)


# ---------------------------------------------------------------- real third-party logs


def lines_of(path: Path) -> list[str]:
    """The file's lines split independently of the reader: plain bytes, \\n, and a stripped \\r."""
    return [line.rstrip("\r") for line in path.read_bytes().decode("utf-8", errors="replace").split("\n")]


def test_every_real_console_log_loads_with_a_train_loss(realworld):
    files = sorted((realworld / "stdout").iterdir()) + sorted(path for path in (realworld / "threads").glob("0*.log") if 9 <= int(path.name[:3]) <= 20)
    assert len(files) == 17
    without_loss = []
    for path in files:
        assert reader_for(path, read_head(path)) is stdout_reader, path.name
        run = only_run(path)
        if run.train_loss is None:
            without_loss.append(path.name)
        else:
            assert len(run.get(run.train_loss)) >= 1, path.name
    # apex prints no loss in threads/015: only the loss-scale messages were pasted
    assert without_loss == ["015-apex-loss-scale-halving-to-denormal.log"]


def test_real_logs_have_as_many_points_as_loss_lines_counted_by_hand(realworld):
    counts = {
        "stdout/045-Rooftop-Image-segmentation-training.log": ("Loss", lambda line: line.startswith("Epoch ") and "| Loss: " in line),
        "stdout/046-ssd-pytorch-train.log": ("Loss", lambda line: line.startswith("iter ") and " || Loss: " in line),
        "stdout/047-DSFD.pytorch-train.log": ("Loss", lambda line: line.startswith("epoch:") and "|| Loss:" in line),
        "stdout/048-LLM-pretrain-train.log": ("loss", lambda line: line.startswith("ep: ") and "loss: " in line),
        "threads/012-keras-jump-to-flat-26.64.log": ("loss", lambda line: " - loss: " in line),
        "threads/013-fairseq-fconv-loss-explodes-lr1.25.log": ("loss", lambda line: line.startswith("| epoch ") and " loss=" in line),
        "threads/017-megatron-104b-spike-7k.log": ("lm loss", lambda line: line.startswith(" iteration ") and "| lm loss:" in line),
        "threads/018-megatron-104b-glitch-warmup-end.log": ("lm loss", lambda line: line.startswith(" iteration ") and "| lm loss:" in line),
        "threads/019-hf-trainer-loss0-gradnorm-nan.log": ("loss", lambda line: line.startswith("{'loss': ")),
        "threads/020-tf2-yolov3-giou-nan-warmup-bug.log": ("total_loss", lambda line: line.startswith("=> STEP") and "total_loss:" in line),
    }
    for relative, (name, is_loss_line) in counts.items():
        path = realworld / relative
        expected = sum(1 for line in lines_of(path) if is_loss_line(line))
        assert expected > 0, relative
        series = by_name(stdout_reader.read(path))[name]
        assert len(series) == expected, (relative, len(series), expected)


def test_real_validation_and_secondary_series_counts(realworld):
    dsfd = stdout_reader.read(realworld / "stdout/047-DSFD.pytorch-train.log")
    assert len(by_name(dsfd)["test_Loss"]) == sum(1 for line in lines_of(realworld / "stdout/047-DSFD.pytorch-train.log") if line.startswith("test epoch:"))
    lstm_path = realworld / "stdout/049-Bi-LSTM-CN-Language-model-train_log.txt"
    lstm = stdout_reader.read(lstm_path)
    loss_lines = [line for line in lines_of(lstm_path) if line.startswith("loss: ")]
    assert len(by_name(lstm)["loss"]) == len(loss_lines)
    epochs = [int(line.split()[1]) for line in lines_of(lstm_path) if line.startswith("epoch")]
    assert [event.kind for event in lstm.events] == ["restart"]  # the log goes back from epoch 100 to 71: a resumed run
    assert len(only_run(lstm_path).get("loss")) == len(set(epochs))
    keras = realworld / "threads/010-keras-cifar10-rmsprop-slow-divergence.log"
    assert len(only_run(keras).get("loss")) == sum(1 for line in lines_of(keras)[lines_of(keras).index("[... cut ...]") :] if " - loss: " in line)


def test_real_overflow_pastes_become_loss_scale_series_and_events(realworld):
    fairseq = realworld / "threads/014-fairseq-fp16-loss-scale-floor.log"
    apex = realworld / "threads/015-apex-loss-scale-halving-to-denormal.log"
    deepspeed = realworld / "threads/016-deepspeed-hf-loss-scale-collapse.log"
    for path, needle, printed_scales in ((fairseq, "overflow detected, setting loss scale to", 1), (apex, "Gradient overflow.", 0), (deepspeed, "[deepspeed] OVERFLOW!", 0)):
        text = path.read_text(encoding="utf-8", errors="replace")
        overflow_lines = text.count(needle)
        part = stdout_reader.read(path)
        assert len([event for event in part.events if event.kind == "overflow"]) == overflow_lines, path.name
        assert len(by_name(part)["loss_scale"]) == overflow_lines + printed_scales, path.name
    steps = [event.step for event in stdout_reader.read(deepspeed).events if event.kind == "overflow"]
    assert steps == [378, 379, 380, 381, 382, 417]
    hf = only_run(deepspeed)
    assert hf.get("loss").steps.tolist() == [140, 320, 380] and hf.framework == "hf"
    assert [event.kind for event in hf.events if event.kind != "overflow"] == ["aborted"]
    assert only_run(fairseq).get("loss_scale").values[0] == 0.5  # the epoch summary's `loss_scale 0.500`, then the halvings


def test_collapsing_real_loss_scales_are_diagnosed_by_amp001(realworld):
    for name in ("014-fairseq-fp16-loss-scale-floor.log", "015-apex-loss-scale-halving-to-denormal.log", "016-deepspeed-hf-loss-scale-collapse.log"):
        analysis = run_analysis([str(realworld / "threads" / name)])
        (diagnosis,) = analysis.diagnoses
        assert "AMP001" in {finding.rule_id for finding in diagnosis.findings}, name
        assert diagnosis.causes and diagnosis.causes[0].id == "loss_scale_overflow", name


def test_frameworks_named_from_the_real_lines(realworld):
    expected = {
        "threads/009-keras-fractalnet-plateau-ln10.log": "keras",
        "threads/013-fairseq-fconv-loss-explodes-lr1.25.log": "fairseq",
        "threads/016-deepspeed-hf-loss-scale-collapse.log": "hf",
        "threads/017-megatron-104b-spike-7k.log": "megatron",
        "stdout/046-ssd-pytorch-train.log": "pytorch",
        "threads/020-tf2-yolov3-giou-nan-warmup-bug.log": None,  # a custom loop: nothing in the lines says TensorFlow
    }
    for relative, framework in expected.items():
        assert stdout_reader.read(realworld / relative).meta.get("framework") == framework, relative


def test_a_bar_loss_stays_the_train_loss_beside_component_losses(tmp_path):
    text = lightning_bars([[0.9, 0.8], [0.6, 0.5], [0.4, 0.3]], extra=", loss_cls=0.200, loss_box=0.100")
    run = only_run(write(tmp_path, "train.log", text))
    assert run.train_loss == "loss" and run.get("smoothed_loss") is None


@pytest.mark.parametrize(
    ("line", "scale", "framework"),
    [
        ("2021-03-08 12:33:12 | INFO | fairseq.trainer | NOTE: overflow detected, setting loss scale to: 0.00048828125", 0.00048828125, "fairseq"),
        ("2021-03-08 12:33:12 | INFO | fairseq.trainer | NOTE: gradient overflow detected, ignoring gradient, setting loss scale to: 2.0", 2.0, "fairseq"),
        ("[INFO] [stage2.py:1500:step] [deepscale] OVERFLOW! Rank 0 Skipping step. Attempted loss scale: 1, reducing to 1", 1.0, "deepspeed"),
        ("[deepspeed] fp16 dynamic loss scale overflow! Skipping step. Attempted loss scale: 65536.0, reducing to 32768.0", 32768.0, "deepspeed"),
        ("Gradient overflow.  Skipping step, reducing loss scale to 16384.0", 16384.0, "pytorch"),
    ],
)
def test_every_spelling_of_an_overflow_message_is_one_overflow(tmp_path, line, scale, framework):
    part = read(tmp_path, line + "\n")
    (overflow,) = [event for event in part.events if event.kind == "overflow"]
    assert f"reducing loss scale to {scale!r}" in overflow.message
    assert by_name(part)["loss_scale"].values.tolist() == [scale] and part.meta["framework"] == framework


def test_keras_early_stopping_and_lightnings_non_finite_monitor_are_early_stops(tmp_path):
    text = keras_fit([[{"loss": 1.0}]] * 3, [{"loss": 0.9, "val_loss": 1.0}, {"loss": 0.8, "val_loss": 1.1}, {"loss": 0.7, "val_loss": 1.2}]) + "Epoch 3: early stopping\n"
    (stop,) = [event for event in read(tmp_path, text).events if event.kind == "early_stop"]
    assert stop.step == 3 and stop.line == 7
    text = lightning_bars([[0.9], [0.8], [float("nan")]]) + "Monitored metric val_loss = nan is not finite. Previous best value was 0.512. Signaling Trainer to stop.\n"
    (stop,) = [event for event in read(tmp_path, text, "lightning.log").events if event.kind == "early_stop"]
    assert stop.step == 2 and "is not finite" in stop.message
