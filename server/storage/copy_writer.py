"""COPY an ingest's chunks from a background thread, so parsing the next chunk overlaps the write."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Sequence

import psycopg

from ..logs import current_request_id
from .base import StagedProfile

logger = logging.getLogger("server.batch_processor")

STAGE_TABLE = """
CREATE TEMP TABLE ingest_stage (
    profile_id text COLLATE "C", username text, full_name text, source text
) ON COMMIT DROP
"""
_COPY_RAW = ("COPY raw_scraped_profiles (ingest_id, position, profile_id, username, full_name,"
             " source, scraped_at, profile) FROM STDIN")
_COPY_STAGE = "COPY ingest_stage (profile_id, username, full_name, source) FROM STDIN"
_DONE = None


class ChunkWriter:
    """Owns the transaction's connection while chunks stream in; one writer per ingest request.

    The request thread validates profiles while this thread COPYs the previous chunk, and
    PostgreSQL works on the other core. The bounded queue keeps at most `depth` chunks in memory.
    """

    def __init__(self, conn: psycopg.Connection, ingest_id: str, depth: int = 2):
        self.conn = conn
        self.ingest_id = ingest_id
        self.raw_rows = 0
        self.first_rows = 0
        self.chunks = 0
        self._request_id = current_request_id() or "-"  # this thread has no request context of its own
        self._error: BaseException | None = None
        self._queue: queue.Queue[Sequence[StagedProfile] | None] = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._run, name="ingest-copy", daemon=True)
        self._thread.start()

    def put(self, rows: Sequence[StagedProfile]) -> None:
        """Queue one chunk; raise at once if an earlier chunk failed."""
        if self._error is not None:
            raise self._error
        self._queue.put(rows)

    def close(self) -> None:
        """Wait until every queued chunk is written (or dropped after a failure); re-raise it."""
        if self._thread.is_alive():
            self._queue.put(_DONE)
            self._thread.join()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        # Every failure, the stage table's included, goes to the request thread; after one the queue
        # is still drained, so put() never blocks for ever on a writer that stopped writing.
        self._step(self.conn.execute, STAGE_TABLE)
        while (rows := self._queue.get()) is not _DONE:
            self._step(self._copy, rows)

    def _step(self, action, argument) -> None:
        if self._error is None:
            try:
                action(argument)
            except BaseException as exc:  # noqa: BLE001 (handed to the request thread)
                self._error = exc

    def _copy(self, rows: Sequence[StagedProfile]) -> None:
        ingest_id = self.ingest_id
        with self.conn.cursor() as cur:
            with cur.copy(_COPY_RAW) as copy:
                for row in rows:
                    copy.write_row((ingest_id, *row[:7]))
            self.raw_rows += cur.rowcount
            with cur.copy(_COPY_STAGE) as copy:
                for row in rows:
                    if row.first:
                        copy.write_row((row.profile_id, row.username, row.full_name, row.source))
                        self.first_rows += 1
        self.chunks += 1
        logger.info("✓ Inserted batch %d into raw_scraped_profiles (%d records)", self.chunks, len(rows),
                    extra={"request_id": self._request_id})
