"""COPY an ingest's chunks from a background thread, so parsing the next chunk overlaps the write."""

from __future__ import annotations

import logging
import queue
import threading
import time
from datetime import datetime
from typing import Any, Sequence

import psycopg

from ..logs import current_request_id
from ..metrics import observe_batch
from .base import StagedProfile

logger = logging.getLogger("server.batch_processor")

_COPY_RAW = ("COPY raw_scraped_profiles (created_at, ingest_id, position, profile_id, username, full_name,"
             " source, scraped_at, profile) FROM STDIN")
_DONE = object()  # the request has no more chunks
_PAUSE = object()  # end the COPY now: it has been open long enough, or the request paused
# One COPY spans many chunks: ending it after each one made the writer wait for the server to
# store that chunk before it could send the next. It still ends after this long, and whenever the
# request pauses this long, so no statement outlives statement_timeout however slow the client.
COPY_MAX_SECONDS = 1.0
COPY_IDLE_SECONDS = 0.2


class ChunkWriter:
    """Owns the transaction's connection while chunks stream in; one writer per ingest request.

    The request thread validates profiles while this thread COPYs the previous chunks, and
    PostgreSQL works on the other core. The bounded queue keeps at most `depth` chunks in memory.
    """

    def __init__(self, conn: psycopg.Connection, ingest_id: str, created_at: datetime, depth: int = 2):
        self.conn = conn
        self.ingest_id = ingest_id
        self.created_at = created_at
        self.raw_rows = 0
        self.chunks = 0
        self._request_id = current_request_id() or "-"  # this thread has no request context of its own
        self._error: BaseException | None = None
        self._done = False
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
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
        try:
            rows = self._next()
            while rows is not _DONE:
                rows = self._copy_until_pause(rows)
        except BaseException as exc:  # noqa: BLE001 (handed to the request thread)
            self._error = exc
            # Drain the queue, so put() never blocks for ever on a writer that stopped writing.
            while not self._done:
                self._next()

    def _next(self, timeout: float | None = None) -> Any:
        """The next queued chunk or _DONE; _PAUSE if nothing came within `timeout` seconds."""
        try:
            rows = self._queue.get(timeout=timeout)
        except queue.Empty:
            return _PAUSE
        self._done = rows is _DONE
        return rows

    def _copy_until_pause(self, rows: Sequence[StagedProfile]) -> Any:
        """COPY `rows` and the chunks after them in one statement; return what comes after it."""
        # The time as text: psycopg formats a datetime anew for every row (0.6 s per 200,000 rows).
        key, opened, first_chunk = (self.created_at.isoformat(), self.ingest_id), time.monotonic(), self.chunks + 1
        started = time.perf_counter()
        with self.conn.cursor() as cur:
            with cur.copy(_COPY_RAW) as copy:
                while rows is not _DONE and rows is not _PAUSE:
                    for row in rows:
                        copy.write_row((*key, *row[:7]))
                    self.chunks += 1
                    open_for = time.monotonic() - opened
                    rows = self._next(COPY_IDLE_SECONDS) if open_for < COPY_MAX_SECONDS else _PAUSE
            copied = cur.rowcount
        observe_batch("raw", started)
        self.raw_rows += copied
        # Logged once the server has taken the rows: a COPY reports a bad row only when it ends.
        logger.info("✓ Inserted batches %d-%d into raw_scraped_profiles (%d records)", first_chunk, self.chunks,
                    copied, extra={"request_id": self._request_id})
        return self._next() if rows is _PAUSE else rows
