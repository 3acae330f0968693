from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from narrative.context import build_context
from narrative.errors import InvalidEventError, UnknownReferenceError
from narrative.session import choose, start_session


@pytest.fixture(scope="module")
def at_cottage(lighthouse):
    state = start_session(lighthouse)
    for choice_id in ("go_lighthouse", "climb_tower", "lamp_to_cottage"):
        state = choose(lighthouse, state, choice_id)
    return state


def test_context_for_an_npc_line(lighthouse, at_cottage):
    context = build_context(lighthouse, at_cottage, speaker="keeper", listener="player", max_events=3)
    assert context.beat_id == "keeper_cottage"
    assert context.style == "mystery"
    assert context.speaker == "Tom Hale" and context.listener == "the player"
    assert context.target_emotion == "anger"  # the beat's intended arc for the keeper
    assert context.speaker_toward_listener == {"trust": -0.2, "fear": 0.2, "respect": 0.1}
    assert [c.id for c in context.characters] == ["keeper"]
    assert context.characters[0].emotion == at_cottage.emotions["keeper"].dominant()
    assert context.knowledge == ("Tom Hale owes Silas Crane more than a keeper earns in five years.",)
    assert len(context.recent_events) == 3
    assert context.recent_events[-1] == "Scene: Keeper's cottage"


def test_narration_uses_player_knowledge_and_beat_style(lighthouse, at_cottage):
    state = choose(lighthouse, at_cottage, "cottage_to_lighthouse")
    state = choose(lighthouse, state, "climb_tower")
    context = build_context(lighthouse, state)
    assert context.style == "horror"  # lamp_room overrides the story's style
    assert context.speaker is None and context.target_emotion is None
    assert "The lamp's wick was cut clean with a knife." in context.knowledge
    assert "Speaker" not in context.to_prompt(5000)


def test_same_state_gives_the_same_text(lighthouse, at_cottage):
    first = build_context(lighthouse, at_cottage, "keeper", "player").to_prompt(1200)
    rebuilt = at_cottage.from_json(at_cottage.to_json())
    assert build_context(lighthouse, rebuilt, "keeper", "player").to_prompt(1200) == first
    assert first.startswith("Story: The Dark Lamp of Gullhaven\nStyle: mystery\nScene: Keeper's cottage.")


def test_prompt_sheds_oldest_events_first(lighthouse, at_cottage):
    context = build_context(lighthouse, at_cottage, "keeper", "player", max_events=5)
    full = context.to_prompt(10_000)
    shorter = context.to_prompt(len(full) - 1)
    assert context.recent_events[0] in full
    assert context.recent_events[0] not in shorter
    assert context.recent_events[-1] in shorter


@settings(max_examples=60)
@given(budget=st.integers(0, 1500))
def test_prompt_respects_any_budget(lighthouse, at_cottage, budget):
    context = build_context(lighthouse, at_cottage, "keeper", "player")
    text = context.to_prompt(budget)
    assert len(text) <= budget
    assert context.to_prompt(budget) == text


def test_bad_speaker_or_listener(lighthouse, at_cottage):
    with pytest.raises(UnknownReferenceError) as caught:
        build_context(lighthouse, at_cottage, speaker="ghost")
    assert caught.value.field == "speaker"
    state = choose(lighthouse, start_session(lighthouse), "go_inn")
    state = choose(lighthouse, state, "inn_to_cliff")
    state = choose(lighthouse, state, "cliff_to_cove")
    state = choose(lighthouse, state, "cove_to_constable")
    gone = state.model_copy(update={"removed": {"constable": "died"}})
    with pytest.raises(InvalidEventError, match="died"):
        build_context(lighthouse, gone, speaker="constable")
