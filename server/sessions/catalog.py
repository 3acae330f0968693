"""The plot graphs this server can start sessions from.

Graphs come from the configured files/folders at start-up and from clients (LoadGraph).
Each loaded graph's source is also kept in the store, so sessions started from a graph a
client sent survive a restart together with it.

A graph id names one version at a time, and a stored session must always fit the version its id
names: a new version that no longer fits one of them (a beat, variable or character it uses is
gone) is refused, and at start-up a configured file does not replace a version a client loaded
under the same id.
"""

from __future__ import annotations

import logging
from pathlib import Path

from narrative.diagnostics import Diagnostic, Severity
from narrative.errors import GraphLoadError
from narrative.graph import PlotGraph
from narrative.lint import lint_text
from narrative.loader import analyse_graph_text
from narrative.state import SessionState
from server.config import LimitSettings
from server.errors import FailedPrecondition, InvalidArgument, NotFound
from server.sessions.store import SessionStore, StoredGraph

log = logging.getLogger("storyteller.graphs")

GRAPH_SUFFIXES = (".yaml", ".yml", ".json")

_HOLDS = {"bool": (bool,), "int": (int,), "float": (int, float), "string": (str,)}


def mismatch(graph: PlotGraph, state: SessionState) -> str | None:
    """What in a session's state the graph (e.g. a new version a client loaded under the same id) no
    longer declares; None when every beat, variable and character the state names is still there."""
    beats = {beat.id for beat in graph.beats}
    gone = next((b for b in (state.current_beat, *state.visited) if b not in beats), None)
    if gone is not None:
        return f"it has no beat {gone!r}"
    variables = {variable.id: variable for variable in graph.variables}
    changed = sorted(set(state.variables) ^ set(variables))
    if changed:
        return f"variable {changed[0]!r} was added or removed"
    for name, value in state.variables.items():
        kind = variables[name].type
        if isinstance(value, bool) != (kind == "bool") or not isinstance(value, _HOLDS[kind]):
            return f"variable {name!r} is now a {kind}"
    characters = {character.id for character in graph.characters}
    changed = sorted(set(state.emotions) ^ characters)
    if changed:
        return f"character {changed[0]!r} was added or removed"
    return None


class GraphCatalog:
    def __init__(self, store: SessionStore, limits: LimitSettings) -> None:
        self._store = store
        self._limits = limits
        self._graphs: dict[str, PlotGraph] = {}
        self._filenames: dict[str, str] = {}  # graph id -> the file name its version was loaded as

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

    def load(self, source: str, filename: str, replace_others: bool = True) -> tuple[PlotGraph, list[Diagnostic]]:
        """Checks, stores and serves a graph; returns it with its warnings. A graph with errors
        raises GraphLoadError; a new version that no longer fits a stored session of its id, or
        (with `replace_others` False) one whose id holds a version loaded under another file
        name, raises FailedPrecondition."""
        graph, diagnostics = self.analyse(source, filename)
        if graph is None:
            raise GraphLoadError([d for d in diagnostics if d.severity is Severity.ERROR])
        graph_id = graph.story.id
        loaded_as = self._filenames.get(graph_id)
        if not replace_others and loaded_as not in (None, filename):
            raise FailedPrecondition(f"graph {graph_id!r} is loaded from {loaded_as!r}, which stays")
        self._check_sessions_fit(graph)
        self._store.put_graph(StoredGraph(graph_id, filename, source))
        self._graphs[graph_id] = graph
        self._filenames[graph_id] = filename
        return graph, diagnostics

    def _check_sessions_fit(self, graph: PlotGraph) -> None:
        unfit = [
            (stored.session_id, problem)
            for stored in self._store.sessions_of(graph.story.id)
            if (problem := mismatch(graph, SessionState.from_json(stored.state_json))) is not None
        ]
        if unfit:
            session_id, problem = unfit[0]
            raise FailedPrecondition(
                f"this version of graph {graph.story.id!r} no longer fits {len(unfit)} of its sessions "
                f"(session {session_id!r}: {problem}); end them first, or load it under another story id"
            )

    def restore(self) -> None:
        """Graphs stored by an earlier run, so their sessions can go on."""
        for stored in self._store.graphs():
            graph, diagnostics = analyse_graph_text(stored.source, stored.filename)
            if graph is None:
                log.error("stored graph no longer loads", extra={"graph": stored.graph_id, "errors": len(diagnostics)})
                continue
            self._graphs[stored.graph_id] = graph
            self._filenames[stored.graph_id] = stored.filename

    def load_paths(self, paths: tuple[Path, ...]) -> None:
        """Graph files, and every graph file in the given folders; a broken file is logged and skipped,
        and so is one whose id holds a version a client loaded (see `load`)."""
        for path in paths:
            files = sorted(p for p in path.iterdir() if p.suffix in GRAPH_SUFFIXES) if path.is_dir() else [path]
            for file in files:
                try:
                    graph, _ = self.load(file.read_text(encoding="utf-8"), str(file), replace_others=False)
                except (OSError, GraphLoadError, InvalidArgument, FailedPrecondition) as exc:
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

