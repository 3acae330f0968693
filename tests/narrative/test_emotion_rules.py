"""Each rule of narrative.emotion_logic, with the expected numbers worked out by hand."""

from __future__ import annotations

import pytest

from narrative import emotion_logic as rules
from narrative.emotions import EmotionVector


def test_a_shift_emotion_adds_and_clamps():
    emotion = EmotionVector(anger=0.9, fear=0.2)
    assert rules.shift_emotion(emotion, "anger", 0.3).anger == 1.0
    assert rules.shift_emotion(emotion, "fear", -0.5).fear == 0.0
    assert rules.shift_emotion(emotion, "joy", 0.25) == EmotionVector(anger=0.9, fear=0.2, joy=0.25)


def test_a_shift_relationship_adds_and_clamps():
    assert rules.shift_relationship(0.2, 0.3) == pytest.approx(0.5)
    assert rules.shift_relationship(0.8, 0.5) == 1.0
    assert rules.shift_relationship(-0.5, -0.7) == -1.0


def test_b_decay_rate_from_stubbornness():
    # 0.2 + 0.2 * (0.5 - 0.8) = 0.14
    assert rules.decay_rate({"stubbornness": 0.8}) == pytest.approx(0.14)
    assert rules.decay_rate({"stubbornness": 0.0}) == pytest.approx(0.3)
    assert rules.decay_rate({}) == pytest.approx(0.2)  # missing trait counts as 0.5


def test_b_decay_moves_toward_baseline():
    emotion = EmotionVector(fear=0.6, joy=0.0)
    baseline = EmotionVector(fear=0.1, joy=0.5)
    decayed = rules.decay(emotion, baseline, 0.14)
    # fear: 0.1 + (0.6 - 0.1) * 0.86 = 0.53; joy: 0.5 + (0 - 0.5) * 0.86 = 0.07
    assert decayed.fear == pytest.approx(0.53)
    assert decayed.joy == pytest.approx(0.07)
    assert rules.decay(emotion, baseline, 1.0) == baseline
    assert rules.decay(emotion, baseline, 0.0) == emotion


def test_c_blend_weight_from_traits_and_relationship():
    # 0.3 + 0.4 * (0.9 - 0.5) - 0.4 * (0.2 - 0.5) + 0.2 * (0.4 + 0.2) / 2 = 0.64
    weight = rules.blend_weight({"empathy": 0.9, "stubbornness": 0.2}, trust=0.4, affection=0.2)
    assert weight == pytest.approx(0.64)
    # 0.3 - 0.2 - 0.2 - 0.2 = -0.3, clamped to BLEND_MIN
    assert rules.blend_weight({"empathy": 0.0, "stubbornness": 1.0}, trust=-1.0, affection=-1.0) == 0.0
    assert rules.blend_weight({}, trust=0.0, affection=0.0) == pytest.approx(0.3)


def test_c_empathy_raises_and_stubbornness_lowers_the_weight():
    base = rules.blend_weight({}, 0.0, 0.0)
    assert rules.blend_weight({"empathy": 0.8}, 0.0, 0.0) > base
    assert rules.blend_weight({"stubbornness": 0.8}, 0.0, 0.0) < base
    assert rules.blend_weight({}, 0.6, 0.6) > base


def test_c_blend():
    emotion = EmotionVector(joy=0.2, sadness=0.5)
    blended = rules.blend(emotion, EmotionVector(joy=1.0), 0.64)
    # joy: 0.2 + 0.64 * 0.8 = 0.712; sadness: 0.5 + 0.64 * (0 - 0.5) = 0.18
    assert blended.joy == pytest.approx(0.712)
    assert blended.sadness == pytest.approx(0.18)
    assert blended.anger == 0.0


def test_d_hostile_words_cost_trust_and_affection():
    observed = EmotionVector(anger=0.8, disgust=0.4, joy=0.5)  # hostility 1.2 -> clamped to 1.0
    change = rules.relationship_response(observed, {"temper": 0.7})
    # trust: -0.1 * 1.0 * 1.7 + 0.04 * 0.5 = -0.15
    # affection: -0.08 * 1.0 * 1.7 + 0.06 * 0.5 = -0.106
    # fear: 0.05 * 1.0 * (1 - 0.7) = 0.015
    assert change["trust"] == pytest.approx(-0.15)
    assert change["affection"] == pytest.approx(-0.106)
    assert change["fear"] == pytest.approx(0.015)


def test_d_loss_scales_with_intensity():
    mild = rules.relationship_response(EmotionVector(anger=0.2), {})
    strong = rules.relationship_response(EmotionVector(anger=0.8), {})
    assert strong["trust"] == pytest.approx(4 * mild["trust"]) and strong["trust"] < 0
    assert rules.relationship_response(EmotionVector(neutral=1.0), {}) == {
        "trust": 0.0,
        "affection": 0.0,
        "fear": 0.0,
    }
