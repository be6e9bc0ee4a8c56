"""Shared fixtures: one embedded PostgreSQL per session, a fresh database state per test."""

from __future__ import annotations

import gzip
import hashlib
import tempfile
import io
import logging
from pathlib import Path
from typing import Any, Iterable

import orjson
import psycopg
import pytest
from click.testing import Result

from server import create_app
from server.auth import derived_secret, parse_api_keys
from server.logs import JsonFormatter, RequestIdFilter
from server.storage import embedded

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / ".data"
TEST_DB = "scraper_test"

INGEST_KEY = "ingest-key-0001-test-only-xx"
DISTRIBUTE_KEY = "distribute-key-0001-test-only"
ADMIN_KEY = "admin-key-0001-test-only-xxx"
ALL_KEY = "all-scopes-key-0001-test-only"
READER_KEY = "reader-key-0001-test-only-xx"  # a target's worker: its lists and status reports
API_KEYS = (f"{INGEST_KEY}:ingest,{DISTRIBUTE_KEY}:distribute,{ADMIN_KEY}:admin,"
            f"{ALL_KEY}:ingest+distribute+admin,{READER_KEY}:reader")


def key_id(api_key: str) -> str:
    """The id test apps give `api_key` (no SECRET_KEY: the HMAC key derives from API_KEYS)."""
    digest = hashlib.sha256(api_key.encode()).digest()
    return next(k.key_id for k in parse_api_keys(API_KEYS, derived_secret(b"key-id", "", API_KEYS)) if k.digest == digest)


def fresh_database(name: str, *, schema: bool = True) -> str:
    """Create database `name` anew on the embedded server (schema applied unless told not to)."""
    return embedded.fresh_database(DATA_DIR, name, schema=schema)


@pytest.fixture(scope="session")
def database_url() -> str:
    """A fresh test database on the embedded server, with the schema applied."""
    return fresh_database(TEST_DB)


def empty_tables(conn: psycopg.Connection) -> None:
    """Empty every table of the database, identities restarted."""
    tables = [r[0] for r in conn.execute("SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public'")]
    if tables:
        conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


@pytest.fixture
def db(database_url) -> Iterable[psycopg.Connection]:
    """An autocommit connection for arranging and checking rows; tables are emptied first."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        empty_tables(conn)
        yield conn


def make_config(database_url: str, **overrides: Any) -> dict[str, Any]:
    """Test settings: the test database, known keys, no .env influence, a cache of its own.

    A cache directory shared between apps would let one test (or an earlier run) serve pages
    another one never wrote.
    """
    config = {"TESTING": True, "STORAGE_BACKEND": "postgres", "DATABASE_URL": database_url,
              "API_KEYS": API_KEYS, "DATA_DIR": str(DATA_DIR), "DB_POOL_MIN": 0,
              "RATELIMIT_ENABLED": False, "READYZ_CACHE_SECONDS": 0,  # tests of /readyz see each change
              "RUN_DATE_WINDOW_DAYS": 36_500}  # the tests' fixed dates; test_run_dates_are_bounded keeps 7
    if "DATA_DIR" not in overrides:  # a test that names its DATA_DIR gets the cache under it
        config["CACHE_DIR"] = tempfile.mkdtemp(prefix="scraper-cache-")
    config.update(overrides)
    return config


@pytest.fixture
def app(db, database_url, tmp_path):
    """An app on the test database with its own cache directory; its pool is closed after the test."""
    application = create_app(make_config(database_url, CACHE_DIR=str(tmp_path / "cache")))
    yield application
    application.extensions["store"].close()


@pytest.fixture
def client(app):
    return app.test_client()


def flask_command(config: dict[str, Any], *args: str) -> Result:
    """Run `flask --app server ARGS` in an app made from `config` (its store closed afterwards)."""
    application = create_app(config)
    try:
        return application.test_cli_runner().invoke(args=list(args))
    finally:
        application.extensions["store"].close()


def profiles(count: int, start: int = 0, prefix: str = "p") -> list[dict[str, Any]]:
    """`count` distinct valid profiles with ids prefix{start}..."""
    return [{"id": f"{prefix}{i}", "username": f"user_{prefix}{i}", "full_name": f"User {i}"}
            for i in range(start, start + count)]


class Ingest:
    """Post ingest requests the way a scraper does."""

    def __init__(self, client, key: str = INGEST_KEY):
        self.client = client
        self.key = key

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", **extra}

    def json(self, items: list, *, source: str | None = None, gzip_body: bool = False, **headers: str):
        body: dict[str, Any] = {"profiles": items}
        if source is not None:
            body["source"] = source
        return self.raw(orjson.dumps(body), "application/json", gzip_body=gzip_body, **headers)

    def ndjson(self, items: list, *, gzip_body: bool = False, **headers: str):
        data = b"".join(orjson.dumps(item) + b"\n" for item in items)
        return self.raw(data, "application/x-ndjson", gzip_body=gzip_body, **headers)

    def raw(self, data: bytes, content_type: str, *, gzip_body: bool = False, **headers: str):
        extra = {"Content-Type": content_type, **headers}
        if gzip_body:
            data = gzip.compress(data)
            extra["Content-Encoding"] = "gzip"
        return self.client.post("/api/ingest", data=data, headers=self.headers(**extra))


@pytest.fixture
def ingest(client) -> Ingest:
    return Ingest(client)


def count(conn: psycopg.Connection, sql: str, *params: Any) -> int:
    """Run a COUNT query and return the number."""
    return conn.execute(sql, params).fetchone()[0]


@pytest.fixture
def server_log() -> Iterable[io.StringIO]:
    """Everything the project's loggers write while the test runs, one JSON object a line."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("server")
    logger.addHandler(handler)
    yield buffer
    logger.removeHandler(handler)
