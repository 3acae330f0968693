"""The generation loop's parts on their own: sampling, detokenizing, stop strings, prompt, cache."""

from __future__ import annotations

import numpy as np
import pytest
from tokenizers import Tokenizer

from server.errors import InvalidArgument
from server.generation.detokenize import REPLACEMENT, IncrementalDetokenizer
from server.generation.kv_cache import CacheBlock, KVCache
from server.generation.prompt import PromptEncoder
from server.generation.sampling import (
    Sampler,
    SamplingConfig,
    apply_repetition_penalty,
    banned_ngram_tokens,
    min_p_filter,
    sample,
    top_p_filter,
)
from server.generation.stopping import StopMatcher
from server.models.bundle import read_manifest


@pytest.fixture(scope="module")
def tokenizer(tiny_story_bundle) -> Tokenizer:
    return Tokenizer.from_file(str(tiny_story_bundle / "tokenizer.json"))


def sample_one(config: SamplingConfig, logits, history=(), seed=0) -> int:
    sampler = Sampler(config, np.random.default_rng(seed))
    return sample(np.asarray([logits], np.float32), [sampler], [np.asarray(history, np.int64)])[0]


# ------------------------------------------------------------------ sampling


def test_temperature_zero_is_argmax_and_top_k_one_is_greedy_at_any_temperature():
    rng = np.random.default_rng(1)
    for _ in range(50):
        logits = rng.normal(size=40).astype(np.float32)
        assert sample_one(SamplingConfig(), logits) == int(np.argmax(logits))
        assert sample_one(SamplingConfig(temperature=1.5, top_k=1), logits, seed=int(rng.integers(1000))) == int(
            np.argmax(logits)
        )


def test_a_tiny_temperature_is_still_a_distribution_not_nan():
    logits = np.array([3.0, 1.0, 2.0], np.float32)
    assert sample_one(SamplingConfig(temperature=1e-30), logits, seed=3) == 0


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits_of_seen_tokens():
    logits = np.array([2.0, -2.0, 1.0, -1.0], np.float32)
    apply_repetition_penalty(logits, np.array([0, 1, 1]), 2.0)
    assert logits.tolist() == [1.0, -4.0, 1.0, -1.0]
    # Greedy picks token 2 once token 0 is penalized below it.
    assert sample_one(SamplingConfig(repetition_penalty=2.5), [2.0, -2.0, 1.0, -1.0], history=[0]) == 2


def test_no_repeat_ngram_bans_the_tokens_that_would_repeat_an_ngram():
    history = np.array([5, 6, 7, 5, 6, 9, 5, 6])
    assert sorted(banned_ngram_tokens(history, 3).tolist()) == [7, 9]  # "5 6" was followed by 7 and 9
    assert sorted(banned_ngram_tokens(history, 1).tolist()) == [5, 6, 7, 9]
    logits = np.zeros(10, np.float32)
    logits[7] = 5.0
    assert sample_one(SamplingConfig(no_repeat_ngram_size=3), logits, history) != 7


def test_top_p_keeps_the_smallest_set_reaching_p():
    probabilities = np.array([[0.15, 0.5, 0.05, 0.3]] * 3 + [[0.25] * 4], np.float32)
    nucleus = top_p_filter(probabilities, np.array([0.7, 0.4, 0.0, 0.6]))
    # The third row has top-p off; the last has ties, where the lower ids come first.
    assert np.allclose(nucleus, [[0, 0.5, 0, 0.3], [0, 0.5, 0, 0], [0.15, 0.5, 0.05, 0.3], [0.25, 0.25, 0.25, 0]])
    # A long flat tail: every token can reach the nucleus.
    flat = np.full((2, 1000), 0.001, np.float32)
    assert np.count_nonzero(top_p_filter(flat, np.array([0.5, 1.0])), axis=1).tolist() == [pytest.approx(500, abs=1), 1000]


def test_min_p_keeps_the_tokens_near_the_most_likely_one():
    probabilities = np.array([[0.1, 0.5, 0.05, 0.35]] * 3, np.float32)
    kept = min_p_filter(probabilities, np.array([0.5, 1.0, 0.0]))
    assert np.allclose(kept, [[0, 0.5, 0, 0.35], [0, 0.5, 0, 0], [0.1, 0.5, 0.05, 0.35]])  # the last: off
    logits = np.log(np.array([0.1, 0.5, 0.05, 0.35], np.float32))
    drawn = {sample_one(SamplingConfig(temperature=1.0, min_p=0.5), logits, seed=seed) for seed in range(200)}
    assert drawn == {1, 3}


def test_rows_sampled_together_draw_what_each_draws_alone():
    rng = np.random.default_rng(5)
    configs = [SamplingConfig(temperature=0.8, top_k=5), SamplingConfig(temperature=1.2, top_k=40, top_p=0.9),
               SamplingConfig(), SamplingConfig(temperature=1.0, top_p=0.5), SamplingConfig(temperature=0.7, top_k=5),
               SamplingConfig(temperature=1.0, top_k=12, repetition_penalty=1.3, no_repeat_ngram_size=2)]  # fmt: skip
    for _ in range(20):
        logits = rng.normal(0, 3, (len(configs), 300)).astype(np.float32)
        history = rng.integers(0, 300, 30)
        seeds = rng.integers(0, 1000, len(configs))
        alone = [sample_one(c, row, history, int(seed)) for c, row, seed in zip(configs, logits, seeds, strict=True)]
        samplers = [Sampler(c, np.random.default_rng(int(seed))) for c, seed in zip(configs, seeds, strict=True)]
        assert sample(logits, samplers, [history] * len(configs)) == alone
        assert alone[0] in np.argsort(-logits[0])[:5].tolist()  # a top-k row draws among its k best only


def test_a_seed_replays_the_same_draws_and_draws_follow_the_distribution():
    config = SamplingConfig(temperature=1.0)
    logits = np.log(np.array([0.6, 0.3, 0.1], np.float32))
    sampler = Sampler(config, np.random.default_rng(42))
    draws = [sample(logits[None], [sampler], [np.empty(0, np.int64)])[0] for _ in range(3000)]
    again = Sampler(config, np.random.default_rng(42))
    assert draws[:100] == [sample(logits[None], [again], [np.empty(0, np.int64)])[0] for _ in range(100)]
    assert np.bincount(draws, minlength=3) / len(draws) == pytest.approx([0.6, 0.3, 0.1], abs=0.03)


# ------------------------------------------------------------------ text


def test_tokens_that_split_a_character_release_it_only_when_complete(tokenizer):
    text = "Café ☕ naïve 日本"
    ids = tokenizer.encode(text, add_special_tokens=False).ids
    # The tiny vocabulary never saw these characters: byte-level BPE spells them byte by byte.
    assert len(ids) > len(text)
    detokenizer = IncrementalDetokenizer(tokenizer)
    pieces = [detokenizer.push(i) for i in ids] + [detokenizer.flush()]
    assert "".join(pieces) == text == tokenizer.decode(ids)
    assert "" in pieces[:-1]  # held back while a character was incomplete
    assert not any(REPLACEMENT in piece for piece in pieces)
    for piece in pieces:
        piece.encode("utf-8")  # each piece is whole characters on its own


def test_a_character_left_incomplete_at_the_end_is_flushed_as_a_replacement(tokenizer):
    first_byte_of_coffee = tokenizer.encode("☕", add_special_tokens=False).ids[0]
    detokenizer = IncrementalDetokenizer(tokenizer, tokenizer.encode("A cup", add_special_tokens=False).ids)
    assert detokenizer.push(tokenizer.token_to_id("Ġ")) == " "
    assert detokenizer.push(first_byte_of_coffee) == ""
    assert detokenizer.flush() == REPLACEMENT


def test_stop_strings_across_pieces_are_cut_and_excluded():
    matcher = StopMatcher(["THE END", "\n\n"])
    released = []
    for piece in ["Once upon", " a ti", "me THE", " E", "ND and more"]:
        text, stopped = matcher.push(piece)
        released.append(text)
        if stopped:
            break
    assert stopped and "".join(released) == "Once upon a time "
    assert released[2] == "me "  # "THE" held back: it could start "THE END"


def test_text_held_for_a_stop_string_that_does_not_complete_is_released():
    matcher = StopMatcher(["THE END"])
    assert matcher.push("THE") == ("", False)
    assert matcher.push(" EN") == ("", False)
    assert matcher.push("TRANCE") == ("THE ENTRANCE", False)
    assert matcher.push("THE E") == ("", False)
    assert matcher.flush() == "THE E"


# ------------------------------------------------------------------ prompt layout and cache


def test_prompt_is_bos_style_emotion_then_text(tiny_story_bundle, tokenizer):
    encoder = PromptEncoder(tokenizer, read_manifest(tiny_story_bundle))
    text = tokenizer.encode("The knight", add_special_tokens=False).ids
    style, emotion = tokenizer.token_to_id("<|style:horror|>"), tokenizer.token_to_id("<|emotion:joy|>")
    assert encoder.encode("The knight", "horror", "joy") == [0, style, emotion, *text]
    assert encoder.encode("The knight", "", "joy") == [0, emotion, *text]
    assert encoder.encode("The knight") == [0, *text]
    with pytest.raises(InvalidArgument, match=r"^style: unknown style 'noir'; this model accepts: fantasy, horror$"):
        encoder.encode("x", "noir")
    with pytest.raises(
        InvalidArgument, match=r"^target_emotion: unknown emotion 'rage'; this model accepts: fear, joy$"
    ):
        encoder.encode("x", "", "rage")


KEY = "past_key_values.0.key"


def block(value: float, length: int, copies: int = 1) -> CacheBlock:
    return CacheBlock({KEY: np.full((1, 1, length, 1), value, np.float32)}, length, copies)


def rows_of(cache: KVCache) -> list[list[float]]:
    return cache.tensors[KEY][:, 0, :, 0].tolist()


def test_cache_rows_stay_right_aligned_with_their_own_positions():
    cache = KVCache([KEY], heads=1, head_dim=1, dtype=np.float32, max_width=64)
    assert cache.add([block(1, 3)]) == [0]
    assert cache.add([block(2, 5, copies=2)]) == [1, 2]  # the batch widens: the short row is padded in front
    mask, positions = cache.step_inputs()
    assert cache.width == 5 and positions[:, 0].tolist() == [3, 5, 5]
    assert mask.tolist() == [[0, 0, 1, 1, 1, 1], [1] * 6, [1] * 6]
    assert rows_of(cache) == [[0, 0, 1, 1, 1], [2] * 5, [2] * 5]
    assert cache.release([1, 2]) == {}  # the long rows leave: the padding they needed goes too
    assert cache.slots == 1 and cache.width == 3 and cache.step_inputs()[0].tolist() == [[1, 1, 1, 1]]
    # Several requests joining at once, shorter and longer than the batch: each in place.
    assert cache.add([block(3, 2), block(4, 4)]) == [1, 2]
    assert rows_of(cache) == [[0, 1, 1, 1], [0, 0, 3, 3], [4] * 4]
    assert cache.lengths.tolist() == [3, 2, 4]


def test_a_row_that_leaves_frees_its_slot_for_the_next_one_without_moving_the_others():
    cache = KVCache([KEY], heads=1, head_dim=1, dtype=np.float32, max_width=64)
    cache.add([block(value, 4) for value in (1, 2, 3, 4, 5)])
    before = cache.tensors[KEY]
    assert cache.release([1]) == {}
    assert np.shares_memory(cache.tensors[KEY], before)  # one free slot of five: nothing copied
    assert cache.busy.tolist() == [True, False, True, True, True] and cache.lengths.tolist() == [4, 0, 4, 4, 4]
    mask, positions = cache.step_inputs()  # a free slot attends to its own new column only
    assert mask[1].tolist() == [0, 0, 0, 0, 1] and positions[1, 0] == 0
    assert cache.add([block(6, 2)]) == [1]  # the free slot is taken, padded in front
    assert rows_of(cache)[1] == [0, 0, 6, 6] and np.shares_memory(cache.tensors[KEY], before)
    # Two of five free (over a quarter): the busy rows at the end move into the free places in front.
    assert cache.release([0, 2]) == {3: 0, 4: 2}
    assert rows_of(cache) == [[4] * 4, [0, 0, 6, 6], [5] * 4] and cache.lengths.tolist() == [4, 2, 4]
    # A free slot at the end is dropped without a copy.
    assert cache.release([2]) == {}
    assert cache.slots == 2 and np.shares_memory(cache.tensors[KEY], before)
    # With the longest row gone, so is the padding the short row needed beside it.
    assert cache.release([0]) == {1: 0}
    assert rows_of(cache) == [[6, 6]] and cache.lengths.tolist() == [2]


def test_free_slots_ride_along_in_the_step_and_grow_no_padding():
    cache = KVCache([KEY], heads=1, head_dim=1, dtype=np.float32, max_width=64)
    cache.add([block(1, 2), block(2, 2), block(3, 2), block(4, 2), block(5, 2)])
    cache.release([2])
    present = {KEY: np.concatenate([cache.tensors[KEY], np.full((5, 1, 1, 1), 9, np.float32)], axis=2)}
    cache.advance(present)
    assert cache.lengths.tolist() == [3, 3, 0, 3, 3] and cache.width == 3
    assert cache.step_inputs()[0][2].tolist() == [0, 0, 0, 1]


def test_padding_is_cut_before_a_step_would_pass_the_models_context():
    cache = KVCache([KEY], heads=1, head_dim=1, dtype=np.float32, max_width=8)
    cache.add([block(1, 7), block(2, 8)])
    cache.release([1])  # one column of padding in eight: left in place
    assert cache.width == 8 and cache.lengths.tolist() == [7]
    mask, _ = cache.step_inputs()  # a ninth column would pass the context of 8
    assert cache.width == 7 and mask.shape == (1, 8) and rows_of(cache) == [[1] * 7]
