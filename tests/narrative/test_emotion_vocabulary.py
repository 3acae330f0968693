from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from narrative.emotions import (
    EKMAN_AXES,
    EKMAN_GROUPS,
    FINE_LABELS,
    FINE_TO_EKMAN,
    FINE_TO_SENTIMENT,
    SENTIMENT_GROUPS,
    EmotionVector,
    fold_to_ekman,
)

GOEMOTIONS = Path(
    os.environ.get("GOEMOTIONS_DIR", Path(__file__).resolve().parents[3] / "shared" / "data" / "goemotions")
)
needs_data = pytest.mark.skipif(not GOEMOTIONS.is_dir(), reason="GoEmotions data folder not present")


@needs_data
def test_fine_labels_match_release_order():
    assert tuple((GOEMOTIONS / "emotions.txt").read_text().split()) == FINE_LABELS


@needs_data
@pytest.mark.parametrize(
    ("groups", "filename"),
    [(EKMAN_GROUPS, "ekman_mapping.json"), (SENTIMENT_GROUPS, "sentiment_mapping.json")],
)
def test_groupings_match_release(groups, filename):
    released = json.loads((GOEMOTIONS / filename).read_text())
    ours = {group: sorted(fines) for group, fines in groups.items() if group != "neutral"}
    assert ours == {group: sorted(fines) for group, fines in released.items()}


@pytest.mark.parametrize("mapping", [FINE_TO_EKMAN, FINE_TO_SENTIMENT])
def test_every_fine_label_maps_to_exactly_one_group(mapping):
    assert sorted(mapping) == sorted(FINE_LABELS)
    assert mapping["neutral"] == "neutral"


def test_ekman_axes_are_the_group_names():
    assert EKMAN_AXES == ("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral")
    assert set(EKMAN_GROUPS) == set(EKMAN_AXES)


def test_fold_to_ekman_sums_groups_and_clamps():
    vector = fold_to_ekman({"anger": 0.2, "annoyance": 0.3, "joy": 0.6, "love": 0.7, "neutral": 0.1})
    assert vector.anger == pytest.approx(0.5)
    assert vector.joy == 1.0  # 1.3 clamped
    assert vector.neutral == pytest.approx(0.1)
    assert vector.fear == 0.0


def test_fold_rejects_unknown_labels():
    with pytest.raises(ValueError, match="happiness"):
        fold_to_ekman({"happiness": 1.0})


def test_dominant_breaks_ties_by_axis_order_and_defaults_to_neutral():
    assert EmotionVector(fear=0.4, joy=0.4).dominant() == "fear"
    assert EmotionVector(sadness=0.2, surprise=0.7).dominant() == "surprise"
    assert EmotionVector().dominant() == "neutral"


def test_normalised_and_distance():
    vector = EmotionVector(anger=0.2, joy=0.6)
    assert vector.normalised().as_dict()["joy"] == pytest.approx(0.75)
    assert EmotionVector().normalised() == EmotionVector(neutral=1.0)
    assert vector.distance(EmotionVector(anger=0.2, joy=0.6)) == 0.0
    assert EmotionVector(anger=0.3).distance(EmotionVector(fear=0.4)) == pytest.approx(0.5)


def test_vector_rejects_out_of_range_and_unknown_axes():
    with pytest.raises(ValidationError):
        EmotionVector(anger=1.5)
    with pytest.raises(ValidationError):
        EmotionVector(happiness=0.5)  # type: ignore[call-arg]


@given(st.dictionaries(st.sampled_from(FINE_LABELS), st.floats(0, 1)))
def test_folding_always_gives_valid_intensities(probabilities):
    vector = fold_to_ekman(probabilities)
    assert all(0.0 <= value <= 1.0 for value in vector.as_dict().values())
    assert sum(vector.normalised().as_dict().values()) == pytest.approx(1.0)
