"""Who writes a batch line: the story model in this process, or a running server's Generate RPC.

Both send the same request (prompt, controls, sampling, the line's own seed) into the same
generation loop, so a line's text is the same whichever wrote it. A writer handles one line at a
time: a line's candidates then share decode steps (and emotion-model runs) only with each other,
which keeps the text independent of what else runs, even for int8 models whose activation
quantization spans the batch. A server shares its batches with every caller, so through servers
the file is byte-identical only while each server writes one line at a time for this job alone.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import grpc

from narrative.chat_format import ChatFormat
from server.batch.output import LineRecord
from server.batch.requests import LineRequest
from server.generation.local import LocalModels, open_local
from server.generation.sampling import SamplingConfig
from server.generation.types import GenerationParams
from server.services.validation import sampling_pb
from storyteller.v1 import common_pb2, story_pb2, story_pb2_grpc


@dataclass(frozen=True)
class BatchSampling:
    """How every line of a batch is written: the server's sampling defaults unless the flags say otherwise."""

    config: SamplingConfig = field(default_factory=SamplingConfig.defaults)
    max_tokens: int = 60
    candidates: int = 4


class LineWriter(Protocol):
    async def write(self, request: LineRequest, seed: int, sampling: BatchSampling) -> LineRecord: ...

    async def close(self) -> None: ...


def _record(
    request: LineRequest, text: str, style: str, seed: int, finish: str, candidates: int, detected: str
) -> LineRecord:
    return LineRecord(
        id=request.id, text=text.strip(), speaker=request.speaker, intent=request.intent,
        target_emotion=request.prompt.emotion or "", detected_emotion=detected, style=style, seed=seed,
        finish_reason=finish, candidates=candidates, graph=request.graph_id, beat=request.beat_id,
        listener=request.listener, source_row=request.source_row,
    )  # fmt: skip


def _controls(request: LineRequest, styles: Collection[str], emotions: Collection[str]) -> tuple[str, str]:
    """The prompt's style and emotion where the model has them; a graph's value the model lacks is
    dropped (the line is still written); spreadsheet rows were checked against the styles on input."""
    prompt = request.prompt
    emotion = prompt.emotion or ""
    return (prompt.style if prompt.style in styles else "", emotion if emotion in emotions else "")


class LocalWriter:
    """The bundles loaded in this process (one generator per writer: one line at a time)."""

    def __init__(self, models: LocalModels) -> None:
        self._models = models

    @classmethod
    async def open(cls, story: Path, emotion: Path | None, threads: int = 1) -> LocalWriter:
        return cls(await open_local(story, emotion, threads))

    async def write(self, request: LineRequest, seed: int, sampling: BatchSampling) -> LineRecord:
        story = self._models.story
        style, emotion = _controls(request, story.prompt.styles, story.prompt.emotions)
        params = GenerationParams(
            prompt=request.prompt.text, style=style, target_emotion=emotion,
            sampling=sampling.config, max_new_tokens=sampling.max_tokens, stop=request.prompt.stop, seed=seed,
            num_candidates=sampling.candidates if self._models.emotion is not None else 0,
        )  # fmt: skip
        result = await story.generate(params)
        detected = result.detected_emotion.top_ekman if result.detected_emotion is not None else ""
        return _record(request, result.text, params.style, result.seed, result.finish_reason.value, result.candidates, detected)

    async def close(self) -> None:
        await self._models.close()


_FINISH = {v: k.removeprefix("FINISH_REASON_").lower() for k, v in common_pb2.FinishReason.items()}


class GrpcWriter:
    """A running Storyteller server's StoryService.Generate."""

    def __init__(self, address: str, timeout_s: float = 120.0) -> None:
        self._channel = grpc.aio.insecure_channel(address)
        self._stub = story_pb2_grpc.StoryServiceStub(self._channel)
        self._timeout = timeout_s
        self._model: story_pb2.ModelInfo | None = None

    async def _describe(self) -> story_pb2.ModelInfo:
        if self._model is None:
            models = (await self._stub.DescribeModels(story_pb2.DescribeModelsRequest(), timeout=self._timeout)).models
            generators = [m for m in models if m.task == "generation"]
            if not generators:
                raise RuntimeError("the server has no generation model loaded")
            self._model = generators[0]
        return self._model

    async def styles(self) -> frozenset[str]:
        return frozenset((await self._describe()).styles)

    async def max_context(self) -> int:
        return (await self._describe()).max_context

    async def chat_format(self) -> ChatFormat | None:
        model = await self._describe()
        if not model.HasField("chat_format"):
            return None
        layout = model.chat_format
        return ChatFormat(layout.system_prefix, layout.system_to_user, layout.user_to_assistant, layout.reply_suffix)

    async def write(self, request: LineRequest, seed: int, sampling: BatchSampling) -> LineRecord:
        model = await self._describe()
        style, emotion = _controls(request, model.styles, model.emotions)
        generate = story_pb2.GenerateRequest(
            prompt=request.prompt.text, style=style, target_emotion=emotion,
            sampling=sampling_pb(sampling.config, sampling.max_tokens, request.prompt.stop, seed),
            num_candidates=sampling.candidates,
        )  # fmt: skip
        response = await self._stub.Generate(generate, timeout=self._timeout)
        summary = response.summary
        return _record(
            request, response.text, style, summary.seed, _FINISH[summary.finish_reason], summary.candidates,
            summary.detected_emotion.top_ekman,
        )  # fmt: skip

    async def close(self) -> None:
        await self._channel.close()
