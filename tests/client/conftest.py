"""Fixtures of the client's tests: one real Gunicorn for them all, on the session's test database."""

from __future__ import annotations

from typing import Iterator

import psycopg
import pytest

from ..conftest import count
from ..servers import GunicornServer


@pytest.fixture(scope="package")
def backend(database_url, tmp_path_factory) -> Iterator[GunicornServer]:
    """The app under Gunicorn; no rate limit, so only the proxies of the fault tests refuse anything."""
    server = GunicornServer(tmp_path_factory.mktemp("client-backend"), database_url,
                            RATELIMIT_ENABLED="false").start()
    yield server
    server.stop()


def stored(db: psycopg.Connection) -> dict[str, int]:
    """What the tables hold, named as the totals name it."""
    return {"inserted_raw": count(db, "SELECT count(*) FROM raw_scraped_profiles"),
            "added_to_global": count(db, "SELECT count(*) FROM global_usernames"),
            "batches": count(db, "SELECT count(*) FROM ingest_requests"),
            "received": count(db, "SELECT coalesce(sum(received), 0) FROM ingest_requests"),
            "rejected": count(db, "SELECT coalesce(sum(rejected), 0) FROM ingest_requests")}


def totals_as_stored(totals) -> dict[str, int]:
    """The same figures from a client's totals."""
    return {name: getattr(totals, name) for name in ("inserted_raw", "added_to_global", "batches", "received",
                                                     "rejected")}
