"""Choosing the next token from a row's logits: penalties, filters, then a seeded draw.

Numpy only, one row at a time: rows of a batch have their own settings and their own
random generator, so a row samples the same tokens whether it decodes alone or beside
others (same seed -> same text). The order follows Hugging Face's generate: repetition
penalty and n-gram bans on the raw logits, then temperature, top-k and top-p.
"""

from __future__ import annotations

import numpy as np

from server.generation.types import SamplingConfig


def apply_repetition_penalty(logits: np.ndarray, history: np.ndarray, penalty: float) -> None:
    """In place, as in the CTRL paper and HF: a seen token's positive logit is divided by
    `penalty`, a negative one multiplied, so > 1 always makes it less likely."""
    if penalty in (0.0, 1.0) or history.size == 0:
        return
    seen = np.unique(history)
    scores = logits[seen]
    # An extreme penalty (1e-30, 1e30) overflows to inf, and inf - inf is nan downstream: the largest
    # finite value is the same limit without the nan.
    limit = np.finfo(logits.dtype).max
    with np.errstate(over="ignore"):
        logits[seen] = np.clip(np.where(scores > 0, scores / penalty, scores * penalty), -limit, limit)


def banned_ngram_tokens(history: np.ndarray, size: int) -> np.ndarray:
    """Tokens that would complete an n-gram of `size` already present in `history`.

    With size 1 that is every token seen; otherwise the tokens that followed each earlier
    occurrence of the last size-1 tokens.
    """
    if size <= 0 or history.size < size:
        return np.empty(0, np.int64)
    if size == 1:
        return np.unique(history)
    windows = np.lib.stride_tricks.sliding_window_view(history, size)
    prefix = history[-(size - 1) :]
    matches = np.all(windows[:, :-1] == prefix, axis=1)
    return np.unique(windows[matches, -1])


def top_k_ids(logits: np.ndarray, k: int) -> np.ndarray | None:
    """The ids of the k largest logits in ascending order; None when k keeps them all."""
    if not 0 < k < logits.size:
        return None
    return np.sort(np.argpartition(logits, -k)[-k:])


def top_p_filter(probabilities: np.ndarray, p: float) -> np.ndarray:
    """The probabilities with all but the nucleus set to 0: the smallest set of most likely tokens
    whose probability reaches p (always at least the most likely one; the lower id first on ties)."""
    if not 0.0 < p < 1.0:
        return probabilities
    # Sorting the whole vocabulary for every row and step dominated sampled decoding; the nucleus
    # lies among the most likely few dozen tokens, so sort a partition grown until it holds p.
    size, n = probabilities.size, min(64, probabilities.size)
    while True:
        top = np.sort(np.argpartition(-probabilities, n - 1)[:n]) if n < size else np.arange(size)
        order = top[np.argsort(-probabilities[top], kind="stable")]  # ids ascending in, so ties keep id order
        mass = probabilities[order]
        if n == size or mass.sum() >= p:
            break
        n = min(size, n * 4)
    # A token stays while the mass before it is still short of p (that mass only grows down the order).
    kept = order[: int(np.searchsorted(np.cumsum(mass) - mass, p, side="left"))]
    nucleus = np.zeros_like(probabilities)
    nucleus[kept] = probabilities[kept]
    return nucleus


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - np.max(logits))
    return shifted / shifted.sum()


class Sampler:
    """The next-token rule of one row: its settings and its own seeded generator."""

    def __init__(self, config: SamplingConfig, rng: np.random.Generator) -> None:
        self.config = config
        self.rng = rng

    def __call__(self, logits: np.ndarray, history: np.ndarray) -> int:
        """The next token after `history` (prompt and output so far) given its `logits` (vocab,)."""
        config = self.config
        scores = np.array(logits, dtype=np.float32, copy=True)
        apply_repetition_penalty(scores, history, config.repetition_penalty)
        banned = banned_ngram_tokens(history, config.no_repeat_ngram_size)
        if banned.size and banned.size < scores.size:  # a ban of every token cannot be honoured
            scores[banned] = -np.inf
        if config.greedy:
            return int(np.argmax(scores))
        # Only the k best can be drawn, so the rest of the work is on those few instead of the whole
        # vocabulary (at 16 sampled rows it was most of a step). Kept in id order, the inverse CDF
        # below draws the same token from the same uniform whether top-k is set or not.
        ids = top_k_ids(scores, config.top_k)
        if ids is not None:
            scores = scores[ids]
        # Shifted first, so that even a tiny temperature cannot overflow to inf - inf; what it does
        # overflow goes to -inf, the limit that temperature means (all mass on the best tokens).
        with np.errstate(over="ignore"):
            scores = (scores - np.max(scores)) / config.temperature
        probabilities = top_p_filter(softmax(scores), config.top_p)
        # Inverse CDF over the (unnormalized) kept mass: one uniform draw per token, so a seed replays exactly.
        cumulative = np.cumsum(probabilities, dtype=np.float64)
        index = min(int(np.searchsorted(cumulative, self.rng.random() * cumulative[-1], side="right")), scores.size - 1)
        return index if ids is None else int(ids[index])
