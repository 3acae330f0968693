"""Narrative domain objects -> storyteller.v1 messages (protobuf stays at the edge)."""

from __future__ import annotations

from typing import Any

from narrative.diagnostics import Diagnostic, Severity
from narrative.graph import PlotGraph
from narrative.schema import Choice
from narrative.session import UtteranceDeltas
from narrative.state import SessionState
from server.errors import InvalidArgument
from storyteller.v1 import common_pb2, narrative_pb2

SEVERITIES = {Severity.ERROR: narrative_pb2.SEVERITY_ERROR, Severity.WARNING: narrative_pb2.SEVERITY_WARNING}


def diagnostic_pb(diagnostic: Diagnostic) -> narrative_pb2.Diagnostic:
    return narrative_pb2.Diagnostic(
        code=str(diagnostic.code),
        severity=SEVERITIES.get(diagnostic.severity, narrative_pb2.SEVERITY_INFO),
        message=diagnostic.message,
        file=diagnostic.file,
        line=diagnostic.line,
        column=diagnostic.column,
        hint=diagnostic.hint,
    )


def graph_summary_pb(graph: PlotGraph) -> narrative_pb2.GraphSummary:
    return narrative_pb2.GraphSummary(
        graph_id=graph.story.id,
        title=graph.story.title,
        style=graph.story.style,
        beat_count=len(graph.beats),
        choice_count=len(graph.choices),
        character_ids=[c.id for c in graph.characters],
        ending_ids=[b.id for b in graph.endings],
    )


def beat_pb(graph: PlotGraph, beat_id: str) -> narrative_pb2.Beat:
    beat = graph.beat(beat_id)
    return narrative_pb2.Beat(
        beat_id=beat.id,
        summary=beat.summary,
        location=beat.location,
        character_ids=beat.characters,
        style=beat.style or graph.story.style,
        is_ending=beat.ending,
    )


def variable_pb(name: str, kind: str, value: bool | int | float | str) -> narrative_pb2.Variable:
    if kind == "bool":
        return narrative_pb2.Variable(name=name, type=narrative_pb2.VARIABLE_TYPE_BOOL, bool_value=bool(value))
    if kind == "string":
        return narrative_pb2.Variable(name=name, type=narrative_pb2.VARIABLE_TYPE_STRING, string_value=str(value))
    return narrative_pb2.Variable(name=name, type=narrative_pb2.VARIABLE_TYPE_NUMBER, number_value=float(value))


def session_pb(session_id: str, graph: PlotGraph, state: SessionState, recent_events: int) -> narrative_pb2.Session:
    characters = []
    for character in graph.characters:
        emotion = state.emotions.get(character.id, character.baseline)
        characters.append(
            narrative_pb2.CharacterState(
                character_id=character.id,
                name=character.name,
                emotion=[common_pb2.LabelScore(label=axis, score=value) for axis, value in emotion.as_dict().items()],
                dominant_emotion=emotion.dominant(),
                present=character.id in state.present,
                removed=character.id in state.removed,
                knows=state.knowledge.get(character.id, []),
            )
        )
    relationships = [
        narrative_pb2.Relationship(from_id=source, to_id=target, axis=axis, value=value)
        for source, targets in sorted(state.relationships.items())
        for target, axes in sorted(targets.items())
        for axis, value in sorted(axes.items())
    ]
    kinds = {variable.id: variable.type for variable in graph.variables}
    return narrative_pb2.Session(
        session_id=session_id,
        graph_id=graph.story.id,
        step=state.step,
        current_beat=beat_pb(graph, state.current_beat),
        visited=state.visited,
        variables=[variable_pb(name, kinds[name], value) for name, value in sorted(state.variables.items())],
        characters=characters,
        relationships=relationships,
        recent_events=[
            narrative_pb2.SessionEvent(step=e.step, kind=e.kind, description=e.text)
            for e in (state.log[-recent_events:] if recent_events else [])
        ],
        ended=graph.beat(state.current_beat).ending,
    )


def choice_pb(choice: Choice, available: bool) -> narrative_pb2.Choice:
    return narrative_pb2.Choice(
        choice_id=choice.id, text=choice.text, to_beat_id=choice.to, available=available, condition=choice.condition or ""
    )


EVENT_KINDS = {
    narrative_pb2.EVENT_KIND_LEARN_FACT: "learn",
    narrative_pb2.EVENT_KIND_EMOTION_SHIFT: "shift_emotion",
    narrative_pb2.EVENT_KIND_RELATIONSHIP_CHANGE: "shift_relationship",
    narrative_pb2.EVENT_KIND_CHARACTER_LEFT: "leave",
    narrative_pb2.EVENT_KIND_CHARACTER_DIED: "die",
}


def game_event_data(event: narrative_pb2.GameEvent, graph: PlotGraph) -> dict[str, Any]:
    """The event as the plain data narrative.session.parse_game_event validates.

    Only the fields its kind reads are passed on, so parse_game_event names a missing one."""
    if event.kind == narrative_pb2.EVENT_KIND_SET_VARIABLE:
        variable = graph.variable(event.variable.name)
        return {"do": "set", "variable": variable.id, "value": _typed_value(event.variable, variable.type)}
    if event.kind not in EVENT_KINDS:
        raise InvalidArgument("event.kind", "required: one of the EventKind values")
    do = EVENT_KINDS[event.kind]
    data: dict[str, Any] = {"do": do}
    if do == "shift_relationship":
        data.update({"from": event.character_id, "to": event.other_id, "axis": event.axis, "amount": event.amount})
    else:
        data["character"] = event.character_id
    if do == "learn":
        data["fact"] = event.fact_id
    if do == "shift_emotion":
        data.update({"axis": event.axis, "amount": event.amount})
    return data


def _typed_value(value: narrative_pb2.Variable, kind: str) -> bool | int | float | str:
    if kind == "bool":
        return value.bool_value
    if kind == "string":
        return value.string_value
    if kind == "int":
        if not float(value.number_value).is_integer():
            raise InvalidArgument("event.variable.number_value", f"{value.name} is an int; got {value.number_value}")
        return int(value.number_value)
    return value.number_value


def utterance_deltas_pb(
    listener: str, speaker: str, state: SessionState, deltas: UtteranceDeltas
) -> list[narrative_pb2.StateDelta]:
    after_emotion = state.emotions[listener].as_dict()
    changes = [
        narrative_pb2.StateDelta(
            character_id=listener, kind="emotion", axis=axis, before=after_emotion[axis] - delta, after=after_emotion[axis]
        )
        for axis, delta in deltas.emotion.items()
        if delta
    ]
    regard = state.relationships.get(listener, {}).get(speaker, {})
    changes += [
        narrative_pb2.StateDelta(
            character_id=listener, kind="relationship", axis=axis, other_id=speaker,
            before=regard.get(axis, 0.0) - delta, after=regard.get(axis, 0.0),
        )
        for axis, delta in deltas.relationship.items()
        if delta
    ]
    return changes
