"""Story-model pretraining: corpus cleaning and split, tokenizer, blocks, and a tiny run end to end."""

from __future__ import annotations

import json
import random
from collections import Counter

import numpy as np
import pytest

from export.story_corpus import MIN_WORDS, Segment, clean, dev_works, find_works, paragraphs, segment
from export.story_tokenizer import control_tokens, emotion_token, style_token, train_tokenizer
from export.train_story import (
    EncodedCorpus,
    StoryTrainConfig,
    dev_blocks,
    encode,
    epoch_batches,
    epoch_blocks,
    train_story,
)
from narrative.emotions import EKMAN_AXES

WORDS = "the fox ran over a hill and the king saw his daughter weep by the river at night".split()


def prose(rng: random.Random, sentences: int) -> str:
    return " ".join(" ".join(rng.choices(WORDS, k=rng.randint(6, 14))).capitalize() + "." for _ in range(sentences))


def write_work(path, seed: int, paragraphs_count: int = 30) -> None:
    rng = random.Random(seed)
    blocks = ["CHAPTER I.", "[Illustration: a fox\nby a hill]"]
    for _ in range(paragraphs_count):
        text = prose(rng, rng.randint(2, 6))
        # Hard-wrapped at ~60 columns, as printed books are.
        blocks.append("\n".join(text[i : i + 60] for i in range(0, len(text), 60)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(blocks) + "\n")


@pytest.fixture(scope="module")
def stories(tmp_path_factory):
    root = tmp_path_factory.mktemp("stories")
    for genre, titles in {"fairy_tale": ["a", "b", "c"], "mystery": ["d", "e"], "horror": ["f"]}.items():
        for i, title in enumerate(titles):
            write_work(root / genre / f"{title}.txt", seed=hash(title) % 1000 + i)
    return root


def test_cleaning_drops_book_furniture_and_joins_wrapped_lines():
    text = (
        "CHAPTER IV.\n\nTHE GOLDEN BIRD\n\n[Illustration: the bird\nin a cage]\n\n"
        "\u201cWhy,\u201d said the _old_ fox,\nwho sat by the gate, \u2018it is late.\u2019\n\n* * * * *\n"
    )
    assert list(paragraphs(text)) == ["\"Why,\" said the old fox, who sat by the gate, 'it is late.'"]
    assert clean("a\u00a0b _c_") == "a b c"


def test_segments_are_whole_paragraphs_of_at_least_the_minimum():
    """Short paragraphs (dialogue) are joined: a mood needs more than a line to read."""
    rng = random.Random(1)
    items = [prose(rng, 2) for _ in range(40)]
    segments = list(segment(items))
    joined, whole = "\n\n".join(segments), "\n\n".join(items)
    assert whole.startswith(joined)  # order kept, paragraphs intact
    assert len(whole[len(joined) :].split()) < MIN_WORDS // 2  # only a too-short tail is dropped
    assert all(len(s.split()) >= MIN_WORDS for s in segments[:-1])
    long = prose(rng, 60)
    pieces = list(segment([long]))
    assert len(pieces) > 1 and " ".join(pieces) == long  # cut at sentence ends only
    assert all(p.endswith(".") for p in pieces)


def test_one_median_work_per_genre_is_held_out(stories):
    works = find_works(stories)
    held = dev_works(works)
    by_size = sorted((w.path.stat().st_size, w.title) for w in works if w.genre == "fairy_tale")
    assert held == {by_size[1][1], min((w.path.stat().st_size, w.title) for w in works if w.genre == "mystery")[1]}
    assert not any(w.title in held for w in works if w.genre == "horror")  # a single work stays in train


def test_control_tokens_are_single_tokens_and_text_round_trips():
    tokenizer = train_tokenizer([prose(random.Random(0), 50)], ["mystery", "horror"], vocab_size=400)
    for token in control_tokens(["mystery", "horror"]):
        assert tokenizer.encode(token, add_special_tokens=False).ids == [tokenizer.token_to_id(token)]
    assert {emotion_token(e) for e in EKMAN_AXES} <= set(tokenizer.get_vocab())
    text = "Café — naïve «fox» 🦊 said."
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False).ids) == text


def _corpus(genres: list[str]) -> EncodedCorpus:
    return EncodedCorpus([[10 + i % 7] * 9 for i in range(len(genres))], [1] * len(genres), [2] * len(genres), genres, 0)


def test_epoch_blocks_are_reproducible_balanced_and_carry_controls():
    config = StoryTrainConfig(data=None, out=None, emotion_bundle=None, context=16, control_dropout=0.0, balance=0.5)
    genres = ["big"] * 900 + ["small"] * 100
    corpus = _corpus(genres)
    first = epoch_blocks(corpus, config, epoch=0)
    assert np.array_equal(first.ids, epoch_blocks(corpus, config, epoch=0).ids)
    assert not np.array_equal(first.ids, epoch_blocks(corpus, config, epoch=1).ids)
    assert first.learned.all()  # prose: every token is learned
    stream = first.ids.reshape(-1).tolist()
    starts = [i for i, t in enumerate(stream[:-2]) if t == 0]
    assert all(stream[i + 1 : i + 3] == [1, 2] for i in starts)  # every segment: eot, style, emotion
    # size**0.5 balance: the small genre gets 100**0.5 / (900**0.5 + 100**0.5) = 25% of the draws, not 10%.
    rng = np.random.default_rng([config.seed, 0])
    weights = np.array([900**-0.5] * 900 + [100**-0.5] * 100)
    share = Counter(genres[i] for i in rng.choice(1000, 1000, p=weights / weights.sum()))["small"] / 1000
    assert 0.2 < share < 0.3


def test_every_epoch_has_the_same_number_of_batches():
    """Sampling with replacement varies an epoch's length; the step count per epoch must not vary."""
    corpus = _corpus(["a"] * 30 + ["b"] * 3)
    config = StoryTrainConfig(data=None, out=None, emotion_bundle=None, context=16, batch_size=4)
    lengths = {len(epoch_blocks(corpus, config, e)) for e in range(8)}
    assert len(lengths) > 1  # the premise: epochs differ
    steps = len(epoch_blocks(corpus, config, 0)) // config.batch_size
    for epoch in range(8):
        batches = epoch_batches(corpus, config, epoch, steps)
        assert batches.ids.shape == batches.learned.shape == (steps * 4, 16)
        assert np.array_equal(batches.ids[:4], epoch_blocks(corpus, config, epoch).ids[:4])


def test_dropout_leaves_some_segments_without_controls_and_dev_keeps_all():
    corpus = _corpus(["g"] * 400)
    config = StoryTrainConfig(data=None, out=None, emotion_bundle=None, context=16, control_dropout=0.5)
    stream = epoch_blocks(corpus, config, 0).ids.reshape(-1).tolist()
    follows = Counter(stream[i + 1] for i, t in enumerate(stream[:-1]) if t == 0)
    assert follows[1] and sum(v for k, v in follows.items() if k != 1)  # with and without the style token
    dev = dev_blocks(corpus, config).ids.reshape(-1).tolist()
    assert all(dev[i + 1 : i + 3] == [1, 2] for i, t in enumerate(dev[:-2]) if t == 0)


@pytest.fixture(scope="module")
def emotion_bundle(tmp_path_factory):
    from export.pipeline import ExportRequest, run_export
    from tests.export.tiny_models import build_tiny_bert

    folder = tmp_path_factory.mktemp("emotion")
    source = build_tiny_bert(folder / "source")
    run_export(ExportRequest(source, "emotion", folder / "bundle", name="tiny-emotion", threads=1, progress=False))
    return folder / "bundle"


def test_tiny_pretraining_end_to_end_resumes_and_exports(stories, emotion_bundle, tmp_path):
    from export.pipeline import ExportRequest, run_export

    config = StoryTrainConfig(
        data=stories, out=tmp_path / "run", emotion_bundle=emotion_bundle, vocab_size=300, context=32,
        layers=1, width=32, heads=2, batch_size=4, epochs=1, eval_every=5, warmup_steps=2, threads=1,
    )  # fmt: skip
    report = train_story(config, progress=False)
    assert report["steps"] == report["total_steps"] > 0
    assert report["history"]["evals"] and report["best_dev_perplexity"] < 300  # below a uniform guess
    corpus = json.loads((config.out / "corpus" / "summary.json").read_text())
    assert corpus["dev_works"] and set(corpus["train"]["emotions"]) <= set(EKMAN_AXES)
    train = [json.loads(line) for line in (config.out / "corpus" / "train.jsonl").open()]
    assert not {s["work"] for s in train} & set(corpus["dev_works"])  # split by work

    config.epochs = 2
    resumed = train_story(config, resume=True, progress=False)
    assert resumed["steps"] == resumed["total_steps"] == 2 * report["total_steps"]
    assert resumed["history"]["evals"][: len(report["history"]["evals"])] == report["history"]["evals"]

    out = tmp_path / "bundle"
    run_export(ExportRequest(config.out / "best", "generation", out, name="tiny-story", threads=1, progress=False))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["control_tokens"]["styles"] == {s: style_token(s) for s in ("fairy_tale", "horror", "mystery")}
    assert set(manifest["control_tokens"]["emotions"]) == set(EKMAN_AXES)
    assert manifest["special_tokens"]["eos_token_id"] == manifest["special_tokens"]["bos_token_id"]


def test_segments_of_unknown_emotion_are_refused_by_the_encoder():
    tokenizer = train_tokenizer(["a b c"], ["mystery"], vocab_size=300)
    with pytest.raises(Exception, match="no token"):
        encode(tokenizer, [Segment("w", "mystery", "a b", "wistful")])
