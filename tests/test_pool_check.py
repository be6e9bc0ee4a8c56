"""The pool lends a connection without a round trip when it is alive, and never one the server closed."""

from __future__ import annotations

import tempfile
import time

import psycopg
import pytest

from server.config import load_settings
from server.storage import postgres
from server.storage.postgres import PostgresStore, check_idle_connection, note_returned

from .conftest import make_config


@pytest.fixture
def store(database_url):
    """A store with one pooled connection, so every call gets the same one while it lives."""
    made = PostgresStore(database_url, load_settings(make_config(database_url, DB_POOL_MIN=1, DB_POOL_MAX=1)))
    made.pool.wait(timeout=10)
    yield made
    made.close()


def backend_pid(store: PostgresStore) -> int:
    with store.pool.connection() as conn:
        return conn.info.backend_pid


def terminate(db: psycopg.Connection, pid: int) -> None:
    """Close one server connection as a restart or an idle timeout would, and wait until it is gone."""
    assert db.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]
    deadline = time.monotonic() + 10
    while db.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
        assert time.monotonic() < deadline, "the backend did not exit"
        time.sleep(0.05)


def protocol_traffic(conn: psycopg.Connection, action) -> str:
    """Everything libpq sent or received while `action(conn)` ran."""
    with tempfile.TemporaryFile("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        try:
            action(conn)
        finally:
            conn.pgconn.untrace()
        trace.seek(0)
        return trace.read()


def test_a_connection_just_returned_is_checked_without_a_round_trip(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT 1")
        note_returned(conn)
        assert protocol_traffic(conn, check_idle_connection) == ""
        # The trace does see a round trip: the one the check used to make on every loan.
        assert "Query" in protocol_traffic(conn, lambda c: c.execute(""))


def test_a_connection_idle_for_long_or_never_returned_gets_the_round_trip(database_url, monkeypatch):
    """A NAT may drop an idle flow without a word: only a round trip finds out."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert "Query" in protocol_traffic(conn, check_idle_connection)  # never lent before
        note_returned(conn)
        monkeypatch.setattr(postgres, "FULL_CHECK_AFTER_IDLE_S", 0.0)
        time.sleep(0.01)
        assert "Query" in protocol_traffic(conn, check_idle_connection)


def test_a_connection_the_server_closed_fails_the_check(database_url, db):
    with psycopg.connect(database_url, autocommit=True) as conn:
        terminate(db, conn.info.backend_pid)
        with pytest.raises(psycopg.OperationalError):
            check_idle_connection(conn)


def test_the_pool_replaces_a_connection_the_server_closed_before_lending_it(store, db):
    first = backend_pid(store)
    terminate(db, first)
    assert store.readiness() == {"database": "ok", "schema": "ok"}  # not an error for this request
    assert backend_pid(store) != first


def test_the_pool_notes_when_each_connection_comes_back(store):
    with store.pool.connection() as conn:
        lent_at = time.monotonic()
    assert postgres._returned_at[conn] >= lent_at  # so its next loan within 30 s skips the round trip
