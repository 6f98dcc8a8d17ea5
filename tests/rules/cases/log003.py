"""LOG003 stops-at-first-nan: info-only, so its FIRES cases expect an info note (see INFO_ONLY)."""

import numpy as np

from nandoctor.model import RunEvent
from tests.rules.builders import Case, make_run, noisy_decay

# The NaN itself is the NAN rules' finding; this rule only says what the log cannot show.
INFO_ONLY = True


def _terminate_on_nan():
    # Keras TerminateOnNaN: the CSVLogger's last row is the NaN epoch.
    loss = list(noisy_decay(17, start=1.2, end=0.6, seed=1)) + [np.nan]
    event = RunEvent("early_stop", "Batch 12: Invalid loss, terminating training", step=17, source="train.log")
    return make_run(loss, step_unit="epoch", events=[event], framework="keras")


def _loss_stops_lr_goes_on():
    # Lightning: the train loss is last logged as inf at step 3000 while the lr series goes on to 5000.
    loss = list(noisy_decay(300, start=4.0, end=2.0, seed=2)) + [np.inf]
    steps = np.arange(301) * 10
    return make_run(loss, steps=steps, lr=(np.arange(0, 5001, 50), [1e-3] * 101), framework="lightning")


def _nan_then_more_nan():
    # The loss goes NaN at step 500 and the log goes on with NaN: nothing is hidden.
    loss = noisy_decay(800, seed=3)
    loss[500:] = np.nan
    return make_run(list(loss))


def _nan_spike_recovered():
    # A single NaN mid-run and finite values after it.
    loss = noisy_decay(800, seed=4)
    loss[400] = np.nan
    return make_run(list(loss))


def _healthy():
    return make_run(list(noisy_decay(800, seed=5)))


FIRES = [
    Case("Keras TerminateOnNaN stops on the first NaN epoch", _terminate_on_nan),
    Case("the train loss is last logged as inf while the lr goes on", _loss_stops_lr_goes_on),
]

QUIET = [
    Case("the loss turns NaN and the log keeps logging NaN", _nan_then_more_nan),
    Case("a single NaN mid-run, finite afterwards", _nan_spike_recovered),
    Case("a healthy finite run", _healthy),
]
