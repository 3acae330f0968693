"""Choosing the next token from a row's logits: penalties, filters, then a seeded draw.

Numpy only. Rows of a batch have their own settings and their own random generator, so a
row samples the same tokens whether it decodes alone or beside others (same seed -> same
text). The work is done for all rows of a step at once, as per-row numpy calls cost as much
as the model's own step at 16 streams (docs/decisions.md). The order follows Hugging Face's generate:
repetition penalty and n-gram bans on the raw logits, then temperature, top-k, top-p and min-p.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Control:
    """What every surface needs to know of one sampling setting: the proto field, the CLI flags,
    the [sampling] configuration and the request checks are all derived from these."""

    kind: type[int] | type[float]  # the type of its values, that of the value that switches it off
    help: str  # what its values mean, with the value that switches it off
    low: float  # the smallest valid value
    high: float  # the largest valid value (inf: none)
    default: float  # what a request without sampling settings decodes with


def _control(off: float, *, help: str, low: float = 0.0, high: float = math.inf, default: float) -> Any:
    return dataclasses.field(default=off, metadata={"control": Control(type(off), help, low, high, default)})


class SamplingError(ValueError):
    """A sampling setting out of its range; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class SamplingConfig:
    """How each row picks its next token. The one definition of the sampling settings: each field
    is a control whose off value is its default here, and whose metadata every surface reads
    (proto conversion, CLI flags, configuration, validation); a field added here reaches them all.
    A value out of range raises SamplingError."""

    temperature: float = _control(0.0, default=0.8, help="0 = greedy, always the most likely token")
    top_k: int = _control(0, default=50, help="keep only the k most likely tokens; 0 = off")
    top_p: float = _control(
        0.0, high=1.0, default=0.95, help="nucleus: the smallest set of tokens whose probability reaches p; 0 = off"
    )
    repetition_penalty: float = _control(
        1.0, default=1.1, help="> 1 discourages tokens already in prompt or output; 0 or 1 = off"
    )
    no_repeat_ngram_size: int = _control(0, default=0, help="never repeat an n-gram of this size; 0 = off")
    min_p: float = _control(
        0.0, high=1.0, default=0.0, help="keep tokens at least min_p times as likely as the most likely one; 0 = off"
    )

    def __post_init__(self) -> None:
        for name, control in controls().items():
            value = getattr(self, name)
            integral = control.kind is int
            if isinstance(value, bool) or not isinstance(value, int if integral else (int, float)):
                raise SamplingError(name, f"{value!r} is not {'a whole number' if integral else 'a number'}")
            if not math.isfinite(value) or not control.low <= value <= control.high:
                bound = f"at least {control.low:g}" if control.high == math.inf else f"between {control.low:g} and {control.high:g}"
                raise SamplingError(name, f"{value:g}; must be {bound}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    @classmethod
    def defaults(cls) -> SamplingConfig:
        """The settings of a request that sends none: the ones the story model card was measured with."""
        values: dict[str, Any] = {name: control.kind(control.default) for name, control in controls().items()}
        return cls(**values)


def controls() -> dict[str, Control]:
    """Every sampling setting by field name, in declaration order."""
    return {f.name: f.metadata["control"] for f in dataclasses.fields(SamplingConfig)}


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


def top_k_ids(scores: np.ndarray, k: int) -> np.ndarray:
    """Per row of scores (rows, vocab), the ids of its k largest, ascending (rows, k)."""
    return np.sort(np.argpartition(scores, -k, axis=1)[:, -k:], axis=1)


def min_p_filter(probabilities: np.ndarray, min_p: np.ndarray) -> np.ndarray:
    """The probabilities (rows, n) with each column below its row's min_p times the row's largest set to 0;
    a min_p of 0 keeps its row whole, and the most likely column always stays."""
    cutoff = min_p[:, None] * probabilities.max(axis=1, keepdims=True)
    return np.where(probabilities >= cutoff, probabilities, 0)


def top_p_filter(probabilities: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The probabilities (rows, n) with all but each row's nucleus set to 0: the smallest set of
    most likely columns whose probability reaches that row's p (always at least the most likely
    one; the lower column first on ties). A p outside (0, 1) keeps its row whole."""
    p = np.where((p > 0) & (p < 1), p, np.inf)
    # Columns below (1 - p) / n hold less than 1 - p together, so they cannot reach the nucleus;
    # zeroed, they sort last. The nucleus is every column at or above the value where the sorted
    # mass reaches p (a whole row where p is off: the mass before a column never reaches inf).
    width = probabilities.shape[1]
    mass = np.sort(np.where(probabilities >= (1.0 - p[:, None]) / width, probabilities, 0), axis=1)[:, ::-1]
    # count_nonzero(axis=...) costs several times a sum of booleans on rows this short.
    count = (np.cumsum(mass, axis=1) - mass < p[:, None]).sum(axis=1)  # columns whose mass before is short of p
    cutoff = mass[np.arange(len(mass)), count - 1]
    kept = probabilities >= cutoff[:, None]
    if kept.sum() > count.sum():  # ties at the cut-off beyond the count (rare with float probabilities)
        for row in np.flatnonzero(kept.sum(axis=1) > count):
            ties = np.flatnonzero(probabilities[row] == cutoff[row])  # the higher columns go
            kept[row, ties[count[row] - np.count_nonzero(probabilities[row] > cutoff[row]) :]] = False
    return np.where(kept, probabilities, 0)


@dataclass
class Sampler:
    """The next-token rule of one row: its settings and its own seeded generator."""

    config: SamplingConfig
    rng: np.random.Generator

    def penalize(self, scores: np.ndarray, history: np.ndarray) -> None:
        """In place on the row's scores (vocab,): the repetition penalty and the n-gram bans, given
        its history (prompt and output so far)."""
        apply_repetition_penalty(scores, history, self.config.repetition_penalty)
        banned = banned_ngram_tokens(history, self.config.no_repeat_ngram_size)
        if banned.size and banned.size < scores.size:  # a ban of every token cannot be honoured
            scores[banned] = -np.inf


def sample(scores: np.ndarray, samplers: Sequence[Sampler], histories: Sequence[np.ndarray]) -> list[int]:
    """The next token of each row from its logits (scores: rows x vocab, float32), sampler and history.
    The penalties are written into `scores`: the scheduler's are a gathered copy already, and copying
    them again cost every step."""
    for row, sampler, history in zip(scores, samplers, histories, strict=True):
        sampler.penalize(row, history)
    tokens = np.argmax(scores, axis=1)  # what the greedy rows keep
    size = scores.shape[1]
    # The rows that draw, grouped by top-k (0: off). Only a row's k best can be drawn, so its draw
    # works on those few instead of the vocabulary, kept in id order as the vocabulary is.
    groups: dict[int, list[int]] = {}
    for i, sampler in enumerate(samplers):
        if not sampler.config.greedy:
            groups.setdefault(sampler.config.top_k if 0 < sampler.config.top_k < size else 0, []).append(i)
    for k, rows in groups.items():
        candidates, group = scores[rows], [samplers[i] for i in rows]
        if k:
            ids = top_k_ids(candidates, k)
            tokens[rows] = ids[np.arange(len(rows)), _draw(candidates[np.arange(len(rows))[:, None], ids], group)]
        else:
            tokens[rows] = _draw(candidates, group)
    return tokens.tolist()


def _draw(scores: np.ndarray, samplers: Sequence[Sampler]) -> np.ndarray:
    """A column per row of scores (rows, n): temperature, top-p, min-p, then the row's own seeded draw."""
    temperature = np.array([sampler.config.temperature for sampler in samplers], np.float32)[:, None]
    # Shifted first, so that even a tiny temperature cannot overflow to inf - inf; what it does
    # overflow goes to -inf, the limit that temperature means (all mass on the best tokens).
    with np.errstate(over="ignore"):
        weights = np.exp((scores - np.max(scores, axis=1, keepdims=True)) / temperature)  # the best is exp(0) = 1
    probabilities = weights / weights.sum(axis=1, keepdims=True)
    probabilities = top_p_filter(probabilities, np.array([sampler.config.top_p for sampler in samplers]))
    probabilities = min_p_filter(probabilities, np.array([sampler.config.min_p for sampler in samplers]))
    # Inverse CDF over the (unnormalized) kept mass: one uniform per row and token, so a seed replays exactly.
    cumulative = np.cumsum(probabilities, axis=1, dtype=np.float64)
    uniform = np.array([sampler.rng.random() for sampler in samplers]) * cumulative[:, -1]
    return np.minimum((cumulative <= uniform[:, None]).sum(axis=1), scores.shape[1] - 1)
