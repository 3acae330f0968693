"""The story bundle that ships in samples/models/story: intact, controllable, and grounded in the story.

Generation is seeded and each request runs alone, so these checks are deterministic.
"""

from __future__ import annotations

import pytest

from narrative.coherence import absent_characters
from narrative.emotions import EKMAN_AXES
from narrative.loader import load_graph
from narrative.session import state_at
from server.cli import main
from server.config import SAMPLE_MODELS, SAMPLES
from server.generation.local import open_local
from server.generation.sampling import SamplingConfig
from server.generation.types import GenerationParams
from server.writing.grounded import LineAsk, Written, line_in_state

STORY = SAMPLE_MODELS / "story"
pytestmark = pytest.mark.skipif(not STORY.is_dir(), reason="no story bundle in samples/models/story")
SAMPLING = SamplingConfig(temperature=0.8, top_p=0.95, repetition_penalty=1.1)


@pytest.fixture
async def models():
    loaded = await open_local(STORY, SAMPLE_MODELS / "emotion", threads=2)
    yield loaded
    await loaded.close()


async def test_the_bundle_is_int8_with_every_style_and_emotion(models):
    story = models.story
    assert set(story.prompt.styles) == {"adventure", "fairy_tale", "horror", "humour", "mystery", "science_fiction"}
    assert set(story.prompt.emotions) == set(EKMAN_AXES)
    assert story.max_context == 256


async def test_lines_name_only_characters_present_in_the_beat(models):
    """Every NPC line of every beat of the sample quests, with candidates ranked by coherence."""
    checked = 0
    for path in sorted((SAMPLES / "graphs").glob("*.yaml")):
        graph = load_graph(path)
        for beat in graph.beats:
            if beat.ending:
                continue
            state = state_at(graph, beat.id)
            for i, character in enumerate(state.present):
                ask = LineAsk("", character, intent="inform")
                params = GenerationParams(prompt="", sampling=SAMPLING, max_new_tokens=40, seed=7 + i, num_candidates=4)
                async for item in line_in_state(models.story, graph, state, ask, params):
                    if isinstance(item, Written):
                        text = item.result.text
                        # naming as the coherence rules define it: "Old" of "Old Hob" names nobody
                        named = absent_characters(graph, state, text, character)
                        assert not named, (graph.story.id, beat.id, character, text, named)
                        checked += 1
    assert checked > 30


def test_generate_from_the_shell_uses_the_bundled_models(capsys):
    code = main(["generate", "Once upon a time", "--style", "fairy_tale", "--emotion", "joy", "--max-tokens", "24",
                 "--seed", "3", "--threads", "1"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0 and len(captured.out.split()) > 3 and "seed 3" in captured.err
