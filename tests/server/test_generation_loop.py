"""The generation loop on a real (tiny) exported decoder, without gRPC: tokens, batching, stopping."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import onnxruntime as ort
import pytest

from server.config import BatchingSettings, GenerationSettings, LimitSettings, ModelSettings
from server.errors import DeadlineExceeded, InvalidArgument
from server.generation.generator import GenerationResult, StoryGenerator
from server.generation.rerank import emotion_score
from server.generation.sampling import SamplingConfig
from server.generation.scheduler import Job
from server.generation.types import Failed, FinishReason, GenerationParams, SequenceSpec
from server.models.emotion import BatchedEmotionClassifier, EmotionClassifier
from server.models.registry import load_bundle

PROMPTS = [
    "The knight",
    "She laughed at the joke until she",
    "Why would anyone leave the castle gate open at night? I",
    "What",
    "The old lighthouse keeper watched the dark sea and the",
]
GREEDY = SamplingConfig()
SAMPLED = SamplingConfig(temperature=1.0, top_p=0.95)


class SlowSession:
    """The same model, slower: the tiny model writes 100 tokens in ~30 ms, too fast to overlap
    requests or to catch a row mid-generation on purpose."""

    def __init__(self, session: ort.InferenceSession, delay_s: float) -> None:
        self._session = session
        self._delay_s = delay_s

    def run(self, *args, **kwargs):
        time.sleep(self._delay_s)
        return self._session.run(*args, **kwargs)


def slow_down(generator: StoryGenerator, delay_s: float) -> None:
    decoder = generator.scheduler.decoder
    decoder.session = SlowSession(decoder.session, delay_s)


@pytest.fixture
async def story(tiny_story_bundle):
    generators: list[StoryGenerator] = []

    def make(emotion: BatchedEmotionClassifier | None = None, **settings) -> StoryGenerator:
        bundle = load_bundle("story", tiny_story_bundle, "generation", ModelSettings(intra_op_threads=1))
        generator = StoryGenerator(bundle, GenerationSettings(**settings), LimitSettings(), emotion)
        generators.append(generator)
        return generator

    yield make
    for generator in generators:
        await generator.close()


def full_forward_argmax(session: ort.InferenceSession, ids: list[int]) -> int:
    """The next token by a plain forward pass over the whole sequence, no cache reused."""
    names = [o.name for o in session.get_outputs()]
    feeds = {"input_ids": np.array([ids], np.int64), "attention_mask": np.ones((1, len(ids)), np.int64),
             "position_ids": np.arange(len(ids), dtype=np.int64)[None, :]}  # fmt: skip
    for i in session.get_inputs():
        if i.name.startswith("past_key_values."):
            feeds[i.name] = np.zeros((1, i.shape[1], 0, i.shape[3]), np.float32)
    return int(session.run(names, feeds)[0][0, -1].argmax())


async def test_temperature_zero_takes_the_argmax_of_a_full_forward_pass_at_every_step(story, tiny_story_bundle):
    generator = story()
    reference = ort.InferenceSession(str(tiny_story_bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    for prompt, style in (("The knight", "fantasy"), ("Something is moving in the", "")):
        result = await generator.generate(GenerationParams(prompt, style=style, sampling=GREEDY, max_new_tokens=12))
        ids = list(generator.prompt.encode(prompt, style))
        assert result.prompt_tokens == len(ids) and len(result.token_ids) == result.completion_tokens
        for token in result.token_ids:
            assert token == full_forward_argmax(reference, ids)
            ids.append(token)


async def test_top_k_one_is_greedy_and_seeds_replay(story):
    generator = story()
    greedy = await generator.generate(GenerationParams("The knight", sampling=GREEDY, max_new_tokens=20))
    top_1 = await generator.generate(
        GenerationParams("The knight", sampling=SamplingConfig(temperature=1.3, top_k=1), max_new_tokens=20, seed=9)
    )
    assert top_1.token_ids == greedy.token_ids

    runs = [await generator.generate(GenerationParams("The knight", sampling=SAMPLED, max_new_tokens=20, seed=s))
            for s in (7, 7, 8)]  # fmt: skip
    assert runs[0].text == runs[1].text and runs[0].token_ids == runs[1].token_ids
    assert runs[0].token_ids != runs[2].token_ids
    picked = await generator.generate(GenerationParams("The knight", sampling=SAMPLED, max_new_tokens=20))
    assert picked.seed != 0
    replay = await generator.generate(
        GenerationParams("The knight", sampling=SAMPLED, max_new_tokens=20, seed=picked.seed)
    )
    assert replay.token_ids == picked.token_ids


async def test_max_tokens_and_a_full_context_end_the_row(story):
    generator = story()
    short = await generator.generate(GenerationParams("The knight", sampling=GREEDY, max_new_tokens=5))
    assert (short.finish_reason, short.completion_tokens, len(short.token_ids)) == (FinishReason.LENGTH, 5, 5)
    # The tiny model reads 128 tokens at most; greedy from this prompt never writes EOS.
    long = await generator.generate(GenerationParams("The knight", sampling=GREEDY, max_new_tokens=200))
    assert long.finish_reason is FinishReason.CONTEXT_FULL
    assert long.prompt_tokens + long.completion_tokens == generator.max_context == 128


async def test_penalties_change_greedy_output(story):
    generator = story()
    plain = await generator.generate(GenerationParams("The knight", sampling=GREEDY, max_new_tokens=10))
    assert len(set(plain.token_ids)) < 10  # the random tiny model repeats itself
    unique = await generator.generate(
        GenerationParams("The knight", sampling=SamplingConfig(no_repeat_ngram_size=1), max_new_tokens=10)
    )
    prompt_ids = set(generator.prompt.encode("The knight"))
    assert len(set(unique.token_ids)) == 10 and not prompt_ids & set(unique.token_ids)


async def test_a_stop_string_across_tokens_ends_the_text_before_it(story):
    generator = story()
    for seed in range(3, 30):  # a text of at least three pieces (the random tiny model may end early)
        params = GenerationParams("She laughed", sampling=SAMPLED, max_new_tokens=40, seed=seed)
        pieces = [p async for p in generator.stream(params) if isinstance(p, str)]
        if len(pieces) >= 3:
            break
    full = "".join(pieces)
    assert len(pieces) >= 3
    stop = pieces[1][-1] + pieces[2][0]  # the end of one token's text and the start of the next
    cut = await generator.generate(GenerationParams(**{**params.__dict__, "stop": ("never there", stop)}))
    assert cut.finish_reason is FinishReason.STOP_SEQUENCE
    assert cut.text == full[: full.find(stop)] and stop not in cut.text


async def test_batched_rows_decode_exactly_as_alone(story):
    generator = story(max_batch_size=4)
    requests = [GenerationParams(p, sampling=GREEDY if i % 2 else SAMPLED, max_new_tokens=16 + 4 * i, seed=11 + i)
                for i, p in enumerate(PROMPTS)]  # fmt: skip
    alone = [await generator.generate(r) for r in requests]
    assert generator.scheduler.stats.largest_batch == 1
    slow_down(generator, 0.002)  # so the requests overlap, joining the batch at different steps

    async def later(params: GenerationParams, delay_s: float) -> GenerationResult:
        await asyncio.sleep(delay_s)
        return await generator.generate(params)

    together = await asyncio.gather(*(later(r, 0.01 * i) for i, r in enumerate(requests)))
    assert generator.scheduler.stats.largest_batch == 4  # five requests, four rows: one waited for a slot
    for single, batched in zip(alone, together, strict=True):
        assert batched.token_ids == single.token_ids and batched.text == single.text
    assert generator.scheduler.active == 0


async def _pieces(generator: StoryGenerator, params: GenerationParams) -> tuple[list[str], GenerationResult]:
    pieces: list[str] = []
    async for item in generator.stream(params):
        if isinstance(item, GenerationResult):
            return pieces, item
        pieces.append(item)
    raise AssertionError("no result")


async def test_a_row_alone_streams_every_piece_and_rows_together_get_grouped_chunks(story):
    plain, grouping = story(stream_interval_ms=0), story(max_batch_size=4, stream_interval_ms=60)
    for generator in (plain, grouping):
        slow_down(generator, 0.004)  # about 4 ms a step: a 60 ms interval spans many steps
    params = [GenerationParams(p, sampling=GREEDY, max_new_tokens=40, seed=1) for p in PROMPTS[:3]]
    alone = [await _pieces(plain, p) for p in params]
    # One row decoding: the interval does not apply, each piece leaves as soon as it is decoded.
    assert (await _pieces(grouping, params[0]))[0] == alone[0][0]
    together = await asyncio.gather(*(_pieces(grouping, p) for p in params))
    for (pieces, batched), (_, single) in zip(together, alone, strict=True):
        assert "".join(pieces) == batched.text == single.text  # nothing lost or reordered by grouping
    # several pieces to a chunk under load (a call's first text still leaves at once)
    assert sum(len(pieces) for pieces, _ in together) < 0.6 * sum(len(pieces) for pieces, _ in alone)


async def test_a_passed_deadline_drops_the_row_within_a_step(story):
    generator = story()
    slow_down(generator, 0.01)
    with pytest.raises(DeadlineExceeded):
        await generator.generate(
            GenerationParams("The knight", sampling=GREEDY, max_new_tokens=100), deadline=time.monotonic() + 0.1
        )
    assert generator.scheduler.active == 0
    assert generator.scheduler.stats.finished[FinishReason.DEADLINE] == 1
    assert generator.scheduler.stats.steps < 30


async def test_leaving_a_stream_early_cancels_its_row(story):
    generator = story()
    slow_down(generator, 0.005)
    stream = generator.stream(GenerationParams("The knight", sampling=GREEDY, max_new_tokens=100))
    assert isinstance(await anext(stream), str)
    assert generator.scheduler.active == 1
    await stream.aclose()
    for _ in range(100):
        if generator.scheduler.active == 0:
            break
        await asyncio.sleep(0.01)
    assert generator.scheduler.active == 0
    assert generator.scheduler.stats.finished[FinishReason.CANCELLED] == 1


async def test_prompt_limits_need_the_tokenizer(story):
    generator = story()
    with pytest.raises(InvalidArgument, match=r"^prompt: \d+ tokens \(with the control tokens\); the limit is 127$"):
        await generator.generate(GenerationParams("knight " * 200, sampling=GREEDY))
    with pytest.raises(InvalidArgument, match=r"^num_candidates: 9; the limit is 8$"):
        await generator.generate(GenerationParams("x", target_emotion="joy", sampling=SAMPLED, num_candidates=9))


async def test_candidates_are_reranked_by_the_target_emotion(story, tiny_emotion_bundle):
    classifier = EmotionClassifier(
        load_bundle("emotion", tiny_emotion_bundle, "emotion", ModelSettings(intra_op_threads=1))
    )
    emotion = BatchedEmotionClassifier(classifier, BatchingSettings())
    try:
        generator = story(emotion)
        params = GenerationParams("What a lovely", target_emotion="joy", sampling=SAMPLED, max_new_tokens=12, seed=5)
        best = await generator.generate(GenerationParams(**{**params.__dict__, "num_candidates": 4}))
        first = await generator.generate(GenerationParams(**{**params.__dict__, "num_candidates": 1}))
        assert (best.candidates, first.candidates) == (4, 1)
        assert generator.scheduler.stats.largest_batch == 4  # the candidates decoded as rows of one batch
        best_reading, first_reading = classifier.classify([best.text, first.text])
        # Candidate 0 is the single-candidate text (same seed, same row generator): the best is at least as
        # joyful. int8 activations are quantized per batch, so readings in another batch move a little.
        assert emotion_score(best_reading, "joy") >= emotion_score(first_reading, "joy") - 1e-3
        assert best.detected_emotion is not None
        assert best.detected_emotion.ekman["joy"] == pytest.approx(best_reading.ekman["joy"], abs=0.05)
    finally:
        await emotion.batcher.close()


def test_cli_streams_the_text_and_reports_how_it_ended(tiny_story_bundle, capsys):
    import argparse

    from server import generation_cli

    def main(argv: list[str]) -> int:
        # The subcommand as `storyteller` registers it, without depending on installed entry points.
        parser = argparse.ArgumentParser(prog="storyteller")
        generation_cli.register(parser.add_subparsers(dest="command", required=True))
        args = parser.parse_args(argv)
        return args.func(args)

    args = ["generate", "The knight", "--style", "fantasy", "--bundle", str(tiny_story_bundle), "--threads", "1"]
    assert main([*args, "--temperature", "0", "--max-tokens", "8"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() and "finish: length; 6 prompt + 8 new tokens; seed " in err
    assert main([*args, "--style", "noir"]) == 2
    assert "style: unknown style 'noir'; this model accepts: fantasy, horror" in capsys.readouterr().err
    assert main(["generate", "x", "--bundle", str(tiny_story_bundle / "missing")]) == 1
    assert "no generation bundle at" in capsys.readouterr().err


async def test_a_failing_prefill_fails_its_own_request_only(story):
    generator = story()
    events: list = []
    failed = asyncio.Event()
    loop = asyncio.get_running_loop()

    def emit(event) -> None:
        events.append(event)
        loop.call_soon_threadsafe(failed.set)

    # A token id far outside the vocabulary: onnxruntime's Gather refuses it.
    generator.scheduler.submit(Job(SequenceSpec((0, 10**6), GREEDY, max_new_tokens=3, seed=1), emit))
    await asyncio.wait_for(failed.wait(), 5)
    assert len(events) == 1 and isinstance(events[0], Failed)
    after = await generator.generate(GenerationParams("The knight", sampling=GREEDY, max_new_tokens=3))
    assert after.completion_tokens == 3 and generator.scheduler.active == 0


class FavouringSession:
    """The same model, with one token made by far the most likely at every position."""

    def __init__(self, session: ort.InferenceSession, token: int) -> None:
        self._session = session
        self._token = token

    def run(self, names, feeds):
        outputs = self._session.run(names, feeds)
        outputs[names.index("logits")][..., self._token] += 100.0
        return outputs


async def test_control_tokens_steer_but_are_never_written(story):
    generator = story()
    horror = generator.prompt.styles["horror"]
    decoder = generator.scheduler.decoder
    decoder.session = FavouringSession(decoder.session, horror)
    for sampling in (GREEDY, SAMPLED):
        result = await generator.generate(GenerationParams("The knight", style="horror", sampling=sampling, max_new_tokens=16))
        assert result.completion_tokens == 16 and horror not in result.token_ids
    eos = generator.bundle.manifest.special_tokens["eos_token_id"]
    decoder.session = FavouringSession(decoder.session, eos)  # EOS is never banned: it ends the row
    ended = await generator.generate(GenerationParams("The knight", style="horror", sampling=GREEDY, max_new_tokens=16))
    assert ended.completion_tokens <= 1
