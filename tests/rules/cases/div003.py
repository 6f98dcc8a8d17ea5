"""DIV003 jump-to-plateau: a decreasing loss jumps and freezes flat; near-misses recover or plateau without a jump."""

from __future__ import annotations

import numpy as np

from tests.rules.builders import Case, make_run, noisy_decay


def keras_jump_to_26_64():
    loss = [1.1788, 1.0326, 0.9715, 0.9104, 0.8707, 0.8352, 0.8027, 0.7807, 0.7612, 0.7407, 13.3614, 26.6396, 26.6453, 26.6462, 26.6461]
    return make_run(loss, step_unit="epoch", framework="keras")


def caffe_loss_jumps_to_87_3365_times_20():
    loss = list(noisy_decay(40, 150.0, 95.0, seed=51)) + [1746.73] * 6
    return make_run(loss, steps=np.arange(46) * 100, framework="caffe", lr=[0.01] * 46)


def small_binary_loss_collapses_to_ln_2():
    loss = list(noisy_decay(60, 0.2, 0.05, seed=52)) + [0.69315, 0.69314, 0.69315, 0.69315, 0.69314]
    return make_run(loss)


FIRES = [
    Case("Keras loss 0.7407 jumps to 13.36 and sits at 26.64 to 4 digits", keras_jump_to_26_64),
    Case("a Caffe loss near 95 jumps to 1746.73 = 87.3365 x 20 and stays (also a SAT signature)", caffe_loss_jumps_to_87_3365_times_20),
    Case("a binary loss near 0.05 jumps to ln 2 = 0.6931 and stays", small_binary_loss_collapses_to_ln_2),
]


def recovered_spike():
    loss = noisy_decay(200, 2.3, 0.5, seed=53)
    loss[150:155] = [6.0, 3.0, 1.2, 0.7, 0.6]
    return make_run(loss)


def jump_then_noisy_recovery():
    loss = np.concatenate([noisy_decay(50, 2.3, 0.6, seed=54), 4.0 * np.exp(-np.arange(30) / 8.0) + 0.6])
    return make_run(loss)


def flat_at_ln_10_from_the_start():
    return make_run([2.3026, 2.3026, 2.3025, 2.3026, 2.3026, 2.3026, 2.3025, 2.3026])


def lr_decay_drop_to_a_flat_level():
    loss = list(noisy_decay(100, 2.3, 0.9, seed=55)) + [0.31, 0.3101, 0.3100, 0.3101, 0.3100]
    return make_run(loss)


def converged_loss_flat_at_the_end():
    loss = list(noisy_decay(100, 2.3, 0.02, seed=56)) + [0.0123, 0.01231, 0.01230, 0.01230]
    return make_run(loss)


QUIET = [
    Case("a spike x10 that falls back within 3 points", recovered_spike),
    Case("a jump x7 followed by a steady recovery, not a plateau", jump_then_noisy_recovery),
    Case("a loss flat at ln 10 from the first point (no jump: PLT)", flat_at_ln_10_from_the_start),
    Case("an lr-decay step drops the loss to a flat level", lr_decay_drop_to_a_flat_level),
    Case("a converged loss that is flat to 4 digits at the end", converged_loss_flat_at_the_end),
]
