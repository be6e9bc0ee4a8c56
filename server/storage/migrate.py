"""Apply schema.sql and database_indexes.sql to a PostgreSQL database, idempotently."""

from __future__ import annotations

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


def apply_schema(conninfo: str) -> None:
    """Run every schema file in one transaction, serialised by an advisory lock."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        # Concurrent CREATE ... IF NOT EXISTS can still collide in the catalog; the lock prevents it.
        conn.execute("SELECT pg_advisory_lock(%s)", [_MIGRATION_LOCK])
        try:
            with conn.transaction():
                for path in schema_files():
                    conn.execute(path.read_text())
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [_MIGRATION_LOCK])
    logger.info("schema applied")
