"""What every generating servicer sends back: a generation's result and emotion reading as messages.

StoryService (Generate, GenerateStream) and NarrativeService (Narrate, NpcLine) answer with the same
GenerationSummary, so both convert through here; `call_deadline` hands the loop a call's deadline
on the clock the loop reads.
"""

from __future__ import annotations

import time

import grpc

from server.generation.generator import GenerationResult
from server.generation.types import FinishReason
from server.models.emotion import EmotionReading
from storyteller.v1 import common_pb2

FINISH_REASONS = {
    FinishReason.END_OF_TEXT: common_pb2.FINISH_REASON_END_OF_TEXT,
    FinishReason.LENGTH: common_pb2.FINISH_REASON_LENGTH,
    FinishReason.STOP_SEQUENCE: common_pb2.FINISH_REASON_STOP_SEQUENCE,
    FinishReason.CONTEXT_FULL: common_pb2.FINISH_REASON_CONTEXT_FULL,
}


def _scores(scores: dict[str, float]) -> list[common_pb2.LabelScore]:
    return [common_pb2.LabelScore(label=label, score=score) for label, score in scores.items()]


def emotion_scores_pb(reading: EmotionReading) -> common_pb2.EmotionScores:
    return common_pb2.EmotionScores(
        labels=_scores(reading.labels),
        ekman=_scores(reading.ekman),
        sentiment=_scores(reading.sentiment),
        predicted_labels=reading.predicted,
        top_label=reading.top_label,
        top_ekman=reading.top_ekman,
    )


def summary_pb(result: GenerationResult) -> common_pb2.GenerationSummary:
    summary = common_pb2.GenerationSummary(
        finish_reason=FINISH_REASONS[result.finish_reason],
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        seed=result.seed,
        style=result.style,
        candidates=result.candidates,
        time_to_first_token_ms=result.time_to_first_token_ms,
        content_filtered=result.content_filtered,
    )
    if result.detected_emotion is not None:
        summary.detected_emotion.CopyFrom(emotion_scores_pb(result.detected_emotion))
    return summary


def call_deadline(context: grpc.aio.ServicerContext) -> float | None:
    """The call's deadline on time.monotonic(), the clock the generation loop reads."""
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining
