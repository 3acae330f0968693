"""Bearer tokens guard application calls; health and reflection stay open."""

from __future__ import annotations

import grpc
import pytest

from storyteller.v1 import story_pb2, story_pb2_grpc
from tests.server.conftest import check, make_settings


@pytest.fixture
async def secured(start_server, channel_to):
    server = await start_server(make_settings(auth__tokens="s3cret,other"))
    return story_pb2_grpc.StoryServiceStub(channel_to(server)), channel_to(server)


@pytest.mark.parametrize(
    ("metadata", "detail"),
    [
        ((), "missing"),
        ((("authorization", "Basic s3cret"),), "must be"),
        ((("authorization", "Bearer wrong"),), "unknown bearer token"),
    ],
)
async def test_calls_without_a_valid_token_are_unauthenticated(secured, metadata, detail):
    stub, _ = secured
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.DescribeModels(story_pb2.DescribeModelsRequest(), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert detail in caught.value.details()


async def test_streaming_calls_are_guarded_too(secured):
    stub, _ = secured
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stub.GenerateStream(story_pb2.GenerateRequest(prompt="x")):
            pass
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_known_token_passes_and_health_needs_none(secured):
    stub, channel = secured
    response = await stub.DescribeModels(story_pb2.DescribeModelsRequest(), metadata=(("authorization", "Bearer other"),))
    assert list(response.models) == []
    assert await check(channel, "") in (1, 2)  # answered, without a token
