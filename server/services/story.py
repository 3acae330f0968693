"""StoryService: generation and emotion classification over the loaded model bundles.

Generation arrives with the story model; until then the generated base class answers
Generate and GenerateStream with UNIMPLEMENTED.
"""

from __future__ import annotations

import grpc

from server.config import LimitSettings
from server.models.emotion import EmotionReading
from server.models.registry import ModelRegistry
from server.models.served import ServedModels
from server.services.validation import check_texts
from storyteller.v1 import common_pb2, story_pb2, story_pb2_grpc


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


class StoryServicer(story_pb2_grpc.StoryServiceServicer):
    def __init__(self, registry: ModelRegistry, models: ServedModels, limits: LimitSettings) -> None:
        self._registry = registry
        self._models = models
        self._limits = limits

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
