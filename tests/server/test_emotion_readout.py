"""The emotion readout: tuned thresholds and group folding on hand-made probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from narrative.emotions import EKMAN_AXES, FINE_LABELS, SENTIMENTS
from server.models.emotion import DEFAULT_THRESHOLD, EmotionReadout


def probabilities(**values: float) -> np.ndarray:
    row = np.zeros(len(FINE_LABELS), dtype=np.float32)
    for label, value in values.items():
        row[FINE_LABELS.index(label)] = value
    return row


def test_each_label_uses_its_own_threshold():
    readout = EmotionReadout(FINE_LABELS, {"grief": 0.05, "joy": 0.6})
    reading = readout.read(probabilities(grief=0.07, joy=0.55, anger=0.5))
    # grief passes its low threshold, joy misses its high one, anger meets the default exactly.
    assert reading.predicted == ("anger", "grief")
    assert DEFAULT_THRESHOLD == 0.5
    assert reading.top_label == "joy"


def test_groups_score_as_their_strongest_member():
    readout = EmotionReadout(FINE_LABELS, {})
    reading = readout.read(probabilities(annoyance=0.3, disapproval=0.2, gratitude=0.1, admiration=0.15, curiosity=0.25))
    assert list(reading.ekman) == list(EKMAN_AXES) and list(reading.sentiment) == list(SENTIMENTS)
    assert reading.ekman["anger"] == pytest.approx(0.3)  # annoyance, not annoyance + disapproval
    assert reading.ekman["joy"] == pytest.approx(0.15)
    assert reading.ekman["surprise"] == pytest.approx(0.25)
    assert reading.top_ekman == "anger"
    assert reading.sentiment == pytest.approx({"positive": 0.15, "negative": 0.3, "ambiguous": 0.25, "neutral": 0.0})
    assert reading.predicted == ()


def test_labels_follow_the_model_order_not_the_vocabulary_order():
    readout = EmotionReadout(["neutral", "joy", "anger"], {})
    reading = readout.read(np.array([0.1, 0.7, 0.2], dtype=np.float32))
    assert list(reading.labels) == ["neutral", "joy", "anger"]
    assert (reading.top_label, reading.top_ekman, reading.predicted) == ("joy", "joy", ("joy",))


def test_group_heads_score_their_groups_and_stay_out_of_the_labels():
    labels = ["joy", "anger", "neutral", "ekman:joy", "sentiment:negative"]
    readout = EmotionReadout(labels, {"joy": 0.3})
    reading = readout.read(np.array([0.4, 0.6, 0.1, 0.9, 0.2], dtype=np.float32))
    assert list(reading.labels) == ["joy", "anger", "neutral"]
    assert reading.ekman["joy"] == pytest.approx(0.9)  # its head, not the fine joy score
    assert reading.ekman["anger"] == pytest.approx(0.6)  # no head: the strongest member
    assert reading.sentiment["negative"] == pytest.approx(0.2)
    assert reading.predicted == ("joy", "anger") and reading.top_label == "anger"
    assert reading.top_ekman == "joy"
