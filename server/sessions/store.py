"""Where sessions and the graphs they play live, so both survive a server restart.

The store keeps each session's state as an opaque JSON document with a step counter.
Every update is a compare-and-set on that step: a write based on a stale read changes
nothing, so two racing calls can never half-apply or lose a choice. `SessionStore` is
the interface; `SqliteStore` is the embedded default (WAL mode: readers never block the
writer, and a committed transaction survives the process being killed).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class StoredGraph:
    graph_id: str
    filename: str
    source: str


@dataclass(frozen=True)
class StoredSession:
    session_id: str
    graph_id: str
    step: int
    state_json: str


class SessionStore(Protocol):
    def put_graph(self, graph: StoredGraph) -> None: ...
    def graphs(self) -> list[StoredGraph]: ...
    def create_session(self, session: StoredSession) -> None: ...
    def get_session(self, session_id: str) -> StoredSession | None: ...
    def update_session(self, session: StoredSession, expected_step: int) -> bool:
        """Writes `session` only if the stored step is still `expected_step`."""
        ...
    def delete_session(self, session_id: str) -> bool: ...
    def count_sessions(self) -> int: ...
    def sessions_of(self, graph_id: str) -> list[StoredSession]: ...
    def close(self) -> None: ...


SCHEMA = """
CREATE TABLE IF NOT EXISTS graphs (
    graph_id   TEXT PRIMARY KEY,
    filename   TEXT NOT NULL,
    source     TEXT NOT NULL,
    stored_at  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    graph_id   TEXT NOT NULL REFERENCES graphs(graph_id),
    step       INTEGER NOT NULL,
    state      TEXT NOT NULL,
    updated_at REAL NOT NULL
);
"""


class SqliteStore:
    """SQLite in WAL mode; one connection guarded by a lock (calls are short)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives a crash of this process (SIGKILL);
        # only a power loss can drop the last commits.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)

    def put_graph(self, graph: StoredGraph) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO graphs VALUES (?, ?, ?, ?) ON CONFLICT(graph_id) DO UPDATE SET "
                "filename = excluded.filename, source = excluded.source, stored_at = excluded.stored_at",
                (graph.graph_id, graph.filename, graph.source, time.time()),
            )

    def graphs(self) -> list[StoredGraph]:
        with self._lock:
            rows = self._db.execute("SELECT graph_id, filename, source FROM graphs ORDER BY graph_id").fetchall()
        return [StoredGraph(*row) for row in rows]

    def create_session(self, session: StoredSession) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                (session.session_id, session.graph_id, session.step, session.state_json, time.time()),
            )

    def get_session(self, session_id: str) -> StoredSession | None:
        with self._lock:
            row = self._db.execute(
                "SELECT session_id, graph_id, step, state FROM sessions WHERE session_id = ?", (session_id,)
            ).fetchone()
        return StoredSession(*row) if row else None

    def update_session(self, session: StoredSession, expected_step: int) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "UPDATE sessions SET step = ?, state = ?, updated_at = ? WHERE session_id = ? AND step = ?",
                (session.step, session.state_json, time.time(), session.session_id, expected_step),
            )
        return cursor.rowcount == 1

    def delete_session(self, session_id: str) -> bool:
        with self._lock:
            cursor = self._db.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))
        return cursor.rowcount == 1

    def count_sessions(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]

    def sessions_of(self, graph_id: str) -> list[StoredSession]:
        with self._lock:
            rows = self._db.execute(
                "SELECT session_id, graph_id, step, state FROM sessions WHERE graph_id = ? ORDER BY session_id",
                (graph_id,),
            ).fetchall()
        return [StoredSession(*row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
