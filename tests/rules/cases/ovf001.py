"""OVF001 overfitting: the validation loss turns back up while the train loss keeps falling."""

import numpy as np

from tests.rules.builders import Case, make_run, noisy_decay


def _keras_epochs():
    # 50 epochs: train 4.9 -> 1.7; val bottoms at epoch 8 (2.4) and climbs, noisily, to ~3.4.
    rng = np.random.default_rng(1)
    epochs = np.arange(50)
    train = noisy_decay(50, start=4.9, end=1.6, seed=1)
    val = np.where(epochs <= 8, 4.2 - 0.22 * epochs, 2.44 + 0.022 * (epochs - 8)) * np.exp(rng.normal(0, 0.03, 50))
    return make_run(list(train), steps=epochs, val_loss=(epochs, list(val)), step_unit="epoch", framework="keras")


def _whisper_five_evals():
    # HF Seq2SeqTrainer, 5000 steps: train 0.89 -> 0.0002, eval loss 0.307 -> 0.356 -> 0.421 -> 0.452 -> 0.468.
    steps = np.arange(25, 5001, 25)
    train = np.geomspace(0.89, 0.0002, steps.size) * np.exp(np.random.default_rng(2).normal(0, 0.1, steps.size))
    evals = ([1000, 2000, 3000, 4000, 5000], [0.3075, 0.3558, 0.4214, 0.4519, 0.4679])
    return make_run(list(train), steps=steps, val_loss=evals, framework="hf")


def _caffe_test_loss_doubles():
    # Caffe CIFAR VGG: test loss every 2000 iters, minimum 0.442 at 8000 then up to ~0.86; train -> 3e-4.
    rng = np.random.default_rng(3)
    train_steps = np.arange(0, 130001, 100)
    train = np.maximum(noisy_decay(train_steps.size, start=2.3, end=0.0003, seed=3), 1e-4)
    test_steps = np.arange(0, 130001, 2000)
    test = np.where(test_steps <= 8000, 2.3 - (2.3 - 0.442) * test_steps / 8000, 0.442 + 0.42 * (1 - np.exp(-(test_steps - 8000) / 30000)))
    test = test * np.exp(rng.normal(0, 0.02, test_steps.size))
    return make_run(list(train), steps=train_steps, val_loss=(test_steps, list(test)), framework="caffe")


def _noisy_flat_val():
    # The train loss falls while the validation loss is flat around 1.0 with 8 % noise; its last three
    # evaluations all happen to be 1.1x above its lowest draw (0.82), as in a real rise.
    rng = np.random.default_rng(6)
    epochs = np.arange(40)
    val = 1.0 * np.exp(rng.normal(0, 0.08, 40))
    return make_run(list(noisy_decay(40, start=2.0, end=0.6, seed=4)), steps=epochs, val_loss=(epochs, list(val)), step_unit="epoch")


def _epoch_staircase():
    # Multi-epoch fine-tuning: the train loss drops in stairs at each epoch start; val keeps falling.
    steps = np.arange(3000)
    epoch = steps // 1000
    train = (1.2 - 0.35 * epoch) * np.exp(np.random.default_rng(5).normal(0, 0.03, 3000))
    evals = (np.arange(250, 3001, 250), list(np.linspace(1.15, 0.98, 12)))
    return make_run(list(train), steps=steps, val_loss=evals)


def _both_rise():
    # Train and validation loss both rise after a minimum: divergence, not overfitting.
    epochs = np.arange(30)
    train = np.where(epochs < 12, 2.0 - 0.1 * epochs, 0.8 + 0.05 * (epochs - 12))
    val = np.where(epochs < 12, 2.1 - 0.1 * epochs, 0.9 + 0.06 * (epochs - 12))
    return make_run(list(train), steps=epochs, val_loss=(epochs, list(val)), step_unit="epoch")


def _late_uptick():
    # Val falls 1.96 -> 0.100 by epoch 24, then edges up to 0.123 over the last 5 epochs: 23 % above
    # its minimum, but 1 % of how far it fell.
    epochs = np.arange(30)
    val = list(np.geomspace(1.96, 0.1001, 24)) + [0.1000, 0.1023, 0.1055, 0.1112, 0.1183, 0.1226]
    train = np.geomspace(4.4, 0.046, 30)
    return make_run(list(train), steps=epochs, val_loss=(epochs, val), step_unit="epoch")


def _minimum_at_the_end():
    # Val is lowest at the last evaluation: still improving.
    epochs = np.arange(20)
    val = list(noisy_decay(20, start=1.5, end=0.5, seed=7))
    val[-1] = min(val) * 0.98
    return make_run(list(noisy_decay(20, start=1.6, end=0.3, seed=8)), steps=epochs, val_loss=(epochs, val), step_unit="epoch")


def _lr_raised_after_an_early_minimum():
    # corpus divergence/mlp-noisy-classif-lr-raised-tb: per-5-step train loss 1.46 -> 0.9 by step 245,
    # then the lr is raised 12x and it settles near 1.2; val (per 24 steps) bottoms at 1.176 at step
    # 71 and rises to ~1.6. The train EMA at step 71 is still near its start (1.28 > 1.2): it looks falling
    rng = np.random.default_rng(9)
    steps = np.arange(0, 960, 5)
    train = np.where(steps < 250, 0.9 + 0.56 * np.exp(-steps / 40.0), 1.2) * np.exp(rng.normal(0, 0.1, steps.size))
    eval_steps = np.arange(23, 960, 24)
    val = np.where(eval_steps < 250, 1.21, 1.55) * np.exp(rng.normal(0, 0.015, eval_steps.size))
    val[:3] = [1.241, 1.212, 1.176]
    return make_run(list(train), steps=steps, val_loss=(eval_steps, list(val)))


def _overfits_from_the_second_evaluation():
    # 100 samples: val bottoms at the second evaluation (step 60) and rises for 18 more while the
    # per-step train loss, still falling fast at step 60, goes on down to 0.05
    rng = np.random.default_rng(10)
    steps = np.arange(0, 600, 3)
    train = np.geomspace(1.4, 0.05, steps.size) * np.exp(rng.normal(0, 0.08, steps.size))
    eval_steps = np.arange(30, 600, 30)
    val = np.where(eval_steps <= 60, 1.2 - 0.2 * (eval_steps - 30) / 30, 1.0 + 0.8 * (eval_steps - 60) / 540) * np.exp(rng.normal(0, 0.02, eval_steps.size))
    val[1] = 0.97
    return make_run(list(train), steps=steps, val_loss=(eval_steps, list(val)))


FIRES = [
    Case("Keras: val loss bottoms at epoch 8 and climbs for 40 epochs while train keeps falling", _keras_epochs),
    Case("HF Whisper: eval loss rises at every one of 4 evaluations after the first while train -> 0.0002", _whisper_five_evals),
    Case("Caffe: test loss doubles after its minimum at iteration 8000 while train goes to 3e-4", _caffe_test_loss_doubles),
    Case("100 samples: val bottoms at the second evaluation while the per-step train loss falls 1.4 -> 0.05", _overfits_from_the_second_evaluation),
]

QUIET = [
    Case("validation loss noisy (8 %) but flat while the train loss falls", _noisy_flat_val),
    Case("train-loss staircase at epoch boundaries with the validation loss still falling", _epoch_staircase),
    Case("train and validation loss both rise after a minimum (divergence)", _both_rise),
    Case("a late uptick 23 % above the minimum but worth 1 % of how far the validation loss fell", _late_uptick),
    Case("validation loss lowest at the last evaluation", _minimum_at_the_end),
    Case("lr raised 12x mid-run: train 0.9 -> 1.2 while val rises from an early minimum (divergence)", _lr_raised_after_an_early_minimum),
]
