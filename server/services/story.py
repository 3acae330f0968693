"""StoryService: generation and emotion classification over the loaded model bundles.

Generate and GenerateStream run the same generation (server.generation): for the same
request and seed, the stream's text deltas join to exactly the unary text. The call's
deadline goes down to the generation loop, which drops the rows once it passes; a
cancelled call stops its rows before the next decode step.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator

import grpc

from server.config import GenerationSettings, LimitSettings
from server.generation.generator import GenerationResult
from server.generation.types import FinishReason
from server.models.emotion import EmotionReading
from server.models.registry import ModelRegistry
from server.models.served import ServedModels
from server.services.validation import check_texts, generation_params
from storyteller.v1 import common_pb2, story_pb2, story_pb2_grpc

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


class StoryServicer(story_pb2_grpc.StoryServiceServicer):
    def __init__(
        self,
        registry: ModelRegistry,
        models: ServedModels,
        limits: LimitSettings,
        generation: GenerationSettings | None = None,
    ) -> None:
        self._registry = registry
        self._models = models
        self._limits = limits
        self._generation = generation or GenerationSettings()

    async def Generate(
        self, request: story_pb2.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> story_pb2.GenerateResponse:
        started = time.perf_counter()
        story = self._models.require_story()
        params = generation_params(request, self._limits, self._generation)
        result = await story.generate(params, call_deadline(context), started)
        return story_pb2.GenerateResponse(text=result.text, summary=summary_pb(result))

    async def GenerateStream(
        self, request: story_pb2.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncGenerator[common_pb2.GenerationChunk]:
        """One chunk per piece of text as tokens complete characters, then the summary.

        With several emotion candidates the text can only be chosen once all are done, so
        its pieces then arrive in one burst.
        """
        started = time.perf_counter()
        story = self._models.require_story()
        params = generation_params(request, self._limits, self._generation)
        index = 0
        async with contextlib.aclosing(story.stream(params, call_deadline(context), started)) as items:
            async for item in items:
                if isinstance(item, GenerationResult):
                    yield common_pb2.GenerationChunk(index=index, done=True, summary=summary_pb(item))
                else:
                    yield common_pb2.GenerationChunk(text_delta=item, index=index)
                index += 1

    async def ClassifyEmotion(
        self, request: story_pb2.ClassifyEmotionRequest, context: grpc.aio.ServicerContext
    ) -> story_pb2.ClassifyEmotionResponse:
        texts = check_texts(request.texts, self._limits)
        emotion = self._models.require_emotion()
        readings = await emotion.classify(texts)
        return story_pb2.ClassifyEmotionResponse(
            results=[emotion_scores_pb(r) for r in readings], model=emotion.classifier.name
        )

    async def DescribeModels(
        self, request: story_pb2.DescribeModelsRequest, context: grpc.aio.ServicerContext
    ) -> story_pb2.DescribeModelsResponse:
        return story_pb2.DescribeModelsResponse(
            models=[
                story_pb2.ModelInfo(
                    name=b.manifest.name,
                    task=b.manifest.task,
                    quantization=b.manifest.quantization,
                    labels=b.manifest.labels,
                    styles=sorted(b.manifest.control_tokens.styles),
                    emotions=sorted(b.manifest.control_tokens.emotions),
                    max_context=b.manifest.max_context,
                    provider=b.session.get_providers()[0],
                )
                for b in self._registry.bundles.values()
            ]
        )
