"""Diagnostics: what a designer reads when a plot graph is wrong.

Codes are stable so that designers, editors and CI can filter on them; the message may improve
over time, the code never changes meaning. `CODE_TABLE` is the one place that documents them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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


# code -> (what it means, default hint for fixing it)
CODE_TABLE: dict[Code, tuple[str, str]] = {
    Code.YAML_SYNTAX: (
        "the file is not valid YAML (or JSON for .json files)",
        "check indentation and quoting around the reported position",
    ),
    Code.DUPLICATE_KEY: (
        "a mapping repeats a key; YAML would silently keep only the last one",
        "remove or rename one of the keys",
    ),
    Code.MISSING_FIELD: ("a required field is absent", "add the field"),
    Code.UNKNOWN_FIELD: (
        "a field the format does not define (often a typo)",
        "check the spelling against narrative/plotgraph.schema.json",
    ),
    Code.INVALID_VALUE: (
        "a value of the wrong type or out of its range",
        "write a value of the type and range narrative/plotgraph.schema.json gives for the field",
    ),
    Code.DUPLICATE_ID: ("two things of the same kind share an id", "give each one a unique id"),
    Code.UNKNOWN_BEAT: ("a reference to a beat that is not defined", "define the beat or fix the id"),
    Code.UNKNOWN_CHARACTER: (
        "a reference to a character that is not defined",
        "define the character or fix the id; the player is the built-in id 'player'",
    ),
    Code.UNKNOWN_FACT: ("a reference to a fact that is not defined", "add it under facts:"),
    Code.UNKNOWN_VARIABLE: (
        "a reference to a variable that is not defined",
        "add it under variables: with a type and a default",
    ),
    Code.UNKNOWN_QUEST: ("a reference to a quest that is not defined", "define the quest or fix the id"),
    Code.EXPRESSION_SYNTAX: (
        "a condition that does not parse",
        "conditions use and/or/not, comparisons, + - * /, and calls such as visited(beat)",
    ),
    Code.EXPRESSION_TYPE: (
        "a condition whose types do not fit (e.g. a bool compared with a number, a wrong call)",
        "a condition must be true/false; compare numbers with numbers",
    ),
    Code.EFFECT_VALUE: (
        "an effect whose value does not fit the variable's type or range",
        "use a value of the declared type, within min/max",
    ),
    Code.CHOICE_FROM_ENDING: (
        "a choice leaves an ending beat, but a playthrough stops at an ending",
        "remove the choice or set ending: false",
    ),
    Code.PLAYER_NOT_NPC: (
        "the player is used where only a non-player character fits (e.g. an emotion)",
        "the player has no tracked emotion and is always present",
    ),
}


@dataclass(frozen=True)
class Diagnostic:
    """One problem at a position in a file; line and column are 1-based like editors show them."""

    code: str  # a Code of the loader or a LintCode; both are str enums
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
