"""L10x: the shape of the graph. Can every beat be played, and does every playthrough end?"""

from __future__ import annotations

from collections.abc import Iterator

from narrative.lint.codes import LintCode
from narrative.lint.context import LintContext, LintFinding

_LISTED = 5
"""Beats named in a message about a group of beats; the rest are counted."""


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


def dead_ends(context: LintContext) -> Iterator[LintFinding]:
    """L102: non-ending beats without a choice out."""
    for beat in context.graph.beats:
        if not beat.ending and not context.graph.choices_from(beat.id):
            yield LintFinding(
                LintCode.DEAD_END,
                f"beat {beat.id!r} is not an ending and has no choice out",
                context.beat_path(beat.id),
            )


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
