"""A Gunicorn worker SIGKILLed in the middle of a large ingest: no partial batch, the retry lands once."""

from __future__ import annotations

import os
import signal

import psycopg
import pytest

from .conftest import count, profiles
from .held_upload import NDJSON, HeldUpload, ndjson, wait_for, writing_session
from .scraper import Scraper
from .servers import GunicornServer

pytestmark = pytest.mark.slow

BATCH = 40_000


@pytest.fixture(scope="module")
def server(database_url, tmp_path_factory):
    gunicorn = GunicornServer(tmp_path_factory.mktemp("killed"), database_url, RATELIMIT_ENABLED="false",
                              GUNICORN_MAX_REQUESTS="0").start()
    yield gunicorn
    gunicorn.stop()


def kill_worker_serving(server: GunicornServer, client_port: int) -> int:
    """SIGKILL the worker holding our connection; return its pid."""
    pid = server.worker_serving(client_port)
    os.kill(pid, signal.SIGKILL)
    return pid


def session_ended(db: psycopg.Connection, pid: int) -> bool:
    """The database session `pid` is gone (its transaction rolled back)."""
    return count(db, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", pid) == 0


def assert_nothing_stayed(db: psycopg.Connection) -> None:
    """No raw row, pool row or ingest record of the killed request."""
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 0
    assert count(db, "SELECT count(*) FROM global_usernames") == 0
    assert count(db, "SELECT count(*) FROM ingest_requests") == 0


def assert_retry_lands_once(server: GunicornServer, db: psycopg.Connection, body: bytes, key: str) -> None:
    """Retry the batch with its key twice: it is written by the first retry and replayed by the second."""
    scraper = Scraper(server.url, give_up_after=60)
    try:
        retry = scraper.post(body, NDJSON, key)
        again = scraper.post(body, NDJSON, key)
    finally:
        scraper.close()
    assert retry.acknowledged, retry.attempts
    # While the dead worker's session lingers its key is still locked: 409, then the retry goes through.
    assert {a.status for a in retry.attempts} <= {409, 200}, retry.attempts
    assert (retry.body["inserted_raw"], retry.body["added_to_global"]) == (BATCH, BATCH)
    assert again.body == retry.body  # replayed, not written again
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == BATCH
    assert count(db, "SELECT count(*) FROM global_usernames") == BATCH
    assert count(db, "SELECT count(*) FROM ingest_requests WHERE idempotency_key = %s", key) == 1
    wait_for(lambda: len(server.worker_pids()) == 2, "Gunicorn to replace the killed worker")


def test_worker_killed_while_the_body_streams_in(server, db):
    body = ndjson(profiles(BATCH, prefix="k"))
    upload = HeldUpload(server, len(body), key="killed-upload")
    upload.send(body[: len(body) // 2])
    backend = wait_for(lambda: writing_session(db), "the ingest to write its first chunks")
    victim = kill_worker_serving(server, upload.client_port)
    assert upload.answer() is None  # never acknowledged
    wait_for(lambda: session_ended(db, backend), "the dead worker's transaction to end")
    assert victim not in server.worker_pids()
    assert_nothing_stayed(db)
    assert_retry_lands_once(server, db, body, "killed-upload")


def test_worker_killed_while_adding_to_the_pool(server, db, database_url):
    items = profiles(BATCH, prefix="k")
    body = ndjson(items)
    with psycopg.connect(database_url, autocommit=True) as blocker:
        # Another ingest holding one of our ids uncommitted: ours waits there, after every raw row
        # is written. The session timeout ends the block even if the test dies half-way.
        blocker.execute("SET idle_in_transaction_session_timeout = '60s'")
        blocker.execute("BEGIN")
        blocker.execute("INSERT INTO global_usernames (id, username) VALUES (%s, %s)",
                        [min(p["id"] for p in items), "blocker"])
        upload = HeldUpload(server, len(body), key="killed-pool")
        upload.send(body)
        backend = wait_for(lambda: writing_session(db, waiting_on_lock=True, exclude=blocker.info.backend_pid),
                           "the ingest to wait on the pool insert")
        assert count(db, "SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted", backend) == 1
        kill_worker_serving(server, upload.client_port)
        assert upload.answer() is None
        blocker.execute("ROLLBACK")  # the orphaned session runs on, finds its client gone, and rolls back
    wait_for(lambda: session_ended(db, backend), "the dead worker's transaction to end")
    assert_nothing_stayed(db)
    assert_retry_lands_once(server, db, body, "killed-pool")
