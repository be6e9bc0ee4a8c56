"""The embedded default: a PostgreSQL server from the pgserver wheel, data under DATA_DIR/pg."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

logger = logging.getLogger("server.storage.embedded")

# Servers this process started and keeps a handle on (pgserver stops them at exit when asked).
_handles: dict[Path, object] = {}


def pgdata_path(data_dir: str | os.PathLike) -> Path:
    """Where the embedded cluster lives; absolute, so every process agrees."""
    return Path(data_dir).resolve() / "pg"


def _import_pgserver(data_dir: Path):
    # pgserver picks its lock directory at import time from XDG_RUNTIME_DIR; give it one of ours
    # so every process of this project shares the lock and no warning is raised where it is unset.
    runtime = data_dir / "run"
    runtime.mkdir(parents=True, exist_ok=True)
    runtime.chmod(0o700)  # platformdirs ignores a runtime dir others can read
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    import pgserver  # noqa: PLC0415 (deferred: only the embedded backend needs it)

    return pgserver


def running_url(data_dir: str | os.PathLike, database: str | None = None) -> str | None:
    """Return the URL of the embedded server if it is up, without starting or registering."""
    pgdata = pgdata_path(data_dir)
    if not (pgdata / "postmaster.pid").exists():
        return None
    _import_pgserver(pgdata.parent)
    from pgserver.utils import PostmasterInfo  # noqa: PLC0415

    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running() or info.status != "ready":
        return None
    return info.get_uri(database=database)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _forget_dead_owners(pgserver, pgdata: Path) -> None:
    """Drop owners that died without unregistering (SIGKILL, a crash) from pgserver's list.

    pgserver stops the server when its last registered owner exits; a killed owner stays listed
    for ever, and then no later owner would ever stop the server it started.
    """
    handles = pgdata / ".handle_pids.json"
    with pgserver.postgres_server.PostgresServer._lock:  # the lock pgserver itself takes
        if not handles.exists():
            return
        pids = json.loads(handles.read_text() or "[]")
        alive = [pid for pid in pids if _alive(pid)]
        if alive != pids:
            logger.info("forgetting %d embedded-server owners that no longer run", len(pids) - len(alive))
            handles.write_text(json.dumps(alive))


def ensure_running(data_dir: str | os.PathLike, *, stop_at_exit: bool = False,
                   database: str | None = None) -> str:
    """Start the embedded server unless it runs already; return its URL.

    Only the process that owns the server's lifetime (Gunicorn's master, a test session) passes
    stop_at_exit=True; workers merely attach, so a worker exiting never stops the database.
    """
    url = running_url(data_dir, database)
    if url is not None and not stop_at_exit:
        return url
    pgdata = pgdata_path(data_dir)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    pgserver = _import_pgserver(pgdata.parent)
    if stop_at_exit:
        _forget_dead_owners(pgserver, pgdata)
    logger.info("starting embedded PostgreSQL in %s", pgdata)
    server = pgserver.get_server(pgdata, cleanup_mode="stop" if stop_at_exit else None)
    _handles[pgdata] = server
    return server.get_uri(database=database)


def fresh_database(data_dir: str | os.PathLike, name: str, *, schema: bool = True) -> str:
    """Create database `name` anew on the embedded server (tests, benchmarks); return its URL.

    This process becomes an owner of the server, so it stops at exit unless another owner remains.
    """
    import psycopg  # noqa: PLC0415 (only tests and benchmarks make databases)

    from .migrate import apply_schema  # noqa: PLC0415

    admin_url = ensure_running(data_dir, stop_at_exit=True)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = ensure_running(data_dir, database=name)
    if schema:
        apply_schema(url)
    return url
