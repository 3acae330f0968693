"""Fixtures that run a real server on 127.0.0.1 with an ephemeral port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.app import StorytellerServer
from server.config import Settings, load_settings

# No models unless a test asks: the contract and lifecycle do not depend on them.
BASE = {
    "server.address": "127.0.0.1:0",
    "models.emotion": "",
    "models.story": "",
    "server.grace_period_s": 2,
    "narrative.database": ":memory:",
    "narrative.graphs": "",
    # No metrics endpoint unless a test asks (it holds a port and a thread per server).
    "metrics.enabled": False,
    "metrics.address": "127.0.0.1:0",
}


def make_settings(**overrides: Any) -> Settings:
    return load_settings(None, environ={}, overrides={**BASE, **{k.replace("__", "."): v for k, v in overrides.items()}})


async def wait_serving(channel: grpc.aio.Channel, service: str = "", timeout: float = 10.0) -> int:
    """Watches health until `service` is SERVING; returns the last status seen."""
    stub = health_pb2_grpc.HealthStub(channel)
    call = stub.Watch(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    status = health_pb2.HealthCheckResponse.UNKNOWN
    async for response in call:
        status = response.status
        if status == health_pb2.HealthCheckResponse.SERVING:
            call.cancel()
            break
    return status


async def check(channel: grpc.aio.Channel, service: str = "") -> int:
    response = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service))
    return response.status


@pytest.fixture
async def start_server() -> AsyncIterator[Callable[..., Any]]:
    """Starts servers with given settings; stops all of them after the test."""
    servers: list[StorytellerServer] = []

    async def start(settings: Settings | None = None, before_start: Callable[[StorytellerServer], None] | None = None):
        server = StorytellerServer.create(settings or make_settings())
        if before_start:
            before_start(server)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.shutdown()


@pytest.fixture
async def channel_to() -> AsyncIterator[Callable[[StorytellerServer], grpc.aio.Channel]]:
    channels: list[grpc.aio.Channel] = []

    def open_channel(server: StorytellerServer) -> grpc.aio.Channel:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
        channels.append(channel)
        return channel

    yield open_channel
    for channel in channels:
        await channel.close()


@pytest.fixture(scope="session")
def tiny_emotion_bundle(tmp_path_factory) -> Path:
    """A real emotion bundle (tiny random BERT, exported and int8-quantized by the pipeline)."""
    from export.pipeline import ExportRequest, run_export
    from tests.export.tiny_models import build_tiny_bert

    folder = tmp_path_factory.mktemp("tiny-emotion")
    source = build_tiny_bert(folder / "source", labels=["joy", "anger", "sadness", "neutral"])
    run_export(ExportRequest(source, "emotion", folder / "bundle", name="tiny-emotion", threads=1, progress=False))
    return folder / "bundle"


@pytest.fixture(scope="session")
def tiny_chat_story_bundle(tmp_path_factory) -> Path:
    """A generation bundle of a tiny chat Llama prepared as `train story --base` prepares SmolLM2:
    control tokens for the mystery style and the Ekman emotions, <|endoftext|> as BOS/EOS, and the
    chat layout in its manifest (untrained: what it writes is noise, how it is asked is the point)."""
    from export.pipeline import ExportRequest, run_export
    from export.story_base import load_base_model, load_base_tokenizer
    from tests.export.tiny_chat_llama import build_tiny_chat_llama

    folder = tmp_path_factory.mktemp("tiny-chat-story")
    base = build_tiny_chat_llama(folder / "base")
    tokenizer = load_base_tokenizer(base, ["mystery"])
    load_base_model(base, tokenizer, dropout=0.0).save_pretrained(folder / "source")
    tokenizer.save_pretrained(folder / "source")
    run_export(
        ExportRequest(folder / "source", "generation", folder / "bundle", name="tiny-chat-story", quantize="none",
                      threads=1, progress=False)
    )  # fmt: skip
    return folder / "bundle"


@pytest.fixture(scope="session")
def tiny_story_bundle(tmp_path_factory) -> Path:
    """A real generation bundle: tiny random GPT-2 with style/emotion control tokens, exported
    with its KV cache by the pipeline (styles fantasy, horror; emotions joy, fear; context 128).

    fp32 on purpose: int8 quantizes activations per tensor, i.e. across the whole batch, so only
    fp32 lets a test demand that a row decodes token for token the same batched and alone.
    """
    from export.pipeline import ExportRequest, run_export
    from tests.export.tiny_models import build_tiny_gpt2

    folder = tmp_path_factory.mktemp("tiny-story")
    source = build_tiny_gpt2(folder / "source")
    run_export(
        ExportRequest(source, "generation", folder / "bundle", name="tiny-story", quantize="none", threads=1,
                      progress=False)
    )
    return folder / "bundle"
