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

from server.config import Settings
from server.generation.generator import GenerationResult
from server.models.registry import ModelRegistry
from server.models.served import ServedModels
from server.services.generation_convert import call_deadline, emotion_scores_pb, summary_pb
from server.services.validation import check_texts, generation_params
from storyteller.v1 import common_pb2, story_pb2, story_pb2_grpc


class StoryServicer(story_pb2_grpc.StoryServiceServicer):
    def __init__(self, registry: ModelRegistry, models: ServedModels, settings: Settings) -> None:
        self._registry = registry
        self._models = models
        self._settings = settings
        self._limits = settings.limits

    async def Generate(
        self, request: story_pb2.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> story_pb2.GenerateResponse:
        started = time.perf_counter()
        story = self._models.require_story()
        params = generation_params(request, self._settings)
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
        params = generation_params(request, self._settings)
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
                    chat_format=story_pb2.ChatFormat(**b.manifest.chat_format) if b.manifest.chat_format else None,
                )
                for b in self._registry.bundles.values()
            ]
        )
