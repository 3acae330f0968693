"""The model runtimes servicers call, filled in once their bundles have loaded."""

from __future__ import annotations

from dataclasses import dataclass

from server.config import Settings
from server.errors import Unavailable
from server.models.emotion import BatchedEmotionClassifier, EmotionClassifier
from server.models.registry import ModelRegistry


@dataclass
class ServedModels:
    emotion: BatchedEmotionClassifier | None = None

    def attach(self, registry: ModelRegistry, settings: Settings) -> None:
        if "emotion" in registry.bundles:
            classifier = EmotionClassifier(registry.bundles["emotion"], settings.limits.max_text_tokens)
            self.emotion = BatchedEmotionClassifier(classifier, settings.batching)

    def require_emotion(self) -> BatchedEmotionClassifier:
        if self.emotion is None:
            raise Unavailable("no emotion model is loaded (health of storyteller.v1.StoryService says why)")
        return self.emotion

    async def close(self) -> None:
        if self.emotion is not None:
            await self.emotion.batcher.close()
