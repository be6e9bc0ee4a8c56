"""Direct PostgreSQL storage on psycopg 3 + psycopg_pool: COPY to a temp table, then set-based SQL."""

from __future__ import annotations

import hashlib
import logging
import uuid
from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Sequence

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from ..errors import Conflict
from .base import IngestTotals, StagedProfile, StoredReply
from .postgres_distribution import PostgresDistribution

logger = logging.getLogger("server.batch_processor")

_STAGE_TABLE = """
CREATE TEMP TABLE ingest_stage (
    position integer, profile_id text COLLATE "C", username text, full_name text,
    source text, scraped_at timestamptz, profile jsonb, is_first boolean
) ON COMMIT DROP
"""
_STAGE_COPY = ("COPY ingest_stage (position, profile_id, username, full_name, source, scraped_at,"
               " profile, is_first) FROM STDIN")

_INSERT_RAW = """
INSERT INTO raw_scraped_profiles
    (ingest_id, position, profile_id, username, full_name, source, scraped_at, profile)
SELECT %s, position, profile_id, username, full_name, source, scraped_at, profile
FROM ingest_stage
"""

# One batch of the pool insert, in profile-id order. Every ingest takes the pool's row locks in
# the same (ascending) order, so concurrent ingests of overlapping ids wait for each other instead
# of deadlocking; ON CONFLICT DO NOTHING is the duplicate look-up, and its row count is exact.
_INSERT_GLOBAL_BATCH = """
WITH batch AS (
    SELECT profile_id, username, full_name, source FROM ingest_stage
    WHERE is_first AND profile_id > %(after)s ORDER BY profile_id LIMIT %(size)s
), added AS (
    INSERT INTO global_usernames (id, username, full_name, source, first_ingest_id)
    SELECT profile_id, username, full_name, source, %(ingest_id)s FROM batch ORDER BY profile_id
    ON CONFLICT (id) DO NOTHING
    RETURNING 1
)
SELECT (SELECT max(profile_id) FROM batch), (SELECT count(*) FROM batch), (SELECT count(*) FROM added)
"""

_RECORD = """
INSERT INTO ingest_requests (id, api_key_id, idempotency_key, body_sha256, received,
    inserted_raw, added_to_global, rejected, response)
VALUES (%(id)s, %(api_key_id)s, %(key)s, %(sha)s, %(received)s, %(inserted_raw)s,
    %(added_to_global)s, %(rejected)s, %(response)s)
"""


def idempotency_lock_id(api_key_id: str, key: str) -> int:
    """A signed 64-bit advisory-lock id for one (API key, Idempotency-Key) pair."""
    digest = hashlib.sha256(f"{api_key_id}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresIngest:
    """One ingest request inside one database transaction."""

    def __init__(self, conn: psycopg.Connection, api_key_id: str, key: str | None,
                 chunk_size: int, previous: StoredReply | None):
        self.conn = conn
        self.ingest_id = str(uuid.uuid4())
        self.api_key_id = api_key_id
        self.key = key
        self.chunk_size = chunk_size
        self.previous = previous
        self._staged = 0
        self._distinct = 0
        self._chunks = 0

    def write_chunk(self, rows: Sequence[StagedProfile]) -> None:
        """COPY one chunk into the transaction's staging table."""
        if not self._chunks:
            self.conn.execute(_STAGE_TABLE)
        with self.conn.cursor().copy(_STAGE_COPY) as copy:
            for row in rows:
                copy.write_row(row)
        self._chunks += 1
        self._staged += len(rows)
        self._distinct += sum(1 for row in rows if row.first)
        logger.info("✓ Staged batch %d (%d records)", self._chunks, len(rows))

    def finish(self) -> IngestTotals:
        """Insert the staged rows into raw_scraped_profiles, then new ids into the pool in batches."""
        if not self._staged:
            return IngestTotals(0, 0, 0)
        inserted_raw = self.conn.execute(_INSERT_RAW, [self.ingest_id]).rowcount
        logger.info("✓ Inserted %d records into raw_scraped_profiles", inserted_raw)
        logger.info("Checking for existing profiles in global_usernames...")
        self.conn.execute("CREATE INDEX ON ingest_stage (profile_id) WHERE is_first")
        batches = -(-self._distinct // self.chunk_size)
        after, added_total = "", 0
        for number in range(1, batches + 1):
            after, size, added = self.conn.execute(_INSERT_GLOBAL_BATCH, {
                "after": after, "size": self.chunk_size, "ingest_id": self.ingest_id}).fetchone()
            added_total += added
            logger.info("✓ Inserted batch %d/%d into global_usernames (%d records, %d already there)",
                        number, batches, added, size - added)
        return IngestTotals(inserted_raw, added_total, self._distinct)

    def record(self, body_sha256: str, response: dict[str, Any]) -> None:
        """Store this ingest's reply so a retry with the same Idempotency-Key gets it back."""
        self.conn.execute(_RECORD, {
            "id": self.ingest_id, "api_key_id": self.api_key_id, "key": self.key,
            "sha": body_sha256, "received": response["received"],
            "inserted_raw": response["inserted_raw"], "added_to_global": response["added_to_global"],
            "rejected": response["rejected"], "response": Jsonb(response)})


class PostgresStore(PostgresDistribution):
    """Reach PostgreSQL through one connection pool per worker process."""

    backend = "postgres"

    def __init__(self, conninfo: str, config: Mapping[str, Any], backend: str = "postgres"):
        self.backend = backend
        self.chunk_size = config["BATCH_CHUNK_SIZE"]
        statement_timeout = config["STATEMENT_TIMEOUT_MS"]
        # Transaction-mode poolers (Supabase's port 6543) cannot keep prepared statements.
        prepare = None if ":6543" in conninfo else 5

        def configure(conn: psycopg.Connection) -> None:
            conn.prepare_threshold = prepare
            conn.execute("SELECT set_config('statement_timeout', %s, false)", [str(statement_timeout)])
            conn.commit()

        self.pool = ConnectionPool(
            conninfo, min_size=config["DB_POOL_MIN"], max_size=config["DB_POOL_MAX"],
            timeout=config["DB_POOL_TIMEOUT"], configure=configure,
            check=ConnectionPool.check_connection,  # drop connections a database restart broke
            kwargs={"connect_timeout": 5}, open=False, name="server")
        self.pool.open(wait=False)

    @contextmanager
    def begin_ingest(self, api_key_id: str, idempotency_key: str | None) -> Iterator[PostgresIngest]:
        """Open one transaction for a whole ingest request; Conflict while its key is in use."""
        with self.pool.connection() as conn, conn.transaction():
            previous = None
            if idempotency_key is not None:
                lock_id = idempotency_lock_id(api_key_id, idempotency_key)
                locked = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", [lock_id]).fetchone()[0]
                if not locked:
                    raise Conflict("a request with this Idempotency-Key is still being processed",
                                   code="idempotency_in_progress")
                row = conn.execute(
                    "SELECT body_sha256, response FROM ingest_requests"
                    " WHERE api_key_id = %s AND idempotency_key = %s",
                    [api_key_id, idempotency_key]).fetchone()
                previous = StoredReply(*row) if row else None
            yield PostgresIngest(conn, api_key_id, idempotency_key, self.chunk_size, previous)

    def readiness(self) -> dict[str, Any]:
        """Check the database answers and our tables exist."""
        with self.pool.connection(timeout=5) as conn:
            missing = conn.execute(
                "SELECT t FROM unnest(ARRAY['raw_scraped_profiles','global_usernames',"
                "'ingest_requests','distribution_targets','distribution_runs',"
                "'distribution_assignments']) AS t WHERE to_regclass(t) IS NULL").fetchall()
        return {"database": "ok", "schema": "missing" if missing else "ok"}

    def close(self) -> None:
        """Close every pooled connection."""
        self.pool.close()
