"""Request checks shared by servicers: each failure names the field and the limit."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from server.config import GenerationSettings, LimitSettings
from server.errors import InvalidArgument
from server.generation.types import GenerationParams, SamplingConfig
from storyteller.v1 import common_pb2, story_pb2


def check_texts(texts: Sequence[str], limits: LimitSettings, field: str = "texts") -> list[str]:
    if not texts:
        raise InvalidArgument(field, "at least one text is required")
    if len(texts) > limits.max_texts_per_classify:
        raise InvalidArgument(field, f"{len(texts)} texts; the limit is {limits.max_texts_per_classify} per call")
    for i, text in enumerate(texts):
        check_text(text, limits, f"{field}[{i}]")
    return list(texts)


def check_text(text: str, limits: LimitSettings, field: str) -> str:
    if not text.strip():
        raise InvalidArgument(field, "empty text")
    if len(text) > limits.max_text_chars:
        raise InvalidArgument(field, f"{len(text)} characters; the limit is {limits.max_text_chars}")
    return text


def check_prompt(prompt: str, limits: LimitSettings, field: str = "prompt") -> str:
    """Characters only: the token limit needs the model's tokenizer (server.generation checks it)."""
    if not prompt.strip():
        raise InvalidArgument(field, "empty prompt")
    if len(prompt) > limits.max_prompt_chars:
        raise InvalidArgument(field, f"{len(prompt)} characters; the limit is {limits.max_prompt_chars}")
    return prompt


def _finite(value: float, field: str, low: float, high: float = math.inf, meaning: str = "") -> float:
    if not math.isfinite(value) or not low <= value <= high:
        bound = f"at least {low:g}" if high == math.inf else f"between {low:g} and {high:g}"
        raise InvalidArgument(field, f"{value:g}; must be {bound}{meaning}")
    return float(value)


@dataclass(frozen=True)
class SamplingChoice:
    """SamplingParams checked and resolved against the server's defaults."""

    config: SamplingConfig
    max_new_tokens: int
    stop: tuple[str, ...]
    seed: int


def check_sampling(
    sampling: common_pb2.SamplingParams | None,
    limits: LimitSettings,
    defaults: GenerationSettings,
    field: str = "sampling",
) -> SamplingChoice:
    """None (the message is absent) takes every default; a present message's zeros switch controls off."""
    default_max_tokens = min(defaults.default_max_tokens, limits.max_new_tokens)
    if sampling is None:
        config = SamplingConfig(
            temperature=defaults.default_temperature,
            top_k=defaults.default_top_k,
            top_p=defaults.default_top_p,
            repetition_penalty=defaults.default_repetition_penalty or 1.0,
        )
        return SamplingChoice(config, default_max_tokens, (), 0)
    penalty = _finite(sampling.repetition_penalty, f"{field}.repetition_penalty", 0.0, meaning=" (0 = off)")
    config = SamplingConfig(
        temperature=_finite(sampling.temperature, f"{field}.temperature", 0.0, meaning=" (0 = greedy)"),
        top_k=_count(sampling.top_k, f"{field}.top_k"),
        top_p=_finite(sampling.top_p, f"{field}.top_p", 0.0, 1.0, " (0 = off)"),
        repetition_penalty=penalty or 1.0,
        no_repeat_ngram_size=_count(sampling.no_repeat_ngram_size, f"{field}.no_repeat_ngram_size"),
    )
    max_tokens = _count(sampling.max_tokens, f"{field}.max_tokens")
    if max_tokens > limits.max_new_tokens:
        raise InvalidArgument(f"{field}.max_tokens", f"{max_tokens}; the limit is {limits.max_new_tokens}")
    if len(sampling.stop) > limits.max_stop_sequences:
        limit = limits.max_stop_sequences
        raise InvalidArgument(f"{field}.stop", f"{len(sampling.stop)} strings; the limit is {limit}")
    for i, stop in enumerate(sampling.stop):
        if not stop:
            raise InvalidArgument(f"{field}.stop[{i}]", "empty stop string")
        if len(stop) > limits.max_stop_chars:
            raise InvalidArgument(f"{field}.stop[{i}]", f"{len(stop)} characters; the limit is {limits.max_stop_chars}")
    return SamplingChoice(config, max_tokens or default_max_tokens, tuple(sampling.stop), sampling.seed)


def _count(value: int, field: str) -> int:
    if value < 0:
        raise InvalidArgument(field, f"{value}; must be 0 (off) or more")
    return value


def sampled_params(
    sampling: common_pb2.SamplingParams | None,
    num_candidates: int,
    rating: int,
    limits: LimitSettings,
    defaults: GenerationSettings,
    **fields: str,
) -> GenerationParams:
    """Sampling, candidates and rating of any generating request, checked; `fields` fill the rest."""
    choice = check_sampling(sampling, limits, defaults)
    if num_candidates < 0:
        raise InvalidArgument("num_candidates", f"{num_candidates}; must be 0 (server default) or more")
    if rating not in common_pb2.ContentRating.values():
        raise InvalidArgument("rating", f"{rating} is not a ContentRating")
    return GenerationParams(
        sampling=choice.config,
        max_new_tokens=choice.max_new_tokens,
        stop=choice.stop,
        seed=choice.seed,
        num_candidates=num_candidates,
        rating=rating,
        **fields,
    )


def generation_params(
    request: story_pb2.GenerateRequest, limits: LimitSettings, defaults: GenerationSettings
) -> GenerationParams:
    """A GenerateRequest checked field by field; style, emotion and prompt tokens are the model's to check."""
    prompt = check_prompt(request.prompt, limits)
    sampling = request.sampling if request.HasField("sampling") else None
    return sampled_params(
        sampling, request.num_candidates, request.rating, limits, defaults,
        prompt=prompt, style=request.style, target_emotion=request.target_emotion,
    )  # fmt: skip
