"""The generation loop's vocabulary: what a request asks for, and what each row reports back.

Plain dataclasses, no protobuf: the servicer converts GenerateRequest into GenerationParams
and GenerationResult back into messages, so the loop can be driven from the CLI and tests
without gRPC.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from server.generation.sampling import SamplingConfig

if TYPE_CHECKING:
    from server.models.emotion import EmotionReading


class FinishReason(enum.Enum):
    """Why a row left the batch. The first four are the proto's; the last two end the call."""

    END_OF_TEXT = "end_of_text"
    LENGTH = "length"
    STOP_SEQUENCE = "stop_sequence"
    CONTEXT_FULL = "context_full"
    CANCELLED = "cancelled"  # the client went away, or the server is shutting down
    DEADLINE = "deadline"  # the call's deadline passed between two steps


@dataclass(frozen=True)
class GenerationParams:
    """One validated generation request, in domain terms."""

    prompt: str
    style: str = ""
    target_emotion: str = ""
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    max_new_tokens: int = 64
    stop: tuple[str, ...] = ()
    seed: int = 0  # 0 = the server picks one and reports it
    num_candidates: int = 0  # 0 = the server's default (only with target_emotion)
    rating: int = 0  # ContentRating allowed (safety.Rating values); 0 = EVERYONE unless a story says otherwise


@dataclass(frozen=True)
class SequenceSpec:
    """What the scheduler decodes for one request: `rows` sequences from one prompt.

    Several rows are the emotion candidates: the prompt is prefilled once and its cache
    copied to each row, and row i samples from its own generator seeded with (seed, i).
    """

    prompt_ids: tuple[int, ...]
    sampling: SamplingConfig
    max_new_tokens: int
    seed: int
    rows: int = 1
    stop: tuple[str, ...] = ()
    deadline: float | None = None  # time.monotonic() after which the rows are dropped


@dataclass(frozen=True)
class GenerationResult:
    """What a request produced: the chosen candidate's text and the figures a client is told."""

    text: str
    token_ids: tuple[int, ...]  # generated ids of the returned candidate, EOS included
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    seed: int
    style: str
    candidates: int
    time_to_first_token_ms: float
    detected_emotion: EmotionReading | None = None
    content_filtered: bool = False  # a candidate or a continuation was dropped by the content filter


# Events the scheduler sends to the request that owns the row, from its worker thread.


@dataclass(frozen=True)
class Delta:
    """New text of one row. `token_id` is None for the text flushed when the row ends."""

    row: int
    text: str
    token_id: int | None
    at: float  # time.perf_counter() when the token was sampled


@dataclass(frozen=True)
class Finished:
    row: int
    reason: FinishReason
    completion_tokens: int


@dataclass(frozen=True)
class Failed:
    """The model run failed; every row of the request ends with it."""

    error: BaseException


Event = Delta | Finished | Failed
