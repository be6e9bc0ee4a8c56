"""GET /healthz and GET /readyz: no key needed, 503 with the configured Retry-After, no secrets."""

from __future__ import annotations

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
