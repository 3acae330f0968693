"""Playthrough sessions: narrative's pure session functions, made durable and safe to race.

Every change runs as read -> compute a new state -> compare-and-set write. The compute
step is narrative's (it never mutates its input), so a rejected call writes nothing, and
the compare-and-set means a write based on a stale read (another call, or another server
process on the same database) is refused instead of overwriting. Calls on one session are
also serialised in-process by a lock, picked from a fixed set so memory stays bounded.
The reply is sent only after the write committed: an acknowledged change survives a crash.
"""

from __future__ import annotations

import asyncio
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from narrative.graph import PlotGraph
from narrative.session import start_session
from narrative.state import SessionState
from server.config import LimitSettings
from server.errors import FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted
from server.sessions.catalog import GraphCatalog, mismatch
from server.sessions.store import SessionStore, StoredSession

LOCK_STRIPES = 64


@dataclass(frozen=True)
class Session:
    session_id: str
    graph: PlotGraph
    state: SessionState


class SessionManager:
    def __init__(self, store: SessionStore, catalog: GraphCatalog, limits: LimitSettings) -> None:
        self._store = store
        self._catalog = catalog
        self._limits = limits
        self._locks = [asyncio.Lock() for _ in range(LOCK_STRIPES)]

    def _lock(self, session_id: str) -> asyncio.Lock:
        return self._locks[zlib.crc32(session_id.encode()) % LOCK_STRIPES]

    def start(self, graph_id: str) -> Session:
        if not graph_id:
            raise InvalidArgument("graph_id", "required")
        graph = self._catalog.get(graph_id)
        if self._store.count_sessions() >= self._limits.max_sessions:
            raise ResourceExhausted(f"session limit reached ({self._limits.max_sessions}); end finished sessions first")
        state = start_session(graph)
        session = Session(uuid.uuid4().hex, graph, state)
        self._store.create_session(StoredSession(session.session_id, graph_id, state.step, state.to_json()))
        return session

    def get(self, session_id: str) -> Session:
        if not session_id:
            raise InvalidArgument("session_id", "required")
        stored = self._store.get_session(session_id)
        if stored is None:
            raise NotFound("session", session_id)
        try:
            graph = self._catalog.get(stored.graph_id)
        except NotFound:
            raise FailedPrecondition(f"session {session_id!r} plays graph {stored.graph_id!r}, which is not loaded") from None
        state = SessionState.from_json(stored.state_json)
        problem = mismatch(graph, state)
        if problem is not None:
            raise FailedPrecondition(
                f"session {session_id!r} was started on another version of graph {stored.graph_id!r}, which was "
                f"loaded since and no longer fits it ({problem}); end it and start a new session"
            )
        return Session(session_id, graph, state)

    def end(self, session_id: str) -> None:
        if not self._store.delete_session(session_id):
            raise NotFound("session", session_id)

    async def change(
        self, session_id: str, expected_step: int, change: Callable[[PlotGraph, SessionState], SessionState]
    ) -> Session:
        """Applies `change` atomically; `expected_step` 0 means "whatever the current step"."""
        async with self._lock(session_id):
            current = self.get(session_id)
            if expected_step and expected_step != current.state.step:
                raise FailedPrecondition(
                    f"session {session_id!r} is at step {current.state.step}, not expected_step {expected_step}"
                )
            if current.graph.beat(current.state.current_beat).ending:
                raise FailedPrecondition(f"session {session_id!r} has reached an ending")
            state = change(current.graph, current.state)
            stored = StoredSession(session_id, current.graph.story.id, state.step, state.to_json())
            if not self._store.update_session(stored, expected_step=current.state.step):
                raise FailedPrecondition(f"session {session_id!r} was changed concurrently; read it and retry")
            return Session(session_id, current.graph, state)
