"""The linter's codes. The severity, meaning, hint and example of each are its `Rule`, declared by
the check that emits it (see `narrative.lint.context.emits`).

Lint codes (`L1xx`) are apart from the loader's (`E0xx`): a load error means the file cannot be
played at all, a lint finding means it can be played but probably not as the designer meant.
Codes are stable; the tens digit names the family (and the module that checks it):
L10x structure, L11x variables, L12x conditions, L13x quests, L14x characters.
"""

from __future__ import annotations

from enum import StrEnum


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


DEFAULT_EMOTION_SHIFT_THRESHOLD = 0.2
"""Smallest shift_emotion amount that explains a change of target emotion (L141)."""
