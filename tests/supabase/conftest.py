"""Fixtures for the Supabase backend: a database set up as on Supabase, the strict REST gateway on
it, a store, an app."""

from __future__ import annotations

from typing import Any, Iterable

import pytest

from server import create_app
from server.config import load_settings
from server.storage.supabase import SupabaseStore

from ..conftest import make_config
from .fake_postgrest import SERVICE_KEY, SUPABASE_URL, FakePostgrest
from .supabase_db import supabase_database

SUPABASE_TEST_DB = "supabase_test"


def supabase_config(database_url: str, **overrides: Any) -> dict[str, Any]:
    """Test settings for the Supabase backend; retries do not wait."""
    settings = {"STORAGE_BACKEND": "supabase", "SUPABASE_URL": SUPABASE_URL,
                "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY, "SUPABASE_RETRY_BACKOFF_MS": 0}
    return make_config(database_url, **{**settings, **overrides})


@pytest.fixture(scope="session")
def database_url() -> str:
    """A database with Supabase's roles and default grants, set up with the printed SQL script."""
    return supabase_database(SUPABASE_TEST_DB)


@pytest.fixture
def fake(db, database_url) -> Iterable[FakePostgrest]:
    """Supabase's REST API, intercepted with respx and served by the strict gateway from the
    emptied test database."""
    server = FakePostgrest(database_url)
    with server.router:
        yield server
    server.close()


@pytest.fixture
def store(fake, database_url) -> Iterable[SupabaseStore]:
    """A SupabaseStore on the fake REST API."""
    supabase_store = SupabaseStore(load_settings(supabase_config(database_url)))
    yield supabase_store
    supabase_store.close()


@pytest.fixture
def app(fake, database_url, tmp_path):
    """The app with STORAGE_BACKEND=supabase and its own cache directory; `client`, `ingest` and
    the distribution tests of the parent folder use it."""
    application = create_app(supabase_config(database_url, CACHE_DIR=str(tmp_path / "cache")))
    yield application
    application.extensions["store"].close()
