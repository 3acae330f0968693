"""Content safety: the rated blocklist, the classifier hook, and filtered generation that resamples."""

from __future__ import annotations

import asyncio
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.cli import main
from server.generation.generator import GenerationResult, StoryGenerator
from server.generation.local import open_local
from server.generation.safety import (
    ContentFilter,
    Rating,
    SafetyConfigError,
    WordScreen,
    load_blocklist,
    open_filter,
    release_points,
)
from server.generation.sampling import SamplingConfig
from server.generation.types import GenerationParams

SAMPLING = SamplingConfig(temperature=1.0)


def test_blocklist_lines_and_errors_name_the_line(tmp_path):
    path = tmp_path / "block.txt"
    path.write_text("# comment\nDamn teen\nbloody  hell mature  # phrase\n\nfoo never\n")
    assert load_blocklist(path) == {"damn": Rating.TEEN, "bloody hell": Rating.MATURE, "foo": Rating.NEVER}
    path.write_text("ok teen\nbad adult\n")
    with pytest.raises(SafetyConfigError, match=r"block.txt:2: 'adult' is not a rating"):
        load_blocklist(path)
    path.write_text("teen\n")
    with pytest.raises(SafetyConfigError, match=r"block.txt:1: expected TERM RATING"):
        load_blocklist(path)
    with pytest.raises(SafetyConfigError, match=r"safety\.classifier"):
        open_filter(None, "no.such.module:hook")
    assert open_filter(None, "") is None


def test_terms_match_whole_words_and_phrases_regardless_of_case():
    content = ContentFilter({"hell": Rating.TEEN, "bloody hell": Rating.MATURE})
    assert content.words_need("Hello, shell-shocked hellion.") == Rating.EVERYONE
    assert content.words_need("What the Hell?") == Rating.TEEN
    assert content.words_need("bloody\n hell, said he") == Rating.MATURE
    assert content.restricts(Rating.EVERYONE) and content.restricts(Rating.TEEN) and not content.restricts(Rating.MATURE)
    assert ContentFilter({}, classifier=lambda text: "everyone").restricts(Rating.MATURE)  # a hook always judges


SCREEN_FILTER = ContentFilter({"hell": Rating.TEEN, "bloody hell": Rating.MATURE, "son of a gun": Rating.NEVER})
# The generator appends text cut at word ends (release_points): each piece ends in a boundary.
PIECES = st.lists(
    st.builds(
        lambda words, end: " ".join(words) + end,
        st.lists(st.sampled_from(["hell", "Hell", "bloody", "son", "of", "a", "gun", "shell", "o's", "x-ray"]),
                 min_size=1, max_size=3),
        st.sampled_from([" ", "  ", "\n", ", ", ". "]),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(PIECES)
def test_word_screen_judges_like_the_whole_text(pieces):
    """Only the last chunks are searched, yet every verdict is the whole text's verdict (earlier
    matches included: the screen remembers what the text appended so far needs)."""
    screen = WordScreen(SCREEN_FILTER)
    for piece in pieces:
        assert screen.needs(piece) == SCREEN_FILTER.words_need(screen.text + piece)
        screen.append(piece)
    assert screen.text == "".join(pieces)


def test_word_screen_searches_only_the_last_chunks(monkeypatch):
    searched: list[str] = []
    words_need = ContentFilter.words_need
    monkeypatch.setattr(ContentFilter, "words_need", lambda self, text: searched.append(text) or words_need(self, text))
    screen = WordScreen(SCREEN_FILTER)
    screen.append("calm words " * 200 + "and the son of a ")  # new text is searched once, as it comes
    searched.clear()
    assert screen.needs("gun!") == Rating.NEVER
    assert searched == ["the son of a gun!"]  # the last 4 chunks (the longest term's words), then the new text


def test_text_is_released_at_word_ends():
    assert release_points("the knig") == [4]
    assert release_points("the knight, ") == [4, 11, 12]
    assert release_points("knight") == []
    assert release_points("night" * 7)[-1] == 35  # a model stuck in one "word" still streams


async def _generate(story: StoryGenerator, rating: Rating, seed: int = 5, stream: bool = False) -> tuple[str, GenerationResult]:
    params = GenerationParams(prompt="The knight", sampling=SAMPLING, max_new_tokens=40, seed=seed, rating=rating)
    pieces: list[str] = []
    async for item in story.stream(params):
        if isinstance(item, GenerationResult):
            return "".join(pieces), item
        pieces.append(item)
    raise AssertionError("no result")


@pytest.fixture
async def story(tiny_story_bundle):
    models = await open_local(tiny_story_bundle, None, threads=1)
    yield models.story
    await models.close()


async def test_a_blocked_word_is_never_sent_and_generation_resamples_from_what_was(story):
    free_text, _ = await _generate(story, Rating.MATURE)
    words = re.findall(r"[A-Za-z]{3,}", free_text)
    assert words, free_text
    blocked = words[len(words) // 2]
    story.safety = ContentFilter({blocked.lower(): Rating.TEEN})

    streamed, result = await _generate(story, Rating.EVERYONE, stream=True)
    assert streamed == result.text and result.content_filtered
    assert not re.search(rf"(?<![\w'-]){re.escape(blocked)}(?![\w'-])", result.text, re.IGNORECASE)
    before = free_text[: re.search(rf"(?<![\w'-]){re.escape(blocked)}(?![\w'-])", free_text).start()]
    assert result.text.startswith(before.rsplit(" ", 1)[0])  # what came before the word was kept

    same_text, allowed = await _generate(story, Rating.TEEN)  # the word is fine from teen up
    assert same_text == free_text and not allowed.content_filtered
    again, replay = await _generate(story, Rating.EVERYONE)
    assert again == streamed and replay.seed == result.seed  # filtered generation replays too


async def test_filtered_text_does_not_depend_on_how_tokens_were_grouped(story):
    """Alone, each token arrives by itself; beside other rows, tokens arrive several to a chunk
    (generation.stream_interval_ms). Where a blocked word stops the text, and so the resample, must
    be the same either way."""
    free_text, _ = await _generate(story, Rating.MATURE)
    words = re.findall(r"[A-Za-z]{3,}", free_text)
    story.safety = ContentFilter({words[len(words) // 2].lower(): Rating.TEEN})
    alone = await _generate(story, Rating.EVERYONE)
    company = [_generate(story, Rating.MATURE, seed=seed) for seed in (11, 12, 13)]
    together, *_ = await asyncio.gather(_generate(story, Rating.EVERYONE), *company)
    assert together[0] == alone[0] and together[1].content_filtered


async def test_a_classifier_hook_judges_whole_texts_before_release(story):
    first, _ = await _generate(story, Rating.MATURE)
    story.safety = ContentFilter({}, classifier=lambda text: "everyone")
    text, result = await _generate(story, Rating.EVERYONE)
    assert text == result.text == first and not result.content_filtered
    story.safety = ContentFilter({}, classifier=lambda text: "mature" if text == first else "everyone")
    text, result = await _generate(story, Rating.EVERYONE)
    assert result.content_filtered and text == result.text != first  # the first text was held back, never sent
    text, result = await _generate(story, Rating.MATURE)
    assert text == first and not result.content_filtered


def test_an_unreadable_blocklist_stops_the_server_with_its_line(tmp_path, capsys):
    bad = tmp_path / "block.txt"
    bad.write_text("fine teen\nbroken\n")
    code = main(["serve", "--set", f"safety.blocklist={bad}", "--set", "server.address=127.0.0.1:0",
                 "--set", "models.emotion=", "--set", "metrics.enabled=false"])  # fmt: skip
    assert code == 2 and f"{bad}:2" in capsys.readouterr().err
