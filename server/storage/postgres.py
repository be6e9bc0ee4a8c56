"""Direct PostgreSQL storage on psycopg 3 + psycopg_pool: COPY to a temp table, then set-based SQL."""

from __future__ import annotations

import hashlib
import logging
import select
import time
import weakref
from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Sequence

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from ..errors import Conflict
from ..metrics import observe_batch
from .base import IngestTotals, StagedProfile, StoredReply, new_ingest_id
from .copy_writer import ChunkWriter
from .postgres_distribution import PostgresDistribution
from .slow_queries import slow_query_cursor

logger = logging.getLogger("server.batch_processor")

# The first sighting of each id in one ingest's raw rows, in profile-id order ("C": byte order,
# the same in every database, and the cheapest to sort).
_FIRST_SIGHTINGS = """
SELECT DISTINCT ON (profile_id COLLATE "C") profile_id COLLATE "C" AS profile_id, username, full_name, source
FROM raw_scraped_profiles WHERE created_at = %(created_at)s AND ingest_id = %(ingest_id)s
ORDER BY profile_id COLLATE "C", position
"""
_STAGE = """
CREATE TEMP TABLE ingest_stage (
    profile_id text COLLATE "C", username text, full_name text, source text
) ON COMMIT DROP
"""
# One batch of the pool insert, in profile-id order. Every ingest takes the pool's row locks in
# the same (ascending) order, so concurrent ingests of overlapping ids wait for each other instead
# of deadlocking; ON CONFLICT DO NOTHING is the duplicate look-up, and its row count is exact.
_INSERT_GLOBAL = """
WITH batch AS ({batch}), added AS (
    INSERT INTO global_usernames (id, username, full_name, source, first_ingest_id)
    SELECT profile_id, username, full_name, source, %(ingest_id)s FROM batch ORDER BY profile_id
    ON CONFLICT (id) DO NOTHING
    RETURNING 1
)
SELECT (SELECT max(profile_id) FROM batch), (SELECT count(*) FROM batch), (SELECT count(*) FROM added)
"""
_FILL_STAGE = "INSERT INTO ingest_stage" + _FIRST_SIGHTINGS
_INSERT_GLOBAL_ALL = _INSERT_GLOBAL.format(batch=_FIRST_SIGHTINGS)
_INSERT_GLOBAL_BATCH = _INSERT_GLOBAL.format(batch="""
    SELECT profile_id, username, full_name, source FROM ingest_stage
    WHERE profile_id > %(after)s ORDER BY profile_id LIMIT %(size)s""")

_RECORD = """
INSERT INTO ingest_requests (id, api_key_id, idempotency_key, body_sha256, received,
    inserted_raw, added_to_global, rejected, response, by_source)
VALUES (%(id)s, %(api_key_id)s, %(key)s, %(sha)s, %(received)s, %(inserted_raw)s,
    %(added_to_global)s, %(rejected)s, %(response)s, %(by_source)s)
"""


# A connection idle longer than this gets the full round-trip check: a NAT or load balancer may
# have dropped its flow without a word (cloud ones do after 4-6 minutes), which a poll cannot see.
FULL_CHECK_AFTER_IDLE_S = 30.0
_returned_at: weakref.WeakKeyDictionary[psycopg.Connection, float] = weakref.WeakKeyDictionary()


def note_returned(conn: psycopg.Connection) -> None:
    """Remember when the connection went back to the pool."""
    _returned_at[conn] = time.monotonic()


class NotingPool(ConnectionPool):
    """psycopg's pool, noting when each connection comes back. (Its `reset` callback would do
    it too, but then every return goes through the pool's worker thread before the next loan.)"""

    def putconn(self, conn: psycopg.Connection) -> None:
        """Note the time, then return the connection as psycopg_pool does."""
        note_returned(conn)
        super().putconn(conn)


def check_idle_connection(conn: psycopg.Connection) -> None:
    """Raise if a pooled connection is dead; a round trip only when it may be.

    A connection back in the pool within the last FULL_CHECK_AFTER_IDLE_S receives nothing unless
    the server is closing it (restart, shutdown, terminate, idle timeout), so a socket with nothing
    to read is alive: under load the check costs a poll instead of a round trip per request.
    Anything readable, and any connection idle for longer, gets psycopg's full check.
    """
    if time.monotonic() - _returned_at.get(conn, float("-inf")) > FULL_CHECK_AFTER_IDLE_S or _readable(conn):
        ConnectionPool.check_connection(conn)


def _readable(conn: psycopg.Connection) -> bool:
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    return bool(poller.poll(0))


def idempotency_lock_id(api_key_id: str, key: str) -> int:
    """A signed 64-bit advisory-lock id for one (API key, Idempotency-Key) pair."""
    digest = hashlib.sha256(f"{api_key_id}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresIngest:
    """One ingest request inside one database transaction."""

    def __init__(self, conn: psycopg.Connection, api_key_id: str, key: str | None,
                 chunk_size: int, previous: StoredReply | None):
        self.conn = conn
        self.ingest_id, self.created_at = new_ingest_id()
        self.api_key_id = api_key_id
        self.key = key
        self.chunk_size = chunk_size
        self.previous = previous
        self._writer: ChunkWriter | None = None

    def write_chunk(self, rows: Sequence[StagedProfile]) -> None:
        """Hand one chunk to the background COPY writer (started on the first chunk)."""
        if self._writer is None:
            self._writer = ChunkWriter(self.conn, self.ingest_id, self.created_at)
        self._writer.put(rows)

    def finish(self) -> IngestTotals:
        """Wait for the raw rows to be written, then add their new ids to the pool in id-ordered batches."""
        if self._writer is None:
            return IngestTotals(0, 0, 0)
        self._writer.close()
        inserted_raw = self._writer.raw_rows
        params: dict[str, Any] = {"ingest_id": self.ingest_id, "created_at": self.created_at,
                                  "after": "", "size": self.chunk_size}
        logger.info("Checking for existing profiles in global_usernames...")
        if inserted_raw <= self.chunk_size:  # one batch: straight from the raw rows
            started = time.perf_counter()
            _, distinct, added = self.conn.execute(_INSERT_GLOBAL_ALL, params).fetchone()
            observe_batch("pool", started)
            self._log_batch(1, 1, distinct, added)
            return IngestTotals(inserted_raw, added, distinct)
        # Several batches: sort the first sightings once, then read them back batch by batch.
        self.conn.execute(_STAGE)
        distinct = self.conn.execute(_FILL_STAGE, params).rowcount
        self.conn.execute("CREATE INDEX ON ingest_stage (profile_id)")
        batches, added_total = -(-distinct // self.chunk_size), 0
        for number in range(1, batches + 1):
            started = time.perf_counter()
            params["after"], size, added = self.conn.execute(_INSERT_GLOBAL_BATCH, params).fetchone()
            observe_batch("pool", started)
            added_total += added
            self._log_batch(number, batches, size, added)
        return IngestTotals(inserted_raw, added_total, distinct)

    @staticmethod
    def _log_batch(number: int, batches: int, size: int, added: int) -> None:
        logger.info("✓ Inserted batch %d/%d into global_usernames (%d records, %d already there)",
                    number, batches, added, size - added)

    def close(self) -> None:
        """Stop the writer thread before the transaction ends, however the request ended."""
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:  # noqa: BLE001 (the request is already failing with its own error)
                pass

    def record(self, body_sha256: str, response: dict[str, Any],
               by_source: dict[str, dict[str, int]] | None = None) -> None:
        """Store this ingest's reply so a retry with the same Idempotency-Key gets it back, with its
        counts per source."""
        self.conn.execute(_RECORD, {
            "id": self.ingest_id, "api_key_id": self.api_key_id, "key": self.key,
            "sha": body_sha256, "received": response["received"],
            "inserted_raw": response["inserted_raw"], "added_to_global": response["added_to_global"],
            "rejected": response["rejected"], "response": Jsonb(response),
            "by_source": None if by_source is None else Jsonb(by_source)})


class PostgresStore(PostgresDistribution):
    """Reach PostgreSQL through one connection pool per worker process."""

    backend = "postgres"

    def __init__(self, conninfo: str, config: Mapping[str, Any], backend: str = "postgres"):
        self.backend = backend
        self.chunk_size = config["BATCH_CHUNK_SIZE"]
        statement_timeout = config["STATEMENT_TIMEOUT_MS"]
        # Transaction-mode poolers (Supabase's port 6543) hand each transaction to any server
        # connection: prepared statements and session settings would not stay with us there.
        pooled = str(conninfo_to_dict(conninfo).get("port", "")) == "6543"

        def configure(conn: psycopg.Connection) -> None:
            if pooled:
                conn.prepare_threshold = None
                return  # the pooler's role settings bound statement time
            conn.execute("SELECT set_config('statement_timeout', %s, false)", [str(statement_timeout)])

        # Every read and write outside an ingest is one statement: in autocommit it needs no BEGIN
        # and COMMIT round trips. An ingest opens its transaction itself (begin_ingest).
        # TCP keepalives keep idle connections' flows alive through NATs and notice a vanished
        # server within about a minute (libpq ignores them on Unix sockets).
        connect_kwargs: dict[str, Any] = {"connect_timeout": 5, "autocommit": True, "keepalives": 1,
                                          "keepalives_idle": 30, "keepalives_interval": 10,
                                          "keepalives_count": 3}
        cursor_factory = slow_query_cursor(config["SLOW_QUERY_MS"])
        if cursor_factory is not None:
            connect_kwargs["cursor_factory"] = cursor_factory
        self.pool = NotingPool(
            conninfo, min_size=config["DB_POOL_MIN"], max_size=config["DB_POOL_MAX"],
            timeout=config["DB_POOL_TIMEOUT"], configure=configure,
            check=check_idle_connection,  # drop connections a database restart broke
            # Reconnection pauses double (1, 2, 4 ... s) until this bound, then start short again:
            # with psycopg_pool's 300 s default the pool could sleep for minutes after the database is back.
            reconnect_timeout=config["DB_RECONNECT_TIMEOUT"],
            kwargs=connect_kwargs, open=False, name="server")
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
            txn = PostgresIngest(conn, api_key_id, idempotency_key, self.chunk_size, previous)
            try:
                yield txn
            finally:
                txn.close()

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
