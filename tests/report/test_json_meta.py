"""The JSON report keeps what readers learnt about a run (solver params, HF summaries, MLflow
params), nested dicts included, and leaves out only what JSON cannot carry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nandoctor.api import Analysis
from nandoctor.model import Diagnosis, Run, make_series
from nandoctor.report import json as json_report

REALWORLD = Path(__file__).resolve().parents[3] / "shared" / "realworld"


def _analysis(meta: dict) -> Analysis:
    loss = make_series("loss", np.arange(5), np.linspace(2.0, 1.0, 5), role="train_loss", source="runs/a/metrics.csv")
    run = Run(id="a", path="runs/a", series=(loss,), sources=(), meta=meta, train_loss="loss")
    return Analysis(diagnoses=[Diagnosis(run, "healthy", (), ())])


def test_nested_plain_meta_is_kept_and_objects_are_left_out():
    meta = {"framework": "mlflow", "params": {"lr": "0.1", "epochs": "3"}, "summary": {"train_loss": float("nan"), "steps": [1, 2]}, "handle": object()}
    report = json.loads(json_report.render(_analysis(meta)))
    kept = report["runs"][0]["meta"]
    assert kept["params"] == {"lr": "0.1", "epochs": "3"}
    assert kept["summary"] == {"train_loss": "nan", "steps": [1, 2]}
    assert "handle" not in kept


@pytest.mark.skipif(not (REALWORLD / "hf_trainer_state").is_dir(), reason="realworld logs are not beside the checkout")
def test_hf_trainer_summary_reaches_the_json(tmp_path):
    from nandoctor.api import run_analysis

    state = REALWORLD / "hf_trainer_state" / "039-Whisper_small_hi-trainer_state.json"
    report = json.loads(json_report.render(run_analysis([state])))
    meta = report["runs"][0]["meta"]
    assert meta["framework"] == "hf"
    assert meta["summary"]["train_runtime"] > 0  # the entry train() logs when it returns
