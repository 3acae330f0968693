"""Playing a plot graph: pure functions from (graph, state, input) to a new state.

Inputs are validated completely before anything changes, and changes are made on a copy, so a
rejected request leaves the caller's state exactly as it was (the server relies on this to never
persist a half-applied change). Order within `choose`: emotions decay (time passes), the choice's
effects apply, then the target beat is entered and its effects apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError

from narrative import emotion_logic
from narrative.diagnostics import Code
from narrative.emotions import EkmanLabel, EmotionVector
from narrative.errors import (
    ChoiceUnavailableError,
    ExpressionError,
    InvalidEventError,
    UnknownReferenceError,
)
from narrative.expressions import evaluate
from narrative.graph import PlotGraph
from narrative.index import Problem, effect_problems
from narrative.schema import (
    AddVariable,
    Choice,
    Die,
    Effect,
    FloatVariable,
    Id,
    IntVariable,
    LearnFact,
    Leave,
    SetVariable,
    ShiftEmotion,
    ShiftRelationship,
    StrictModel,
)
from narrative.state import LOG_LIMIT, MAX_LINES, LogEntry, LogKind, SessionState, SpokenLine
from narrative.vocabulary import PLAYER_ID, RELATIONSHIP_AXES, RelationshipAxis


class ObservedEmotion(StrictModel):
    """`listener` perceived `emotion` in something `speaker` said or did (e.g. a classified line)."""

    do: Literal["observe_emotion"]
    speaker: Id = PLAYER_ID
    listener: Id
    emotion: EmotionVector


GameEvent = Annotated[
    SetVariable | AddVariable | ShiftEmotion | ShiftRelationship | LearnFact | Leave | Die | ObservedEmotion,
    Field(discriminator="do"),
]
"""What a game may report: any effect a graph can declare, or an observed emotion."""

_GAME_EVENT = TypeAdapter(GameEvent)


@dataclass(frozen=True)
class UtteranceDeltas:
    """How much an utterance changed the listener (new minus old, after clamping)."""

    blend_weight: float
    emotion: dict[EkmanLabel, float]
    relationship: dict[RelationshipAxis, float]


def parse_game_event(data: Mapping[str, Any]) -> GameEvent:
    """Validate a game event given as plain data (e.g. from a request); `InvalidEventError` names
    the first offending field."""
    try:
        return _GAME_EVENT.validate_python(dict(data))
    except ValidationError as error:
        errors = error.errors()
        # A nan for a bool | int | float | str value fails every member; the float's reason is the one to tell.
        first = next((e for e in errors if e["type"] == "finite_number"), errors[0])
        field = ".".join(str(part) for part in first["loc"]) or "event"
        raise InvalidEventError(field, first["msg"]) from None


def start_session(graph: PlotGraph) -> SessionState:
    """A new playthrough at the start beat, with the start beat's effects applied."""
    draft = SessionState(
        story_id=graph.story.id,
        current_beat=graph.story.start,
        variables={variable.id: variable.default for variable in graph.variables},
        emotions={c.id: c.initial or c.baseline for c in graph.characters},
        relationships={},
        knowledge={PLAYER_ID: [], **{c.id: list(c.knows) for c in graph.characters}},
    )
    for relationship in graph.spec.relationships:
        values = draft.relationships.setdefault(relationship.from_, {}).setdefault(relationship.to, {})
        values.update({axis: getattr(relationship, axis) for axis in RELATIONSHIP_AXES})
    _enter(graph, draft, graph.story.start)
    return draft


def state_at(graph: PlotGraph, beat_id: str) -> SessionState:
    """A plausible state in `beat_id`, for tools that write text for a beat outside a playthrough.

    Breadth-first play from the start, taking only choices whose conditions hold; the first state
    to enter the beat wins, so who is present and what they know follow from a real path. A beat
    no open path reaches (gated by conditions this walk does not satisfy) is entered directly
    from the start.
    """
    graph.beat(beat_id)  # unknown id: UnknownReferenceError
    start = start_session(graph)
    frontier, seen = [start], {start.current_beat}
    while frontier:
        state = frontier.pop(0)
        if state.current_beat == beat_id:
            return state
        for choice in available_choices(graph, state):
            if choice.to not in seen:
                seen.add(choice.to)
                frontier.append(choose(graph, state, choice.id))
    draft = start.model_copy(deep=True)
    _enter(graph, draft, beat_id)
    return draft


def available_choices(graph: PlotGraph, state: SessionState) -> tuple[Choice, ...]:
    """Choices from the current beat whose condition holds, in the file's order."""
    return tuple(
        choice
        for choice in graph.choices_from(state.current_beat)
        if _closed_reason(graph, state, choice) is None
    )


def choose(graph: PlotGraph, state: SessionState, choice_id: str) -> SessionState:
    """The state after taking `choice_id`; `state` itself is never modified.

    Raises `UnknownReferenceError` (kind "choice") for an id the graph lacks, and
    `ChoiceUnavailableError` for a choice that does not leave the current beat or whose
    condition is false.
    """
    choice = graph.choice(choice_id)
    reason = _closed_reason(graph, state, choice)
    if reason is not None:
        raise ChoiceUnavailableError(choice_id, reason)
    draft = state.model_copy(deep=True)
    draft.step += 1
    _log(draft, "choice", f"The player chose: {choice.text}")
    for character in graph.characters:
        rate = emotion_logic.decay_rate(character.traits)
        draft.emotions[character.id] = emotion_logic.decay(
            draft.emotions[character.id], character.baseline, rate
        )
    for effect in choice.effects:
        _apply(graph, draft, effect)
    _enter(graph, draft, choice.to)
    return draft


def report_event(graph: PlotGraph, state: SessionState, event: GameEvent) -> SessionState:
    """The state after a game event; unknown ids raise `UnknownReferenceError`, other bad values
    `InvalidEventError`, and nothing changes in either case."""
    if isinstance(event, ObservedEmotion):
        return observe_utterance(graph, state, event.speaker, event.listener, event.emotion)[0]
    problems = effect_problems(event, graph.index)
    if problems:
        raise _event_error(problems[0])
    draft = state.model_copy(deep=True)
    draft.step += 1
    _log(draft, "event", f"Event: {event.do} " + ", ".join(_describe(event)))
    _apply(graph, draft, event)
    return draft


def observe_utterance(
    graph: PlotGraph, state: SessionState, speaker: str, listener: str, emotion: EmotionVector, text: str = ""
) -> tuple[SessionState, UtteranceDeltas]:
    """Apply rules (c) and (d) of `emotion_logic` to `listener` for a line `speaker` said with
    `emotion` (an Ekman vector, e.g. `emotions.fold_to_ekman` of the classifier's output); the
    line's `text`, when given, joins the session's lines so the next NPC line can answer it."""
    _check_utterance(graph, state, speaker, listener)
    traits = graph.character(listener).traits
    toward = state.relationships.get(listener, {}).get(speaker, {})
    weight = emotion_logic.blend_weight(traits, toward.get("trust", 0.0), toward.get("affection", 0.0))
    before = state.emotions[listener]
    after = emotion_logic.blend(before, emotion, weight)

    draft = state.model_copy(deep=True)
    draft.step += 1
    draft.emotions[listener] = after
    relationship_change: dict[RelationshipAxis, float] = {}
    for axis, amount in emotion_logic.relationship_response(emotion, traits).items():
        old = toward.get(axis, 0.0)
        new = _set_relationship(draft, listener, speaker, axis, emotion_logic.shift_relationship(old, amount))
        relationship_change[axis] = new - old
    _log(
        draft,
        "utterance",
        f"{_name(graph, speaker)} spoke to {_name(graph, listener)} with {emotion.dominant()}",
    )
    _remember(draft, speaker, listener, text)
    before_values, after_values = before.as_dict(), after.as_dict()
    deltas = UtteranceDeltas(
        blend_weight=weight,
        emotion={axis: after_values[axis] - before_values[axis] for axis in before_values},
        relationship=relationship_change,
    )
    return draft, deltas


def deliver_line(
    graph: PlotGraph, state: SessionState, speaker: str, listener: str, emotion: EmotionVector, text: str = ""
) -> tuple[SessionState, UtteranceDeltas | None]:
    """`speaker` (a character) said a line in `emotion` to `listener`, as one step: rule (e) moves
    the speaker toward the line's emotion, and a character listener hears it by rules (c) and
    (d) (their deltas are returned; None when the listener is the player)."""
    if speaker == PLAYER_ID or speaker not in graph.index.characters:
        raise UnknownReferenceError("character", speaker, "speaker")
    if speaker in state.removed:
        raise InvalidEventError("speaker", f"{speaker!r} has {state.removed[speaker]} the story")
    if listener == PLAYER_ID:
        draft, heard = state.model_copy(deep=True), None
        draft.step += 1
        _log(draft, "utterance", f"{_name(graph, speaker)} spoke to the player with {emotion.dominant()}")
        _remember(draft, speaker, listener, text)
    else:
        draft, heard = observe_utterance(graph, state, speaker, listener, emotion, text)
    weight = emotion_logic.expression_weight(graph.character(speaker).traits)
    draft.emotions[speaker] = emotion_logic.blend(draft.emotions[speaker], emotion, weight)
    return draft, heard


def _closed_reason(graph: PlotGraph, state: SessionState, choice: Choice) -> str | None:
    if choice.from_ != state.current_beat:
        return f"it leaves beat {choice.from_!r}, the current beat is {state.current_beat!r}"
    condition = graph.condition(choice.id)
    if condition is None:
        return None
    try:
        return None if evaluate(condition, state) else "its condition is false"
    except ExpressionError as error:
        return f"its condition failed: {error.message}"


def _check_utterance(graph: PlotGraph, state: SessionState, speaker: str, listener: str) -> None:
    if speaker != PLAYER_ID and speaker not in graph.index.characters:
        raise UnknownReferenceError("character", speaker, "speaker")
    if listener == PLAYER_ID:
        raise InvalidEventError("listener", "the player has no tracked emotion; name a character")
    if listener not in graph.index.characters:
        raise UnknownReferenceError("character", listener, "listener")
    if listener == speaker:
        raise InvalidEventError("listener", "a character cannot be its own listener")
    if listener in state.removed:
        raise InvalidEventError("listener", f"{listener!r} has {state.removed[listener]} the story")


_UNKNOWN_KINDS = {
    Code.UNKNOWN_VARIABLE: "variable",
    Code.UNKNOWN_CHARACTER: "character",
    Code.UNKNOWN_FACT: "fact",
}


def _event_error(problem: Problem) -> Exception:
    kind = _UNKNOWN_KINDS.get(problem.code)
    if kind is not None and problem.ref_id is not None:
        return UnknownReferenceError(kind, problem.ref_id, problem.field)
    return InvalidEventError(problem.field, problem.message)


def _describe(event: Effect) -> list[str]:
    data = event.model_dump(by_alias=True, exclude={"do"})
    return [f"{key}={value}" for key, value in data.items()]


def _enter(graph: PlotGraph, draft: SessionState, beat_id: str) -> None:
    beat = graph.beat(beat_id)
    draft.current_beat = beat_id
    draft.visited.append(beat_id)
    draft.present = [c for c in beat.characters if c not in draft.removed]
    _log(draft, "enter", f"Scene: {beat.location or beat.id}")
    for effect in beat.effects:
        _apply(graph, draft, effect)


def _apply(graph: PlotGraph, draft: SessionState, effect: Effect) -> None:
    """Apply one effect already known to be valid for `graph` (checked at load or by the caller)."""
    match effect:
        case SetVariable(variable=name, value=value):
            is_float = graph.variable(name).type == "float"
            draft.variables[name] = float(value) if is_float else value
        case AddVariable(variable=name, amount=amount):
            variable = graph.variable(name)
            assert isinstance(variable, IntVariable | FloatVariable)
            total = draft.variables[name] + amount  # type: ignore[operator]
            low = variable.min if variable.min is not None else total
            high = variable.max if variable.max is not None else total
            draft.variables[name] = min(high, max(low, total))
        case ShiftEmotion(character=character, axis=axis, amount=amount):
            draft.emotions[character] = emotion_logic.shift_emotion(draft.emotions[character], axis, amount)
        case ShiftRelationship(from_=source, to=target, axis=axis, amount=amount):
            old = draft.relationships.get(source, {}).get(target, {}).get(axis, 0.0)
            _set_relationship(draft, source, target, axis, emotion_logic.shift_relationship(old, amount))
        case LearnFact(character=character, fact=fact):
            known = draft.knowledge.setdefault(character, [])
            if fact not in known:
                known.append(fact)
                _log(draft, "effect", f"{_name(graph, character)} learned: {graph.fact(fact).text}")
        case Leave(character=character) | Die(character=character):
            outcome: Literal["left", "died"] = "left" if isinstance(effect, Leave) else "died"
            draft.removed[character] = outcome
            draft.present = [c for c in draft.present if c != character]
            _log(draft, "effect", f"{_name(graph, character)} {outcome}")


def _set_relationship(
    draft: SessionState, source: str, target: str, axis: RelationshipAxis, value: float
) -> float:
    draft.relationships.setdefault(source, {}).setdefault(target, {})[axis] = value
    return value


def _name(graph: PlotGraph, character: str) -> str:
    return "The player" if character == PLAYER_ID else graph.character(character).name


def _remember(draft: SessionState, speaker: str, listener: str, text: str) -> None:
    if text.strip():
        draft.lines.append(SpokenLine(step=draft.step, speaker=speaker, listener=listener, text=text.strip()))
        del draft.lines[:-MAX_LINES]


def _log(draft: SessionState, kind: LogKind, text: str) -> None:
    draft.log.append(LogEntry(step=draft.step, kind=kind, text=text))
    del draft.log[:-LOG_LIMIT]
