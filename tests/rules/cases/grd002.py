"""GRD002 vanishing-gradients: gradients vanished and the loss stalled above where it started."""

import math

import numpy as np

from tests.rules.builders import Case, make_run, noisy_decay


def _sigmoid_stack_ln2():
    # A deep sigmoid stack: grad norm decays 1 -> 1e-6, the binary loss sits at ln 2 throughout.
    rng = np.random.default_rng(1)
    grad = np.geomspace(1.0, 1e-6, 200) * np.exp(rng.normal(0, 0.1, 200))
    loss = math.log(2) + rng.normal(0, 1e-5, 200)
    return make_run(list(loss), grad_norm=list(grad))


def _dead_network_regression():
    # A regression net that died: grad norm exactly 0 from step 3000 on, loss frozen at 85.0.
    steps = np.arange(100) * 50
    grad = np.where(steps < 3000, 40.0 * np.exp(np.random.default_rng(2).normal(0, 0.2, 100)), 0.0)
    loss = np.concatenate([np.linspace(120.0, 85.0, 40), np.full(60, 85.0)])
    return make_run(list(loss), steps=steps, grad_norm=list(grad))


def _converged():
    # Converged: grad norm 1e-4 of its start, but the loss fell to a thousandth of its start.
    grad = np.geomspace(5.0, 5e-4, 300)
    loss = np.maximum(noisy_decay(300, start=2.3, end=0.001, seed=3), 1e-4)
    loss[-60:] = 0.0023 * np.exp(np.random.default_rng(3).normal(0, 0.01, 60))
    return make_run(list(loss), grad_norm=list(grad))


def _small_but_not_vanished():
    # The grad norm shrank 100x (not 1000x) while the loss plateaued: a plateau, not vanishing gradients.
    grad = np.geomspace(2.0, 0.02, 200)
    loss = np.full(200, 1.6) * np.exp(np.random.default_rng(4).normal(0, 0.002, 200))
    return make_run(list(loss), grad_norm=list(grad))


def _vanished_but_learning():
    # Tiny gradients (Adam normalises them) while the loss still falls steadily: still learning.
    grad = np.geomspace(1e-2, 1e-7, 200)
    loss = np.linspace(2.3, 0.9, 200)
    return make_run(list(loss), grad_norm=list(grad))


FIRES = [
    Case("a sigmoid stack: grad norm decays to 1e-6 of its start while the loss sits at ln 2", _sigmoid_stack_ln2),
    Case("a dead regression net: grad norm exactly 0 and the loss frozen at 85", _dead_network_regression),
]

QUIET = [
    Case("a converged run: tiny gradients because the loss fell to a thousandth", _converged),
    Case("the grad norm shrank only 100x while the loss plateaued", _small_but_not_vanished),
    Case("gradients tiny but the loss still falls steadily", _vanished_but_learning),
]
