"""The model runtimes servicers call, filled in once their bundles have loaded."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from server.config import Settings
from server.errors import Unavailable
from server.generation.generator import GenerationObserver, StoryGenerator
from server.generation.safety import ContentFilter
from server.models.bundle import BundleError
from server.models.emotion import BatchedEmotionClassifier, EmotionClassifier
from server.models.registry import ModelRegistry

log = logging.getLogger("storyteller.models")


@dataclass
class ServedModels:
    emotion: BatchedEmotionClassifier | None = None
    story: StoryGenerator | None = None
    safety: ContentFilter | None = None  # the configured content filter, handed to the story generator

    def attach(
        self,
        registry: ModelRegistry,
        settings: Settings,
        on_emotion_batch: Callable[[int], None] | None = None,
        generation_observer: GenerationObserver | None = None,
    ) -> None:
        """Wraps the loaded bundles in runtimes; `on_emotion_batch` hears each emotion batch's size,
        `generation_observer` the tokens generated and times to first token.

        The story generator gets the emotion classifier when there is one: it reranks
        candidates by emotion and reports the emotion of what it wrote.
        """
        if "emotion" in registry.bundles:
            classifier = EmotionClassifier(registry.bundles["emotion"], settings.limits.max_text_tokens)
            self.emotion = BatchedEmotionClassifier(classifier, settings.batching, on_emotion_batch)
        if "story" in registry.bundles:
            try:
                self.story = StoryGenerator(
                    registry.bundles["story"], settings.generation, settings.limits, self.emotion, generation_observer,
                    self.safety,
                )
            except BundleError as exc:  # loaded, but not a decoder this loop can drive
                del registry.bundles["story"]
                registry.failures["story"] = str(exc)
                log.error("model bundle not served: %s", exc, extra={"role": "story"})

    def emotion_queue_depth(self) -> int:
        """Texts waiting for an emotion batch; 0 while no emotion model is loaded."""
        return self.emotion.batcher.queued if self.emotion is not None else 0

    def generation_active(self) -> int:
        """Rows in the generation batch now; 0 while no story model is loaded."""
        return self.story.scheduler.active if self.story is not None else 0

    def require_story(self) -> StoryGenerator:
        if self.story is None:
            raise Unavailable("no story (generation) model is loaded (health of storyteller.v1.StoryService says why)")
        return self.story

    def require_emotion(self) -> BatchedEmotionClassifier:
        if self.emotion is None:
            raise Unavailable("no emotion model is loaded (health of storyteller.v1.StoryService says why)")
        return self.emotion

    async def close(self) -> None:
        if self.story is not None:
            await self.story.close()
        if self.emotion is not None:
            await self.emotion.batcher.close()
