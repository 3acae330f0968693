"""Request checks shared by servicers: each failure names the field and the limit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from server.config import GenerationSettings, LimitSettings, Settings
from server.errors import InvalidArgument
from server.generation.sampling import SamplingConfig, SamplingError, controls
from server.generation.types import GenerationParams
from storyteller.v1 import common_pb2, narrative_pb2, story_pb2


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


@dataclass(frozen=True)
class SamplingChoice:
    """SamplingParams checked and resolved against the server's defaults."""

    config: SamplingConfig
    max_new_tokens: int
    stop: tuple[str, ...]
    seed: int


def sampling_config(sampling: common_pb2.SamplingParams, field: str = "sampling") -> SamplingConfig:
    """The controls of a present SamplingParams (its zeros switch them off), checked by SamplingConfig."""
    try:
        return SamplingConfig(**{name: getattr(sampling, name) for name in controls()})
    except SamplingError as exc:
        control = controls()[exc.field]
        raise InvalidArgument(f"{field}.{exc.field}", f"{exc.message} ({control.help})") from None


def sampling_pb(config: SamplingConfig, max_tokens: int, stop: Sequence[str], seed: int) -> common_pb2.SamplingParams:
    """`config` and the request's other generation settings as the message, for clients of the RPCs."""
    controls_pb = {name: getattr(config, name) for name in controls()}
    return common_pb2.SamplingParams(max_tokens=max_tokens, stop=list(stop), seed=seed, **controls_pb)


def check_sampling(
    sampling: common_pb2.SamplingParams | None,
    limits: LimitSettings,
    defaults: GenerationSettings,
    sampling_defaults: SamplingConfig,
    field: str = "sampling",
) -> SamplingChoice:
    """None (the message is absent) takes every default; a present message's zeros switch controls off."""
    default_max_tokens = min(defaults.default_max_tokens, limits.max_new_tokens)
    if sampling is None:
        return SamplingChoice(sampling_defaults, default_max_tokens, (), 0)
    config = sampling_config(sampling, field)
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
    request: story_pb2.GenerateRequest | narrative_pb2.NarrateRequest | narrative_pb2.NpcLineRequest,
    num_candidates: int,
    settings: Settings,
    **fields: str,
) -> GenerationParams:
    """Sampling, candidates and rating of any generating request, checked; `fields` fill the rest."""
    sampling = request.sampling if request.HasField("sampling") else None
    choice = check_sampling(sampling, settings.limits, settings.generation, settings.sampling)
    rating = request.rating
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


def generation_params(request: story_pb2.GenerateRequest, settings: Settings) -> GenerationParams:
    """A GenerateRequest checked field by field; style, emotion and prompt tokens are the model's to check."""
    prompt = check_prompt(request.prompt, settings.limits)
    return sampled_params(
        request, request.num_candidates, settings, prompt=prompt, style=request.style, target_emotion=request.target_emotion
    )
