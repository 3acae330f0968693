"""Checks a schema cannot express: ids unique, references resolved, conditions well-typed.

Each finding carries the path of the offending value in the file (and, for conditions, the offset
inside the condition text), so the loader can point at file:line:column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from narrative.diagnostics import Code
from narrative.errors import ExpressionError
from narrative.expressions import Expr, check_condition, parse
from narrative.index import GraphIndex, character_problems, effect_problems
from narrative.schema import Effect, PlotGraphSpec


@dataclass(frozen=True)
class Finding:
    code: Code
    message: str
    path: tuple[str | int, ...]
    offset: int | None = None  # character offset inside a condition


def check_spec(spec: PlotGraphSpec, index: GraphIndex) -> tuple[dict[str, Expr], list[Finding]]:
    """Parsed conditions by choice id, and every integrity problem found (empty when sound)."""
    findings: list[Finding] = []
    for section in ("characters", "variables", "facts", "beats", "choices", "quests"):
        findings += _duplicates(section, [item.id for item in getattr(spec, section)])

    if spec.story.start not in index.beats:
        findings.append(_unknown_beat(spec.story.start, ("story", "start")))

    for i, declared in enumerate(spec.characters):
        for j, fact in enumerate(declared.knows):
            if fact not in index.facts:
                findings.append(
                    Finding(Code.UNKNOWN_FACT, f"unknown fact {fact!r}", ("characters", i, "knows", j))
                )

    pairs: set[tuple[str, str]] = set()
    for i, relationship in enumerate(spec.relationships):
        pair = (relationship.from_, relationship.to)
        if pair in pairs:
            findings.append(
                Finding(
                    Code.DUPLICATE_ID,
                    f"relationship {pair[0]} -> {pair[1]} is declared twice",
                    ("relationships", i),
                )
            )
        pairs.add(pair)
        for field, character in (("from", relationship.from_), ("to", relationship.to)):
            findings += _character(index, character, ("relationships", i, field), npc_only=False)

    for i, beat in enumerate(spec.beats):
        for j, character in enumerate(beat.characters):
            findings += _character(index, character, ("beats", i, "characters", j), npc_only=True)
        for character in beat.target_emotion:
            findings += _character(index, character, ("beats", i, "target_emotion", character), npc_only=True)
        findings += _effects(beat.effects, index, ("beats", i))

    conditions: dict[str, Expr] = {}
    for i, choice in enumerate(spec.choices):
        for field, beat_id in (("from", choice.from_), ("to", choice.to)):
            if beat_id not in index.beats:
                findings.append(_unknown_beat(beat_id, ("choices", i, field)))
        source = index.beats.get(choice.from_)
        if source is not None and source.ending:
            findings.append(
                Finding(
                    Code.CHOICE_FROM_ENDING,
                    f"choice {choice.id!r} leaves ending beat {source.id!r}",
                    ("choices", i, "from"),
                )
            )
        if choice.condition is not None:
            expr, condition_findings = _condition(choice.condition, index, ("choices", i, "condition"))
            findings += condition_findings
            if expr is not None:
                conditions.setdefault(choice.id, expr)
        findings += _effects(choice.effects, index, ("choices", i))

    for i, quest in enumerate(spec.quests):
        for j, step in enumerate(quest.steps):
            if step.beat not in index.beats:
                findings.append(_unknown_beat(step.beat, ("quests", i, "steps", j, "beat")))
        for j, prerequisite in enumerate(quest.prerequisites):
            if prerequisite not in index.quests:
                findings.append(
                    Finding(
                        Code.UNKNOWN_QUEST,
                        f"unknown quest {prerequisite!r}",
                        ("quests", i, "prerequisites", j),
                    )
                )
    return conditions, findings


def _duplicates(section: str, ids: Sequence[str]) -> list[Finding]:
    first: dict[str, int] = {}
    findings = []
    for i, item_id in enumerate(ids):
        if item_id in first:
            findings.append(
                Finding(
                    Code.DUPLICATE_ID,
                    f"{section} id {item_id!r} is already used by {section}[{first[item_id]}]",
                    (section, i, "id"),
                )
            )
        first.setdefault(item_id, i)
    return findings


def _unknown_beat(beat_id: str, path: tuple[str | int, ...]) -> Finding:
    return Finding(Code.UNKNOWN_BEAT, f"unknown beat {beat_id!r}", path)


def _character(
    index: GraphIndex, character: str, path: tuple[str | int, ...], *, npc_only: bool
) -> list[Finding]:
    return [
        Finding(problem.code, problem.message, path)
        for problem in character_problems(index, character, str(path[-1]), npc_only=npc_only)
    ]


def _effects(effects: Sequence[Effect], index: GraphIndex, owner: tuple[str | int, ...]) -> list[Finding]:
    return [
        Finding(problem.code, problem.message, (*owner, "effects", i, problem.field))
        for i, effect in enumerate(effects)
        for problem in effect_problems(effect, index)
    ]


def _condition(
    text: str, index: GraphIndex, path: tuple[str | int, ...]
) -> tuple[Expr | None, list[Finding]]:
    try:
        expr = parse(text)
    except ExpressionError as error:
        return None, [Finding(Code.EXPRESSION_SYNTAX, error.message, path, error.column)]
    issues = check_condition(expr, index.symbols)
    return (None if issues else expr), [
        Finding(issue.code, issue.message, path, issue.column) for issue in issues
    ]
