"""The one emotion vocabulary used end to end.

The emotion model predicts the 28 GoEmotions labels; a character's emotional state lives on the
7 Ekman axes that those labels fold into; designers write Ekman axes in plot graphs. Keeping the
labels and both foldings here as code (not as data files) means the classifier, the state and the
graph format cannot drift apart. The constants mirror the GoEmotions release
(emotions.txt, ekman_mapping.json, sentiment_mapping.json), with neutral mapped to neutral.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field

FINE_LABELS: tuple[str, ...] = (
    "admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion",
    "curiosity", "desire", "disappointment", "disapproval", "disgust", "embarrassment",
    "excitement", "fear", "gratitude", "grief", "joy", "love", "nervousness", "optimism",
    "pride", "realization", "relief", "remorse", "sadness", "surprise", "neutral",
)  # fmt: skip

EkmanLabel = Literal["anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral"]
EKMAN_AXES: tuple[EkmanLabel, ...] = get_args(EkmanLabel)

SentimentLabel = Literal["positive", "negative", "ambiguous", "neutral"]
SENTIMENTS: tuple[SentimentLabel, ...] = get_args(SentimentLabel)

EKMAN_GROUPS: Mapping[EkmanLabel, tuple[str, ...]] = {
    "anger": ("anger", "annoyance", "disapproval"),
    "disgust": ("disgust",),
    "fear": ("fear", "nervousness"),
    "joy": (
        "joy", "amusement", "approval", "excitement", "gratitude", "love", "optimism", "relief",
        "pride", "admiration", "desire", "caring",
    ),
    "sadness": ("sadness", "disappointment", "embarrassment", "grief", "remorse"),
    "surprise": ("surprise", "realization", "confusion", "curiosity"),
    "neutral": ("neutral",),
}  # fmt: skip

SENTIMENT_GROUPS: Mapping[SentimentLabel, tuple[str, ...]] = {
    "positive": (
        "amusement", "excitement", "joy", "love", "desire", "optimism", "caring", "pride",
        "admiration", "gratitude", "relief", "approval",
    ),
    "negative": (
        "fear", "nervousness", "remorse", "embarrassment", "disappointment", "sadness", "grief",
        "disgust", "anger", "annoyance", "disapproval",
    ),
    "ambiguous": ("realization", "surprise", "curiosity", "confusion"),
    "neutral": ("neutral",),
}  # fmt: skip

FINE_TO_EKMAN: Mapping[str, EkmanLabel] = {
    fine: axis for axis, fines in EKMAN_GROUPS.items() for fine in fines
}
FINE_TO_SENTIMENT: Mapping[str, SentimentLabel] = {
    fine: group for group, fines in SENTIMENT_GROUPS.items() for fine in fines
}

_Intensity = Field(default=0.0, ge=0.0, le=1.0)


class EmotionVector(BaseModel):
    """Intensity in [0, 1] on each Ekman axis; axes are independent, not a distribution.

    Independent intensities let a character be both afraid and angry; `normalised()` gives the
    distribution view when one is needed (e.g. to compare with a classifier's output).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    anger: float = _Intensity
    disgust: float = _Intensity
    fear: float = _Intensity
    joy: float = _Intensity
    sadness: float = _Intensity
    surprise: float = _Intensity
    neutral: float = _Intensity

    @classmethod
    def of(cls, values: Mapping[str, float] | Mapping[EkmanLabel, float]) -> EmotionVector:
        """Build from a partial mapping, clamping each value into [0, 1]."""
        given: Mapping[str, float] = values  # type: ignore[assignment]  # Literal keys are strs
        return cls(**{axis: _clamp01(float(given.get(axis, 0.0))) for axis in EKMAN_AXES})

    def as_dict(self) -> dict[EkmanLabel, float]:
        return {axis: getattr(self, axis) for axis in EKMAN_AXES}

    def normalised(self) -> EmotionVector:
        """Scale to sum 1; an all-zero vector means "no emotion", i.e. fully neutral."""
        total = sum(self.as_dict().values())
        if total == 0.0:
            return EmotionVector(neutral=1.0)
        return EmotionVector.of({axis: value / total for axis, value in self.as_dict().items()})

    def dominant(self) -> EkmanLabel:
        """The strongest axis; ties go to the earlier axis in `EKMAN_AXES` so results are stable."""
        values = self.as_dict()
        best = max(EKMAN_AXES, key=lambda axis: (values[axis], -EKMAN_AXES.index(axis)))
        return best if values[best] > 0.0 else "neutral"

    def distance(self, other: EmotionVector) -> float:
        """Euclidean distance; 0 for equal vectors, at most sqrt(7)."""
        mine, theirs = self.as_dict(), other.as_dict()
        return math.sqrt(sum((mine[axis] - theirs[axis]) ** 2 for axis in EKMAN_AXES))


def _clamp01(value: float) -> float:
    return min(1.0, max(0.0, value))


def _check_fine(probabilities: Mapping[str, float]) -> None:
    unknown = sorted(set(probabilities) - set(FINE_LABELS))
    if unknown:
        raise ValueError(f"not GoEmotions labels: {', '.join(unknown)}")


def fold_to_ekman(probabilities: Mapping[str, float]) -> EmotionVector:
    """Sum fine-label probabilities per Ekman axis (missing labels count as 0).

    Summing is exact for a softmax output; multi-label (sigmoid) outputs can exceed 1 per group
    and are clamped, which keeps the result a valid intensity vector.
    """
    _check_fine(probabilities)
    return EmotionVector.of(
        {axis: sum(probabilities.get(fine, 0.0) for fine in fines) for axis, fines in EKMAN_GROUPS.items()}
    )


Group = TypeVar("Group", bound=str)


def group_scores(
    labels: Mapping[str, float], groups: Mapping[Group, Sequence[str]], order: Sequence[Group]
) -> dict[Group, float]:
    """A classifier's reading of each group: its most probable member.

    Sigmoid outputs are independent, so a sum (as `fold_to_ekman` does for state updates) would
    say "certain joy" for a dozen weak joy-like labels; the classifier's readout takes the max.
    """
    return {group: max(labels.get(member, 0.0) for member in groups[group]) for group in order}
