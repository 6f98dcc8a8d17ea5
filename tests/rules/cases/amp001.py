"""AMP001 loss-scale-collapse: the fp16 loss scale halves again and again after warm-up."""

import numpy as np

from nandoctor.model import RunEvent
from tests.rules.builders import Case, make_run, noisy_decay


def _gradscaler_scale(steps: int, halvings_at: dict[int, int], start: float = 2.0**16, growth_interval: int = 2000) -> np.ndarray:
    """A per-step GradScaler scale: halved at the given steps, doubled after each clean growth interval."""
    scale, clean, values = start, 0, []
    for step in range(steps):
        if step in halvings_at:
            scale /= 2.0 ** halvings_at[step]
            clean = 0
        else:
            clean += 1
            if clean == growth_interval:
                scale *= 2.0
                clean = 0
        values.append(scale)
    return np.asarray(values)


def _fairseq_floor():
    # fairseq logs the scale per update: down to 2 over the run, then 13 consecutive overflow halvings to 0.000122.
    scale = [16.0] * 400 + [8.0] * 300 + [4.0] * 300 + [2.0] * 300 + [2.0 / 2**k for k in range(2, 15)]
    loss = list(noisy_decay(len(scale), start=9.0, end=6.3, seed=1))
    return make_run(loss, loss_scale=scale, framework="fairseq")


def _deepspeed_midrun_streak():
    # DeepSpeed per-step scale steady at 64 with a few early halvings, then 64 -> 2 on five consecutive
    # steps at step 378 while the loss rose 1.67 -> 2.05; the scale never grows back.
    halvings = {0: 1, 1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 1, 8: 1, 9: 1, 378: 1, 379: 1, 380: 1, 381: 1, 382: 1}
    scale = _gradscaler_scale(420, halvings, start=2.0**16, growth_interval=1000)
    loss = list(noisy_decay(378, start=2.2, end=1.67, seed=2)) + list(np.linspace(1.7, 2.05, 42))
    return make_run(loss, loss_scale=list(scale), framework="deepspeed")


def _apex_overflow_events():
    # No scale series: apex prints an overflow message on every step from step 500 on, halving each time.
    events = [RunEvent("overflow", f"Gradient overflow.  Skipping step, loss scaler 0 reducing loss scale to {2.0**16 / 2**k}", step=499 + k, source="train.log", line=1000 + k) for k in range(1, 9)]
    loss = list(noisy_decay(510, start=3.0, end=1.5, seed=3))
    return make_run(loss, events=events)


def _tail_drift_while_loss_rises():
    # Logged every 100 steps: isolated halvings drift the scale down 4x over the last 10 % of the run
    # while the loss climbs 30 %; no streak, never below 1.
    steps = np.arange(0, 20000, 100)
    scale = np.full(steps.size, 2.0**15)
    scale[steps >= 18200] = 2.0**14
    scale[steps >= 18800] = 2.0**13
    scale[steps >= 19400] = 2.0**12
    loss = noisy_decay(steps.size, start=4.0, end=2.0, seed=4)
    loss[steps >= 18000] *= np.linspace(1.0, 1.3, int(np.count_nonzero(steps >= 18000)))
    return make_run(list(loss), steps=steps, loss_scale=list(scale))


def _benign_deepspeed():
    # DeepSpeed starting at 2^32: 16 halvings in the first 16 steps, then an overflow every ~3000 steps.
    halvings = {step: 1 for step in range(16)} | {3100: 1, 6400: 1, 9800: 1}
    scale = _gradscaler_scale(12000, halvings, start=2.0**32, growth_interval=1000)
    loss = list(noisy_decay(12000, start=10.8, end=3.1, seed=5))
    return make_run(loss, loss_scale=list(scale), framework="deepspeed")


def _static_scale_one():
    # bf16 with DeepSpeed logs a constant loss scale of 1.0: nothing is overflowing.
    loss = list(noisy_decay(3000, start=2.5, end=1.2, seed=6))
    return make_run(loss, loss_scale=[1.0] * 3000)


def _not_a_loss_scale():
    # A series named like a scale that is something else (an augmentation scale drifting 0.9 -> 0.3).
    loss = list(noisy_decay(1000, start=1.5, end=0.4, seed=7))
    return make_run(loss, loss_scale=list(np.linspace(0.9, 0.3, 1000)))


def _early_search_only():
    # GradScaler from 2^16 halving 6 times in its first 6 steps, then growing every 2000 clean steps.
    scale = _gradscaler_scale(8000, {step: 1 for step in range(6)})
    return make_run(list(noisy_decay(8000, start=0.9, end=0.2, seed=8)), loss_scale=list(scale))


def _resumed_without_scaler_state():
    # Resumed at step 6000 without the GradScaler state: it searches again from 2^16 (6 halvings).
    halvings = {step: 1 for step in range(6)} | {step: 1 for step in range(6000, 6006)}
    scale = _gradscaler_scale(9000, halvings)
    scale[6000:] = _gradscaler_scale(3000, {step: 1 for step in range(6)})
    restart = RunEvent("restart", "training restarted at step 6000", step=6000, source="events.out.tfevents.2")
    return make_run(list(noisy_decay(9000, start=1.2, end=0.4, seed=9)), loss_scale=list(scale), events=[restart])


FIRES = [
    Case("fairseq's loss scale halves 13 times in a row from 2 to 0.000122", _fairseq_floor),
    Case("DeepSpeed halves 64 -> 2 on five consecutive steps mid-run while the loss rises", _deepspeed_midrun_streak),
    Case("apex prints an overflow on every step from step 500 (events only, no scale series)", _apex_overflow_events),
    Case("the scale drifts down 3 halvings over the last 10 % while the loss climbs 30 %", _tail_drift_while_loss_rises),
]

QUIET = [
    Case("DeepSpeed starts at 2^32, halves 16 times in 16 steps, then overflows every ~3000 steps", _benign_deepspeed),
    Case("a constant loss scale of 1.0 (bf16 / static scaling)", _static_scale_one),
    Case("a 'scale' series that is not a power-of-two loss scale", _not_a_loss_scale),
    Case("GradScaler searches for its level in the first 6 steps, then only grows", _early_search_only),
    Case("a resume without the scaler state: it searches from 2^16 again", _resumed_without_scaler_state),
]

