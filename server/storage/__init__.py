"""Choose the storage backend and keep exactly one store per worker process."""

from __future__ import annotations

import atexit
import os
import threading
from typing import Any, Mapping

from flask import current_app

from .base import IngestTotals, IngestTransaction, StagedProfile, Store, StoredReply

__all__ = ["IngestTotals", "IngestTransaction", "StagedProfile", "Store", "StoredReply",
           "StoreHolder", "create_store", "database_url", "get_store", "own_embedded_server"]


def database_url(config: Mapping[str, Any]) -> str:
    """The PostgreSQL URL for the postgres and embedded backends (starting the embedded one)."""
    if config["STORAGE_BACKEND"] == "postgres":
        return config["DATABASE_URL"]
    from . import embedded

    return embedded.ensure_running(config["DATA_DIR"])


def own_embedded_server(config: Mapping[str, Any]) -> None:
    """In a command-line process: start or join the embedded server, and stop it at exit unless
    another owner (a running `make run`) still holds it. A no-op for the other backends."""
    if config["STORAGE_BACKEND"] == "embedded":
        from . import embedded

        embedded.ensure_running(config["DATA_DIR"], stop_at_exit=True)


def create_store(config: Mapping[str, Any]) -> Store:
    """Build a store for the configured backend. Call it after the fork, never before."""
    backend = config["STORAGE_BACKEND"]
    if backend == "supabase":
        from .supabase import SupabaseStore

        return SupabaseStore(config)
    from .postgres import PostgresStore

    url = database_url(config)
    if backend == "embedded":
        from .migrate import ensure_schema

        ensure_schema(url)  # the embedded default needs no set-up step from the user
    return PostgresStore(url, config, backend=backend)


class StoreHolder:
    """Create the store lazily on first use in each process; close it at exit.

    A pool or HTTP client inherited across fork() shares sockets with the parent, so a process
    that finds a store made under another pid makes its own instead of touching the old one.
    """

    def __init__(self, config: Mapping[str, Any]):
        self._config = config
        self._lock = threading.Lock()
        self._store: Store | None = None
        self._pid: int | None = None

    def get(self) -> Store:
        """Return this process's store, creating it on first use."""
        pid = os.getpid()
        if self._pid != pid:
            with self._lock:  # threads of one worker race to the first request
                if self._pid != pid:
                    self._store = create_store(self._config)
                    self._pid = pid
                    atexit.register(self._store.close)
        return self._store

    def existing(self) -> Store | None:
        """This process's store if it has been made already; never creates one."""
        return self._store if self._pid == os.getpid() else None

    def close(self) -> None:
        """Close the store if this process made one."""
        if self._store is not None and self._pid == os.getpid():
            self._store.close()
            self._store, self._pid = None, None


def get_store() -> Store:
    """The current app's store for this process."""
    return current_app.extensions["store"].get()
