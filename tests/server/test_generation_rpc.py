"""Generate and GenerateStream through a real server on loopback with the tiny story bundle."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from server.generation.sampling import controls
from server.generation.types import FinishReason
from storyteller.v1 import common_pb2, story_pb2, story_pb2_grpc
from tests.server.conftest import make_settings, wait_serving
from tests.server.test_generation_loop import slow_down

STORY = "storyteller.v1.StoryService"
HELP = {name: control.help for name, control in controls().items()}


@pytest.fixture
async def served(start_server, channel_to, tiny_story_bundle):
    async def start(**settings):
        server = await start_server(make_settings(models__story=str(tiny_story_bundle), models__intra_op_threads=1,
                                                  **settings))  # fmt: skip
        channel = channel_to(server)
        assert await wait_serving(channel, STORY) == 1
        return server, story_pb2_grpc.StoryServiceStub(channel)

    return start


def request(prompt: str = "The knight", **sampling) -> story_pb2.GenerateRequest:
    return story_pb2.GenerateRequest(prompt=prompt, style="fantasy", sampling=common_pb2.SamplingParams(**sampling))


async def wait_idle(server, timeout_s: float = 2.0) -> int:
    """The scheduler's active rows once they drain (or after the timeout)."""
    scheduler = server.models.story.scheduler
    for _ in range(int(timeout_s / 0.01)):
        if scheduler.active == 0:
            break
        await asyncio.sleep(0.01)
    return scheduler.active


async def test_stream_deltas_join_to_the_unary_text_with_the_same_summary(served):
    server, stub = await served()
    sampled = request(temperature=0.9, top_p=0.95, max_tokens=40, seed=1234)
    unary = await stub.Generate(sampled)
    chunks = [chunk async for chunk in stub.GenerateStream(sampled)]
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert [c.done for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert all(c.text_delta for c in chunks[:-1]) and not chunks[-1].text_delta
    assert "".join(c.text_delta for c in chunks) == unary.text
    summary = chunks[-1].summary
    for field in ("finish_reason", "prompt_tokens", "completion_tokens", "seed", "style", "candidates"):
        assert getattr(summary, field) == getattr(unary.summary, field), field
    assert summary.seed == 1234 and summary.style == "fantasy" and summary.candidates == 1
    text_tokens = len(server.models.story.tokenizer.encode("The knight", add_special_tokens=False).ids)
    assert summary.prompt_tokens == 2 + text_tokens  # BOS, <|style:fantasy|>, then the text
    assert summary.time_to_first_token_ms > 0
    assert not summary.HasField("detected_emotion")  # no emotion model loaded


async def test_summary_reports_why_generation_ended(served):
    _, stub = await served()
    length = await stub.Generate(request(max_tokens=7))
    assert (length.summary.finish_reason, length.summary.completion_tokens) == (common_pb2.FINISH_REASON_LENGTH, 7)
    stop = length.text[2:4]
    stopped = await stub.Generate(request(max_tokens=7, stop=[stop]))
    assert stopped.summary.finish_reason == common_pb2.FINISH_REASON_STOP_SEQUENCE
    assert stopped.text == length.text[: length.text.find(stop)]
    full = await stub.Generate(request(max_tokens=200))
    assert full.summary.finish_reason == common_pb2.FINISH_REASON_CONTEXT_FULL
    # Absent sampling: the server's defaults (sampled, with a seed it picked and reports).
    default = await stub.Generate(story_pb2.GenerateRequest(prompt="The knight"))
    assert default.summary.seed != 0 and default.summary.completion_tokens <= 128


async def test_a_client_cancelling_mid_stream_frees_the_slot(served):
    server, stub = await served()
    slow_down(server.models.story, 0.01)  # 100 tokens take a second: the stream is surely mid-way
    call = stub.GenerateStream(request(max_tokens=100))
    first = await call.read()
    assert first.text_delta and not first.done
    assert server.models.story.scheduler.active == 1
    call.cancel()
    assert await wait_idle(server) == 0
    stats = server.models.story.scheduler.stats
    assert stats.finished[FinishReason.CANCELLED] == 1 and stats.steps < 50


@pytest.mark.parametrize("streaming", [False, True])
async def test_a_short_deadline_is_deadline_exceeded_and_frees_the_slot(served, streaming):
    server, stub = await served()
    slow_down(server.models.story, 0.01)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        if streaming:
            async for _ in stub.GenerateStream(request(max_tokens=100), timeout=0.3):
                pass
        else:
            await stub.Generate(request(max_tokens=100), timeout=0.3)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert await wait_idle(server) == 0
    stats = server.models.story.scheduler.stats
    # The server's own deadline check or the cancelled call, whichever came first, ended the row.
    assert stats.finished[FinishReason.DEADLINE] + stats.finished[FinishReason.CANCELLED] == 1


async def test_concurrent_calls_share_decode_steps(served):
    server, stub = await served()
    prompts = ["The knight", "She laughed at the joke until she", "What", "The old lighthouse keeper watched the"]
    alone = [await stub.Generate(request(p, max_tokens=20)) for p in prompts]
    slow_down(server.models.story, 0.002)
    together = await asyncio.gather(*(stub.Generate(request(p, max_tokens=20)) for p in prompts))
    assert server.models.story.scheduler.stats.largest_batch > 1
    assert [r.text for r in together] == [r.text for r in alone]


async def test_bad_requests_name_the_field(served):
    _, stub = await served(limits__max_prompt_chars=60, limits__max_new_tokens=50, limits__max_candidates=3)
    cases = [
        (story_pb2.GenerateRequest(prompt="  "), "prompt: empty prompt"),
        (story_pb2.GenerateRequest(prompt="x" * 61), "prompt: 61 characters; the limit is 60"),
        (
            story_pb2.GenerateRequest(prompt="x", style="noir"),
            "style: unknown style 'noir'; this model accepts: fantasy, horror",
        ),
        (
            story_pb2.GenerateRequest(prompt="x", target_emotion="rage"),
            "target_emotion: unknown emotion 'rage'; this model accepts: fear, joy",
        ),
        (request(temperature=-1), f"sampling.temperature: -1; must be at least 0 ({HELP['temperature']})"),
        (request(top_p=1.5), f"sampling.top_p: 1.5; must be between 0 and 1 ({HELP['top_p']})"),
        (request(top_k=-2), f"sampling.top_k: -2; must be at least 0 ({HELP['top_k']})"),
        (
            request(repetition_penalty=float("nan")),
            f"sampling.repetition_penalty: nan; must be at least 0 ({HELP['repetition_penalty']})",
        ),
        (
            request(no_repeat_ngram_size=-1),
            f"sampling.no_repeat_ngram_size: -1; must be at least 0 ({HELP['no_repeat_ngram_size']})",
        ),
        (request(max_tokens=51), "sampling.max_tokens: 51; the limit is 50"),
        (request(stop=["ok", ""]), "sampling.stop[1]: empty stop string"),
        (request(stop=["x"] * 9), "sampling.stop: 9 strings; the limit is 8"),
        (
            story_pb2.GenerateRequest(prompt="x", num_candidates=-1),
            "num_candidates: -1; must be 0 (server default) or more",
        ),
        (
            story_pb2.GenerateRequest(prompt="x", target_emotion="joy", num_candidates=4),
            "num_candidates: 4; the limit is 3",
        ),
        (story_pb2.GenerateRequest(prompt="x", rating=7), "rating: 7 is not a ContentRating"),
    ]
    for message, detail in cases:
        for call in (stub.Generate(message), stub.GenerateStream(message).read()):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
            assert (caught.value.code(), caught.value.details()) == (grpc.StatusCode.INVALID_ARGUMENT, detail)


async def test_reranking_without_an_emotion_model_is_unavailable_and_no_model_at_all_too(
    served, start_server, channel_to
):
    _, stub = await served()
    rerank = story_pb2.GenerateRequest(prompt="x", target_emotion="joy", num_candidates=2)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Generate(rerank)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE and "emotion model" in caught.value.details()
    # The server default (0) quietly falls back to one candidate instead.
    one = await stub.Generate(story_pb2.GenerateRequest(prompt="x", target_emotion="joy"))
    assert one.summary.candidates == 1

    bare = await start_server()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await story_pb2_grpc.StoryServiceStub(channel_to(bare)).Generate(story_pb2.GenerateRequest(prompt="x"))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_emotion_candidates_and_detected_emotion(served, tiny_emotion_bundle):
    _, stub = await served(models__emotion=str(tiny_emotion_bundle))
    response = await stub.Generate(
        story_pb2.GenerateRequest(prompt="What a lovely", target_emotion="joy", num_candidates=3,
                                  sampling=common_pb2.SamplingParams(temperature=1.0, max_tokens=10, seed=4))
    )  # fmt: skip
    assert response.summary.candidates == 3
    detected = response.summary.detected_emotion
    assert [s.label for s in detected.ekman][3] == "joy" and detected.top_label
    models = (await stub.DescribeModels(story_pb2.DescribeModelsRequest())).models
    story = next(m for m in models if m.task == "generation")
    assert (list(story.styles), list(story.emotions), story.max_context) == (
        ["fantasy", "horror"],
        ["fear", "joy"],
        128,
    )


async def test_generated_tokens_and_time_to_first_token_are_metrics(served):
    from tests.server.test_metrics import scrape, value

    server, stub = await served(metrics__enabled=True)
    await stub.Generate(request(max_tokens=6))
    samples = await scrape(server.metrics_port)
    assert value(samples, "storyteller_generated_tokens_total") == 6
    assert value(samples, "storyteller_generation_time_to_first_token_seconds_count") == 1
    assert value(samples, "storyteller_generation_rows_active") == 0
    assert value(samples, "storyteller_model_loaded", role="story") == 1


async def test_a_full_batch_with_no_room_to_wait_is_resource_exhausted(served):
    server, stub = await served(generation__max_batch_size=1, generation__max_waiting=0)
    slow_down(server.models.story, 0.01)
    busy = stub.GenerateStream(request(max_tokens=100))
    await busy.read()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Generate(request(max_tokens=5))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert caught.value.details() == "generation is at capacity (1 rows, 0 requests waiting); retry with back-off"
    busy.cancel()
    assert await wait_idle(server) == 0
    assert (await stub.Generate(request(max_tokens=5))).summary.completion_tokens == 5
