"""Lookup of a plot graph's parts by id, and the checks that one effect makes sense in it.

Shared by the loader (which reports problems as diagnostics) and by sessions (which reject game
events with the same rules), so that an effect the loader accepts is exactly one a session can
apply.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from narrative.diagnostics import Code
from narrative.expressions import Symbols, ValueType
from narrative.schema import (
    AddVariable,
    Effect,
    FloatVariable,
    IntVariable,
    LearnFact,
    PlotGraphSpec,
    SetVariable,
    ShiftRelationship,
    Variable,
    VariableValue,
)
from narrative.vocabulary import PLAYER_ID


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


_T = TypeVar("_T", bound=_HasId)

_VALUE_TYPES: dict[str, ValueType] = {
    "bool": ValueType.BOOL,
    "int": ValueType.NUMBER,
    "float": ValueType.NUMBER,
    "string": ValueType.STRING,
}


def _by_id(items: Iterable[_T]) -> dict[str, _T]:
    """First definition wins; duplicates are reported by the loader, not hidden here."""
    found: dict[str, _T] = {}
    for item in items:
        found.setdefault(item.id, item)
    return found


class GraphIndex:
    def __init__(self, spec: PlotGraphSpec) -> None:
        self.beats = _by_id(spec.beats)
        self.characters = _by_id(spec.characters)
        self.choices = _by_id(spec.choices)
        self.facts = _by_id(spec.facts)
        self.quests = _by_id(spec.quests)
        self.variables: dict[str, Variable] = _by_id(spec.variables)
        self.symbols = Symbols(
            variables={name: _VALUE_TYPES[var.type] for name, var in self.variables.items()},
            beats=frozenset(self.beats),
            npcs=frozenset(self.characters),
            facts=frozenset(self.facts),
        )


@dataclass(frozen=True)
class Problem:
    """What is wrong with one field of an effect or event (`field` as written in the file)."""

    code: Code
    field: str
    message: str
    ref_id: str | None = None


def effect_problems(effect: Effect, index: GraphIndex) -> list[Problem]:
    """Everything that makes `effect` impossible to apply in the graph `index` describes."""
    match effect:
        case SetVariable(variable=name, value=value):
            variable = index.variables.get(name)
            if variable is None:
                return [_unknown_variable(name)]
            return value_problems(variable, value, "value")
        case AddVariable(variable=name, amount=amount):
            variable = index.variables.get(name)
            if variable is None:
                return [_unknown_variable(name)]
            if variable.type not in ("int", "float"):
                return [
                    Problem(Code.EFFECT_VALUE, "variable", f"cannot add to {variable.type} variable {name!r}")
                ]
            if variable.type == "int" and not isinstance(amount, int):
                return [Problem(Code.EFFECT_VALUE, "amount", f"int variable {name!r} needs a whole amount")]
            return []
        case ShiftRelationship(from_=source, to=target):
            return character_problems(index, source, "from", npc_only=False) + character_problems(
                index, target, "to", npc_only=False
            )
        case LearnFact(character=character, fact=fact):
            problems = character_problems(index, character, "character", npc_only=False)
            if fact not in index.facts:
                problems.append(Problem(Code.UNKNOWN_FACT, "fact", f"unknown fact {fact!r}", fact))
            return problems
        case _:  # shift_emotion, leave, die: only non-player characters have a state to change
            return character_problems(index, effect.character, "character", npc_only=True)


def value_problems(variable: Variable, value: VariableValue, field: str) -> list[Problem]:
    """Whether `value` fits the variable's declared type and bounds."""
    fits = {
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "string": isinstance(value, str),
    }[variable.type]
    if not fits:
        return [
            Problem(
                Code.EFFECT_VALUE, field, f"{variable.type} variable {variable.id!r} cannot hold {value!r}"
            )
        ]
    if isinstance(variable, IntVariable | FloatVariable):
        low, high = variable.min, variable.max
        if (low is not None and value < low) or (high is not None and value > high):  # type: ignore[operator]
            return [
                Problem(Code.EFFECT_VALUE, field, f"{value!r} is outside [{low}, {high}] of {variable.id!r}")
            ]
    return []


def _unknown_variable(name: str) -> Problem:
    return Problem(Code.UNKNOWN_VARIABLE, "variable", f"unknown variable {name!r}", name)


def character_problems(index: GraphIndex, character: str, field: str, *, npc_only: bool) -> list[Problem]:
    """Whether `character` is declared (or is the player, where the player fits)."""
    if character == PLAYER_ID:
        if npc_only:
            return [Problem(Code.PLAYER_NOT_NPC, field, "the player cannot be used here")]
        return []
    if character not in index.characters:
        return [Problem(Code.UNKNOWN_CHARACTER, field, f"unknown character {character!r}", character)]
    return []
