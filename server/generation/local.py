"""The story generator in-process, without a server: for the CLI, batch jobs and benchmarks.

Loads the bundles with the server's own checks and wraps them in the server's own runtimes, so
what a tool writes is what the server would write for the same request and seed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from server.config import BatchingSettings, GenerationSettings, LimitSettings, ModelSettings
from server.generation.generator import StoryGenerator
from server.models.emotion import BatchedEmotionClassifier, EmotionClassifier
from server.models.registry import load_bundle


@dataclass
class LocalModels:
    story: StoryGenerator
    emotion: BatchedEmotionClassifier | None

    async def close(self) -> None:
        await self.story.close()
        if self.emotion is not None:
            await self.emotion.batcher.close()


async def open_local(
    story: Path,
    emotion: Path | None,
    threads: int = 2,
    generation: GenerationSettings | None = None,
    limits: LimitSettings | None = None,
) -> LocalModels:
    """Raises BundleError for a bundle the server would refuse."""
    generation, limits = generation or GenerationSettings(), limits or LimitSettings()
    models = ModelSettings(story=story, intra_op_threads=threads)
    classifier = None
    if emotion is not None:
        loaded = await asyncio.to_thread(load_bundle, "emotion", emotion, "emotion", models)
        classifier = BatchedEmotionClassifier(EmotionClassifier(loaded, limits.max_text_tokens), BatchingSettings())
    bundle = await asyncio.to_thread(load_bundle, "story", story, "generation", models)
    return LocalModels(StoryGenerator(bundle, generation, limits, classifier), classifier)
