"""NAN003 weighs what the other metrics of a NaN-from-the-first-epoch run say about when the outputs broke."""

from nandoctor.features import Facts
from nandoctor.rules.nan_from_start import NanFromStart
from tests.rules.cases.nan003 import (
    keras_nan_every_epoch,
    keras_nan_every_epoch_while_the_mae_blew_up_in_the_first,
    keras_nan_every_epoch_with_a_sane_mae,
    keras_nan_every_epoch_with_accuracy_frozen_from_the_first,
    keras_nan_every_epoch_with_only_the_val_accuracy_frozen,
)


def _causes(build) -> list[str]:
    run = build()
    (finding,) = NanFromStart().check(run, Facts(run))
    return sorted(finding.causes, key=lambda cause: -finding.causes[cause])


def test_a_metric_that_blew_up_in_the_first_epoch_points_at_the_learning_rate_and_divergence():
    assert _causes(keras_nan_every_epoch_while_the_mae_blew_up_in_the_first)[:2] == ["lr_too_high", "divergence"]


def test_a_sane_metric_beside_the_nan_leaves_bad_input_near_the_top():
    causes = _causes(keras_nan_every_epoch_with_a_sane_mae)
    assert "bad_input" in causes[:2] and causes.index("bad_input") < causes.index("divergence")


def test_an_accuracy_frozen_from_the_first_epoch_points_at_the_input_first():
    assert _causes(keras_nan_every_epoch_with_accuracy_frozen_from_the_first)[0] == "bad_input"


def test_a_validation_accuracy_frozen_after_each_epoch_says_nothing_of_the_first_epoch():
    assert _causes(keras_nan_every_epoch_with_only_the_val_accuracy_frozen)[0] == "lr_too_high"


def test_with_nothing_beside_the_nan_the_learning_rate_leads_a_little():
    assert _causes(keras_nan_every_epoch)[:2] == ["lr_too_high", "bad_input"]
