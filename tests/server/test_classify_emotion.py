"""ClassifyEmotion and ReportUtterance on a real (tiny) emotion bundle through the server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from storyteller.v1 import narrative_pb2, narrative_pb2_grpc, story_pb2, story_pb2_grpc
from tests.server.conftest import make_settings, wait_serving

TWO_DOORS = (Path(__file__).parent / "data" / "two_doors.yaml").read_text()


@pytest.fixture
async def served(start_server, channel_to, tiny_emotion_bundle):
    async def start(**settings):
        server = await start_server(make_settings(models__emotion=str(tiny_emotion_bundle), **settings))
        channel = channel_to(server)
        await wait_serving(channel, "storyteller.v1.StoryService")
        return server, channel

    return start


async def test_each_text_gets_labels_groups_and_a_top_label(served):
    _, channel = await served()
    texts = ["I am so happy today!", "Why did you lie to me?", "ok"]
    response = await story_pb2_grpc.StoryServiceStub(channel).ClassifyEmotion(story_pb2.ClassifyEmotionRequest(texts=texts))
    assert response.model == "tiny-emotion" and len(response.results) == 3
    for result in response.results:
        assert [s.label for s in result.labels] == ["joy", "anger", "sadness", "neutral"]
        assert all(0.0 <= s.score <= 1.0 for s in result.labels)
        assert [s.label for s in result.ekman] == ["anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral"]
        assert len(result.sentiment) == 4
        best = max(result.labels, key=lambda s: s.score)
        assert result.top_label == best.label
        assert set(result.predicted_labels) == {s.label for s in result.labels if s.score >= 0.5}


@pytest.mark.parametrize(
    ("texts", "detail"),
    [
        ([], "texts: at least one text is required"),
        (["a", "b", "c"], "texts: 3 texts; the limit is 2 per call"),
        (["fine", "  "], "texts[1]: empty text"),
        (["x" * 30], "texts[0]: 30 characters; the limit is 20"),
    ],
)
async def test_bad_input_names_the_field(served, texts, detail):
    _, channel = await served(limits__max_texts_per_classify=2, limits__max_text_chars=20)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await story_pb2_grpc.StoryServiceStub(channel).ClassifyEmotion(story_pb2.ClassifyEmotionRequest(texts=texts))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == detail


async def test_concurrent_calls_are_batched_and_answered_in_order(served):
    server, channel = await served(batching__max_wait_ms=50)
    stub = story_pb2_grpc.StoryServiceStub(channel)
    texts = [f"text number {i} " + "word " * i for i in range(12)]
    alone = [(await stub.ClassifyEmotion(story_pb2.ClassifyEmotionRequest(texts=[t]))).results[0] for t in texts]
    before = server.models.emotion.batcher.stats.batches
    together = await asyncio.gather(*(stub.ClassifyEmotion(story_pb2.ClassifyEmotionRequest(texts=[t])) for t in texts))
    assert server.models.emotion.batcher.stats.batches - before < len(texts)
    for single, batched in zip(alone, together):
        # int8 activations are quantized per batch, so scores move a little; the labels stay put.
        assert [s.score for s in batched.results[0].labels] == pytest.approx([s.score for s in single.labels], abs=0.05)


async def test_without_an_emotion_model_classify_is_unavailable(start_server, channel_to):
    server = await start_server()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await story_pb2_grpc.StoryServiceStub(channel_to(server)).ClassifyEmotion(
            story_pb2.ClassifyEmotionRequest(texts=["hello"])
        )
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_an_utterance_moves_the_listener_as_the_rules_say(served):
    _, channel = await served()
    stub = narrative_pb2_grpc.NarrativeServiceStub(channel)
    await stub.LoadGraph(narrative_pb2.LoadGraphRequest(source=TWO_DOORS))
    session = (await stub.StartSession(narrative_pb2.StartSessionRequest(graph_id="two_doors"))).session
    before = {s.label: s.score for s in session.characters[0].emotion}
    response = await stub.ReportUtterance(
        narrative_pb2.ReportUtteranceRequest(session_id=session.session_id, listener_id="guard", text="You are wonderful!")
    )
    after = {s.label: s.score for s in response.session.characters[0].emotion}
    assert response.session.step == session.step + 1
    emotion_deltas = {d.axis: d for d in response.deltas if d.kind == "emotion"}
    assert emotion_deltas, "blending a non-neutral reading must move the guard"
    for axis, delta in emotion_deltas.items():
        assert (delta.before, delta.after) == (pytest.approx(before[axis], abs=1e-5), pytest.approx(after[axis], abs=1e-5))
    assert response.emotion.top_label in {"joy", "anger", "sadness", "neutral"}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ReportUtterance(
            narrative_pb2.ReportUtteranceRequest(session_id=session.session_id, listener_id="nobody", text="Hi")
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert (await stub.GetSession(narrative_pb2.GetSessionRequest(session_id=session.session_id))).session == response.session
