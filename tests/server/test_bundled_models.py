"""The emotion bundle that ships in samples/models/emotion: intact, and reading obvious texts right."""

from __future__ import annotations

import pytest

from server.config import SAMPLE_MODELS, ModelSettings
from server.models.emotion import EmotionClassifier
from server.models.registry import load_bundle

BUNDLE = SAMPLE_MODELS / "emotion"


@pytest.fixture(scope="module")
def classifier() -> EmotionClassifier:
    settings = ModelSettings(emotion=BUNDLE, intra_op_threads=1)
    return EmotionClassifier(load_bundle("emotion", BUNDLE, "emotion", settings))


def test_the_bundle_is_int8_with_tuned_thresholds_and_parity(classifier):
    manifest = load_bundle("emotion", BUNDLE, "emotion", ModelSettings(emotion=BUNDLE)).manifest
    assert manifest.quantization == "int8" and manifest.multi_label
    assert len(manifest.labels) == 28 and set(manifest.thresholds) == set(manifest.labels)
    assert abs(manifest.parity["macro_f1_delta"]) <= 0.01


@pytest.mark.parametrize(
    ("text", "ekman"),
    [
        ("Thank you so much, I love it!", "joy"),
        ("I am furious, you lied to me again!", "anger"),
        ("I'm terrified of what is in the cellar.", "fear"),
        ("I miss her so much, I can't stop crying.", "sadness"),
    ],
)
def test_obvious_texts_read_as_their_emotion(classifier, text, ekman):
    [reading] = classifier.classify([text])
    assert reading.top_ekman == ekman, reading
