"""A request made concrete for the scheduler: its prompt ids, rows and seed, checked against the model.

The one place a seed is drawn: a request without one gets a random seed in the range every surface
can carry (a uint64 on the wire, an int64 in numpy, a 63-bit seed from `storyteller batch`), and the
result reports it so the text can be replayed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from server.generation.rerank import Judge
from server.generation.types import SequenceSpec

MAX_SEED = 2**63 - 1


def draw_seed(requested: int) -> int:
    """`requested`, or a random seed in [1, MAX_SEED] when it is 0 (0 asks the server to pick)."""
    return requested or secrets.randbelow(MAX_SEED) + 1


@dataclass(frozen=True)
class Plan:
    """What the scheduler decodes and how many candidates compete."""

    spec: SequenceSpec
    candidates: int


@dataclass(frozen=True)
class Call:
    """What the caller adds to a request: when it must end (time.monotonic()), when it arrived
    (time.perf_counter(), for time to first token), and how its candidates are judged."""

    deadline: float | None
    started: float
    judge: Judge | None = None
