"""The style judge learns genres from training works and is scored on passages of held-out works."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from export.errors import ExportError
from export.story_corpus import Segment, write_jsonl
from export.style_judge import StyleJudge, StyleJudgeConfig, _balanced, passages, train_style_judge
from tests.export.tiny_models import build_tiny_bert

# Words the tiny model's vocabulary (trained on tiny_models.SENTENCES) has whole.
VOCABULARY = {
    "horror": "the dark shadows scared moving night sea watched".split(),
    "fairy_tale": "the knight dragon sword castle lovely morning village".split(),
}


def _segments(work: str, seed: int) -> list[Segment]:
    rng = random.Random(seed)
    return [
        Segment(f"{style}_{work}", style, " ".join(rng.choices(words, k=60)))
        for style, words in VOCABULARY.items()
        for _ in range(12)
    ]


def test_passages_are_whole_runs_of_words():
    segment = Segment("w", "horror", " ".join(str(i) for i in range(25)))
    assert passages([segment], 10) == [("horror", "0 1 2 3 4 5 6 7 8 9"), ("horror", "10 11 12 13 14 15 16 17 18 19")]


def test_each_style_draws_evenly_from_its_works_however_long_they_are():
    long_book = [Segment("long", "horror", "night " * 600)]
    short_book = [Segment("short", "horror", "dark " * 40)]
    other = [Segment("tale", "fairy_tale", "knight " * 100)]
    chosen = _balanced(long_book + short_book + other, 10, 20, np.random.default_rng(0))
    horror = [text for style, text in chosen if style == "horror"]
    assert len(horror) == 20 and len(chosen) == 40
    assert sum(text.startswith("dark") for text in horror) == 10  # the 4-passage book is drawn as often


def test_judge_tells_apart_genres_of_works_it_never_saw(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_jsonl(corpus / "train.jsonl", _segments("a", 1))
    write_jsonl(corpus / "dev.jsonl", _segments("b", 2))
    base = build_tiny_bert(tmp_path / "bert")
    config = StyleJudgeConfig(
        corpus=corpus, out=tmp_path / "judge", base_model=base, passage_words=20, per_style=300, epochs=4,
        learning_rate=2e-3, threads=1, bf16=False,
    )  # fmt: skip
    report = train_style_judge(config, progress=False)
    assert report["styles"] == ["fairy_tale", "horror"] and report["dev_passages"] == 72
    assert report["dev_accuracy"] >= 0.9
    assert json.loads((tmp_path / "judge" / "judge.json").read_text())["dev_accuracy"] == report["dev_accuracy"]
    judge = StyleJudge(tmp_path / "judge", threads=1)
    assert judge.predict(["dark shadows scared night " * 4, "knight dragon sword castle " * 4]) == [
        "horror",
        "fairy_tale",
    ]


def test_a_corpus_without_its_split_is_refused(tmp_path):
    with pytest.raises(ExportError, match="not found"):
        train_style_judge(StyleJudgeConfig(corpus=tmp_path, out=tmp_path / "judge"), progress=False)
