"""Emotion classification on an emotion bundle: tokenize, pad, run onnxruntime, read out.

One call classifies a batch (the dynamic batcher gathers texts from concurrent requests),
padding only to the longest text in that batch. The readout applies the bundle's tuned
per-label thresholds and folds fine labels into the Ekman and sentiment groups the rest
of Storyteller speaks (narrative.emotions), so every consumer reads a text the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from narrative.emotions import EKMAN_AXES, EKMAN_GROUPS, SENTIMENT_GROUPS, SENTIMENTS, Group, group_scores
from server.config import BatchingSettings
from server.models.dynamic_batching import DynamicBatcher
from server.models.registry import LoadedBundle

DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class EmotionReading:
    """What the model read in one text; dicts keep the model's / the vocabulary's order."""

    labels: dict[str, float]
    ekman: dict[str, float]
    sentiment: dict[str, float]
    predicted: tuple[str, ...]
    top_label: str
    top_ekman: str


class EmotionReadout:
    """Probabilities -> reading: the bundle's tuned thresholds and the shared groupings.

    A bundle may have group heads besides its fine labels: outputs named "ekman:<group>" or
    "sentiment:<group>", trained on the folded labels. Their scores are used for the groups
    they name; groups without a head score as their strongest fine label.
    """

    def __init__(self, labels: Sequence[str], thresholds: Mapping[str, float]) -> None:
        self._fine = [i for i, label in enumerate(labels) if ":" not in label]
        self.labels = tuple(labels[i] for i in self._fine)
        self._heads = {label: i for i, label in enumerate(labels) if ":" in label}
        self._thresholds = np.array([thresholds.get(l, DEFAULT_THRESHOLD) for l in self.labels], np.float32)

    def read(self, probabilities: np.ndarray) -> EmotionReading:
        fine_probabilities = probabilities[self._fine]
        fine = {label: float(p) for label, p in zip(self.labels, fine_probabilities)}
        heads = {label: float(probabilities[i]) for label, i in self._heads.items()}

        def groups(kind: str, members: Mapping[Group, Sequence[str]], order: Sequence[Group]) -> dict[str, float]:
            folded = group_scores(fine, members, order)
            return {group: heads.get(f"{kind}:{group}", folded[group]) for group in order}

        ekman = groups("ekman", EKMAN_GROUPS, EKMAN_AXES)
        return EmotionReading(
            labels=fine,
            ekman=ekman,
            sentiment=groups("sentiment", SENTIMENT_GROUPS, SENTIMENTS),
            predicted=tuple(l for l, p, t in zip(self.labels, fine_probabilities, self._thresholds) if p >= t),
            top_label=self.labels[int(np.argmax(fine_probabilities))],
            top_ekman=max(ekman, key=ekman.__getitem__),
        )


class EmotionClassifier:
    def __init__(self, bundle: LoadedBundle, max_tokens: int = 128) -> None:
        manifest = bundle.manifest
        self.name = manifest.name
        self.readout = EmotionReadout(manifest.labels, manifest.thresholds)
        self._multi_label = manifest.multi_label
        self._session = bundle.session
        self._inputs = set(manifest.inputs)
        self._output = manifest.outputs[0]
        self._tokenizer = bundle.tokenizer
        self._tokenizer.enable_truncation(min(max_tokens, manifest.max_context or max_tokens))
        self._tokenizer.no_padding()
        self._pad_id = manifest.special_tokens.get("pad_token_id", 0)

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """(len(texts), labels) probabilities; blocking (run it off the event loop)."""
        encodings = self._tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(texts), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        logits = self._session.run([self._output], {k: v for k, v in feed.items() if k in self._inputs})[0]
        if self._multi_label:
            return 1.0 / (1.0 + np.exp(-logits))
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def classify(self, texts: list[str]) -> list[EmotionReading]:
        return [self.readout.read(row) for row in self.probabilities(texts)]


class BatchedEmotionClassifier:
    """The classifier behind a dynamic batcher: concurrent calls share onnxruntime runs."""

    def __init__(
        self,
        classifier: EmotionClassifier,
        batcher_settings: BatchingSettings,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.classifier = classifier
        self.batcher: DynamicBatcher[str, np.ndarray] = DynamicBatcher(
            lambda texts: list(classifier.probabilities(texts)),
            max_batch_size=batcher_settings.max_batch_size,
            max_wait_s=batcher_settings.max_wait_ms / 1000,
            enabled=batcher_settings.enabled,
            on_batch=on_batch,
        )

    async def classify(self, texts: list[str]) -> list[EmotionReading]:
        return [self.classifier.readout.read(row) for row in await self.batcher.submit(texts)]
