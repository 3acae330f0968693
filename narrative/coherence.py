"""Checks of generated text against the story at this moment: who is here, who knows what, the arc.

A small generator invents freely; these checks say where its text breaks the story, so the
server can prefer a coherent candidate and tell the game about the rest. They are heuristics on
names and words, deliberately conservative: a warning should point at a real problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from narrative.emotions import EkmanLabel
from narrative.graph import PlotGraph
from narrative.state import SessionState
from narrative.vocabulary import PLAYER_ID

ABSENT_CHARACTER = "absent-character"
UNKNOWN_FACT = "unknown-fact"
EMOTION_OFF_ARC = "emotion-off-arc"

# Name parts that do not identify anyone on their own.
_TITLES = frozenset(
    "the a an old young mr mrs miss ms sir lady lord dr doctor captain father mother brother sister "
    "king queen prince princess master mistress uncle aunt keeper".split()
)
_STOPWORDS = frozenset(
    "that this with from have were they their there what when where which while would could should about "
    "into than then them been being after before under over also only just some very your yours".split()
)
_WORD = re.compile(r"[A-Za-z']+")


@dataclass(frozen=True)
class CoherenceWarning:
    code: str
    message: str


def _name_parts(name: str) -> set[str]:
    """The full name and each distinctive part ("Maren" and "Holt" of "Captain Maren Holt")."""
    parts = {p for p in _WORD.findall(name) if len(p) > 2 and p.lower() not in _TITLES}
    return {name, *parts}


def _mentions(text: str, phrase: str) -> bool:
    return re.search(rf"(?<![A-Za-z]){re.escape(phrase)}(?![A-Za-z])", text) is not None


def _content_words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text) if len(w) > 3 and w.lower() not in _STOPWORDS}


def absent_characters(graph: PlotGraph, state: SessionState, text: str, speaker: str | None) -> list[CoherenceWarning]:
    warnings = []
    for character in graph.characters:
        if character.id == speaker or state.is_present(character.id):
            continue
        named = sorted(p for p in _name_parts(character.name) if _mentions(text, p))
        if named:
            where = f"has {state.removed[character.id]} the story" if character.id in state.removed else "is not in this beat"
            warnings.append(CoherenceWarning(ABSENT_CHARACTER, f"names {character.name} ({named[0]!r}), who {where}"))
    return warnings


def unknown_facts(graph: PlotGraph, state: SessionState, text: str, speaker: str | None) -> list[CoherenceWarning]:
    """Facts the speaker (the player, for narration) does not know but the text gives away: at least
    two of the fact's content words and two thirds of them appear in the text."""
    knower = speaker or PLAYER_ID
    known = set(state.knowledge.get(knower, []))
    said = _content_words(text)
    warnings = []
    for fact in graph.spec.facts:
        if fact.id in known:
            continue
        words = _content_words(fact.text)
        shared = words & said
        if len(shared) >= 2 and len(shared) * 3 >= len(words) * 2:
            who = "the player" if knower == PLAYER_ID else graph.character(knower).name
            warnings.append(CoherenceWarning(UNKNOWN_FACT, f"reveals {fact.id!r} ({fact.text}), which {who} does not know"))
    return warnings


def off_arc(graph: PlotGraph, state: SessionState, speaker: str | None, detected: EkmanLabel | None) -> list[CoherenceWarning]:
    """The beat's intended emotion for the speaker (its arc) against what the text reads as."""
    if speaker is None or detected is None:
        return []
    target = graph.beat(state.current_beat).target_emotion.get(speaker)
    if target is None or target == detected:
        return []
    name = graph.character(speaker).name
    return [CoherenceWarning(EMOTION_OFF_ARC, f"reads as {detected}, but this beat's arc has {name} in {target}")]


def check(
    graph: PlotGraph, state: SessionState, text: str, speaker: str | None, detected: EkmanLabel | None
) -> list[CoherenceWarning]:
    """Every warning for `text` said by `speaker` (None = narration) in the session's current beat."""
    return [
        *absent_characters(graph, state, text, speaker),
        *unknown_facts(graph, state, text, speaker),
        *off_arc(graph, state, speaker, detected),
    ]
