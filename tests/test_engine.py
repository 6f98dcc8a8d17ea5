"""How the engine turns findings into ranked causes."""

from __future__ import annotations

from nandoctor.engine import rank_causes, status_of
from nandoctor.model import Finding


def finding(rule_id: str, severity: str, confidence: float, causes: dict) -> Finding:
    return Finding(rule_id, rule_id.lower(), severity, confidence, "message", causes=causes)


def test_the_strongest_evidence_ranks_first_and_info_never_makes_a_cause():
    findings = [finding("NAN002", "error", 0.9, {"lr_too_high": 1.0, "divergence": 0.4}), finding("SPK001", "info", 0.9, {"divergence": 1.0})]
    causes = rank_causes(findings, None)
    assert [cause.id for cause in causes] == ["lr_too_high", "divergence"]
    assert causes[0].score == 0.9 and causes[1].findings == ("NAN002",)


def test_several_findings_for_one_cause_add_up():
    causes = rank_causes([finding("A001", "warning", 0.5, {"overfitting": 1.0}), finding("B001", "warning", 0.5, {"overfitting": 1.0})], None)
    assert causes[0].score == round(1 - (1 - 0.3) ** 2, 3)


def test_a_schedule_bug_established_on_its_own_explains_the_stall_it_causes():
    stall = finding("SAT003", "error", 0.9, {"vanishing_or_stalled": 1.0})
    schedule = finding("LR004", "warning", 0.65, {"lr_schedule_bug": 1.0})
    ranked = [cause.id for cause in rank_causes([stall, schedule], None)]
    assert ranked[0] == "lr_schedule_bug" and "vanishing_or_stalled" in ranked
    # Without evidence of its own, a schedule bug is never inferred from a stall.
    assert [cause.id for cause in rank_causes([stall], None)] == ["vanishing_or_stalled"]


def test_status_follows_the_most_severe_finding():
    assert status_of([]) == "healthy"
    assert status_of([finding("X001", "info", 1.0, {})]) == "healthy"
    assert status_of([finding("X001", "warning", 0.2, {})]) == "warning"
    assert status_of([finding("X001", "warning", 0.2, {}), finding("Y001", "error", 0.2, {})]) == "failed"


def test_a_fix_names_the_highest_learning_rate_measured_not_one_a_schedule_collapsed_to():
    stall = Finding("PLT002", "constant-loss", "error", 0.9, "message", evidence={"lr": 1e-9}, causes={"lr_too_high": 1.0})
    blowup = Finding("LR001", "early-blowup", "warning", 0.6, "message", evidence={"lr": 0.4}, causes={"lr_too_high": 1.0})
    (cause,) = rank_causes([stall, blowup], "pytorch")
    assert any("from 0.4 to 0.04" in fix for fix in cause.fixes)
    assert not any("1e-09" in fix for fix in cause.fixes)
