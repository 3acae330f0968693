"""Grounded generation on the narrative side: prompts from the session, coherence checks, and the
emotion feedback of a delivered NPC line (rule (e), with (c) and (d) for a character listener)."""

from __future__ import annotations

from typing import get_args

import pytest

from narrative import emotion_logic as rules
from narrative.coherence import ABSENT_CHARACTER, EMOTION_OFF_ARC, UNKNOWN_FACT, check
from narrative.context import build_context
from narrative.emotions import EmotionVector
from narrative.errors import InvalidEventError, UnknownReferenceError
from narrative.prompting import (
    INTENT_VERBS,
    PLAYER_IN_PROSE,
    Intent,
    narration_prompt,
    npc_line_prompt,
    situation_line_prompt,
)
from narrative.session import (
    choose,
    deliver_line,
    observe_utterance,
    parse_game_event,
    report_event,
    start_session,
    state_at,
)


def test_e_expression_weight_from_stubbornness():
    assert rules.expression_weight({}) == pytest.approx(0.2)
    # 0.2 + 0.2 * (0.8 - 0.5) = 0.26; (0 - 0.5) -> 0.1
    assert rules.expression_weight({"stubbornness": 0.8}) == pytest.approx(0.26)
    assert rules.expression_weight({"stubbornness": 0.0}) == pytest.approx(0.1)


def test_a_line_to_the_player_moves_only_the_speaker(lighthouse):
    state = start_session(lighthouse)
    after, heard = deliver_line(lighthouse, state, "constable", "player", EmotionVector(anger=1.0))
    assert heard is None and after.step == state.step + 1
    weight = rules.expression_weight(lighthouse.character("constable").traits)
    before = state.emotions["constable"].anger
    assert after.emotions["constable"].anger == pytest.approx(before + weight * (1.0 - before))
    assert after.relationships == state.relationships and after.log[-1].kind == "utterance"
    assert state.emotions["constable"].anger == before  # the input state is untouched


def test_a_line_to_a_character_moves_the_listener_as_hearing_it_would(lighthouse):
    state = choose(lighthouse, start_session(lighthouse), "go_inn")
    state = report_event(lighthouse, state, parse_game_event({"do": "shift_emotion", "character": "keeper", "axis": "joy", "amount": 0.1}))
    line = EmotionVector(anger=0.9)
    after, heard = deliver_line(lighthouse, state, "smuggler", "keeper", line)
    heard_only, deltas = observe_utterance(lighthouse, state, "smuggler", "keeper", line)
    assert heard == deltas and after.step == heard_only.step == state.step + 1
    assert after.emotions["keeper"] == heard_only.emotions["keeper"]
    assert after.relationships == heard_only.relationships
    assert after.emotions["smuggler"].anger > state.emotions["smuggler"].anger


def test_a_line_from_someone_who_left_or_is_unknown_changes_nothing(lighthouse):
    state = start_session(lighthouse)
    left = report_event(lighthouse, state, parse_game_event({"do": "leave", "character": "widow"}))
    with pytest.raises(InvalidEventError, match="left"):
        deliver_line(lighthouse, left, "widow", "player", EmotionVector(joy=1.0))
    with pytest.raises(UnknownReferenceError):
        deliver_line(lighthouse, state, "nobody", "player", EmotionVector(joy=1.0))
    with pytest.raises(UnknownReferenceError):
        deliver_line(lighthouse, state, "player", "keeper", EmotionVector(joy=1.0))


def test_narration_prompt_is_the_scene_and_a_paragraph_break(lighthouse):
    state = start_session(lighthouse)
    prompt = narration_prompt(build_context(lighthouse, state), emotion="fear")
    assert prompt.text.startswith("Gullhaven harbour. The player steps off the ferry")
    assert "Ada Pike was calm." in prompt.text and prompt.text.endswith("\n\n")
    assert (prompt.style, prompt.emotion, prompt.stop) == ("mystery", "fear", ("\n\n",))
    short = narration_prompt(build_context(lighthouse, state), emotion=None, max_chars=60)
    assert len(short.text) <= 62 and "Ada Pike" not in short.text  # moods dropped before the scene


def test_every_intent_has_a_verb_and_every_verb_an_intent():
    """The Intent type and the verbs are written once each; they must name the same intents."""
    assert sorted(get_args(Intent)) == sorted(INTENT_VERBS)


def test_npc_line_prompt_opens_the_quote_with_intent_and_manner(lighthouse):
    state = choose(lighthouse, start_session(lighthouse), "go_cottage")
    context = build_context(lighthouse, state, speaker="keeper", listener="player")
    prompt = npc_line_prompt(context, intent="warn", situation="Where were you that night?")
    assert prompt.text.endswith(f'Tom Hale warned {PLAYER_IN_PROSE} angrily, "')  # the beat's arc: anger
    assert 'The stranger said, "Where were you that night?"' in prompt.text
    assert prompt.stop == ('"', "\n\n") and prompt.emotion == "anger"
    plain = npc_line_prompt(build_context(lighthouse, state, speaker="keeper", listener="player"), max_chars=80)
    assert plain.text.endswith(f'Tom Hale said to {PLAYER_IN_PROSE} angrily, "') and len(plain.text) <= 84
    with pytest.raises(ValueError):
        npc_line_prompt(build_context(lighthouse, state))


def test_coherence_flags_absent_characters_by_any_distinctive_name_part(lighthouse):
    state = start_session(lighthouse)  # arrival: only the constable is here
    codes = lambda text, speaker=None: [w.code for w in check(lighthouse, state, text, speaker, None)]  # noqa: E731
    assert codes("Ada Pike nodded at the ferry.") == []
    assert codes("Silas laughed from the dark.") == [ABSENT_CHARACTER]
    assert codes("Old Crane was there.") == [ABSENT_CHARACTER]
    assert codes("The captain of the boat waved.") == []  # titles alone name no one
    died = report_event(lighthouse, state, parse_game_event({"do": "die", "character": "smuggler"}))
    [warning] = check(lighthouse, died, "Silas Crane smiled.", None, None)
    assert "died" in warning.message


def test_coherence_flags_facts_the_speaker_does_not_know(lighthouse):
    state = start_session(lighthouse)  # the player knows keeper_debt on arrival
    text = "They say the wick was cut clean with a knife."
    [warning] = check(lighthouse, state, text, None, None)
    assert warning.code == UNKNOWN_FACT and "lamp_sabotaged" in warning.message
    assert check(lighthouse, state, "Tom Hale owes Silas Crane money, more than a keeper earns.", "constable", None)
    assert not [w for w in check(lighthouse, state, "Hale owes Crane more than a keeper earns.", None, None) if w.code == UNKNOWN_FACT]


def test_coherence_flags_a_line_off_the_speakers_arc(lighthouse):
    state = choose(lighthouse, start_session(lighthouse), "go_cottage")  # keeper's arc here: anger
    [warning] = check(lighthouse, state, "Good evening.", "keeper", "joy")
    assert warning.code == EMOTION_OFF_ARC and "anger" in warning.message
    assert check(lighthouse, state, "Get out.", "keeper", "anger") == []
    assert check(lighthouse, state, "Good evening.", None, "joy") == []


def test_state_at_a_beat_follows_an_open_path(lighthouse):
    state = state_at(lighthouse, "keeper_cottage")
    assert state.current_beat == "keeper_cottage" and state.visited == ["arrival", "keeper_cottage"]
    assert state.present == ["keeper"] and state.emotions["keeper"].anger > 0  # the beat's effects applied
    assert state_at(lighthouse, "arrival") == start_session(lighthouse)
    with pytest.raises(UnknownReferenceError):
        state_at(lighthouse, "nowhere")


def test_a_spreadsheet_line_prompt_needs_no_graph():
    prompt = situation_line_prompt("Brom", "The forge is cold and the order is late.", intent="refuse", emotion="anger", style="fairy_tale")
    assert prompt.text == 'The forge is cold and the order is late.\n\nBrom refused the stranger angrily, "'
    assert (prompt.style, prompt.emotion, prompt.stop) == ("fairy_tale", "anger", ('"', "\n\n"))
    assert situation_line_prompt("Brom", "", listener="Ada").text == 'Brom said to Ada, "'
