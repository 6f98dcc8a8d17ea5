"""SAT001 caffe-softmax-floor: Caffe losses pinned at 87.3365 (or a weighted multiple); near-misses at iteration 0."""

from __future__ import annotations

import dataclasses

import numpy as np

from nandoctor.model import make_series
from nandoctor.roles import pick_primary
from tests.rules.builders import Case, make_run, noisy_decay

FLOOR = 87.3365


def _caffe_run(steps, total, *, outputs=(), tests=(), lr=None, loss_weights=None, base_lr=0.01):
    """A Caffe run as the reader builds it: the smoothed total, `train/<output>` and `test/<output>` series."""
    run = make_run(total, steps=steps, framework="caffe", meta={"loss_weights": loss_weights or {}, "solver": {"base_lr": base_lr}}, **({"lr": lr} if lr is not None else {}))
    extra = []
    for name, (series_steps, values) in outputs:
        extra.append(make_series(f"train/{name}", series_steps, values, role="train_loss", source="run.log", locations=np.arange(len(values)) * 3 + 2))
    for name, role, (series_steps, values) in tests:
        extra.append(make_series(f"test/{name}", series_steps, values, role=role, source="run.log", locations=np.arange(len(values)) * 3 + 1))
    series = list(run.series) + extra
    return dataclasses.replace(run, series=tuple(series), val_loss=pick_primary(series, "val_loss"))


def jump_to_floor_at_lr_0_1():
    steps = np.arange(0, 3500, 100)
    loss = noisy_decay(steps.size, 6.9, 4.6, noise=0.02, seed=1)
    loss[25:] = FLOOR  # iteration 2500 on: BVLC/caffe#5137
    lr = np.full(steps.size, 0.1)
    return _caffe_run(steps, loss, outputs=[("softmax_loss", (steps, loss.copy()))], lr=lr, loss_weights={"softmax_loss": 1.0}, base_lr=0.1)


def captioner_with_loss_weight_20():
    steps = np.arange(0, 1100, 100)
    per_output = np.full(steps.size, FLOOR)
    per_output[0] = 9.21768  # ln 10^4 at iteration 0: a healthy start
    total = per_output * 20
    total[1:] = 1746.73  # printed with 6 significant digits
    return _caffe_run(steps, total, outputs=[("cross_entropy_loss", (steps, per_output))], loss_weights={"cross_entropy_loss": 20.0})


def train_and_test_pinned_with_chance_accuracy():
    steps = np.arange(55000, 56100, 100)
    loss = np.full(steps.size, 87.3363)  # the averaged print of the same ceiling
    test_steps = np.array([55500, 56000])
    return _caffe_run(steps, loss, tests=[("loss", "val_loss", (test_steps, np.array([87.3365, 87.3366]))), ("accuracy", "val_accuracy", (test_steps, np.array([0.1, 0.1])))], loss_weights={"loss": 1.0})


def partial_saturation_of_one_head():
    steps = np.arange(0, 3000, 100)
    total = noisy_decay(steps.size, 12.0, 60.0, noise=0.03, seed=2)
    head = noisy_decay(steps.size, 6.9, 5.0, noise=0.03, seed=3)
    head[18:] = 52.4013  # 60 % of the samples' true-class probability underflows, identically every display
    return _caffe_run(steps, total, outputs=[("loss1/loss", (steps, head))], loss_weights={"loss1/loss": 1.0})


def resnet_prints_87_3361_at_iteration_0_test_only():
    steps = np.arange(0, 64000, 100)
    loss = noisy_decay(steps.size, 2.54, 0.02, noise=0.15, seed=4)
    test_steps = np.arange(0, 64000, 500)
    test_loss = noisy_decay(test_steps.size, 2.9, 0.28, noise=0.05, seed=5)
    test_loss[0] = 87.3361  # the untrained net at iteration 0 (realworld caffe 009)
    return _caffe_run(steps, loss, outputs=[("Softmax1", (steps, loss.copy()))], tests=[("Softmax1", "val_loss", (test_steps, test_loss))], loss_weights={"Softmax1": 1.0})


def mobilenet_prints_79_2_at_iteration_0():
    steps = np.arange(0, 100000, 200)
    loss = noisy_decay(steps.size, 2.36, 0.018, noise=0.2, seed=6)
    test_steps = np.arange(0, 100000, 1000)
    test_loss = noisy_decay(test_steps.size, 2.2, 0.39, noise=0.03, seed=7)
    test_loss[0] = 79.223
    return _caffe_run(steps, loss, tests=[("SoftmaxWithLoss1", "val_loss", (test_steps, test_loss))], loss_weights={"SoftmaxWithLoss1": 1.0})


def rmsprop_touches_the_floor_once():
    steps = np.arange(0, 700, 20)
    rng = np.random.default_rng(8)
    per_iteration = 7.0 * np.exp(rng.normal(0, 0.15, steps.size))
    per_iteration[5] = FLOOR  # one batch saturates, the next does not
    smoothed = 7.0 + 30 * rng.random(steps.size)
    return _caffe_run(steps, smoothed, outputs=[("loss", (steps, per_iteration))], loss_weights={"loss": 1.0})


def captioner_total_in_the_hundreds_while_learning():
    steps = np.arange(0, 5000, 50)
    total = noisy_decay(steps.size, 151.5, 80.0, noise=0.004, seed=9)  # weight 20: ceiling 1746.73
    per_output = total / 20 * np.exp(np.random.default_rng(10).normal(0, 0.05, steps.size))
    return _caffe_run(steps, total, outputs=[("cross_entropy_loss", (steps, per_output))], loss_weights={"cross_entropy_loss": 20.0})


def pytorch_softmax_clamped_at_flt_min():
    # corpus tanh-mlp-digits-caffe-softmax-*: -log(max(p, FLT_MIN)) in PyTorch, SGD lr 5, batch 32: from
    # step 4 each batch's k wrong answers are saturated and the right ones certain, so the logged
    # batch mean is k/32 x 87.3365 (79.1487, 81.878, 76.4195 ...): not flat, it tracks 1 - accuracy
    steps = np.arange(120)
    rng = np.random.default_rng(21)
    wrong = rng.binomial(32, 0.9, steps.size)
    accuracy = (32 - wrong) / 32
    loss = wrong / 32 * FLOOR
    unsaturated = rng.random(steps.size) < 0.3  # some batches hold a wrong answer short of the clamp
    loss[unsaturated] *= rng.uniform(0.75, 0.98, unsaturated.sum())
    loss[:4] = [2.25, 2.9, 11.6, 17.9]
    accuracy[:4] = [0.25, 0.125, 0.09, 0.06]
    return make_run(loss, steps=steps, accuracy=accuracy, framework="lightning")


def detector_loss_over_error_rate_passes_87():
    # a detector's total loss (60 -> 12) beside its classification accuracy (0.3 -> 0.85): the ratio
    # L / (1 - acc) swings between 68 and 103 while it learns, passing 87.3 four times, never two points in a row
    steps = np.arange(0, 6000, 100)
    accuracy = np.linspace(0.30, 0.85, steps.size)
    loss = FLOOR * (1 - accuracy) * (0.98 + 0.2 * np.sin(np.linspace(0, 9, steps.size)))
    return make_run(loss, steps=steps, accuracy=accuracy, framework="pytorch")


def healthy_run_from_87_at_iteration_0_with_accuracy():
    # an untrained net's first test display at the clamp (87.3365 x 0.9 at accuracy 0.1), then learning
    steps = np.arange(0, 20000, 500)
    test_loss = noisy_decay(steps.size, 2.2, 0.4, noise=0.03, seed=22)
    test_loss[0] = FLOOR * 0.9
    accuracy = np.clip(0.1 + 0.8 * (1 - test_loss / 2.3), 0, 1)
    accuracy[0] = 0.1
    return make_run(noisy_decay(steps.size, 2.3, 0.2, noise=0.05, seed=23), steps=steps, val_loss=(steps, test_loss), val_accuracy=(steps, accuracy), framework="caffe")


FIRES = [
    Case("a Caffe softmax loss at 4.9 jumps to exactly 87.3365 at iteration 2500 (lr 0.1) and stays there", jump_to_floor_at_lr_0_1),
    Case("a captioner with loss_weight 20 prints 87.3365 (* 20 = 1746.73 loss) from iteration 100", captioner_with_loss_weight_20),
    Case("train 87.3363 and test 87.3365/87.3366 with test accuracy 0.1 (chance on CIFAR-10)", train_and_test_pinned_with_chance_accuracy),
    Case("one head sits at 52.4013 to the last digit for 12 displays: partial saturation", partial_saturation_of_one_head),
    Case("a PyTorch softmax clamped at FLT_MIN: batch loss k/32 x 87.3365 = 87.3365 x (1 - accuracy)", pytorch_softmax_clamped_at_flt_min),
]

QUIET = [
    Case("a healthy ResNet-20 prints test loss 87.3361 at iteration 0 only, then 2.9 and down", resnet_prints_87_3361_at_iteration_0_test_only),
    Case("a healthy MobileNet prints a test loss of 79.2 at iteration 0, then converges", mobilenet_prints_79_2_at_iteration_0),
    Case("an unstable RMSProp run touches 87.3365 in a single display and leaves it (info at most)", rmsprop_touches_the_floor_once),
    Case("a captioner's smoothed total of 150 -> 80 (weight 20, below its 1746.73 ceiling) while learning", captioner_total_in_the_hundreds_while_learning),
    Case("a learning detector whose loss / (1 - accuracy) passes through 87.3 for one point at a time", detector_loss_over_error_rate_passes_87),
    Case("a test loss of 87.3365 x (1 - accuracy) at iteration 0 only, then learning", healthy_run_from_87_at_iteration_0_with_accuracy),
]
