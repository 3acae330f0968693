"""The plot graphs this server can start sessions from.

Graphs come from the configured files/folders at start-up and from clients (LoadGraph).
Each loaded graph's source is also kept in the store, so sessions started from a graph a
client sent survive a restart together with it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from narrative.diagnostics import Diagnostic, Severity
from narrative.errors import GraphLoadError
from narrative.graph import PlotGraph
from narrative.lint import lint_text
from narrative.loader import analyse_graph_text
from server.config import LimitSettings
from server.errors import InvalidArgument, NotFound
from server.sessions.store import SessionStore, StoredGraph

log = logging.getLogger("storyteller.graphs")

GRAPH_SUFFIXES = (".yaml", ".yml", ".json")


class GraphCatalog:
    def __init__(self, store: SessionStore, limits: LimitSettings) -> None:
        self._store = store
        self._limits = limits
        self._graphs: dict[str, PlotGraph] = {}

    def analyse(self, source: str, filename: str) -> tuple[PlotGraph | None, list[Diagnostic]]:
        """Parses and checks a graph within the size limits; stores nothing."""
        size = len(source.encode("utf-8"))
        if size > self._limits.max_graph_bytes:
            raise InvalidArgument("source", f"graph is {size} bytes; the limit is {self._limits.max_graph_bytes}")
        if not source.strip():
            raise InvalidArgument("source", "graph source is empty")
        graph, diagnostics = lint_text(source, filename)
        if graph is not None and len(graph.beats) > self._limits.max_beats:
            raise InvalidArgument("source", f"graph has {len(graph.beats)} beats; the limit is {self._limits.max_beats}")
        # Lint errors (a dead end, a condition that is never true) refuse the graph too.
        if any(d.severity is Severity.ERROR for d in diagnostics):
            graph = None
        return graph, diagnostics

    def load(self, source: str, filename: str) -> tuple[PlotGraph, list[Diagnostic]]:
        """Checks, stores and serves a graph; returns it with its warnings. A graph with
        errors raises GraphLoadError."""
        graph, diagnostics = self.analyse(source, filename)
        if graph is None:
            raise GraphLoadError([d for d in diagnostics if d.severity is Severity.ERROR])
        self._store.put_graph(StoredGraph(graph.story.id, filename, source))
        self._graphs[graph.story.id] = graph
        return graph, diagnostics

    def restore(self) -> None:
        """Graphs stored by an earlier run, so their sessions can go on."""
        for stored in self._store.graphs():
            graph, diagnostics = analyse_graph_text(stored.source, stored.filename)
            if graph is None:
                log.error("stored graph no longer loads", extra={"graph": stored.graph_id, "errors": len(diagnostics)})
                continue
            self._graphs[stored.graph_id] = graph

    def load_paths(self, paths: tuple[Path, ...]) -> None:
        """Graph files, and every graph file in the given folders; a broken file is logged and skipped."""
        for path in paths:
            files = sorted(p for p in path.iterdir() if p.suffix in GRAPH_SUFFIXES) if path.is_dir() else [path]
            for file in files:
                try:
                    graph, _ = self.load(file.read_text(encoding="utf-8"), str(file))
                except (OSError, GraphLoadError, InvalidArgument) as exc:
                    log.error("graph not loaded: %s", exc, extra={"file": str(file)})
                    continue
                log.info("graph loaded", extra={"graph": graph.story.id, "file": str(file)})

    def get(self, graph_id: str) -> PlotGraph:
        try:
            return self._graphs[graph_id]
        except KeyError:
            raise NotFound("graph", graph_id) from None

    def all(self) -> list[PlotGraph]:
        return [self._graphs[graph_id] for graph_id in sorted(self._graphs)]

