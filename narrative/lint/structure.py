"""L10x: the shape of the graph. Can every beat be played, and does every playthrough end?"""

from __future__ import annotations

from collections.abc import Iterator

from narrative.diagnostics import H, Rule, Severity
from narrative.lint.codes import LintCode
from narrative.lint.context import LintContext, LintFinding, emits

_LISTED = 5
"""Beats named in a message about a group of beats; the rest are counted."""


UNREACHABLE_BEAT = Rule(
    LintCode.UNREACHABLE_BEAT, Severity.WARNING, "a beat no playthrough can reach from the start",
    "add a choice that leads to it, or delete it",
    H + "beats: [{id: a, summary: A}, {id: b, summary: B}, {id: e, summary: E, ending: true}]\n"
    "choices: [{id: a_e, from: a, to: e, text: t}, {id: b_e, from: b, to: e, text: t}]\n",
)
UNREACHABLE_ENDING = Rule(
    LintCode.UNREACHABLE_ENDING, Severity.WARNING, "an ending no playthrough can reach",
    "add a path of choices to it, or relax the conditions on the way",
    H + "beats: [{id: a, summary: A}, {id: e1, summary: E1, ending: true}, {id: e2, summary: E2, ending: true}]\n"
    "choices: [{id: a_e1, from: a, to: e1, text: t}]\n",
)
DEAD_END = Rule(
    LintCode.DEAD_END, Severity.ERROR,
    "a beat that is not an ending and has no choice out: a playthrough gets stuck there",
    "add a choice out of it, or mark it `ending: true`",
    H + "beats: [{id: a, summary: A}, {id: b, summary: B}]\nchoices: [{id: a_b, from: a, to: b, text: t}]\n",
)
TRAP_CYCLE = Rule(
    LintCode.TRAP_CYCLE, Severity.ERROR,
    "beats that lead only to each other (or one only to itself), with no ending among them: a playthrough never ends",
    "add a choice that leaves the loop, or make one of its beats an ending",
    H + "beats: [{id: a, summary: A}, {id: l1, summary: L1}, {id: l2, summary: L2}, {id: e, summary: E, ending: true}]\n"
    "choices: [{id: a_l1, from: a, to: l1, text: t}, {id: a_e, from: a, to: e, text: t},\n"
    "  {id: l1_l2, from: l1, to: l2, text: t}, {id: l2_l1, from: l2, to: l1, text: t}]\n",
)  # fmt: skip


@emits(UNREACHABLE_BEAT, UNREACHABLE_ENDING)
def unreachable_beats(context: LintContext) -> Iterator[LintFinding]:
    """Beats (L101) and endings (L103) that no playthrough reaches: no path of choices leads
    there, or every path passes a choice whose condition can never be true on it."""
    graph = context.graph
    for beat in graph.beats:
        if beat.id in context.ranges:
            continue
        code = LintCode.UNREACHABLE_ENDING if beat.ending else LintCode.UNREACHABLE_BEAT
        kind = "ending" if beat.ending else "beat"
        if beat.id in context.reachable:
            why = "every path to it passes a choice whose condition can never be true there (see L120, L121, L142)"
        else:
            why = f"no path of choices from the start beat {graph.story.start!r} leads to it"
        yield LintFinding(code, f"{kind} {beat.id!r} is never reached: {why}", context.beat_path(beat.id))


@emits(DEAD_END)
def dead_ends(context: LintContext) -> Iterator[LintFinding]:
    """L102: non-ending beats without a choice out."""
    for beat in context.graph.beats:
        if not beat.ending and not context.graph.choices_from(beat.id):
            yield LintFinding(
                LintCode.DEAD_END,
                f"beat {beat.id!r} is not an ending and has no choice out",
                context.beat_path(beat.id),
            )


@emits(TRAP_CYCLE)
def trap_cycles(context: LintContext) -> Iterator[LintFinding]:
    """L104: strongly connected beats that no choice leaves and that hold no ending.

    A single beat counts only with a choice back to itself; without one it is a dead end (L102).
    Linear: the components are computed once, then each choice is looked at once.
    """
    graph = context.graph
    parts = context.components
    order = {beat.id: i for i, beat in enumerate(graph.spec.beats)}
    traps = []
    for component in parts.loops:
        beats = parts.members[component]
        if any(graph.beat(b).ending for b in beats):
            continue
        if any(parts.index[choice.to] != component for b in beats for choice in graph.choices_from(b)):
            continue
        traps.append(sorted(beats, key=order.__getitem__))
    for trap in sorted(traps, key=lambda trap: order[trap[0]]):
        if len(trap) == 1:
            message = f"beat {trap[0]!r} leads only to itself and is not an ending: a playthrough there never ends"
        else:
            shown = ", ".join(repr(b) for b in trap[:_LISTED])
            more = f" and {len(trap) - _LISTED} more" if len(trap) > _LISTED else ""
            message = f"beats {shown}{more} lead only to each other and none is an ending: a playthrough there never ends"
        yield LintFinding(LintCode.TRAP_CYCLE, message, context.beat_path(trap[0]))
