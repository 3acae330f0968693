"""Choosing among a request's candidates: the fewest problems a judge finds, then the reading closest
to the target emotion, then the first.

Candidates are the rows of one request, decoded side by side from one prompt; reranking is worth
their cost only when a target emotion (or a judge, such as the story's coherence checks) can tell
different texts apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from server.generation.types import FinishReason
from server.models.emotion import BatchedEmotionClassifier, EmotionReading

Judge = Callable[[str, EmotionReading | None], int]
"""Problems a caller finds in a candidate text (e.g. coherence warnings); fewer wins before emotion."""


@dataclass
class CandidateText:
    """What one row produced, gathered from its events."""

    deltas: list[str] = field(default_factory=list)
    token_ids: list[int] = field(default_factory=list)
    first_token_at: float | None = None
    finish_reason: FinishReason | None = None
    completion_tokens: int = 0

    @property
    def text(self) -> str:
        return "".join(self.deltas)


def emotion_score(reading: EmotionReading, target: str) -> float:
    """How strongly a text carries `target`: its Ekman group probability, or its fine label's."""
    if target in reading.ekman:
        return reading.ekman[target]
    return reading.labels.get(target, 0.0)


async def read_emotion(emotion: BatchedEmotionClassifier | None, text: str) -> EmotionReading | None:
    """The reading of `text`; None without an emotion model or text."""
    if emotion is None or not text.strip():
        return None
    return (await emotion.classify([text]))[0]


async def choose(
    rows: list[CandidateText], target: str, emotion: BatchedEmotionClassifier | None, judge: Judge | None = None
) -> tuple[CandidateText, EmotionReading | None]:
    """The candidate with the fewest problems, then reading most like `target`, then the first;
    one candidate is itself."""
    if len(rows) == 1:
        return rows[0], None
    if emotion is not None:
        readings: list[EmotionReading | None] = list(
            await emotion.classify([row.text if row.text.strip() else " " for row in rows])
        )
    else:
        readings = [None] * len(rows)
    readings = [r if row.text.strip() else None for r, row in zip(readings, rows, strict=True)]
    scores = [emotion_score(r, target) if r is not None else -1.0 for r in readings]
    problems = [judge(row.text, r) if judge is not None else 0 for row, r in zip(rows, readings, strict=True)]
    best = max(range(len(rows)), key=lambda i: (-problems[i], scores[i], -i))
    return rows[best], readings[best]
