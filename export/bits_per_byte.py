"""Bits per byte of a decoder on held-out text: the figure the quantization gate compares.

Invariant: every candidate is scored on the same token windows, so two figures differ only by
the model that made them. Bits per byte (total -log2 p of the predicted tokens over the UTF-8
bytes of the text) does not depend on the tokenizer, so figures of different models compare too.

Each text is cut to its first `max_tokens` tokens, split into windows of at most `window` tokens
that overlap by one: each window is one forward pass with an empty cache, and every token but
the text's first is predicted exactly once, with the window's earlier tokens as its context.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from export.errors import ExportError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

    from export.ort_decoder import OrtDecoder

DEFAULT_EVAL_TOKENS = 4096  # per text: the first ~4k tokens of a work, ~16 KB of English prose
WINDOW = 1024
BUILTIN = "built-in"  # the name of the default text in reports


@dataclass(frozen=True)
class EvalText:
    name: str  # the file it came from, or BUILTIN
    text: str


@dataclass(frozen=True)
class EvalTokens:
    """Token windows of the eval texts, and the bytes of text they cover."""

    names: tuple[str, ...]
    windows: tuple[np.ndarray, ...]  # (1, n) int64 each
    tokens: int  # predicted tokens
    bytes: int


def default_eval_text() -> EvalText:
    """A passage of narration and dialogue written for this check (export/eval_text.txt, ~4 KB).

    It is no model's training text, so it is held out for any model; a text of the model's own
    domain (--eval-text) gives a figure that means more.
    """
    return EvalText(BUILTIN, files("export").joinpath("eval_text.txt").read_text(encoding="utf-8"))


def read_eval_texts(paths: Sequence[Path]) -> list[EvalText]:
    texts = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ExportError(f"--eval-text {path}: cannot read it as UTF-8 text: {exc}") from exc
        if not text.strip():
            raise ExportError(f"--eval-text {path}: the file is empty")
        texts.append(EvalText(str(path), text))
    return texts


def tokenize(
    tokenizer: PreTrainedTokenizerFast, texts: Sequence[EvalText], max_tokens: int, window: int
) -> EvalTokens:
    """The windows of every text; `window` is capped by the caller to the model's context."""
    if window < 2:
        raise ExportError(f"bits per byte needs windows of at least 2 tokens, the model's context gives {window}")
    windows, tokens, size = [], 0, 0
    for item in texts:
        encoded = tokenizer(item.text, return_offsets_mapping=True, add_special_tokens=False, verbose=False)
        ids, offsets = encoded["input_ids"][:max_tokens], encoded["offset_mapping"][:max_tokens]
        if len(ids) < 2:
            raise ExportError(f"eval text {item.name}: {len(ids)} token(s); bits per byte needs at least 2")
        size += len(item.text[: offsets[-1][1]].encode("utf-8"))
        for start in range(0, len(ids) - 1, window - 1):
            chunk = ids[start : start + window]
            windows.append(np.array([chunk], np.int64))
            tokens += len(chunk) - 1
    return EvalTokens(tuple(t.name for t in texts), tuple(windows), tokens, size)


def log2_likelihood(logits: np.ndarray, targets: np.ndarray, rows: int = 256) -> float:
    """Sum of log2 p(target) under softmax(logits); logits (n, vocab), targets (n,).

    In float64, `rows` at a time: a 1k-token window of a 49k vocabulary is 400 MB at once.
    """
    total = 0.0
    for start in range(0, len(targets), rows):
        chunk = logits[start : start + rows].astype(np.float64)
        top = chunk.max(-1, keepdims=True)
        log_norm = np.log(np.exp(chunk - top).sum(-1)) + top[:, 0]
        picked = chunk[np.arange(len(chunk)), targets[start : start + rows]]
        total += float((picked - log_norm).sum())
    return total / np.log(2)


def bits_per_byte(decoder: OrtDecoder, data: EvalTokens) -> float:
    total = 0.0
    for window in data.windows:
        logits, _ = decoder.step(window, decoder.empty_past(1))
        total -= log2_likelihood(logits[0, :-1], window[0, 1:])
    return total / data.bytes
