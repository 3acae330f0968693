"""Algorithms over a `PlotGraph`, as plain functions (the networkx way)."""

from __future__ import annotations

import networkx as nx

from narrative.graph import PlotGraph


def reachable_beats(graph: PlotGraph) -> frozenset[str]:
    """Ids of beats some path of choices reaches from the start, ignoring conditions.

    An over-approximation: a beat outside it can never be played; one inside may still be
    unreachable if conditions always block the way. For a graph `dock -> stairs -> lamp_room`
    plus an orphan beat `attic`, the result is {"dock", "stairs", "lamp_room"}.
    """
    start = graph.story.start
    return frozenset(nx.descendants(graph.digraph, start) | {start})
