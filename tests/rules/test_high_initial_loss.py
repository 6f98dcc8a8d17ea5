"""INI001 blames the learning rate for a network wrecked from the first epoch, the start for one that recovers."""

from nandoctor.features import Facts
from nandoctor.rules.high_initial_loss import HighInitialLoss
from tests.rules.cases.ini001 import _huge_from_first_epoch_and_staying, _huge_init_recovering


def test_a_wrecked_network_blames_the_learning_rate_and_a_recovering_one_the_start():
    for build, top in ((_huge_from_first_epoch_and_staying, "lr_too_high"), (_huge_init_recovering, "bad_init")):
        run = build()
        (finding,) = HighInitialLoss().check(run, Facts(run))
        assert max(finding.causes, key=finding.causes.get) == top
