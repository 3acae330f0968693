"""Forward dataflow over a plot graph: facts about every path, computed to a fixpoint.

`solve_forward` serves analyses that ask "what can be true on entering this beat?": each says
what passing through a beat and taking a choice does to its facts, and how facts from two paths
merge. Beats wait in reverse postorder (a beat after the beats that lead to it, loops aside), so
facts flow through acyclic parts in one pass; only loops make a beat's facts grow again, and
analyses with tall lattices (number intervals) bound that by widening after a few growths.

`may_sets` is the special case where facts only accumulate (bits set on some path, never
cleared); it needs no iteration: beats that lead to each other (a strongly connected component)
share what enters any of them, so one pass over the components in topological order is exact
and linear in beats + choices.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import networkx as nx

from narrative.graph import PlotGraph
from narrative.schema import Beat, Choice, Effect

F = TypeVar("F")

WIDEN_AFTER = 2
"""Growths of a beat's facts before `widen` replaces `join` there."""


def solve_forward(
    graph: PlotGraph,
    entry: F,
    *,
    through_beat: Callable[[Beat, F], F],
    through_choice: Callable[[Choice, F], F | None],
    join: Callable[[F, F], F],
    widen: Callable[[F, F], F] | None = None,
) -> dict[str, F]:
    """Facts on entering each beat some path reaches (from `entry` at the start), before the
    beat's own effects; `through_choice` returns None for a choice that can never be taken
    with the given facts. Beats missing from the result are reached by no such path.
    """
    start = graph.story.start
    rank = {beat: i for i, beat in enumerate(reversed(list(nx.dfs_postorder_nodes(graph.digraph, start))))}
    facts: dict[str, F] = {start: entry}
    growths: dict[str, int] = {}
    queue, queued = [(rank[start], start)], {start}
    while queue:
        _, beat_id = heapq.heappop(queue)
        queued.discard(beat_id)
        leaving = through_beat(graph.beat(beat_id), facts[beat_id])
        for choice in graph.choices_from(beat_id):
            arriving = through_choice(choice, leaving)
            if arriving is None:
                continue
            target = choice.to
            before = facts.get(target)
            if before is not None:
                merged = join(before, arriving)
                if merged == before:
                    continue
                count = growths[target] = growths.get(target, 0) + 1
                arriving = widen(before, merged) if widen is not None and count > WIDEN_AFTER else merged
            facts[target] = arriving
            if target not in queued:
                queued.add(target)
                heapq.heappush(queue, (rank[target], target))
    return facts


@dataclass(frozen=True)
class Components:
    """The graph's strongly connected components (beats that lead to each other), in an order
    where every choice between two components goes from an earlier one to a later one."""

    members: tuple[tuple[str, ...], ...]
    """Beats of each component, in topological order of the components."""
    index: Mapping[str, int]
    """Beat id -> position of its component in `members`."""
    loops: frozenset[int]
    """Components a playthrough can go round: more than one beat, or a choice back to itself."""


def components(graph: PlotGraph) -> Components:
    """Tarjan's algorithm (networkx), then Kahn's topological sort of the components; linear."""
    found = [tuple(c) for c in nx.strongly_connected_components(graph.digraph)]
    of = {beat: i for i, members in enumerate(found) for beat in members}
    successors: list[list[int]] = [[] for _ in found]
    waiting = [0] * len(found)
    loops = {i for i, members in enumerate(found) if len(members) > 1}
    for choice in graph.choices:
        source, target = of[choice.from_], of[choice.to]
        if source == target:
            loops.add(source)
        else:
            successors[source].append(target)
            waiting[target] += 1
    ready = [i for i, count in enumerate(waiting) if count == 0]
    order: list[int] = []
    while ready:
        current = ready.pop()
        order.append(current)
        for target in successors[current]:
            waiting[target] -= 1
            if waiting[target] == 0:
                ready.append(target)
    position = {component: rank for rank, component in enumerate(order)}
    return Components(
        members=tuple(found[i] for i in order),
        index={beat: position[i] for beat, i in of.items()},
        loops=frozenset(position[i] for i in loops),
    )


@dataclass(frozen=True)
class MaySets:
    """Bit sets (Python ints) that some path has set by the time it enters or leaves a beat."""

    entering: Mapping[str, int]
    beat_bits: Mapping[str, int]

    def leaving(self, beat_id: str) -> int:
        """Bits set on some path once the beat's own effects applied; 0 for beats not reached."""
        if beat_id not in self.entering:
            return 0
        return self.entering[beat_id] | self.beat_bits.get(beat_id, 0)


def may_sets(graph: PlotGraph, parts: Components, gen: Callable[[Effect], int]) -> MaySets:
    """Which bits some path from the start sets before each beat it reaches, where `gen` maps an
    effect to the bits it sets. Bits are never cleared, so a bit absent at a beat is set on no
    path there (e.g. "no path has let this character learn this fact")."""
    beat_bits = _bits_per_owner(graph.beats, gen)
    choice_bits = _bits_per_owner(graph.choices, gen)
    arriving: dict[int, int] = {parts.index[graph.story.start]: 0}
    entering: dict[str, int] = {}
    for component, beats in enumerate(parts.members):
        if component not in arriving:
            continue  # no path from the start
        bits = arriving[component]
        if component in parts.loops:  # whatever one member sets reaches every member
            for beat in beats:
                bits |= beat_bits.get(beat, 0)
                for choice in graph.choices_from(beat):
                    if parts.index[choice.to] == component:
                        bits |= choice_bits.get(choice.id, 0)
        for beat in beats:
            entering[beat] = bits
            leaving = bits | beat_bits.get(beat, 0)
            for choice in graph.choices_from(beat):
                target = parts.index[choice.to]
                if target != component:
                    arriving[target] = arriving.get(target, 0) | leaving | choice_bits.get(choice.id, 0)
    return MaySets(entering, beat_bits)


def _bits_per_owner(owners: tuple[Beat, ...] | tuple[Choice, ...], gen: Callable[[Effect], int]) -> Mapping[str, int]:
    found: dict[str, int] = {}
    for owner in owners:
        bits = 0
        for effect in owner.effects:
            bits |= gen(effect)
        if bits:
            found[owner.id] = bits
    return found
