"""AMP002 benign-overflow: warns only when overflow skips a share of the steps without collapsing."""

import numpy as np

from nandoctor.model import RunEvent
from tests.rules.builders import Case, make_run, noisy_decay
from tests.rules.cases.amp001 import _benign_deepspeed, _early_search_only, _gradscaler_scale


def _frequent_skips_series():
    # After warm-up the scaler halves every 20 steps and regrows in between (growth_interval 10):
    # 5 % of updates skipped, yet the scale never collapses.
    halvings = {step: 1 for step in range(8)} | {step: 1 for step in range(300, 4000, 20)}
    scale = _gradscaler_scale(4000, halvings, growth_interval=10)
    return make_run(list(noisy_decay(4000, start=3.0, end=1.0, seed=1)), loss_scale=list(scale))


def _frequent_skips_events():
    # DeepSpeed overflow messages every 30 steps after step 300 in a 3000-step run (3 %), same scale each time.
    events = [RunEvent("overflow", "[deepspeed] OVERFLOW! Rank 0 Skipping step. Attempted loss scale: 65536, reducing to 32768", step=step, source="train.log") for step in range(300, 3000, 30)]
    return make_run(list(noisy_decay(3000, start=2.0, end=0.9, seed=2)), events=events)


def _isolated_events():
    # Five apex overflow messages in the first 5 steps and two more thousands of steps apart.
    steps = [1, 2, 3, 4, 5, 2600, 5900]
    events = [RunEvent("overflow", "Gradient overflow.  Skipping step, loss scaler 0 reducing loss scale to 32768.0", step=step) for step in steps]
    return make_run(list(noisy_decay(8000, start=2.0, end=0.5, seed=3)), events=events)


FIRES = [
    Case("the scaler halves every 20 steps after warm-up (5 % of updates skipped) but never collapses", _frequent_skips_series),
    Case("DeepSpeed overflow messages every 30 steps (3 % of updates) without a collapse", _frequent_skips_events),
]

QUIET = [
    Case("DeepSpeed's 16 start-up halvings and an overflow every ~3000 steps", _benign_deepspeed),
    Case("GradScaler's 6 start-up halvings, then growth only", _early_search_only),
    Case("apex overflow messages in the first 5 steps and two isolated ones later", _isolated_events),
]
