"""The model runtimes servicers call, filled in once their bundles have loaded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from server.config import Settings
from server.errors import Unavailable
from server.models.emotion import BatchedEmotionClassifier, EmotionClassifier
from server.models.registry import ModelRegistry


@dataclass
class ServedModels:
    emotion: BatchedEmotionClassifier | None = None

    def attach(
        self, registry: ModelRegistry, settings: Settings, on_emotion_batch: Callable[[int], None] | None = None
    ) -> None:
        """Wraps the loaded bundles in runtimes; `on_emotion_batch` hears each emotion batch's size."""
        if "emotion" in registry.bundles:
            classifier = EmotionClassifier(registry.bundles["emotion"], settings.limits.max_text_tokens)
            self.emotion = BatchedEmotionClassifier(classifier, settings.batching, on_emotion_batch)

    def emotion_queue_depth(self) -> int:
        """Texts waiting for an emotion batch; 0 while no emotion model is loaded."""
        return self.emotion.batcher.queued if self.emotion is not None else 0

    def require_emotion(self) -> BatchedEmotionClassifier:
        if self.emotion is None:
            raise Unavailable("no emotion model is loaded (health of storyteller.v1.StoryService says why)")
        return self.emotion

    async def close(self) -> None:
        if self.emotion is not None:
            await self.emotion.batcher.close()
