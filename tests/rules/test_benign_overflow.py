"""AMP002 reports normal dynamic loss scaling as info, and stays silent when there is nothing to say or AMP001 speaks."""

from __future__ import annotations

from nandoctor.engine import diagnose
from nandoctor.features import Facts
from nandoctor.rules.benign_overflow import BenignOverflow
from nandoctor.rules.loss_scale_collapse import LossScaleCollapse

from .builders import make_run, noisy_decay
from .cases.amp001 import _benign_deepspeed, _deepspeed_midrun_streak, _early_search_only
from .cases.amp002 import _isolated_events


def _findings(run):
    return list(BenignOverflow().check(run, Facts(run)))


def test_deepspeed_start_up_halvings_are_reported_as_info_with_their_counts():
    findings = _findings(_benign_deepspeed())
    assert [finding.severity for finding in findings] == ["info"]
    evidence = findings[0].evidence
    assert evidence["warmup_halvings"] >= 10
    assert evidence["later_halvings"] == 3
    assert evidence["closest_later_halvings_steps"] >= 1000
    assert findings[0].causes == {}
    assert "normal dynamic loss scaling" in findings[0].message


def test_isolated_overflow_messages_are_info_and_point_at_the_first():
    findings = _findings(_isolated_events())
    assert [finding.severity for finding in findings] == ["info"]
    assert findings[0].onset_step == 1
    assert findings[0].evidence["later_halvings"] == 2


def test_an_info_finding_leaves_the_run_healthy_with_no_cause():
    diagnosis = diagnose(_early_search_only(), [BenignOverflow(), LossScaleCollapse()])
    assert diagnosis.status == "healthy"
    assert diagnosis.causes == ()
    assert [finding.rule_id for finding in diagnosis.findings] == ["AMP002"]


def test_silent_without_any_halving_or_scale():
    assert _findings(make_run(list(noisy_decay(500)), loss_scale=[65536.0] * 500)) == []
    assert _findings(make_run(list(noisy_decay(500)))) == []


def test_silent_when_the_scale_collapses():
    run = _deepspeed_midrun_streak()
    assert _findings(run) == []
    assert [finding.rule_id for finding in LossScaleCollapse().check(run, Facts(run))] == ["AMP001"]
