"""Lines said aloud stay in the session and ground the next NPC line's brief."""

from __future__ import annotations

from narrative.chat_format import ChatFormat
from narrative.context import build_context
from narrative.emotions import EmotionVector
from narrative.line_brief import MAX_EARLIER, Spoken, chat_line_prompt, conversation
from narrative.session import deliver_line, observe_utterance, start_session
from narrative.state import MAX_LINES, SessionState

CHAT = ChatFormat("<s>", "</s><u>", "</u><a>", "</a>")


def test_reported_and_delivered_lines_are_kept_bounded_and_in_order(lighthouse):
    state = start_session(lighthouse)  # arrival: the constable is present
    state, _ = observe_utterance(lighthouse, state, "player", "constable", EmotionVector(fear=1.0), "Who lit the lamp?")
    state, _ = deliver_line(lighthouse, state, "constable", "player", EmotionVector(anger=1.0), "Nobody, since March.")
    assert [(line.speaker, line.text) for line in state.lines] == [
        ("player", "Who lit the lamp?"),
        ("constable", "Nobody, since March."),
    ]
    state, _ = observe_utterance(lighthouse, state, "player", "constable", EmotionVector(joy=1.0))  # no text: no line
    assert len(state.lines) == 2
    for i in range(MAX_LINES + 3):
        state, _ = observe_utterance(lighthouse, state, "player", "constable", EmotionVector(joy=1.0), f"line {i}")
    assert len(state.lines) == MAX_LINES and state.lines[-1].text == f"line {MAX_LINES + 2}"
    assert SessionState.from_json(state.to_json()) == state


def test_a_state_stored_before_lines_were_kept_still_loads(lighthouse):
    stored = start_session(lighthouse).model_dump(mode="json")
    del stored["lines"]
    assert SessionState.model_validate(stored).lines == []


def test_conversation_names_speakers_and_ends_with_what_was_just_said(lighthouse):
    state = start_session(lighthouse)
    state, _ = observe_utterance(lighthouse, state, "player", "constable", EmotionVector(fear=1.0), "Who lit the lamp?")
    said = conversation(lighthouse, state, "player", situation="  Tell me the truth. ")
    constable = lighthouse.character("constable").name
    assert said == (Spoken("The stranger", "Who lit the lamp?"), Spoken("The stranger", "Tell me the truth."))
    state, _ = deliver_line(lighthouse, state, "constable", "player", EmotionVector(anger=1.0), "Go home.")
    assert conversation(lighthouse, state, "player")[-1] == Spoken(constable, "Go home.")
    for i in range(MAX_EARLIER + 2):
        state, _ = observe_utterance(lighthouse, state, "player", "constable", EmotionVector(joy=1.0), f"line {i}")
    assert len(conversation(lighthouse, state, "player", "now")) == MAX_EARLIER


def test_chat_line_prompt_carries_the_session_into_the_brief(lighthouse):
    state = start_session(lighthouse)
    state, _ = observe_utterance(lighthouse, state, "player", "constable", EmotionVector(fear=1.0), "Who lit the lamp?")
    context = build_context(lighthouse, state, speaker="constable", listener="player")
    prompt = chat_line_prompt(context, CHAT, "warn", conversation(lighthouse, state, "player"), max_chars=60)
    assert prompt.text.startswith("<s>") and prompt.text.endswith("</u><a>")
    assert f"Speaker: {context.speaker}" in prompt.text and "Listener: the stranger" in prompt.text
    assert "Intent: warn" in prompt.text and 'The stranger: "Who lit the lamp?"' in prompt.text
    scene = next(line for line in prompt.text.splitlines() if line.startswith("Scene: "))
    assert len(scene) <= len("Scene: ") + 60
    assert prompt.stop == ("\n", '"') and prompt.style == context.style


def test_single_utterances_are_told_from_narration_and_other_speakers():
    from narrative.line_brief import is_single_utterance

    assert is_single_utterance("Keep away from the cliffs tonight. The tide is wrong.")
    assert is_single_utterance("I said no, and I meant it!")  # "I said" inside speech is still speech
    for text in (
        "",
        "   ",
        'Keep away, she said. "The tide is wrong."',
        "Keep away from the cliffs, said the constable.",
        "Keep away.\nThe stranger: Why?",
        "Stranger: Why should I?",
        "Keep away from the cliffs, Ada whispered.",
    ):
        assert not is_single_utterance(text), text
