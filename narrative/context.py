"""What the text generator is told about the story at this moment.

The context is a pure function of (graph, state, speaker, listener), and its prompt text is a pure
function of the context, so the same state always yields the same prompt (reproducible generation,
cacheable prompts), and `to_prompt` never exceeds the budget it is given: the least important
lines go first (oldest events, then the earliest known facts, then bystanders).
"""

from __future__ import annotations

from dataclasses import dataclass

from narrative.emotions import EkmanLabel
from narrative.errors import InvalidEventError, UnknownReferenceError
from narrative.graph import PlotGraph
from narrative.state import SessionState
from narrative.vocabulary import PLAYER_ID, RELATIONSHIP_AXES, RelationshipAxis

DEFAULT_EVENTS = 5


@dataclass(frozen=True)
class CharacterContext:
    id: str
    name: str
    role: str
    emotion: EkmanLabel
    toward_speaker: dict[RelationshipAxis, float]
    """How this character regards the speaker (non-zero axes only)."""
    speaker_toward: dict[RelationshipAxis, float]
    """How the speaker regards this character (non-zero axes only)."""


@dataclass(frozen=True)
class GenerationContext:
    story_title: str
    style: str
    beat_id: str
    location: str
    summary: str
    speaker: str | None  # a name; None for narration
    listener: str | None
    target_emotion: EkmanLabel | None
    speaker_toward_listener: dict[RelationshipAxis, float]
    listener_toward_speaker: dict[RelationshipAxis, float]
    characters: tuple[CharacterContext, ...]  # speaker, listener, then the others present
    knowledge: tuple[str, ...]  # fact texts the speaker (or, narrating, the player) knows
    recent_events: tuple[str, ...]  # oldest first

    def to_prompt(self, max_chars: int) -> str:
        """Stable text of at most `max_chars` characters."""
        header = [
            f"Story: {self.story_title}",
            f"Style: {self.style}",
            f"Scene: {self.location}. {self.summary}",
        ]
        if self.speaker is not None:
            target = f"; intended emotion: {self.target_emotion}" if self.target_emotion else ""
            header.append(f"Speaker: {self.speaker}{target}")
        if self.listener is not None:
            header.append(f"Listener: {self.listener}")
        if self.speaker_toward_listener:
            header.append(f"Speaker toward listener: {_axes(self.speaker_toward_listener)}")
        if self.listener_toward_speaker:
            header.append(f"Listener toward speaker: {_axes(self.listener_toward_speaker)}")
        characters = [_character_line(c, self.speaker is not None) for c in self.characters]
        knowledge = [f"- {fact}" for fact in self.knowledge]
        events = [f"- {event}" for event in self.recent_events]
        # Shed the least important line until the text fits: oldest event, earliest fact, last bystander.
        kept_protagonists = sum(1 for name in (self.speaker, self.listener) if name is not None)
        while True:
            text = _render(header, characters, knowledge, events)
            if len(text) <= max_chars:
                return text
            if events:
                events.pop(0)
            elif knowledge:
                knowledge.pop(0)
            elif len(characters) > kept_protagonists:
                characters.pop()
            else:
                return text[:max_chars]


def _render(header: list[str], characters: list[str], knowledge: list[str], events: list[str]) -> str:
    lines = list(header)
    for title, items in (
        ("Characters:", characters),
        ("Known facts:", knowledge),
        ("Recent events:", events),
    ):
        if items:
            lines += [title, *items]
    return "\n".join(lines)


def _character_line(character: CharacterContext, has_speaker: bool) -> str:
    line = (
        f"- {character.name}"
        + (f" ({character.role})" if character.role else "")
        + f": feels {character.emotion}"
    )
    if has_speaker and character.toward_speaker:
        line += f"; toward the speaker {_axes(character.toward_speaker)}"
    if has_speaker and character.speaker_toward:
        line += f"; the speaker toward them {_axes(character.speaker_toward)}"
    return line


def _axes(values: dict[RelationshipAxis, float]) -> str:
    return ", ".join(f"{axis} {value:+.2f}" for axis, value in values.items())


def build_context(
    graph: PlotGraph,
    state: SessionState,
    speaker: str | None = None,
    listener: str | None = None,
    max_events: int = DEFAULT_EVENTS,
) -> GenerationContext:
    """Context for a line by `speaker` to `listener` (character ids, or `player`), or for
    narration of the current beat when `speaker` is None."""
    for field, character in (("speaker", speaker), ("listener", listener)):
        if character is None or character == PLAYER_ID:
            continue
        if character not in graph.index.characters:
            raise UnknownReferenceError("character", character, field)
        if character in state.removed:
            raise InvalidEventError(field, f"{character!r} has {state.removed[character]} the story")
    beat = graph.beat(state.current_beat)
    order = [c for c in (speaker, listener) if c is not None and c != PLAYER_ID]
    order += [c for c in state.present if c not in order]
    target = beat.target_emotion.get(speaker) if speaker is not None else None
    if target is None and speaker is not None and speaker != PLAYER_ID:
        target = state.emotions[speaker].dominant()
    knower = speaker if speaker is not None else PLAYER_ID
    return GenerationContext(
        story_title=graph.story.title,
        style=beat.style or graph.story.style,
        beat_id=beat.id,
        location=beat.location or beat.id,
        summary=beat.summary,
        speaker=_display_name(graph, speaker),
        listener=_display_name(graph, listener),
        target_emotion=target,
        speaker_toward_listener=_regard(state, speaker, listener),
        listener_toward_speaker=_regard(state, listener, speaker),
        characters=tuple(_character_context(graph, state, c, speaker) for c in order),
        knowledge=tuple(graph.fact(fact).text for fact in state.knowledge.get(knower, [])),
        recent_events=tuple(entry.text for entry in state.log[-max_events:]) if max_events > 0 else (),
    )


def _display_name(graph: PlotGraph, character: str | None) -> str | None:
    if character is None:
        return None
    return "the player" if character == PLAYER_ID else graph.character(character).name


def _character_context(
    graph: PlotGraph, state: SessionState, character_id: str, speaker: str | None
) -> CharacterContext:
    character = graph.character(character_id)
    return CharacterContext(
        id=character.id,
        name=character.name,
        role=character.role,
        emotion=state.emotions[character_id].dominant(),
        toward_speaker=_regard(state, character_id, speaker),
        speaker_toward=_regard(state, speaker, character_id),
    )


def _regard(state: SessionState, source: str | None, target: str | None) -> dict[RelationshipAxis, float]:
    """Non-zero relationship axes from `source` to `target`, rounded so the text is stable."""
    if source is None or target is None or source == target:
        return {}
    values = {axis: round(state.relationship(source, target, axis), 2) for axis in RELATIONSHIP_AXES}
    return {axis: value for axis, value in values.items() if value != 0.0}
