from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from narrative.emotions import EKMAN_AXES, EmotionVector
from narrative.errors import ChoiceUnavailableError, InvalidEventError, UnknownReferenceError
from narrative.loader import load_graph_text
from narrative.schema import AddVariable, LearnFact, SetVariable, ShiftEmotion
from narrative.session import (
    ObservedEmotion,
    available_choices,
    choose,
    observe_utterance,
    parse_game_event,
    report_event,
    start_session,
)
from narrative.state import LOG_LIMIT, SessionState

VILLAGE = """\
story: {id: village, title: Village, style: fairy_tale, start: square}
characters:
  - id: tom
    name: Tom
    traits: {stubbornness: 0.8, temper: 0.7}
    baseline: {joy: 0.5}
    initial: {anger: 0.6}
  - {id: ann, name: Ann}
relationships:
  - {from: tom, to: player, trust: 0.5}
facts:
  - {id: map, text: The map is under the well.}
variables:
  - {id: coins, type: int, default: 8, min: 0, max: 10}
  - {id: door_open, type: bool}
  - {id: mood, type: float}
beats:
  - id: square
    summary: The village square.
    characters: [tom, ann]
  - id: well
    summary: The old well.
    characters: [tom, ann]
    effects:
      - {do: add, variable: coins, amount: 5}
      - {do: shift_emotion, character: ann, axis: fear, amount: 0.3}
  - {id: home, summary: Home., ending: true}
choices:
  - id: to_well
    from: square
    to: well
    text: Go to the well.
    effects:
      - {do: leave, character: tom}
      - {do: shift_relationship, from: ann, to: player, axis: trust, amount: 0.25}
  - {id: locked, from: square, to: home, text: Go home., condition: door_open}
  - {id: back, from: well, to: home, text: Go home.}
"""


@pytest.fixture(scope="module")
def village():
    return load_graph_text(VILLAGE, "village.yaml")


def test_start_session_enters_start_beat(lighthouse):
    state = start_session(lighthouse)
    assert state.current_beat == "arrival" and state.visited == ["arrival"]
    assert state.step == 0
    assert state.knows("player", "keeper_debt")  # entry effect of the start beat
    assert state.present == ["constable"]
    assert state.emotions["keeper"] == EmotionVector(fear=0.4, sadness=0.5)
    assert state.relationship("keeper", "smuggler", "fear") == 0.6
    assert state.variables == {"clues": 0, "lamp_lit": False, "storm": 0.2}


def test_available_choices_evaluate_conditions(village, lighthouse):
    state = start_session(village)
    assert [c.id for c in available_choices(village, state)] == ["to_well"]
    opened = report_event(village, state, SetVariable(do="set", variable="door_open", value=True))
    assert [c.id for c in available_choices(village, opened)] == ["to_well", "locked"]
    inn = choose(lighthouse, start_session(lighthouse), "go_inn")
    assert "inn_to_cliff" in [c.id for c in available_choices(lighthouse, inn)]


def test_choose_applies_decay_then_effects_then_entry(village):
    state = start_session(village)
    after = choose(village, state, "to_well")
    assert after.current_beat == "well" and after.visited == ["square", "well"]
    assert after.step == 1
    # Decay with stubbornness 0.8: rate 0.14; anger 0 + 0.6 * 0.86, joy 0.5 + (0 - 0.5) * 0.86
    assert after.emotions["tom"].anger == pytest.approx(0.516)
    assert after.emotions["tom"].joy == pytest.approx(0.07)
    assert after.emotions["ann"].fear == pytest.approx(0.3)  # entry effect after decay of zeros
    assert after.variables["coins"] == 10  # 8 + 5 clamped to max
    assert after.relationship("ann", "player", "trust") == 0.25
    assert after.removed == {"tom": "left"}
    assert after.present == ["ann"]  # tom is listed in the beat but has left
    assert not after.is_present("tom")
    assert [entry.kind for entry in after.log[-3:]] == ["choice", "effect", "enter"]


def test_choose_never_mutates_its_input(village):
    state = start_session(village)
    before = state.to_json()
    choose(village, state, "to_well")
    assert state.to_json() == before


@pytest.mark.parametrize(
    ("choice_id", "error", "detail"),
    [
        ("fly_away", UnknownReferenceError, "choice"),
        ("locked", ChoiceUnavailableError, "condition is false"),
        ("back", ChoiceUnavailableError, "current beat is 'square'"),
    ],
)
def test_rejected_choice_changes_nothing(village, choice_id, error, detail):
    state = start_session(village)
    copy = state.model_copy(deep=True)
    with pytest.raises(error) as caught:
        choose(village, state, choice_id)
    assert detail in str(caught.value)
    assert state == copy
    if isinstance(caught.value, UnknownReferenceError):
        assert (caught.value.kind, caught.value.ref_id) == ("choice", "fly_away")


def test_report_event_applies_valid_events(village):
    state = start_session(village)
    after = report_event(village, state, AddVariable(do="add", variable="coins", amount=-20))
    assert after.variables["coins"] == 0  # clamped to min
    after = report_event(village, after, LearnFact(do="learn", character="ann", fact="map"))
    assert after.knowledge["ann"] == ["map"]
    after = report_event(village, after, parse_game_event({"do": "set", "variable": "mood", "value": 1}))
    assert after.variables["mood"] == 1.0 and isinstance(after.variables["mood"], float)
    assert after.step == 3 and state.step == 0


@pytest.mark.parametrize(
    ("event", "error", "field"),
    [
        (SetVariable(do="set", variable="gold", value=1), UnknownReferenceError, "variable"),
        (SetVariable(do="set", variable="coins", value="many"), InvalidEventError, "value"),
        (SetVariable(do="set", variable="coins", value=11), InvalidEventError, "value"),
        (AddVariable(do="add", variable="coins", amount=0.5), InvalidEventError, "amount"),
        (AddVariable(do="add", variable="door_open", amount=1), InvalidEventError, "variable"),
        (LearnFact(do="learn", character="ann", fact="treasure"), UnknownReferenceError, "fact"),
        (
            ShiftEmotion(do="shift_emotion", character="player", axis="joy", amount=0.1),
            InvalidEventError,
            "character",
        ),
        (
            ShiftEmotion(do="shift_emotion", character="bob", axis="joy", amount=0.1),
            UnknownReferenceError,
            "character",
        ),
    ],
)
def test_invalid_events_are_rejected_without_change(village, event, error, field):
    state = start_session(village)
    copy = state.model_copy(deep=True)
    with pytest.raises(error) as caught:
        report_event(village, state, event)
    assert caught.value.field == field
    assert state == copy


def test_parse_game_event_names_the_bad_field():
    with pytest.raises(InvalidEventError) as caught:
        parse_game_event({"do": "shift_emotion", "character": "tom", "axis": "joy", "amount": 3})
    assert caught.value.field == "shift_emotion.amount"
    with pytest.raises(InvalidEventError):
        parse_game_event({"do": "teleport"})
    event = parse_game_event({"do": "observe_emotion", "listener": "tom", "emotion": {"anger": 1.0}})
    assert isinstance(event, ObservedEmotion) and event.speaker == "player"


def test_observe_utterance_blends_and_changes_relationship(village):
    state = start_session(village)
    angry = EmotionVector(anger=1.0)
    after, deltas = observe_utterance(village, state, "player", "tom", angry)
    # weight = 0.3 + 0.4 * 0 - 0.4 * (0.8 - 0.5) + 0.2 * (0.5 + 0) / 2 = 0.23
    assert deltas.blend_weight == pytest.approx(0.23)
    # anger: 0.6 + 0.23 * (1 - 0.6) = 0.692
    assert after.emotions["tom"].anger == pytest.approx(0.692)
    assert deltas.emotion["anger"] == pytest.approx(0.092)
    # trust: 0.5 - 0.1 * 1.0 * (1 + 0.7) = 0.33; affection: 0 - 0.08 * 1.7 = -0.136; fear: 0.05 * 0.3
    assert after.relationship("tom", "player", "trust") == pytest.approx(0.33)
    assert deltas.relationship == pytest.approx({"trust": -0.17, "affection": -0.136, "fear": 0.015})
    assert state.relationship("tom", "player", "trust") == 0.5  # input untouched
    via_event = report_event(
        village, state, ObservedEmotion(do="observe_emotion", listener="tom", emotion=angry)
    )
    assert via_event == after


@pytest.mark.parametrize(
    ("speaker", "listener", "error", "field"),
    [
        ("player", "player", InvalidEventError, "listener"),
        ("ghost", "tom", UnknownReferenceError, "speaker"),
        ("player", "ghost", UnknownReferenceError, "listener"),
        ("tom", "tom", InvalidEventError, "listener"),
    ],
)
def test_observe_utterance_validates(village, speaker, listener, error, field):
    with pytest.raises(error) as caught:
        observe_utterance(village, start_session(village), speaker, listener, EmotionVector(joy=1.0))
    assert caught.value.field == field


def test_utterance_to_a_character_who_left_is_rejected(village):
    state = choose(village, start_session(village), "to_well")
    with pytest.raises(InvalidEventError, match="left"):
        observe_utterance(village, state, "player", "tom", EmotionVector(joy=1.0))


def test_log_is_bounded(village):
    state = start_session(village)
    for _ in range(LOG_LIMIT + 5):
        state = report_event(village, state, AddVariable(do="add", variable="coins", amount=0))
    assert len(state.log) == LOG_LIMIT
    assert state.log[-1].step == LOG_LIMIT + 5


emotions = st.builds(EmotionVector.of, st.fixed_dictionaries({axis: st.floats(0, 1) for axis in EKMAN_AXES}))


@settings(max_examples=40, deadline=None)
@given(moves=st.lists(st.tuples(st.integers(0, 5), emotions), max_size=12))
def test_random_playthroughs_round_trip_through_json(lighthouse, moves):
    state = start_session(lighthouse)
    for pick, heard in moves:
        options = available_choices(lighthouse, state)
        if not options:
            break
        state = choose(lighthouse, state, options[pick % len(options)].id)
        listeners = [c for c in state.present if c not in state.removed]
        if listeners:
            state, _ = observe_utterance(lighthouse, state, "player", listeners[0], heard)
        text = state.to_json()
        restored = SessionState.from_json(text)
        assert restored == state
        assert restored.to_json() == text
        for emotion in state.emotions.values():
            assert all(0.0 <= v <= 1.0 for v in emotion.as_dict().values())
        for targets in state.relationships.values():
            assert all(-1.0 <= v <= 1.0 for values in targets.values() for v in values.values())
