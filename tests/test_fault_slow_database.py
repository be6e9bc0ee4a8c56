"""A slow database (another session holds a lock we need): requests end at STATEMENT_TIMEOUT_MS with a JSON 503."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import psycopg
import pytest

from server import create_app

from .conftest import Ingest, count, make_config, profiles
from .distribution_helpers import DistributionApi, add_pool, add_targets, run

STATEMENT_TIMEOUT_MS = 300
DAY = "2026-04-01"


@pytest.fixture
def slow_app(db, database_url, tmp_path):
    application = create_app(make_config(database_url, CACHE_DIR=str(tmp_path / "cache"),
                                         STATEMENT_TIMEOUT_MS=STATEMENT_TIMEOUT_MS, RETRY_AFTER_SECONDS=7))
    yield application
    application.extensions["store"].close()


@dataclass
class Case:
    """A request, the lock another session holds that it needs, and what it answers once the lock is gone."""

    lock: str
    send: Callable
    ok_status: int = 200


def _ingest(client):
    return Ingest(client).json(profiles(10))


def _list(client):
    return DistributionApi(client).get(f"/api/distribution/{DAY}")


def _run(client):
    return DistributionApi(client).post("/api/distribution/run", {"date": "2026-04-02"})


def _create_target(client):
    return DistributionApi(client).post("/api/targets", {"name": "new-target", "daily_quota": 5})


def _stats(client):
    return DistributionApi(client).get("/api/stats", date=DAY)


CASES = {
    # COPY of the raw rows waits (in the writer thread) behind a table lock.
    "ingest-raw-copy": Case("LOCK TABLE raw_scraped_profiles IN SHARE MODE", _ingest),
    # The pool insert waits for another transaction that inserted one of our ids.
    "ingest-pool-row": Case("INSERT INTO global_usernames (id, username) VALUES ('p3', 'other')", _ingest),
    "list": Case("LOCK TABLE distribution_assignments IN ACCESS EXCLUSIVE MODE", _list),
    "run": Case("LOCK TABLE global_usernames IN EXCLUSIVE MODE", _run),
    "create-target": Case("LOCK TABLE distribution_targets IN EXCLUSIVE MODE", _create_target, 201),
    "stats": Case("LOCK TABLE ingest_requests IN ACCESS EXCLUSIVE MODE", _stats),
}


@pytest.mark.parametrize("name", CASES)
def test_a_request_blocked_by_a_lock_ends_at_the_statement_timeout(slow_app, db, database_url, name):
    case = CASES[name]
    add_targets(db, [2, 2])
    add_pool(db, 10, prefix="pool")
    run(db, DAY)
    client = slow_app.test_client()
    with psycopg.connect(database_url, autocommit=True) as blocker:
        # Ends the blocking transaction by itself should the app wait on it for ever.
        blocker.execute("SET idle_in_transaction_session_timeout = '30s'")
        blocker.execute("BEGIN")
        blocker.execute(case.lock)
        response = case.send(client)
        blocker.execute("ROLLBACK")
    assert response.status_code == 503, response.get_json()
    assert response.get_json()["error"]["code"] == "statement_timeout"
    assert response.headers["Retry-After"] == "7"
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 0  # nothing half-written
    assert count(db, "SELECT count(*) FROM distribution_runs") == 1
    again = case.send(client)  # the pool's connection came back clean
    assert again.status_code == case.ok_status, again.get_json()
