"""The HF Trainer reader, on trainer_state.json files written the way the Trainer writes them and on the real ones."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nandoctor.api import run_analysis
from nandoctor.load import load_paths
from nandoctor.readers import ReadError, read_head, reader_for
from nandoctor.readers import hf_trainer as hf
from tests.conftest import REALWORLD

# ---------------------------------------------------------------- writers, as transformers does it


@dataclass
class TrainerState:
    """transformers.TrainerState (4.4x): the fields, and `save_to_json` exactly as the Trainer calls it."""

    epoch: float | None = None
    global_step: int = 0
    max_steps: int = 0
    logging_steps: int = 500
    eval_steps: int = 500
    save_steps: int = 500
    train_batch_size: int | None = None
    num_train_epochs: int = 0
    num_input_tokens_seen: int = 0
    total_flos: float = 0
    log_history: list[dict[str, float]] = field(default_factory=list)
    best_metric: float | None = None
    best_global_step: int | None = None
    best_model_checkpoint: str | None = None
    is_local_process_zero: bool = True
    is_world_process_zero: bool = True
    is_hyper_param_search: bool = False
    trial_name: str | None = None
    trial_params: dict[str, Any] | None = None
    stateful_callbacks: dict[str, Any] | None = None

    def save_to_json(self, json_path: Path) -> None:
        json_string = json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n"
        with open(json_path, "w", encoding="utf-8") as handle:
            handle.write(json_string)


class Trainer:
    """What `Trainer.log` does with the logs of a step: add the epoch, then `{**logs, "step": global_step}`."""

    def __init__(self, state: TrainerState, steps_per_epoch: int = 100) -> None:
        self.state, self.steps_per_epoch = state, steps_per_epoch

    def log(self, step: int, logs: dict[str, float]) -> None:
        self.state.global_step = step
        self.state.epoch = step / self.steps_per_epoch
        logs = {**logs, "epoch": self.state.epoch}
        self.state.log_history.append({**logs, "step": self.state.global_step})

    def log_train(self, step: int, loss: float, grad_norm: float, learning_rate: float, **extra: float) -> None:
        self.log(step, {"loss": round(loss, 4), "grad_norm": grad_norm, "learning_rate": learning_rate, **extra})

    def log_eval(self, step: int, eval_loss: float, **metrics: float) -> None:
        logs = {"eval_loss": eval_loss, **{f"eval_{name}": value for name, value in metrics.items()}}
        self.log(step, {**logs, "eval_runtime": 12.5, "eval_samples_per_second": 80.1, "eval_steps_per_second": 10.0})

    def log_train_end(self, train_loss: float) -> None:
        """The summary `train()` logs when it returns: means over the run, and timings."""
        self.log(self.state.global_step, {"train_runtime": 1234.5, "train_samples_per_second": 41.5, "train_steps_per_second": 5.2, "total_flos": 1.5e15, "train_loss": train_loss})


def fine_tune(path: Path, steps: int = 60, logging_steps: int = 5, eval_steps: int = 20, finished: bool = True) -> TrainerState:
    """A healthy fine-tune: loss falls, grad norm settles, linear lr decay, an eval every eval_steps."""
    state = TrainerState(max_steps=steps, logging_steps=logging_steps, eval_steps=eval_steps, train_batch_size=8, num_train_epochs=1)
    trainer = Trainer(state)
    losses = []
    for step in range(logging_steps, steps + 1, logging_steps):
        losses.append(2.5 / math.sqrt(step))
        trainer.log_train(step, losses[-1], grad_norm=3.0 / math.sqrt(step), learning_rate=5e-5 * (1 - step / steps))
        if step % eval_steps == 0:
            trainer.log_eval(step, 2.0 / math.sqrt(step), accuracy=0.5 + step / (4 * steps))
    state.best_metric, state.best_global_step, state.best_model_checkpoint = 0.26, steps, f"out/checkpoint-{steps}"
    state.stateful_callbacks = {"TrainerControl": {"args": {"should_epoch_stop": False, "should_save": True}, "attributes": {}}}
    if finished:
        trainer.log_train_end(sum(losses) / len(losses))
    state.save_to_json(path)
    return state


def by_name(part) -> dict:
    return {series.name: series for series in part.series}


# ---------------------------------------------------------------- reading


def test_a_trainer_state_reads_one_series_per_logged_key_at_its_steps(tmp_path):
    path = tmp_path / "trainer_state.json"
    state = fine_tune(path)
    series = by_name(hf.read(path))
    assert list(series) == ["grad_norm", "learning_rate", "loss", "eval_accuracy", "eval_loss"]
    train = [entry for entry in state.log_history if "loss" in entry]
    assert series["loss"].steps.tolist() == [entry["step"] for entry in train] == list(range(5, 61, 5))
    assert series["loss"].values.tolist() == [entry["loss"] for entry in train]
    assert series["eval_loss"].steps.tolist() == [20, 40, 60]
    roles = {name: item.role for name, item in series.items()}
    assert roles == {"grad_norm": "grad_norm", "learning_rate": "lr", "loss": "train_loss", "eval_accuracy": "val_accuracy", "eval_loss": "val_loss"}
    assert all(item.step_unit == "step" for item in series.values())


def test_the_summary_train_loss_is_meta_not_a_point_of_the_loss_curve(tmp_path):
    path = tmp_path / "trainer_state.json"
    state = fine_tune(path)
    summary = state.log_history[-1]
    part = hf.read(path)
    loss = by_name(part)["loss"]
    assert len(loss) == 12 and summary["train_loss"] not in loss.values.tolist()
    assert part.meta["summary"] == summary
    (run,), _ = load_paths([str(path)])
    assert run.train_loss == "loss" and run.val_loss == "eval_loss" and len(run.get("loss")) == 12


def test_an_evaluation_after_train_returned_is_meta_not_a_late_point_of_the_eval_curve(tmp_path):
    # Overfitting run with load_best_model_at_end: trainer.evaluate() after train() scores the best
    # checkpoint (step 20) at the last global step, and save_state() writes it after the summary.
    path = tmp_path / "trainer_state.json"
    state = TrainerState(max_steps=60, eval_steps=20)
    trainer = Trainer(state)
    for step, eval_loss in ((20, 0.9), (40, 1.1), (60, 1.4)):
        trainer.log_train(step, 1.0 / step, grad_norm=1.0, learning_rate=1e-5)
        trainer.log_eval(step, eval_loss)
    trainer.log_train_end(0.03)
    trainer.log_eval(60, 0.9)
    state.save_to_json(path)
    part = hf.read(path)
    assert by_name(part)["eval_loss"].values.tolist() == [0.9, 1.1, 1.4]
    assert part.meta["after_training"] == [state.log_history[-1]] and part.meta["summary"] == state.log_history[-2]
    (run,), _ = load_paths([str(path)])
    assert not [event for event in run.events if event.kind == "rewind"]


def test_train_entries_after_a_summary_are_a_second_train_call_and_stay_series(tmp_path):
    path = tmp_path / "trainer_state.json"
    state = TrainerState(max_steps=20)
    trainer = Trainer(state)
    trainer.log_train(10, 1.0, grad_norm=1.0, learning_rate=1e-5)
    trainer.log_train_end(1.0)
    trainer.log_train(20, 0.8, grad_norm=1.0, learning_rate=1e-5)  # train() again, killed before it returned
    trainer.log_eval(20, 0.9)
    state.save_to_json(path)
    part = hf.read(path)
    assert by_name(part)["loss"].steps.tolist() == [10, 20] and by_name(part)["eval_loss"].steps.tolist() == [20]
    assert "after_training" not in part.meta


def test_nan_and_infinity_are_read_from_the_bare_tokens_the_trainer_writes(tmp_path):
    path = tmp_path / "trainer_state.json"
    state = TrainerState(max_steps=4)
    trainer = Trainer(state)
    trainer.log_train(1, 1.2, grad_norm=float("inf"), learning_rate=1e-4)
    trainer.log_train(2, float("nan"), grad_norm=float("nan"), learning_rate=1e-4)
    trainer.log_eval(2, float("-inf"))
    state.save_to_json(path)
    text = path.read_text()
    assert '"grad_norm": Infinity' in text and '"loss": NaN' in text and '"eval_loss": -Infinity' in text
    series = by_name(hf.read(path))
    assert series["grad_norm"].values[0] == math.inf and np.isnan(series["grad_norm"].values[1])
    assert series["loss"].values[0] == 1.2 and np.isnan(series["loss"].values[1])
    assert series["eval_loss"].values.tolist() == [-math.inf]


def test_bookkeeping_keys_are_not_series_and_trl_keys_are(tmp_path):
    path = tmp_path / "trainer_state.json"
    state = TrainerState(max_steps=20, logging_steps=10)
    trainer = Trainer(state)
    for step in (10, 20):
        # TRL's SFTTrainer adds these to every train log; num_tokens only ever grows.
        trainer.log_train(step, 1.5 - step / 100, grad_norm=0.8, learning_rate=2e-5, entropy=1.1, num_tokens=4096.0 * step, mean_token_accuracy=0.55 + step / 1000)
    trainer.log_eval(20, 1.4, mean_token_accuracy=0.6, num_tokens=81920.0, model_preparation_time=0.003)
    state.save_to_json(path)
    series = by_name(hf.read(path))
    assert sorted(series) == ["entropy", "eval_loss", "eval_mean_token_accuracy", "grad_norm", "learning_rate", "loss", "mean_token_accuracy"]
    (run,), _ = load_paths([str(path)])
    roles = {item.name: item.role for item in run.series}
    assert roles["mean_token_accuracy"] == "accuracy" and roles["eval_mean_token_accuracy"] == "val_accuracy" and roles["entropy"] == "other"


def test_each_point_is_located_at_the_line_where_its_entry_starts(tmp_path):
    path = tmp_path / "trainer_state.json"
    fine_tune(path)
    lines = path.read_text().split("\n")
    for item in hf.read(path).series:
        for location, step, value in zip(item.locations, item.steps, item.values):
            assert lines[location - 1] == "    {"
            entry = lines[location : next(i for i in range(location, len(lines)) if lines[i].startswith("    }"))]
            assert f'      "step": {step}' in entry
            assert f'      "{item.name}": {json.dumps(float(value))}' in [line.rstrip(",") for line in entry]


def test_the_run_settings_are_read_into_meta(tmp_path):
    path = tmp_path / "trainer_state.json"
    fine_tune(path)
    meta = hf.read(path).meta
    assert meta["framework"] == "hf"
    expected = {"global_step": 60, "max_steps": 60, "num_train_epochs": 1, "logging_steps": 5, "eval_steps": 20, "save_steps": 500, "train_batch_size": 8, "best_metric": 0.26, "best_global_step": 60, "best_model_checkpoint": "out/checkpoint-60"}
    assert {key: meta[key] for key in expected} == expected


# ---------------------------------------------------------------- the hidden NaN (catalog S13)


def hidden_nan_run(path: Path) -> None:
    """fp16 run whose every step goes NaN from step 30: the NaN filter logs loss 0.0, grad_norm stays NaN."""
    state = TrainerState(max_steps=60, logging_steps=5, eval_steps=30)
    trainer = Trainer(state)
    for step in range(5, 61, 5):
        if step < 30:
            trainer.log_train(step, 2.0 / math.sqrt(step), grad_norm=1.5, learning_rate=5e-5)
        else:
            trainer.log_train(step, 0.0, grad_norm=float("nan"), learning_rate=5e-5)
        if step % 30 == 0:
            trainer.log_eval(step, float("nan"))
    trainer.log_train_end(0.31)
    state.save_to_json(path)


def test_a_loss_of_zero_beside_a_nan_grad_norm_is_diagnosed_as_hidden_nan(tmp_path):
    path = tmp_path / "trainer_state.json"
    hidden_nan_run(path)
    assert '"loss": 0.0' in path.read_text() and '"grad_norm": NaN' in path.read_text()
    (diagnosis,) = run_analysis([str(path)]).diagnoses
    hidden = [finding for finding in diagnosis.findings if finding.rule_id == "NAN005"]
    assert hidden and hidden[0].severity == "error" and hidden[0].onset_step == 30
    assert diagnosis.status == "failed" and diagnosis.causes[0].id == "sudden_nan"
    first_zero = path.read_text().split("\n").index('      "loss": 0.0,') + 1
    assert hidden[0].line == first_zero - 4  # the entry's "{": epoch, grad_norm, learning_rate come before loss


def thread_019_entries(path: Path) -> list[dict[str, float]]:
    """The `{'loss': 0.0, 'grad_norm': nan, ...}` dicts the Trainer printed in threads/019, as numbers."""
    entries = []
    for line in path.read_text(encoding="utf-8", errors="replace").split("\n"):
        if line.strip().startswith("{'loss'"):
            entries.append({key: float(value) for key, value in re.findall(r"'(\w+)': ([^,}]+)", line)})
    return entries


def test_thread_019_numbers_rewritten_as_a_trainer_state_are_diagnosed_as_hidden_nan(realworld, tmp_path):
    entries = thread_019_entries(next((realworld / "threads").glob("019-*")))
    assert len(entries) == 10 and all(entry["loss"] == 0.0 and math.isnan(entry["grad_norm"]) for entry in entries)
    state = TrainerState(max_steps=1000, logging_steps=1)
    for number, entry in enumerate(entries, start=1):
        # The console dicts carry no step: the entries are numbered in logging order.
        state.log_history.append({**entry, "step": number})
    state.global_step, state.epoch = len(entries), entries[-1]["epoch"]
    path = tmp_path / "trainer_state.json"
    state.save_to_json(path)
    (diagnosis,) = run_analysis([str(path)]).diagnoses
    assert "NAN005" in [finding.rule_id for finding in diagnosis.findings]
    assert diagnosis.causes[0].id == "sudden_nan"


# ---------------------------------------------------------------- damage


def entry_closing_offsets(text: str) -> list[int]:
    """Offset of the `}` that closes each log_history entry, by scanning the indent-2 lines."""
    offsets, offset, inside = [], 0, False
    for line in text.split("\n"):
        if line == '  "log_history": [':
            inside = True
        elif inside and line.rstrip(",") == "  ]":
            inside = False
        elif inside and line.rstrip(",") == "    }":
            offsets.append(offset + 4)
        offset += len(line) + 1
    return offsets


def test_a_file_cut_anywhere_keeps_every_entry_written_before_the_cut(tmp_path):
    full = tmp_path / "full.json"
    state = fine_tune(full, steps=10, logging_steps=5, eval_steps=10)
    text = full.read_text()
    closing = entry_closing_offsets(text)
    assert len(closing) == len(state.log_history)
    cut_file = tmp_path / "trainer_state.json"
    for cut in range(1, len(text) - 1):
        cut_file.write_text(text[:cut])
        complete = [entry for entry, end in zip(state.log_history, closing) if end < cut]
        if not complete:
            with pytest.raises(ReadError):
                hf.read(cut_file)
            continue
        part = hf.read(cut_file)
        loss = by_name(part).get("loss")
        expected_losses = [entry["loss"] for entry in complete if "loss" in entry]
        assert (loss.values.tolist() if loss is not None else []) == expected_losses, cut
        assert [event.kind for event in part.events] == ["truncated"], cut
        assert len(part.warnings) == 1 and "cut off mid-write" in part.warnings[0]
    cut_file.write_text(text[:-1])  # only the final newline missing: nothing was lost
    assert hf.read(cut_file).warnings == []


def test_a_file_cut_mid_entry_is_noted_and_loaded_with_a_truncated_event(tmp_path):
    path = tmp_path / "trainer_state.json"
    fine_tune(path)
    text = path.read_text()
    cut = text.index('"step": 35')
    path.write_text(text[:cut])
    (run,), problems = load_paths([str(path)])
    assert [problem.path for problem in problems] == [str(path)]  # the cut is reported once (tests/hostile)
    assert run.get("loss").steps.tolist() == list(range(5, 31, 5))
    (event,) = [event for event in run.events if event.kind == "truncated"]
    step_line = text[:cut].count("\n") + 1
    assert event.line == step_line - 5 and "inside log_history" in event.message  # the cut entry's "{"
    (diagnosis,) = run_analysis([str(path)]).diagnoses
    assert "LOG001" in [finding.rule_id for finding in diagnosis.findings]


def test_a_tail_of_nul_bytes_left_by_a_crash_is_a_truncation(tmp_path):
    path = tmp_path / "trainer_state.json"
    fine_tune(path)
    text = path.read_bytes()
    cut = text.index(b'"step": 45')
    path.write_bytes(text[:cut] + b"\x00" * 4096)
    part = hf.read(path)
    assert by_name(part)["loss"].steps.tolist()[-1] == 40 and [event.kind for event in part.events] == ["truncated"]


def test_garbage_inside_an_entry_that_ends_well_keeps_the_entries_before_it_as_corrupt(tmp_path):
    path = tmp_path / "trainer_state.json"
    fine_tune(path)
    text = path.read_text()
    path.write_text(text.replace('"step": 35', '"step": 3\x005', 1))
    part = hf.read(path)
    assert by_name(part)["loss"].steps.tolist() == list(range(5, 31, 5))
    assert [event.kind for event in part.events] == ["corrupt"]
    entry_line = text[: text.index('"step": 35')].count("\n") + 1 - 5  # the entry's "{", five lines above its step
    assert part.warnings == [f"unreadable JSON at line {entry_line} (inside log_history); the 7 log entries before it were read"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"\n\n", "empty file"),
        (b"[1, 2]", "not a JSON object"),
        (b'{\n  "best_metric": null,\n  "epoch": 1.0,\n  "global_step": 10,\n  "log_history": []\n}\n', "log_history is empty"),
        (b'{\n  "best_metric": null,\n  "epoch": 1.0,\n  "global_step": 10,\n  "log_history": [\n    {\n      "epo', "cut off before its first log entry"),
        (b'{\n  "best_metric": null,\n  "epo', "cut off before its log_history"),
        (b'{\n  "log_history": [\n    {"loss": 1.0, "step": 1 oops},\n    {}\n  ]\n}\n', "unreadable JSON at line 3, before its first log entry"),
        (b'{\n  "global_step": 10\n}\n', "no log_history"),
        (b'{\n  "log_history": [\n    {\n      "epoch": 1.0,\n      "step": 10,\n      "train_loss": 0.5,\n      "train_runtime": 3.0\n    }\n  ]\n}\n', "no logged metrics"),
    ],
)
def test_files_with_nothing_to_read_raise_a_short_read_error(tmp_path, content, reason):
    path = tmp_path / "trainer_state.json"
    path.write_bytes(content)
    with pytest.raises(ReadError, match=reason):
        hf.read(path)


def test_entries_without_a_step_are_skipped_with_a_warning(tmp_path):
    path = tmp_path / "trainer_state.json"
    state = TrainerState(log_history=[{"loss": 2.0, "step": 1}, {"loss": 1.5}, {"loss": 1.2, "step": 3}, "junk"])
    state.save_to_json(path)
    part = hf.read(path)
    assert by_name(part)["loss"].steps.tolist() == [1, 3]
    assert part.warnings == ["1 log_history entries are not objects; skipped", "1 log_history entries have no step; skipped"]


# ---------------------------------------------------------------- sniffing


def test_sniff_claims_trainer_states_and_not_other_json(tmp_path):
    claimed = tmp_path / "checkpoint-500"
    claimed.mkdir()
    fine_tune(claimed / "trainer_state.json", finished=False)
    TrainerState().save_to_json(tmp_path / "empty_state.json")  # saved before anything was logged
    fine_tune(tmp_path / "state_copy.JSON")
    for path in (claimed / "trainer_state.json", tmp_path / "empty_state.json", tmp_path / "state_copy.JSON"):
        assert hf.sniff(path, read_head(path)) and reader_for(path, read_head(path)) is hf, path.name
    not_claimed = {
        # Keras: json.dump(model.fit(...).history, f)
        "history.json": json.dumps({"loss": [1.2, 0.9], "val_loss": [1.3, 1.1], "accuracy": [0.5, 0.6]}),
        # transformers model config and the *_results.json Trainer.save_metrics writes
        "config.json": json.dumps({"architectures": ["BertForSequenceClassification"], "hidden_size": 768, "num_hidden_layers": 12}, indent=2, sort_keys=True),
        "all_results.json": json.dumps({"epoch": 3.0, "eval_loss": 0.41, "train_loss": 0.52, "train_runtime": 120.3}, indent=4, sort_keys=True),
        "train_results.json": json.dumps({"epoch": 3.0, "train_loss": 0.52, "train_samples_per_second": 40.1}, indent=4, sort_keys=True),
        "log_history.json": json.dumps([{"loss": 1.0, "step": 1}]),  # a bare list is not a TrainerState
        "notes.json": json.dumps({"log_history": "see wandb"}),
        "trainer_state.txt": (tmp_path / "empty_state.json").read_text(),  # right content, wrong name
    }
    for name, text in not_claimed.items():
        path = tmp_path / name
        path.write_text(text)
        assert not hf.sniff(path, read_head(path)), name


def test_sniff_claims_exactly_the_hf_files_of_the_realworld_corpus(realworld):
    for path in sorted(realworld.rglob("*")):
        if path.is_file():
            relative = path.relative_to(realworld)
            assert hf.sniff(path, read_head(path)) == (relative.parts[0] == "hf_trainer_state"), relative


# ---------------------------------------------------------------- the real-world corpus


REALWORLD_STATES = sorted((REALWORLD / "hf_trainer_state").glob("*.json")) if REALWORLD.is_dir() else []
NOT_MEASURED = {"step", "epoch", "total_flos", "num_tokens", "eval_num_tokens", "num_input_tokens_seen"}


def independent_points(path: Path) -> dict[str, list[tuple[int, float]]]:
    """(step, value) per logged key, from plain `json.load`: every entry but the train() summary."""
    points: dict[str, list[tuple[int, float]]] = {}
    for entry in json.loads(path.read_text())["log_history"]:
        if "train_runtime" in entry:
            continue
        for key, value in entry.items():
            if key not in NOT_MEASURED and not key.endswith(("_runtime", "_per_second")):
                points.setdefault(key, []).append((entry["step"], value))
    return points


@pytest.mark.parametrize("path", REALWORLD_STATES, ids=lambda path: path.name[:40])
def test_every_realworld_trainer_state_loads_with_every_logged_point(realworld, path):
    (run,), problems = load_paths([str(path)])
    assert problems == [] and run.framework == "hf" and run.train_loss == "loss"
    expected = independent_points(path)
    assert sorted(series.name for series in run.series) == sorted(expected)
    for series in run.series:
        steps, values = zip(*expected[series.name])
        assert series.steps.tolist() == list(steps) and series.values.tolist() == list(values), series.name
    assert len(run.get("loss")) == sum(1 for entry in json.loads(path.read_text())["log_history"] if "loss" in entry) > 0
    assert run.sources[0].warnings == () and run.sources[0].format == "hf_trainer"


def test_realworld_summaries_stay_out_of_the_loss_curve(realworld):
    path = realworld / "hf_trainer_state/039-Whisper_small_hi-trainer_state.json"
    part = hf.read(path)
    summary = json.loads(path.read_text())["log_history"][-1]
    assert part.meta["summary"] == summary and summary["train_loss"] not in by_name(part)["loss"].values.tolist()
    assert part.meta["best_model_checkpoint"] == "./whisper-small-colab/checkpoint-4000"


def test_realworld_learning_rate_of_five_is_read_as_is(realworld):
    part = hf.read(realworld / "hf_trainer_state/040-qlora-fine-tune-trainer_state.json")
    assert by_name(part)["learning_rate"].values.tolist() == [5.0] * 10 and part.meta["logging_steps"] == 1
