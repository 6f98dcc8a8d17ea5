"""The cause catalog gives each piece of advice once: a framework's own fix replaces the generic
one on the same topic, and the generic advice it does not cover is kept."""

from __future__ import annotations

from collections import Counter

import pytest

from nandoctor.causes import CAUSES, FRAMEWORKS, fixes_for

NUMBERS = {"lr": 0.1, "lr_lower": 0.01}


def test_caffe_lr_too_high_says_lower_base_lr_once_and_keeps_the_warmup_advice():
    fixes = fixes_for("lr_too_high", "caffe", NUMBERS)
    assert fixes == (
        "Lower base_lr in solver.prototxt from 0.1 to 0.01 or below.",
        "Set clip_gradients (e.g. 10) in solver.prototxt.",
        "Use a longer warmup.",
    )


def test_hf_warmup_advice_is_not_repeated_by_the_generic_fix():
    fixes = fixes_for("lr_too_high", "hf", NUMBERS)
    assert not any(fix == "Use a longer warmup." for fix in fixes)
    assert any("warmup_ratio" in fix for fix in fixes)


def test_an_unknown_framework_gets_every_generic_fix():
    generic = CAUSES["lr_too_high"].generic
    assert len(fixes_for("lr_too_high", None, NUMBERS)) == len(generic)


@pytest.mark.parametrize("cause_id", sorted(CAUSES))
@pytest.mark.parametrize("framework", [*FRAMEWORKS, None])
def test_no_topic_is_advised_twice_none_is_lost_and_no_tag_leaks_into_the_text(cause_id, framework):
    cause = CAUSES[cause_id]
    own = cause.by_framework.get(framework or "", ())
    shown = fixes_for(cause_id, framework, NUMBERS)
    assert not any(fix.startswith("[") for fix in shown)
    generic_text = dict(zip(fixes_for(cause_id, None, NUMBERS), cause.generic))  # each generic fix as rendered
    assert len(generic_text) == len(cause.generic)
    shown_generic = [generic_text[text] for text in shown[len(own) :]]
    topics = Counter(topic for fix in [*own, *shown_generic] for topic in fix.topics)
    assert all(count == 1 for count in topics.values()), topics  # a piece of advice is given once
    assert {topic for fix in cause.generic for topic in fix.topics} <= set(topics)  # and none is lost
    assert all(fix in shown_generic for fix in cause.generic if not fix.topics)


def test_the_fixes_a_finding_points_at_come_first_and_the_rest_keep_their_order():
    plain = fixes_for("bad_input", "keras", {})
    pointed = fixes_for("bad_input", "keras", {}, ("loss",))
    assert sorted(pointed) == sorted(plain)
    assert pointed[0].startswith("For classes use loss='categorical_crossentropy'")
    assert list(pointed[1:]) == [fix for fix in plain if fix != pointed[0]]
    assert fixes_for("bad_input", None, {}, ("loss",))[0].startswith("Train a classifier with cross-entropy on its logits")
    assert fixes_for("bad_input", None, {}, ("no-such-topic",)) == fixes_for("bad_input", None, {})
