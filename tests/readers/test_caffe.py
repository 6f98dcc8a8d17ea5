"""The Caffe solver-log reader, on the real logs and pastes in ../shared/realworld and on glog text written here."""

from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nandoctor.load import load_paths
from nandoctor.readers import ReadError, read_head, reader_for
from nandoctor.readers import caffe

CAFFE_LOGS = [f"caffe/{number:03d}-" for number in range(1, 16)]
CAFFE_THREADS = [f"threads/{number:03d}-" for number in range(1, 9)]


def realworld_file(realworld: Path, prefix: str) -> Path:
    folder, start = prefix.split("/")
    matches = sorted((realworld / folder).glob(start + "*"))
    assert len(matches) == 1, prefix
    return matches[0]


# ------------------------------------------------------------------ an independent count, line by line


def independent_counts(path: Path) -> Counter:
    """Points per series, counted with plain string methods (no regex, no numpy), one line at a time."""
    counts: Counter = Counter()
    for line in path.read_bytes().decode("utf-8", "replace").split("\n"):
        line = line.replace("**", "")
        if "Iteration " in line and (", loss = " in line or ", lr = " in line):
            step_text = line.split("Iteration ", 1)[1].split(",", 1)[0].split(" (", 1)[0]
            if step_text.isdigit():
                counts["loss" if ", loss = " in line else "lr"] += 1
        elif "net output #" in line:
            after_index = line.split("net output #", 1)[1].partition(": ")[2]
            name = after_index.partition(" = ")[0]
            counts[("train/" if "Train net output" in line else "test/") + name] += 1
        elif "Test score #" in line:
            index = line.split("Test score #", 1)[1].split(":", 1)[0].strip()
            counts[f"test/score{index}"] += 1
    return counts


def independent_losses(path: Path) -> tuple[list[int], list[float]]:
    """(step, value) of every `Iteration N..., loss = x` line, by splitting strings."""
    steps, values = [], []
    for line in path.read_bytes().decode("utf-8", "replace").split("\n"):
        line = line.replace("**", "")
        if "Iteration " in line and ", loss = " in line:
            step_text = line.split("Iteration ", 1)[1].split(",", 1)[0].split(" (", 1)[0]
            if step_text.isdigit():
                steps.append(int(step_text))
                values.append(float(line.split(", loss = ", 1)[1].split()[0]))
    return steps, values


def series_counts(part) -> Counter:
    return Counter({series.name: len(series) for series in part.series})


def same_numbers(first: np.ndarray, second) -> bool:
    return np.array_equal(np.asarray(first, np.float64), np.asarray(second, np.float64), equal_nan=True)


# ------------------------------------------------------------------ glog text, as Caffe writes it


def glog(message: str, source: str = "solver.cpp:237", severity: str = "I", second: int = 0) -> str:
    """One glog line: `I0402 07:41:29.437775 28865 solver.cpp:237] message`."""
    return f"{severity}0402 07:{41 + second // 60:02d}:{second % 60:02d}.437775 28865 {source}] {message}\n"


def display_block(step: int, loss: str, lr: str = "0.01", outputs: tuple[tuple[str, str, str | None], ...] = (("loss", "", "1"),)) -> str:
    """What BVLC Caffe prints at each display iteration: smoothed loss, each output, then the lr."""
    text = glog(f"Iteration {step}, loss = {loss}")
    for index, (name, value, weight) in enumerate(outputs):
        shown = value or loss
        suffix = f" (* {weight} = {shown} loss)" if weight else ""
        text += glog(f"    Train net output #{index}: {name} = {shown}{suffix}", "solver.cpp:253")
    return text + glog(f"Iteration {step}, lr = {lr}", "sgd_solver.cpp:106")


def glog_test_block(step: int, accuracy: str, loss: str, net: int = 0) -> str:
    return (
        glog(f"Iteration {step}, Testing net (#{net})", "solver.cpp:341")
        + glog(f"    Test net output #0: accuracy = {accuracy}", "solver.cpp:409")
        + glog(f"    Test net output #1: loss = {loss} (* 1 = {loss} loss)", "solver.cpp:409")
    )


SOLVER_DUMP = (
    glog("Initializing solver from parameters: ", "solver.cpp:48")
    + "test_iter: 100\ntest_interval: 1000\nbase_lr: 0.01\ndisplay: 20\nmax_iter: 45000\n"
    + 'lr_policy: "multistep"\ngamma: 0.1\nmomentum: 0.9\nweight_decay: 0.0005\n'
    + "stepvalue: 20000\nstepvalue: 40000\nclip_gradients: 10\naverage_loss: 20\n"
    + 'net_param {\n  name: "Net"\n  layer {\n    name: "data"\n    type: "Data"\n  }\n}\n'
    + 'type: "SGD"\n'
    + glog("Solving Net", "solver.cpp:288")
    + glog("Learning Rate Policy: multistep", "solver.cpp:289")
)


def write(tmp_path: Path, text: str | bytes, name: str = "caffe.INFO") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def read_both(path: Path):
    """The fast reading, after checking it equals the regex-only reference reading exactly."""
    fast, reference = caffe.read(path), caffe.read(path, fast=False)
    assert [series.name for series in fast.series] == [series.name for series in reference.series]
    for mine, theirs in zip(fast.series, reference.series):
        assert mine.role == theirs.role, mine.name
        assert np.array_equal(mine.steps, theirs.steps), mine.name
        assert np.array_equal(mine.locations, theirs.locations), mine.name
        assert np.array_equal(mine.values.view(np.int64), theirs.values.view(np.int64)) or same_numbers(mine.values, theirs.values), mine.name
    assert fast.events == reference.events
    assert repr(fast.meta) == repr(reference.meta)  # repr: a NaN loss weight equals itself
    assert fast.warnings == reference.warnings
    return fast


# ------------------------------------------------------------------ every real log and paste


@pytest.mark.parametrize("prefix", CAFFE_LOGS + CAFFE_THREADS)
def test_every_real_caffe_log_loads_with_a_train_loss(realworld, prefix):
    path = realworld_file(realworld, prefix)
    runs, problems = load_paths([str(path)])
    assert problems == []
    assert len(runs) == 1
    run = runs[0]
    assert run.framework == "caffe"
    assert run.train_loss == "loss"
    loss = run.get("loss")
    assert loss.role == "train_loss" and len(loss) > 0
    assert run.meta["variant"] in {"bvlc", "bvlc-2014", "nvcaffe", "intel"}


@pytest.mark.parametrize("prefix", CAFFE_LOGS + CAFFE_THREADS)
def test_point_counts_match_a_line_by_line_count(realworld, prefix):
    path = realworld_file(realworld, prefix)
    part = read_both(path)
    assert series_counts(part) == independent_counts(path)
    steps, values = independent_losses(path)
    loss = next(series for series in part.series if series.name == "loss")
    assert loss.steps.tolist() == steps
    assert same_numbers(loss.values, values)
    lines = path.read_bytes().split(b"\n")
    assert all(b"loss = " in lines[line - 1] for line in loss.locations.tolist())


@pytest.mark.parametrize("prefix", ["caffe/001-", "caffe/007-", "caffe/013-", "caffe/015-", "threads/006-"])
def test_load_keeps_every_point_of_runs_whose_iterations_only_go_forward(realworld, prefix):
    path = realworld_file(realworld, prefix)
    runs, _ = load_paths([str(path)])
    loaded = Counter({series.name: len(series) for series in runs[0].series})
    assert loaded == independent_counts(path)
    assert not [event for event in runs[0].events if event.kind == "rewind"]


# ------------------------------------------------------------------ the variants


def test_bvlc_log_reads_the_solver_parameters_and_the_sigterm(realworld):
    part = caffe.read(realworld_file(realworld, "caffe/001-"))
    assert part.meta["variant"] == "bvlc"
    solver = part.meta["solver"]
    expected = {"base_lr": 0.02, "lr_policy": "step", "gamma": 0.1, "stepsize": 200000, "momentum": 0.9, "weight_decay": 0.0005,
                "max_iter": 640000, "display": 20, "test_interval": 1000, "type": "SGD"}
    assert {key: solver[key] for key in expected} == expected
    assert "name" not in solver  # net_param's nested fields are not solver parameters
    assert part.meta["loss_weights"] == {"loss": 1.0}
    aborted = [event for event in part.events if event.kind == "aborted"]
    assert len(aborted) == 1 and "SIGTERM" in aborted[0].message and aborted[0].step == 980


def test_old_solver_type_field_is_kept(realworld):
    part = caffe.read(realworld_file(realworld, "caffe/014-"))
    assert part.meta["solver"]["solver_type"] == "NESTEROV"
    assert part.meta["solver"]["base_lr"] == 0.003


def test_2014_log_names_its_test_scores_from_the_net_setup(realworld):
    path = realworld_file(realworld, "caffe/012-")
    part = read_both(path)
    assert part.meta["variant"] == "bvlc-2014"
    by_name = {series.name: series for series in part.series}
    # The 2014 Accuracy layer has a two-element top: accuracy, then the log-probability loss.
    assert by_name["test/score0"].role == "val_accuracy"
    assert by_name["test/score1"].role == "val_loss"
    tested = [int(line.split("Iteration ")[1].split(",")[0]) for line in path.read_text().split("\n") if "Testing net" in line]
    assert by_name["test/score0"].steps.tolist() == tested == list(range(0, 1400, 200))
    assert by_name["test/score1"].values[0] == 0.763857
    lr, loss = by_name["lr"], by_name["loss"]
    assert lr.locations[0] < loss.locations[0] and lr.steps[0] == loss.steps[0] == 1  # lr line first in 2014
    assert [event.kind for event in part.events] == ["aborted"]  # the shell's `Terminated`


def test_2014_paste_with_a_bare_testing_line_labels_scores_with_the_iteration_before(realworld):
    part = read_both(realworld_file(realworld, "threads/005-"))
    by_name = {series.name: series for series in part.series}
    assert by_name["test/score1"].steps.tolist() == [78000]
    assert by_name["test/score1"].values.tolist() == [6.90977]
    # No net setup lines: 2014 Caffe's Accuracy layer convention (accuracy, then loss) names them.
    assert by_name["test/score0"].role == "val_accuracy" and by_name["test/score1"].role == "val_loss"


def test_scores_outside_the_2014_convention_keep_no_role(tmp_path):
    log = tmp_path / "caffe.log"
    lines = ["I0127 08:53:57.624028 37204 solver.cpp:210] Iteration 100, lr = 0.01", "I0127 08:53:57.633610 37204 solver.cpp:68] Iteration 100, loss = 6.9063", "I0127 08:53:57.633633 37204 solver.cpp:90] Testing net"]
    lines += [f"I0127 08:56:01.357560 37204 solver.cpp:117] Test score #{index}: {value}" for index, value in enumerate((3.2, 6.90977, 0.5))]
    log.write_text("\n".join(lines) + "\n")
    part = read_both(log)
    assert {series.name: series.role for series in part.series if series.name.startswith("test/")} == {"test/score0": "other", "test/score1": "other", "test/score2": "other"}


def test_nvcaffe_log(realworld):
    part = read_both(realworld_file(realworld, "caffe/013-"))
    assert part.meta["variant"] == "nvcaffe"
    by_name = {series.name: series for series in part.series}
    assert by_name["loss"].steps[:2].tolist() == [0, 1]  # `Iteration 0 (5.50154 s), loss = 6.92188`
    assert by_name["loss"].values[0] == 6.92188
    assert by_name["test/accuracy/top-1"].role == "val_accuracy"
    assert by_name["test/loss"].role == "val_loss"
    assert by_name["test/loss"].values[0] == 0.0345313 and by_name["test/loss"].steps[0] == 0
    assert [event.kind for event in part.events] == ["optimization_done"]


def test_intel_log_with_a_restart(realworld):
    path = realworld_file(realworld, "caffe/015-")
    part = read_both(path)
    assert part.meta["variant"] == "intel"
    kinds = [(event.kind, event.step) for event in part.events]
    assert kinds == [("early_stop", 8), ("optimization_done", 8), ("restart", 8), ("optimization_done", 960)]
    restart = part.events[2]
    assert "snapshot_iter_10.solverstate" in restart.message
    assert path.read_text().split("\n")[restart.line - 1].endswith("Initializing solver from parameters: ")
    assert part.meta["loss_weights"] == {"loss": 1.0, "loss1/loss": 0.3, "loss2/loss": 0.3}
    by_name = {series.name: series for series in part.series}
    assert by_name["train/loss1/loss"].role == "train_loss"
    assert by_name["train/accuracy"].role == "accuracy"


def test_glog_file_with_its_header(realworld):
    part = read_both(realworld_file(realworld, "caffe/011-"))
    by_name = {series.name: series for series in part.series}
    assert by_name["test/SoftmaxWithLoss1"].role == "val_loss"
    assert (by_name["test/SoftmaxWithLoss1"].steps[0], by_name["test/SoftmaxWithLoss1"].values[0]) == (0, 79.223)
    assert by_name["loss"].locations[0] == 1952


def test_failed_launch_before_the_real_run(realworld):
    part = read_both(realworld_file(realworld, "caffe/006-"))
    assert [event.kind for event in part.events] == ["failed_launch"]
    assert part.events[0].line == 1 and "File not found" in part.events[0].message
    assert part.meta["solver"]["base_lr"] == 1


def test_one_optimization_done_event_per_run_end(realworld):
    part = caffe.read(realworld_file(realworld, "caffe/007-"))  # solver.cpp and caffe.cpp both say it
    assert [(event.kind, event.step) for event in part.events] == [("optimization_done", 105000)]


def test_test_outputs_are_labelled_with_the_iteration_of_their_testing_line(realworld):
    path = realworld_file(realworld, "caffe/007-")
    lines = path.read_text().split("\n")
    part = caffe.read(path)
    test_loss = next(series for series in part.series if series.name == "test/loss")
    for step, line in zip(test_loss.steps.tolist(), test_loss.locations.tolist()):
        above = next(text for text in reversed(lines[: line - 1]) if "Testing net" in text)
        assert f"Iteration {step}, Testing net" in above
    assert test_loss.steps[:3].tolist() == [1000, 2000, 3000]


def test_markdown_bold_and_a_quote_prefix_are_read_through(realworld):
    bold = caffe.read(realworld_file(realworld, "threads/001-"))
    loss = next(series for series in bold.series if series.name == "loss")
    assert loss.values.tolist() == [5.07946, 4.88092, 87.3365, 87.3365]
    quoted = caffe.read(realworld_file(realworld, "threads/004-"))
    by_name = {series.name: series for series in quoted.series}
    assert by_name["loss"].steps.tolist() == [0, 1] and np.isnan(by_name["loss"].values).all()
    assert by_name["lr"].values.tolist() == [0.0]


def test_a_cut_paste_labels_outputs_by_the_lr_line_that_follows(realworld):
    part = caffe.read(realworld_file(realworld, "threads/006-"))
    softmax = next(series for series in part.series if series.name == "train/softmax_loss")
    assert softmax.steps.tolist() == [800, 900, 1000, 2400, 2500, 2600]
    lam = next(series for series in part.series if series.name == "train/lambda")
    assert lam.steps.tolist() == [800, 900, 1000, 1100, 2500, 2600]


def test_test_outputs_without_their_testing_line_take_the_next_iteration(realworld):
    part = caffe.read(realworld_file(realworld, "threads/003-"))
    test_loss = next(series for series in part.series if series.name == "test/loss")
    assert test_loss.steps.tolist() == [56000]
    assert any("no `Testing net` line" in warning for warning in part.warnings)


# ------------------------------------------------------------------ written here: edge cases


def test_nan_inf_and_exponents_are_kept(tmp_path):
    values = ["nan", "-nan", "inf", "-inf", "1.2e-05", "87.3365", "-0", "1e+10"]
    text = SOLVER_DUMP + "".join(display_block(step * 20, value, lr=value) for step, value in enumerate(values))
    part = read_both(write(tmp_path, text))
    by_name = {series.name: series for series in part.series}
    expected = [float(value) for value in values]
    for name in ("loss", "lr", "train/loss"):
        assert same_numbers(by_name[name].values, expected), name
    assert math.copysign(1, by_name["loss"].values[6]) == -1  # -0 stays negative zero
    lr_event = next(event for event in part.events if event.kind == "lr_nonfinite")
    assert lr_event.step == 0 and "4 non-finite" in lr_event.message


def test_windows_spellings_of_nan_and_inf(tmp_path):
    values = {"1.#QNAN": math.nan, "-1.#IND": math.nan, "1.#INF": math.inf, "-1.#INF": -math.inf, "nan(ind)": math.nan, "-nan(ind)": math.nan}
    text = "".join(display_block(step, value) for step, value in enumerate(values))
    part = read_both(write(tmp_path, text))
    loss = next(series for series in part.series if series.name == "loss")
    assert same_numbers(loss.values, list(values.values()))


NUMBER_TEXTS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).flatmap(
        lambda x: st.sampled_from([f"{x:.6g}", f"{x:.17g}", repr(x), f"{x:e}", f"{x:.3f}", f"{x:.0f}"])
    ),
    st.from_regex(r"\A[-+]?(0|[0-9]{1,20})(\.[0-9]{0,20})?([eE][-+]?[0-9]{1,4})?\Z"),
    st.sampled_from(["nan", "-nan", "inf", "-inf", "NaN", "Infinity", "1.#QNAN", "5.", ".5", "-.5e-3", "00012", "0.000000000000000000001"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(NUMBER_TEXTS, min_size=1, max_size=40))
def test_numbers_read_exactly_as_float_reads_them(tmp_path, texts):
    text = "".join(display_block(step, value, lr=value, outputs=(("loss", value, value),)) for step, value in enumerate(texts))
    part = read_both(write(tmp_path, text))
    expected = [caffe._float(value.encode()) for value in texts]
    for series in part.series:
        assert np.array_equal(series.values.view(np.int64), np.array(expected).view(np.int64)) or same_numbers(series.values, expected), series.name


def test_test_nets_beyond_the_first_get_their_own_prefix(tmp_path):
    text = SOLVER_DUMP + display_block(0, "2.3") + glog_test_block(0, "0.1", "2.3", net=0) + glog_test_block(0, "0.2", "2.2", net=1)
    part = read_both(write(tmp_path, text))
    by_name = {series.name: series for series in part.series}
    assert by_name["test1/loss"].role == "val_loss" and by_name["test1/loss"].values.tolist() == [2.2]
    assert by_name["test1/accuracy"].role == "val_accuracy"
    assert by_name["test/loss"].values.tolist() == [2.3]


def test_solver_parameters_with_repeated_fields(tmp_path):
    part = caffe.read(write(tmp_path, SOLVER_DUMP + display_block(0, "2.3")))
    solver = part.meta["solver"]
    assert solver["stepvalue"] == [20000, 40000]
    assert solver["clip_gradients"] == 10 and solver["average_loss"] == 20 and solver["type"] == "SGD"
    assert part.meta["net_name"] == "Net"


def test_gradient_clipping_lines_are_counted(tmp_path):
    clip = glog("Gradient clipping: scaling down gradients (L2 norm 31.2 > 10) by scale factor 0.32", "sgd_solver.cpp:92")
    text = SOLVER_DUMP + "".join(display_block(step, "2.3") + clip * (step % 3) for step in range(6))
    part = read_both(write(tmp_path, text))
    assert part.meta["gradient_clipping_count"] == 0 + 1 + 2 + 0 + 1 + 2


def test_an_iteration_counter_going_back_is_a_restart_and_the_loader_keeps_the_later_points(tmp_path):
    text = SOLVER_DUMP + "".join(display_block(step, "2.3") for step in (0, 20, 40, 60)) + "".join(display_block(step, "1.5") for step in (20, 40, 60, 80))
    path = write(tmp_path, text)
    part = read_both(path)
    restart = [event for event in part.events if event.kind == "restart"]
    assert len(restart) == 1 and restart[0].step == 20 and "went back from 60 to 20" in restart[0].message
    runs, _ = load_paths([str(path)])
    loss = runs[0].get("loss")
    assert loss.steps.tolist() == [0, 20, 40, 60, 80] and loss.values.tolist() == [2.3, 1.5, 1.5, 1.5, 1.5]
    assert any(event.kind == "rewind" for event in runs[0].events)


def test_a_fatal_check_during_training_is_an_abort(tmp_path):
    fatal = glog("Check failed: error == cudaSuccess (2 vs. 0)  out of memory", "syncedmem.cpp:56", severity="F")
    text = SOLVER_DUMP + display_block(0, "2.3") + fatal + "*** Check failure stack trace: ***\n    @     0x7f02fd7c985d  google::LogMessage::Fail()\n"
    part = read_both(write(tmp_path, text))
    assert [(event.kind, event.step) for event in part.events] == [("aborted", 0)]
    assert "out of memory" in part.events[0].message


def test_crlf_and_bytes_that_are_not_utf8(tmp_path):
    text = (SOLVER_DUMP + display_block(0, "2.3", outputs=(("lo\xdfs", "2.3", "1"),)) + display_block(20, "2.1")).replace("\n", "\r\n")
    raw = text.encode("latin-1")  # \xdf is not UTF-8 on its own
    part = read_both(write(tmp_path, raw))
    by_name = {series.name: series for series in part.series}
    assert by_name["loss"].values.tolist() == [2.3, 2.1]
    assert by_name["lr"].values.tolist() == [0.01, 0.01]
    assert "train/lo\ufffds" in by_name
    assert part.meta["solver"]["base_lr"] == 0.01


def test_an_unterminated_last_line_is_read_and_noted(tmp_path):
    part = read_both(write(tmp_path, display_block(0, "2.3") + glog("Iteration 20, loss = 2.1").rstrip("\n")))
    assert next(series for series in part.series if series.name == "loss").values.tolist() == [2.3, 2.1]
    assert any("no line end" in warning for warning in part.warnings)


def test_blocks_boundaries_change_nothing(realworld, monkeypatch):
    path = realworld_file(realworld, "caffe/015-")
    whole = caffe.read(path)
    monkeypatch.setattr(caffe, "BLOCK_BYTES", 4099)  # blocks end mid-line and mid solver dump
    pieces = caffe.read(path)
    assert [(series.name, series.steps.tolist(), series.values.tolist(), series.locations.tolist()) for series in pieces.series] == [
        (series.name, series.steps.tolist(), series.values.tolist(), series.locations.tolist()) for series in whole.series
    ]
    assert pieces.events == whole.events and pieces.meta == whole.meta


def test_a_generated_log_many_blocks_long_reads_like_the_reference(tmp_path, monkeypatch):
    rng = random.Random(7)
    chunks = [SOLVER_DUMP]
    for step in range(0, 3000, 1):
        if step % 500 == 0:
            chunks.append(glog_test_block(step, f"{rng.random():.6g}", f"{rng.expovariate(1):.6g}"))
        loss = f"{rng.expovariate(0.5):.6g}"
        chunks.append(display_block(step, loss, lr=f"{0.01 * 0.1 ** (step // 1000):.6g}", outputs=(("acc", f"{rng.random():.6g}", None), ("loss", loss, "1"))))
    path = write(tmp_path, "".join(chunks))
    monkeypatch.setattr(caffe, "BLOCK_BYTES", 64 * 1024)
    monkeypatch.setattr(caffe, "_BATCH_ROWS", 1000)
    part = read_both(path)
    assert series_counts(part) == independent_counts(path)
    assert series_counts(part)["train/loss"] == 3000


# ------------------------------------------------------------------ what is not a Caffe log


def test_a_stack_trace_alone_is_unreadable_not_a_crash(tmp_path):
    text = (
        "*** Aborted at 1459572179 (unix time) try \"date -d @1459572179\" if you are using GNU date ***\n"
        "PC: @     0x7ffd0859ba52 (unknown)\n"
        "*** SIGTERM (@0x3e800006dc4) received by PID 28865 (TID 0x7efe25d2cac0) from PID 28100; stack trace: ***\n"
        "    @     0x7efe253b6665 caffe::Solver<>::Solve()\n"
    )
    with pytest.raises(ReadError, match="no Caffe solver lines"):
        caffe.read(write(tmp_path, text))


def test_binary_junk_is_unreadable_not_a_crash(tmp_path):
    junk = write(tmp_path, random.Random(0).randbytes(200_000), "junk.log")
    with pytest.raises(ReadError):
        caffe.read(junk)
    assert not caffe.sniff(junk, read_head(junk))
    runs, problems = load_paths([str(junk)])
    assert runs == [] and len(problems) == 1


def test_sniff_claims_caffe_logs_and_nothing_else(realworld, tmp_path):
    for prefix in CAFFE_LOGS + CAFFE_THREADS:
        path = realworld_file(realworld, prefix)
        assert caffe.sniff(path, read_head(path)), prefix
    csv_file = write(tmp_path, "step,loss,solver.cpp\n1,0.5,x\n", "metrics.csv")
    assert not caffe.sniff(csv_file, read_head(csv_file))
    for events in realworld.glob("tfevents/**/*tfevents*"):
        assert reader_for(events, read_head(events)).FORMAT != "caffe"
    keras_csv = next(realworld.glob("keras_csv/*"), None)
    if keras_csv is not None:
        assert not caffe.sniff(keras_csv, read_head(keras_csv))
