"""The linter's codes: one table with the severity, meaning and fixing hint of each.

Lint codes (`L1xx`) are apart from the loader's (`E0xx`): a load error means the file cannot be
played at all, a lint finding means it can be played but probably not as the designer meant.
Codes are stable; the tens digit names the family (and the module that checks it):
L10x structure, L11x variables, L12x conditions, L13x quests, L14x characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from narrative.diagnostics import Severity


class LintCode(StrEnum):
    UNREACHABLE_BEAT = "L101"
    DEAD_END = "L102"
    UNREACHABLE_ENDING = "L103"
    TRAP_CYCLE = "L104"
    READ_NEVER_WRITTEN = "L110"
    WRITTEN_NEVER_READ = "L111"
    UNUSED_VARIABLE = "L112"
    CONTRADICTORY_CONDITION = "L120"
    UNSATISFIABLE_GATE = "L121"
    QUEST_STEP_UNREACHABLE = "L130"
    QUEST_STEPS_INVERTED = "L131"
    REMOVED_CHARACTER_PRESENT = "L140"
    EMOTION_ARC_BREAK = "L141"
    KNOWLEDGE_LEAK = "L142"


@dataclass(frozen=True)
class Rule:
    severity: Severity
    meaning: str
    hint: str


_ERROR, _WARNING = Severity.ERROR, Severity.WARNING

DEFAULT_EMOTION_SHIFT_THRESHOLD = 0.2
"""Smallest shift_emotion amount that explains a change of target emotion (L141)."""

LINT_RULES: dict[LintCode, Rule] = {
    LintCode.UNREACHABLE_BEAT: Rule(
        _WARNING,
        "a beat no playthrough can reach from the start",
        "add a choice that leads to it, or delete it",
    ),
    LintCode.DEAD_END: Rule(
        _ERROR,
        "a beat that is not an ending and has no choice out: a playthrough gets stuck there",
        "add a choice out of it, or mark it `ending: true`",
    ),
    LintCode.UNREACHABLE_ENDING: Rule(
        _WARNING,
        "an ending no playthrough can reach",
        "add a path of choices to it, or relax the conditions on the way",
    ),
    LintCode.TRAP_CYCLE: Rule(
        _ERROR,
        "beats that lead only to each other, with no ending among them: a playthrough never ends",
        "add a choice that leaves the loop, or make one of its beats an ending",
    ),
    LintCode.READ_NEVER_WRITTEN: Rule(
        _WARNING,
        "a variable that conditions read but no effect changes, so it always holds its default",
        "add an effect that sets it, or compare with its default directly (ignore if the game sets it by events)",
    ),
    LintCode.WRITTEN_NEVER_READ: Rule(
        _WARNING,
        "a variable that effects change but no condition reads",
        "use it in a condition, or remove it (ignore if the game reads it from the session)",
    ),
    LintCode.UNUSED_VARIABLE: Rule(
        _WARNING,
        "a declared variable that nothing reads or writes",
        "remove it, or use it",
    ),
    LintCode.CONTRADICTORY_CONDITION: Rule(
        _ERROR,
        "a condition that is false for every value its variables can hold, so the choice is never offered",
        "check the comparisons joined by `and`, and the variables' min/max",
    ),
    LintCode.UNSATISFIABLE_GATE: Rule(
        _WARNING,
        "a condition that no path of choices can make true where it is asked",
        "check the effects on the way and who the beat lists as present (ignore if the game sets variables by events)",
    ),
    LintCode.QUEST_STEP_UNREACHABLE: Rule(
        _WARNING,
        "a quest step that no path reaches from the step before it",
        "reorder the steps, or add a path of choices between them",
    ),
    LintCode.QUEST_STEPS_INVERTED: Rule(
        _WARNING,
        "a quest step that every path reaches only after passing the step listed after it",
        "swap the two steps",
    ),
    LintCode.REMOVED_CHARACTER_PRESENT: Rule(
        _WARNING,
        "a character listed in a beat that some path reaches after the character left or died",
        "remove the character from the beat, or the leave/die effect from that path",
    ),
    LintCode.EMOTION_ARC_BREAK: Rule(
        _WARNING,
        "a character's target emotion changes between two consecutive beats with nothing that explains it",
        "add a shift_emotion effect toward the new emotion on the choice or the beat",
    ),
    LintCode.KNOWLEDGE_LEAK: Rule(
        _WARNING,
        "a condition needs a character to know a fact that no path lets them learn",
        "add a `learn` effect on the way, or list the fact in the character's `knows`",
    ),
}
