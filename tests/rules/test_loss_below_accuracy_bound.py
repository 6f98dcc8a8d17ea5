"""IMP003 on losses and accuracies computed by real training, and on DeepFD's seeded wrong-loss runs.

The classifier is a softmax regression trained by minibatch gradient descent in numpy on Gaussian
clusters; per epoch it logs what Keras logs: the mean over the epoch's batches of the loss and the
accuracy of each batch's predictions before its update, and both on a held-out set after the epoch.
The bound is a theorem for cross-entropy, so it must hold on every such run; a mean absolute or
squared error on the same softmax outputs is far below it.
"""

from __future__ import annotations

import numpy as np
import pytest

from nandoctor.api import run_analysis
from nandoctor.features import Facts
from nandoctor.load import load_paths
from nandoctor.rules.loss_below_accuracy_bound import LossBelowAccuracyBound
from tests.conftest import REPO
from tests.rules.builders import make_run


def clusters(classes: int, samples: int, spread: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.0, (classes, 8))
    labels = rng.integers(0, classes, samples)
    return centres[labels] + rng.normal(0.0, spread, (samples, 8)), labels


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def loss_and_gradient(kind: str, probabilities: np.ndarray, targets: np.ndarray, smoothing: float) -> tuple[float, np.ndarray]:
    """The batch's mean loss and its gradient with respect to the logits (as Keras/PyTorch define the losses)."""
    count, classes = probabilities.shape
    soft = targets * (1 - smoothing) + smoothing / classes
    if kind == "cross_entropy":
        return float(-np.mean(np.sum(soft * np.log(probabilities + 1e-12), axis=1))), (probabilities - soft) / count
    error = probabilities - targets
    if kind == "mse":  # mean over classes, as keras.losses.MeanSquaredError and nn.MSELoss do
        upstream = 2 * error / (classes * count)
        loss = float(np.mean(error**2))
    else:  # mae
        upstream = np.sign(error) / (classes * count)
        loss = float(np.mean(np.abs(error)))
    # back through the softmax: dL/dz = p * (g - sum(g * p))
    gradient = probabilities * (upstream - np.sum(upstream * probabilities, axis=1, keepdims=True))
    return loss, gradient


def train(kind: str, classes: int, seed: int, lr: float, smoothing: float = 0.0, epochs: int = 25):
    """Per epoch: train loss and accuracy (batch means), validation loss and accuracy."""
    x, y = clusters(classes, 3000, 0.9, seed)
    x_val, y_val = clusters(classes, 1000, 0.9, seed)  # same centres (same seed), other draws are not needed
    eye = np.eye(classes)
    rng = np.random.default_rng(seed + 1)
    weights, bias = rng.normal(0, 0.01, (x.shape[1], classes)), np.zeros(classes)
    history = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
    for _ in range(epochs):
        losses, hits = [], []
        for batch in np.array_split(rng.permutation(len(x)), len(x) // 64):
            probabilities = softmax(x[batch] @ weights + bias)
            loss, gradient = loss_and_gradient(kind, probabilities, eye[y[batch]], smoothing)
            losses.append(loss)
            hits.append(np.mean(probabilities.argmax(axis=1) == y[batch]))
            weights -= lr * x[batch].T @ gradient
            bias -= lr * gradient.sum(axis=0)
        probabilities = softmax(x_val @ weights + bias)
        history["loss"].append(np.mean(losses))
        history["accuracy"].append(np.mean(hits))
        history["val_loss"].append(loss_and_gradient(kind, probabilities, eye[y_val], smoothing)[0])
        history["val_accuracy"].append(np.mean(probabilities.argmax(axis=1) == y_val))
    epochs_axis = np.arange(epochs)
    return make_run(
        np.array(history["loss"]), steps=epochs_axis, accuracy=np.array(history["accuracy"]),
        val_loss=(epochs_axis, np.array(history["val_loss"])), val_accuracy=(epochs_axis, np.array(history["val_accuracy"])),
        step_unit="epoch", framework="keras",
    )


def findings(run):
    rule = LossBelowAccuracyBound()
    assert rule.applicable(run)
    return list(rule.check(run, Facts(run)))


@pytest.mark.parametrize("classes", [2, 10])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("lr, smoothing", [(0.5, 0.0), (0.05, 0.0), (0.5, 0.1)])
def test_cross_entropy_training_never_breaks_the_bound(classes, seed, lr, smoothing):
    assert findings(train("cross_entropy", classes, seed, lr, smoothing)) == []


@pytest.mark.parametrize("kind", ["mse", "mae"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_error_loss_on_softmax_outputs_is_caught(kind, seed):
    found = findings(train(kind, 10, seed, lr=0.5))
    assert len(found) == 1
    finding = found[0]
    assert finding.severity == "warning" and finding.causes["bad_input"] == 1.0
    evidence = finding.evidence
    assert evidence["accuracy"] < evidence["least_accuracy_for_cross_entropy"] - 0.05
    assert evidence["points_below_bound"] >= evidence["compared_points"] / 2


DEEPFD = "papers/deepfd-cov"


def test_deepfd_wrong_loss_runs_fire_and_their_cross_entropy_siblings_do_not(realworld):
    fired = {}
    for path in sorted((realworld / DEEPFD).glob("*-log.csv")):
        runs, _ = load_paths([str(path)])
        rule = LossBelowAccuracyBound()
        fired[path.name] = any(rule.applicable(run) and list(rule.check(run, Facts(run))) for run in runs)
    assert {name for name, hit in fired.items() if hit} == {
        "1ed98a53-loss_mean_absolute_error-iter_1-log.csv",
        "4ad0c8af-loss_mean_absolute_error-iter_1-log.csv",
    }
    assert len(fired) > 20  # the other seeded faults (lr, optimiser, epochs, activation) and the originals


def test_the_report_of_a_wrong_loss_run_leads_with_the_loss_fix():
    """Our corpus' PyTorch run trained with MSE on softmax outputs: bad input, and the first fix names the loss."""
    (diagnosis,) = run_analysis([str(REPO / "corpus" / "bad_input" / "mlp-digits-mse-on-softmax-sgd-tb")], jobs=1).diagnoses
    cause = diagnosis.causes[0]
    assert (cause.id, cause.findings) == ("bad_input", ("IMP003",))
    assert cause.fixes[0].startswith("Train a classifier with cross-entropy on its logits")
