"""Prose lead-ins that a story language model continues into narration or an NPC's line.

Storyteller's generator was pretrained on fiction, not on instructions: it writes well when the
prompt reads like the page before the text we want. So the session's context becomes a short
scene (place, what happens, how those present feel), and an NPC line becomes the opening of a
quotation (`Maren warned the stranger fearfully, "`) that generation closes at the next quote
mark. Style and emotion travel beside the text, as the model's control tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from narrative.context import GenerationContext
from narrative.emotions import EkmanLabel

Intent = Literal["", "greet", "farewell", "inform", "ask", "agree", "refuse", "warn", "threaten", "comfort", "confess"]

# "<speaker> <verb> <listener>, ..." for each intent; "" = no particular intent. Keyed by Intent,
# whose values it must list exactly (tests/narrative/test_grounding.py checks it).
INTENT_VERBS: dict[Intent, str] = {
    "": "said to",
    "greet": "greeted",
    "farewell": "said goodbye to",
    "inform": "told",
    "ask": "asked",
    "agree": "agreed with",
    "refuse": "refused",
    "warn": "warned",
    "threaten": "threatened",
    "comfort": "comforted",
    "confess": "confessed to",
}
MANNER: dict[EkmanLabel, str] = {
    "anger": " angrily",
    "disgust": " with disgust",
    "fear": " fearfully",
    "joy": " cheerfully",
    "sadness": " sadly",
    "surprise": " in surprise",
    "neutral": "",
}
MOOD: dict[EkmanLabel, str] = {
    "anger": "angry",
    "disgust": "disgusted",
    "fear": "afraid",
    "joy": "glad",
    "sadness": "sad",
    "surprise": "astonished",
    "neutral": "calm",
}
PLAYER_IN_PROSE = "the stranger"
QUOTE = '"'
PARAGRAPH = "\n\n"


@dataclass(frozen=True)
class StoryPrompt:
    text: str
    style: str
    emotion: EkmanLabel | None
    stop: tuple[str, ...]


def _prose_name(name: str | None) -> str:
    return PLAYER_IN_PROSE if name in (None, "the player") else name


def scene(context: GenerationContext, max_chars: int) -> str:
    """Place and summary, then the moods of those present, the least important dropped to fit."""
    lines = [f"{context.location.rstrip('.')}. {context.summary}".strip()]
    lines += [f"{c.name} was {MOOD[c.emotion]}." for c in context.characters]
    while len(lines) > 1 and len(" ".join(lines)) > max_chars:
        lines.pop()
    return " ".join(lines)[-max_chars:]


def narration_prompt(context: GenerationContext, emotion: EkmanLabel | None, max_chars: int = 600) -> StoryPrompt:
    """One paragraph of prose for the current beat: the scene, then a paragraph break to continue from."""
    return StoryPrompt(scene(context, max_chars) + PARAGRAPH, context.style, emotion, (PARAGRAPH,))


def _opening(speaker: str, listener: str, intent: Intent, emotion: EkmanLabel | None) -> str:
    return f"{speaker} {INTENT_VERBS[intent]} {listener}{MANNER[emotion] if emotion else ''}, {QUOTE}"


def _heard(listener: str, situation: str) -> str:
    said = situation.strip()
    return f"{listener[0].upper()}{listener[1:]} said, {QUOTE}{said}{QUOTE}{PARAGRAPH}" if said else ""


def npc_line_prompt(
    context: GenerationContext, intent: Intent = "", situation: str = "", max_chars: int = 600
) -> StoryPrompt:
    """The scene, what was said to the speaker (if anything), and the opening of their quoted line."""
    if context.speaker is None:
        raise ValueError("an NPC line needs a speaker in its context")
    speaker, listener = context.speaker, _prose_name(context.listener)
    emotion = context.target_emotion
    heard, opening = _heard(listener, situation), _opening(speaker, listener, intent, emotion)
    budget = max(0, max_chars - len(heard) - len(opening) - len(PARAGRAPH))
    return StoryPrompt(scene(context, budget) + PARAGRAPH + heard + opening, context.style, emotion, (QUOTE, PARAGRAPH))


def situation_line_prompt(
    speaker: str,
    situation: str,
    listener: str = "",
    intent: Intent = "",
    emotion: EkmanLabel | None = None,
    style: str = "",
    max_chars: int = 600,
) -> StoryPrompt:
    """A line outside any plot graph (a spreadsheet row): the free-text situation is the scene."""
    listener = _prose_name(listener or None)
    opening = _opening(speaker, listener, intent, emotion)
    scene_text = situation.strip()[-max(0, max_chars - len(opening) - len(PARAGRAPH)) :]
    lead = scene_text + PARAGRAPH if scene_text else ""
    return StoryPrompt(lead + opening, style, emotion, (QUOTE, PARAGRAPH))
