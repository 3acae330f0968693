"""Prometheus metrics: scraped over HTTP from a real server after real calls."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from server.config import SAMPLE_MODELS
from server.metrics import batch_size_buckets, split_method
from storyteller.v1 import narrative_pb2, narrative_pb2_grpc, story_pb2, story_pb2_grpc
from tests.server.conftest import make_settings, wait_serving

NARRATIVE = "storyteller.v1.NarrativeService"
TWO_DOORS = (Path(__file__).parent / "data" / "two_doors.yaml").read_text()


def with_metrics(**overrides):
    return make_settings(metrics__enabled=True, metrics__address="127.0.0.1:0", **overrides)


async def scrape(port: int) -> dict[tuple[str, frozenset], float]:
    """Every sample on /metrics as {(name, labels): value}."""

    def get() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return response.read().decode()

    text = await asyncio.to_thread(get)
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def test_calls_are_counted_per_method_and_code_and_state_is_read_at_scrape(start_server, channel_to):
    server = await start_server(with_metrics())
    assert server.metrics_port not in (0, server.port)
    channel = channel_to(server)
    await wait_serving(channel, NARRATIVE)
    stub = narrative_pb2_grpc.NarrativeServiceStub(channel)
    await stub.LoadGraph(narrative_pb2.LoadGraphRequest(source=TWO_DOORS, filename="two_doors.yaml"))
    for _ in range(3):
        await stub.ListGraphs(narrative_pb2.ListGraphsRequest())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetSession(narrative_pb2.GetSessionRequest(session_id="no-such-session"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    await stub.StartSession(narrative_pb2.StartSessionRequest(graph_id="two_doors"))
    await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))

    samples = await scrape(server.metrics_port)
    requests = {
        (dict(labels)["method"], dict(labels)["code"]): count
        for (name, labels), count in samples.items()
        if name == "storyteller_rpc_requests_total"
    }
    assert requests == {
        ("LoadGraph", "OK"): 1, ("ListGraphs", "OK"): 3, ("GetSession", "NOT_FOUND"): 1, ("StartSession", "OK"): 1
    }
    assert not any("grpc.health" in str(labels) or "reflection" in str(labels) for _, labels in samples)
    list_graphs = {"service": NARRATIVE, "method": "ListGraphs"}
    assert value(samples, "storyteller_rpc_duration_seconds_count", **list_graphs) == 3
    assert value(samples, "storyteller_rpc_duration_seconds_bucket", **list_graphs, le="+Inf") == 3
    assert value(samples, "storyteller_sessions_active") == 1
    assert value(samples, "storyteller_graphs_loaded") == 1
    # No model configured (the fixture's default): no role to report.
    assert not any(name == "storyteller_model_loaded" for name, _ in samples)
    assert value(samples, "process_resident_memory_bytes") > 0


async def test_calls_refused_for_a_missing_token_are_counted(start_server, channel_to):
    server = await start_server(with_metrics(auth__tokens="s3cret"))
    stub = narrative_pb2_grpc.NarrativeServiceStub(channel_to(server))
    for _ in range(2):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListGraphs(narrative_pb2.ListGraphsRequest())
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    await stub.ListGraphs(narrative_pb2.ListGraphsRequest(), metadata=(("authorization", "Bearer s3cret"),))
    samples = await scrape(server.metrics_port)
    method = {"service": NARRATIVE, "method": "ListGraphs"}
    assert value(samples, "storyteller_rpc_requests_total", **method, code="UNAUTHENTICATED") == 2
    assert value(samples, "storyteller_rpc_requests_total", **method, code="OK") == 1


async def test_model_state_per_role_and_emotion_batches(start_server, channel_to, tmp_path):
    server = await start_server(
        with_metrics(models__emotion=str(SAMPLE_MODELS / "emotion"), models__story=str(tmp_path / "missing"),
                     models__intra_op_threads=1)
    )
    await server.wait_models_loaded()
    stub = story_pb2_grpc.StoryServiceStub(channel_to(server))
    await stub.ClassifyEmotion(story_pb2.ClassifyEmotionRequest(texts=["Thank you!", "I hate this.", "Hello."]))

    samples = await scrape(server.metrics_port)
    assert value(samples, "storyteller_model_loaded", role="emotion") == 1
    assert value(samples, "storyteller_model_loaded", role="story") == 0
    assert value(samples, "storyteller_emotion_batch_size_count") == 1
    assert value(samples, "storyteller_emotion_batch_size_sum") == 3
    assert value(samples, "storyteller_emotion_batch_size_bucket", le="2.0") == 0
    assert value(samples, "storyteller_emotion_batch_size_bucket", le="4.0") == 1
    assert value(samples, "storyteller_emotion_queue_depth") == 0


async def test_each_server_has_its_own_registry(start_server, channel_to):
    first, second = await start_server(with_metrics()), await start_server(with_metrics())
    await narrative_pb2_grpc.NarrativeServiceStub(channel_to(first)).ListGraphs(narrative_pb2.ListGraphsRequest())
    counted = value(await scrape(first.metrics_port), "storyteller_rpc_requests_total",
                    service=NARRATIVE, method="ListGraphs", code="OK")
    assert counted == 1
    assert not any(name == "storyteller_rpc_requests_total" for name, _ in await scrape(second.metrics_port))


async def test_shutdown_frees_the_metrics_port(start_server):
    server = await start_server(with_metrics())
    port = server.metrics_port
    await server.shutdown()
    with pytest.raises(OSError):
        await scrape(port)


async def test_disabled_metrics_serve_nothing(start_server):
    server = await start_server(make_settings(metrics__enabled=False))
    assert server.metrics is None and server.metrics_port == 0


def test_batch_size_buckets_end_at_the_configured_bound():
    assert batch_size_buckets(32) == (1, 2, 4, 8, 16, 32)
    assert batch_size_buckets(12) == (1, 2, 4, 8, 12)
    assert batch_size_buckets(1) == (1,)


def test_split_method():
    assert split_method("/storyteller.v1.NarrativeService/ListGraphs") == (NARRATIVE, "ListGraphs")
