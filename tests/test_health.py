"""GET /healthz and GET /readyz: no key needed, 503 with the configured Retry-After, no secrets."""

from __future__ import annotations

import time

import pytest

from server import create_app

from .conftest import fresh_database, make_config

EMPTY_DB = "scraper_test_empty"


def test_healthz_needs_no_key(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_reports_ready_with_the_backend(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "backend": "postgres", "database": "ok", "schema": "ok"}


@pytest.fixture
def empty_database_url(database_url):
    """A database on the same server without our schema."""
    yield fresh_database(EMPTY_DB, schema=False)


def readyz(database_url: str, **overrides):
    """GET /readyz from an app on `database_url`."""
    app = create_app(make_config(database_url, **overrides))
    try:
        return app.test_client().get("/readyz")
    finally:
        app.extensions["store"].close()


def test_readyz_is_503_while_the_schema_is_missing(empty_database_url):
    response = readyz(empty_database_url, RETRY_AFTER_SECONDS=17)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "17"
    body = response.get_json()
    assert body["error"]["code"] == "not_ready"
    assert body["error"]["details"] == {"database": "ok", "schema": "missing"}


@pytest.mark.slow
def test_readyz_is_503_when_the_database_is_unreachable_and_shows_no_secret(database_url):
    url = "postgresql://app_user:hunter2-secret@127.0.0.1:1/appdb"
    response = readyz(url, RETRY_AFTER_SECONDS=9, DB_POOL_TIMEOUT=1)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "9"
    assert response.get_json() == {"error": {"code": "not_ready", "message": "database is unreachable",
                                             "details": {"database": "unreachable"}}}
    assert b"hunter2" not in response.data and b"app_user" not in response.data


def test_readyz_checks_the_database_at_most_once_per_cache_window(database_url, db):
    app = create_app(make_config(database_url, READYZ_CACHE_SECONDS=1))
    store = app.extensions["store"].get()
    checks = []
    real = store.readiness
    store.readiness = lambda: checks.append(1) or real()  # counts the real check, which still runs
    client = app.test_client()
    try:
        assert [client.get("/readyz").status_code for _ in range(20)] == [200] * 20
        assert len(checks) == 1
        time.sleep(1.1)
        assert client.get("/readyz").status_code == 200 and len(checks) == 2
    finally:
        store.close()


def test_readyz_is_rate_limited_per_client_address(database_url, db):
    app = create_app(make_config(database_url, RATELIMIT_ENABLED=True, RATELIMIT_PUBLIC="3/minute"))
    client = app.test_client()
    try:
        assert [client.get("/readyz").status_code for _ in range(4)] == [200, 200, 200, 429]
        other = client.get("/readyz", environ_base={"REMOTE_ADDR": "127.0.0.2"})
        assert other.status_code == 200
    finally:
        app.extensions["store"].close()
