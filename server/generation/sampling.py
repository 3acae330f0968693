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
    # Sorting the vocabulary's ids for every row and step dominated sampled decoding. The tokens
    # below (1 - p) / n hold less than 1 - p together, so the nucleus is among those above (the
    # story model at temperature 0.8: ~1,200 of 8,192), and only their values need sorting: the
    # nucleus is every token above the value where the sorted mass reaches p, and at that value
    # as many as are needed, lower ids first.
    mass = np.sort(probabilities[probabilities >= (1.0 - p) / probabilities.size])[::-1]
    count = int(np.searchsorted(np.cumsum(mass) - mass, p, side="left"))  # the mass before a kept token is short of p
    cutoff = mass[count - 1]
    above = probabilities > cutoff
    nucleus = np.where(above, probabilities, 0)
    nucleus[np.flatnonzero(probabilities == cutoff)[: count - np.count_nonzero(above)]] = cutoff
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
