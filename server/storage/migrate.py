"""Apply schema.sql and database_indexes.sql to a PostgreSQL database, idempotently."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import psycopg

logger = logging.getLogger("server.storage.migrate")

SCHEMA_FILE = Path(__file__).with_name("schema.sql")
# A link to the top-level database_indexes.sql, so a wheel install carries the file too.
INDEXES_FILE = Path(__file__).with_name("database_indexes.sql")
# Any constant works; it only keeps two processes from running the DDL at the same moment.
_MIGRATION_LOCK = 7_320_114_001


def schema_files() -> list[Path]:
    """The SQL files applied, in order (tables first, then every index)."""
    return [SCHEMA_FILE, INDEXES_FILE]


def schema_version() -> str:
    """A digest of the schema files: what a database that is up to date has recorded."""
    digest = hashlib.sha256()
    for path in schema_files():
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def apply_schema(conninfo: str) -> None:
    """Run every schema file in one transaction, serialised by an advisory lock; record the version."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        # Concurrent CREATE ... IF NOT EXISTS can still collide in the catalog; the lock prevents it.
        conn.execute("SELECT pg_advisory_lock(%s)", [_MIGRATION_LOCK])
        try:
            with conn.transaction():
                for path in schema_files():
                    conn.execute(path.read_text())
                _lock_down_for_api_roles(conn)
                conn.execute("DELETE FROM schema_version")
                conn.execute("INSERT INTO schema_version (version) VALUES (%s)", [schema_version()])
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [_MIGRATION_LOCK])
    logger.info("schema applied")


def _lock_down_for_api_roles(conn: psycopg.Connection) -> None:
    """On a database with Supabase's API roles, close every table and function to its public keys.

    Supabase's default privileges grant each new table and function in `public` to `anon` and
    `authenticated`, with RLS off: without this, init-db there would open the pool to the anon key.
    """
    from .supabase_setup import PUBLIC_API_ROLES, SERVICE_ROLE, lockdown_sql  # noqa: PLC0415 (imports us)

    present = {row[0] for row in conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY (%s)",
                                              [[*PUBLIC_API_ROLES, SERVICE_ROLE]])}
    public = [role for role in PUBLIC_API_ROLES if role in present]
    if public:
        conn.execute(lockdown_sql(public, service_role=SERVICE_ROLE in present))
        logger.info("schema locked down for %s", ", ".join(public))


def ensure_schema(conninfo: str) -> bool:
    """Apply the schema only when the database records another version; True if it did.

    Re-running the DDL is not free: CREATE INDEX IF NOT EXISTS still takes its table lock and
    would queue a starting worker behind a long ingest, so up-to-date databases are left alone.
    """
    with psycopg.connect(conninfo, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('schema_version')").fetchone()[0] is not None:
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            if row is not None and row[0] == schema_version():
                return False
    apply_schema(conninfo)
    return True
