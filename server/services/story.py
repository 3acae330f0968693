"""StoryService: generation and emotion classification over the loaded model bundles.

Generation and classification arrive with their model issues; until then the generated
base class answers those RPCs with UNIMPLEMENTED.
"""

from __future__ import annotations

import grpc

from server.models.registry import ModelRegistry
from storyteller.v1 import story_pb2, story_pb2_grpc


class StoryServicer(story_pb2_grpc.StoryServiceServicer):
    def __init__(self, registry: ModelRegistry) -> None:
        self._registry = registry

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
                )
                for b in self._registry.bundles.values()
            ]
        )
