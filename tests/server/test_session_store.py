"""SqliteStore: compare-and-set updates, persistence across reopening."""

from __future__ import annotations

import sqlite3

import pytest

from server.sessions.store import SqliteStore, StoredGraph, StoredSession


@pytest.fixture
def store(tmp_path):
    store = SqliteStore(tmp_path / "db" / "sessions.sqlite3")
    store.put_graph(StoredGraph("quest", "quest.yaml", "story: {}"))
    yield store
    store.close()


def test_update_applies_only_on_the_expected_step(store):
    store.create_session(StoredSession("s1", "quest", 1, '{"beat": "a"}'))
    assert store.update_session(StoredSession("s1", "quest", 2, '{"beat": "b"}'), expected_step=1)
    # A second writer that read step 1 loses, and changes nothing.
    assert not store.update_session(StoredSession("s1", "quest", 2, '{"beat": "c"}'), expected_step=1)
    assert store.get_session("s1") == StoredSession("s1", "quest", 2, '{"beat": "b"}')


def test_sessions_and_graphs_survive_reopening(store, tmp_path):
    store.create_session(StoredSession("s1", "quest", 1, "{}"))
    store.put_graph(StoredGraph("quest", "quest-v2.yaml", "story: {title: x}"))
    store.close()
    reopened = SqliteStore(tmp_path / "db" / "sessions.sqlite3")
    assert reopened.get_session("s1") == StoredSession("s1", "quest", 1, "{}")
    assert reopened.graphs() == [StoredGraph("quest", "quest-v2.yaml", "story: {title: x}")]
    assert reopened._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    reopened.close()


def test_delete_count_and_unknown_ids(store):
    assert store.get_session("nope") is None
    store.create_session(StoredSession("s1", "quest", 1, "{}"))
    store.create_session(StoredSession("s2", "quest", 1, "{}"))
    assert store.count_sessions() == 2
    assert store.delete_session("s1") and not store.delete_session("s1")
    assert store.count_sessions() == 1


def test_a_session_needs_a_stored_graph(store):
    with pytest.raises(sqlite3.IntegrityError):
        store.create_session(StoredSession("s1", "missing-graph", 1, "{}"))
