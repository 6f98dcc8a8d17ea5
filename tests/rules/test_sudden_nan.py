"""NAN001 on a coarse log: the accuracy of the stretch that ended in NaN tells a sound model hit by one bad batch from one that blew up."""

from nandoctor.features import Facts
from nandoctor.rules.sudden_nan import SuddenNan
from tests.rules.cases.nan001 import keras_epochs_nan_while_the_epoch_accuracy_fell, keras_epochs_nan_while_the_epoch_accuracy_held


def _first_cause(build) -> str:
    run = build()
    (finding,) = SuddenNan().check(run, Facts(run))
    return max(finding.causes, key=finding.causes.get)


def test_an_accuracy_that_held_through_the_nan_epoch_names_a_sudden_nan():
    assert _first_cause(keras_epochs_nan_while_the_epoch_accuracy_held) == "sudden_nan"


def test_an_accuracy_that_fell_in_the_nan_epoch_leaves_the_learning_rate_first():
    assert _first_cause(keras_epochs_nan_while_the_epoch_accuracy_fell) == "lr_too_high"
