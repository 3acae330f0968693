"""The model card's samples are the server's own texts, chosen by seed alone, the same on every run."""

from __future__ import annotations

from benchmarks.model_card_samples import _beats, markdown, write_samples


async def test_samples_follow_the_seed_plan_and_repeat_exactly(tiny_chat_story_bundle):
    first = await write_samples(tiny_chat_story_bundle, seeds=3, threads=1)
    again = await write_samples(tiny_chat_story_bundle, seeds=3, threads=1)
    assert first == again
    assert [(s.style, s.kind, s.seed) for s in first] == [
        ("mystery", kind, seed) for kind in ("narration", "line") for seed in (1, 2, 3)
    ]
    beats = _beats()
    narrations = [s.where for s in first if s.kind == "narration"]
    assert narrations == [f"{g.story.id}/{state.current_beat}" for g, state in beats[:3]]
    lines = [s.where for s in first if s.kind == "line"]
    assert [w.split(", ")[1].split(" ")[0] for w in lines] == ["greet", "inform", "warn"]
    page = markdown(first)
    assert page.count("\n1. ") == 2 and "### mystery" in page
