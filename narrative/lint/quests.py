"""L13x: quests whose steps the graph does not let a player take in the listed order."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import networkx as nx

from narrative.diagnostics import H, Rule, Severity
from narrative.lint.codes import LintCode
from narrative.lint.context import LintContext, LintFinding, emits

_QUEST = (
    "beats: [{id: a, summary: A}, {id: b, summary: B}, {id: c, summary: C}, {id: e, summary: E, ending: true}]\n"
    "choices: [{id: a_b, from: a, to: b, text: t}, {id: b_c, from: b, to: c, text: t}, {id: c_e, from: c, to: e, text: t}]\n"
    "quests: [{id: q, title: Q, steps: [{beat: c}, {beat: b}]}]\n"
)
QUEST_STEP_UNREACHABLE = Rule(
    LintCode.QUEST_STEP_UNREACHABLE, Severity.WARNING, "a quest step that no path reaches from the step before it",
    "reorder the steps, or add a path of choices between them", H + _QUEST,
)
QUEST_STEPS_INVERTED = Rule(
    LintCode.QUEST_STEPS_INVERTED, Severity.WARNING,
    "a quest step that every path reaches only after passing the step listed after it", "swap the two steps",
    H + _QUEST.replace("{id: c_e,", "{id: c_b, from: c, to: b, text: t}, {id: c_e,"),
)  # fmt: skip


@emits(QUEST_STEP_UNREACHABLE, QUEST_STEPS_INVERTED)
def quest_order(context: LintContext) -> Iterator[LintFinding]:
    """For consecutive steps A then B of a quest: L130 when no path leads from A to B, L131 when
    every path from the start to A passes B first (B dominates A), so the player always does
    the later step before the earlier one. Steps on beats nothing reaches are left to L101.
    """
    graph = context.graph
    digraph = graph.digraph
    dominators: Mapping[str, str] | None = None
    for q, quest in enumerate(graph.spec.quests):
        for k in range(1, len(quest.steps)):
            earlier, later = quest.steps[k - 1].beat, quest.steps[k].beat
            if earlier == later or not {earlier, later} <= context.reachable:
                continue
            path = ("quests", q, "steps", k, "beat")
            if not nx.has_path(digraph, earlier, later):
                yield LintFinding(
                    LintCode.QUEST_STEP_UNREACHABLE,
                    f"quest {quest.id!r}: step {k + 1} ({later!r}) cannot follow step {k} ({earlier!r}): "
                    f"no path of choices leads from {earlier!r} to {later!r}",
                    path,
                )
                continue
            if dominators is None:
                dominators = nx.immediate_dominators(digraph, graph.story.start)
            if _dominates(dominators, later, earlier):
                yield LintFinding(
                    LintCode.QUEST_STEPS_INVERTED,
                    f"quest {quest.id!r}: every path to step {k} ({earlier!r}) passes step {k + 1} ({later!r}) first",
                    path,
                )


def _dominates(dominators: Mapping[str, str], ruler: str, beat: str) -> bool:
    """Whether every path from the start to `beat` passes `ruler` (walking up the dominator tree)."""
    while beat != ruler:
        parent = dominators.get(beat)
        if parent is None or parent == beat:
            return False
        beat = parent
    return True
