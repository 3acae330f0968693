"""Ekman emotion labels for many texts offline, with an emotion bundle and onnxruntime.

The story corpus takes its emotion control tokens from the same bundle the server serves, read
the same way (a group scores as its head when the bundle has one, else its strongest fine label),
so "emotion:fear" means in training what the server's classifier will later call fear.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer
from tqdm import tqdm

from export.errors import ExportError
from export.ort_session import open_session
from narrative.emotions import EKMAN_AXES, EKMAN_GROUPS, group_scores

BATCH = 32


class EkmanLabeller:
    def __init__(self, bundle: Path, threads: int = 2, max_tokens: int = 256) -> None:
        try:
            manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ExportError(f"--emotion-bundle {bundle}: no manifest.json (not a model bundle)") from None
        if manifest.get("task") != "emotion":
            raise ExportError(f"--emotion-bundle {bundle}: task is {manifest.get('task')!r}, not 'emotion'")
        self.name = manifest["name"]
        self._labels: list[str] = manifest["labels"]
        self._session = open_session(bundle / manifest["model_file"], threads=threads)
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(bundle / "tokenizer.json"))
        self._tokenizer.enable_truncation(min(max_tokens, manifest.get("max_context") or max_tokens))
        self._tokenizer.enable_padding(pad_id=manifest.get("special_tokens", {}).get("pad_token_id", 0))

    def probabilities(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], np.int64)
        feed = {"input_ids": ids, "attention_mask": np.array([e.attention_mask for e in encodings], np.int64)}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        logits = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
        return 1.0 / (1.0 + np.exp(-logits))

    def ekman(self, probabilities: np.ndarray) -> str:
        scores = dict(zip(self._labels, map(float, probabilities), strict=True))
        folded = group_scores(scores, EKMAN_GROUPS, EKMAN_AXES)
        read = {axis: scores.get(f"ekman:{axis}", folded[axis]) for axis in EKMAN_AXES}
        return max(read, key=read.__getitem__)

    def label(self, texts: list[str], progress: bool = True) -> list[str]:
        """The dominant Ekman group of each text, in order."""
        # Batches of similar length pad little.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        found = [""] * len(texts)
        starts = range(0, len(order), BATCH)
        for start in tqdm(starts, desc="emotion labels", unit="batch", disable=not progress):
            rows = order[start : start + BATCH]
            for i, probabilities in zip(rows, self.probabilities([texts[i] for i in rows]), strict=True):
                found[i] = self.ekman(probabilities)
        return found
