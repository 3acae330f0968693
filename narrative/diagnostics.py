"""Diagnostics: what a designer reads when a plot graph is wrong.

Codes are stable so that designers, editors and CI can filter on them; the message may improve
over time, the code never changes meaning. Each code has one `Rule`: the loader's are here, the
linter's are declared by the checks that emit them, and docs/lint-codes.md is generated from both.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from narrative.lint.codes import LintCode


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Code(StrEnum):
    YAML_SYNTAX = "E001"
    DUPLICATE_KEY = "E002"
    MISSING_FIELD = "E003"
    UNKNOWN_FIELD = "E004"
    INVALID_VALUE = "E005"
    DUPLICATE_ID = "E006"
    UNKNOWN_BEAT = "E007"
    UNKNOWN_CHARACTER = "E008"
    UNKNOWN_FACT = "E009"
    UNKNOWN_VARIABLE = "E010"
    UNKNOWN_QUEST = "E011"
    EXPRESSION_SYNTAX = "E012"
    EXPRESSION_TYPE = "E013"
    EFFECT_VALUE = "E014"
    CHOICE_FROM_ENDING = "E015"
    PLAYER_NOT_NPC = "E016"


H = "story: {id: s, title: S, style: mystery, start: a}\n"
"""The story line every example opens with."""


@dataclass(frozen=True)
class Rule:
    """One diagnostic code, described once: what it means, how bad it is, how to fix it, and a graph
    that has it. The loader's rules are below; each lint check declares its own (narrative.lint), and
    docs/lint-codes.md is generated from all of them."""

    code: Code | LintCode
    severity: Severity
    meaning: str
    hint: str
    example: str  # a whole graph file that gets this code


_E = Severity.ERROR

LOADER_RULES: tuple[Rule, ...] = (
    Rule(
        Code.YAML_SYNTAX, _E, "the file is not valid YAML (or JSON for .json files)",
        "check indentation and quoting around the reported position",
        H + "beats:\n  - id: a\n    summary: Start.\n   ending: true\n",
    ),
    Rule(
        Code.DUPLICATE_KEY, _E, "a mapping repeats a key; YAML would silently keep only the last one",
        "remove or rename one of the keys",
        H + "beats:\n  - id: a\n    summary: Start.\n    summary: Again.\n",
    ),
    Rule(
        Code.MISSING_FIELD, _E, "a required field is absent", "add the field",
        H + "beats:\n  - {id: a, summary: Start.}\n  - {id: b, location: Nowhere}\n",
    ),
    Rule(
        Code.UNKNOWN_FIELD, _E, "a field the format does not define (often a typo)",
        "check the spelling against narrative/plotgraph.schema.json",
        H + "beats:\n  - {id: a, sumary: Start.}\n",
    ),
    Rule(
        Code.INVALID_VALUE, _E, "a value of the wrong type or out of its range",
        "write a value of the type and range narrative/plotgraph.schema.json gives for the field",
        H + "characters: [{id: tom, name: Tom}]\nrelationships: [{from: tom, to: player, trust: 1.5}]\n"
        "beats: [{id: a, summary: Start.}]\n",
    ),
    Rule(
        Code.DUPLICATE_ID, _E, "two things of the same kind share an id", "give each one a unique id",
        H + "beats:\n  - {id: a, summary: Start.}\n  - {id: a, summary: Again.}\n",
    ),
    Rule(
        Code.UNKNOWN_BEAT, _E, "a reference to a beat that is not defined", "define the beat or fix the id",
        H + "beats: [{id: a, summary: Start.}]\nchoices: [{id: go, from: a, to: cellar, text: Go down.}]\n",
    ),
    Rule(
        Code.UNKNOWN_CHARACTER, _E, "a reference to a character that is not defined",
        "define the character or fix the id; the player is the built-in id 'player'",
        H + "characters: [{id: tom, name: Tom}]\nbeats: [{id: a, summary: Start., characters: [tom, mara]}]\n",
    ),
    Rule(
        Code.UNKNOWN_FACT, _E, "a reference to a fact that is not defined", "add it under facts:",
        H + "characters: [{id: tom, name: Tom, knows: [secret]}]\nbeats: [{id: a, summary: Start.}]\n",
    ),
    Rule(
        Code.UNKNOWN_VARIABLE, _E, "a reference to a variable that is not defined",
        "add it under variables: with a type and a default",
        H + "beats: [{id: a, summary: Start., effects: [{do: add, variable: clues, amount: 1}]}]\n",
    ),
    Rule(
        Code.UNKNOWN_QUEST, _E, "a reference to a quest that is not defined", "define the quest or fix the id",
        H + "beats: [{id: a, summary: Start.}]\nquests: [{id: q, title: Q, steps: [{beat: a}], prerequisites: [prologue]}]\n",
    ),
    Rule(
        Code.EXPRESSION_SYNTAX, _E, "a condition that does not parse",
        "conditions use and/or/not, comparisons, + - * /, and calls such as visited(beat)",
        H + "variables: [{id: clues, type: int}]\nbeats: [{id: a, summary: Start.}, {id: b, summary: End., ending: true}]\n"
        "choices: [{id: go, from: a, to: b, text: Go., condition: 'clues >= and true'}]\n",
    ),
    Rule(
        Code.EXPRESSION_TYPE, _E,
        "a condition whose types do not fit (e.g. a bool compared with a number, a wrong call)",
        "a condition must be true/false; compare numbers with numbers",
        H + "variables: [{id: clues, type: int}]\nbeats: [{id: a, summary: Start.}, {id: b, summary: End., ending: true}]\n"
        "choices: [{id: go, from: a, to: b, text: Go., condition: 'clues == true'}]\n",
    ),
    Rule(
        Code.EFFECT_VALUE, _E, "an effect whose value does not fit the variable's type or range",
        "use a value of the declared type, within min/max",
        H + "variables: [{id: clues, type: int, min: 0, max: 5}]\n"
        "beats: [{id: a, summary: Start., effects: [{do: set, variable: clues, value: 9}]}]\n",
    ),
    Rule(
        Code.CHOICE_FROM_ENDING, _E, "a choice leaves an ending beat, but a playthrough stops at an ending",
        "remove the choice or set ending: false",
        H + "beats: [{id: a, summary: Start.}, {id: b, summary: End., ending: true}]\n"
        "choices: [{id: go, from: a, to: b, text: Go.}, {id: back, from: b, to: a, text: Again.}]\n",
    ),
    Rule(
        Code.PLAYER_NOT_NPC, _E,
        "the player is used where only a non-player character fits (e.g. an emotion)",
        "the player has no tracked emotion and is always present",
        H + "beats: [{id: a, summary: Start., effects: [{do: shift_emotion, character: player, axis: joy, amount: 0.5}]}]\n",
    ),
)  # fmt: skip
"""Every code the loader reports, in code order."""

LOADER_RULE: dict[Code | LintCode, Rule] = {rule.code: rule for rule in LOADER_RULES}


@dataclass(frozen=True)
class Diagnostic:
    """One problem at a position in a file; line and column are 1-based like editors show them."""

    code: Code | LintCode
    severity: Severity
    message: str
    file: str
    line: int
    column: int
    hint: str = ""

    def format(self) -> str:
        """`file:line:column: CODE severity: message (hint: ...)`, the form editors and CI logs
        turn into links; loader (E) and linter (L) diagnostics print alike."""
        text = f"{self.file}:{self.line}:{self.column}: {self.code} {self.severity}: {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text
