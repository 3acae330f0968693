"""Health per service and server reflection, through a real channel on loopback."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from server.app import NARRATIVE_SERVICE, STORY_SERVICE
from storyteller.v1 import narrative_pb2, narrative_pb2_grpc, story_pb2, story_pb2_grpc
from tests.server.conftest import check, make_settings, wait_serving

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def write_bundle(folder, **manifest) -> None:
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(manifest))


async def test_health_reaches_serving_for_server_and_each_service(start_server, channel_to):
    server = await start_server()
    channel = channel_to(server)
    assert await wait_serving(channel, "") == SERVING
    assert await check(channel, STORY_SERVICE) == SERVING
    assert await check(channel, NARRATIVE_SERVICE) == SERVING


async def test_story_service_not_serving_while_its_model_is_missing(start_server, channel_to, tmp_path):
    server = await start_server(make_settings(models__emotion=str(tmp_path / "nowhere")))
    channel = channel_to(server)
    assert await wait_serving(channel, NARRATIVE_SERVICE) == SERVING
    await server.wait_models_loaded()
    # Loading finished (it failed): the story service and the server as a whole stay down.
    assert "model bundle folder not found" in server.registry.failures["emotion"]
    assert await check(channel, STORY_SERVICE) == NOT_SERVING
    assert await check(channel, "") == NOT_SERVING


async def test_loaded_bundle_turns_story_service_serving_and_is_described(start_server, channel_to, tiny_emotion_bundle):
    server = await start_server(make_settings(models__emotion=str(tiny_emotion_bundle)))
    channel = channel_to(server)
    assert await wait_serving(channel, STORY_SERVICE) == SERVING
    models = (await story_pb2_grpc.StoryServiceStub(channel).DescribeModels(story_pb2.DescribeModelsRequest())).models
    assert [(m.name, m.task, m.quantization, list(m.labels), m.provider) for m in models] == [
        ("tiny-emotion", "emotion", "int8", ["joy", "anger", "sadness", "neutral"], "CPUExecutionProvider")
    ]


async def test_bundle_with_wrong_task_is_refused(start_server, channel_to, tmp_path):
    write_bundle(tmp_path / "emo", name="a-generator", task="generation", model_file="model.onnx", inputs=[],
                 outputs=[], files={})
    server = await start_server(make_settings(models__emotion=str(tmp_path / "emo")))
    channel = channel_to(server)
    await server.wait_models_loaded()
    assert "task is 'generation'" in server.registry.failures["emotion"]
    assert await check(channel, STORY_SERVICE) == NOT_SERVING


async def test_reflection_lists_both_services_and_health(start_server):
    server = await start_server()
    # The reflection client is synchronous; it runs against the same server.
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        services = await asyncio.to_thread(lambda: ProtoReflectionDescriptorDatabase(channel).get_services())
    assert {STORY_SERVICE, NARRATIVE_SERVICE, "grpc.health.v1.Health"} <= set(services)


async def test_generation_without_a_story_model_is_unavailable_and_says_why(start_server, channel_to):
    server = await start_server()
    channel = channel_to(server)
    narrative = narrative_pb2_grpc.NarrativeServiceStub(channel)
    calls = [
        story_pb2_grpc.StoryServiceStub(channel).Generate(story_pb2.GenerateRequest(prompt="Once")),
        narrative.Narrate(narrative_pb2.NarrateRequest(session_id="s")).read(),
        narrative.NpcLine(narrative_pb2.NpcLineRequest(session_id="s", character_id="c")).read(),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE and "no story" in caught.value.details()


BAD_BYTES = b"\x0a\x03\xff\xfe\xc3"  # field 1, a string holding invalid UTF-8


@pytest.mark.parametrize(
    "method", ["/grpc.health.v1.Health/Check", "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"]
)
async def test_health_and_reflection_refuse_undecodable_bytes_as_invalid_argument(start_server, channel_to, method):
    channel = channel_to(await start_server())
    raw = {"request_serializer": None, "response_deserializer": None}
    if method.endswith("/Check"):
        call = channel.unary_unary(method, **raw)(BAD_BYTES, timeout=10)
    else:
        call = channel.stream_stream(method, **raw)(iter([BAD_BYTES]), timeout=10).read()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    assert await check(channel, "") is not None  # and the server still answers
