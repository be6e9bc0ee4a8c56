"""Log SQL statements slower than SLOW_QUERY_MS: the statement text and time, never its parameters."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import psycopg

logger = logging.getLogger("server.storage.slow_queries")

MAX_STATEMENT_CHARS = 500
_SPACES = re.compile(r"\s+")


def statement_text(query: Any, context: psycopg.Cursor) -> str:
    """The statement as one short line; parameters stay out because they carry profile data."""
    if isinstance(query, bytes):
        text = query.decode(errors="replace")
    elif isinstance(query, str):
        text = query
    else:  # psycopg.sql.Composed: render the identifiers, still without the parameters
        try:
            text = query.as_string(context)
        except Exception:  # noqa: BLE001 (a log line must never fail the query it describes)
            text = repr(query)
    text = _SPACES.sub(" ", text).strip()
    return text if len(text) <= MAX_STATEMENT_CHARS else text[:MAX_STATEMENT_CHARS] + "…"


def slow_query_cursor(threshold_ms: int) -> type[psycopg.Cursor] | None:
    """A cursor class that times execute() and logs slow statements; None when the threshold is 0."""
    if threshold_ms <= 0:
        return None

    class SlowQueryCursor(psycopg.Cursor):
        """psycopg's cursor, timing each execute()."""

        def execute(self, query, params=None, **kwargs):
            started = time.perf_counter()
            try:
                return super().execute(query, params, **kwargs)
            finally:
                elapsed_ms = (time.perf_counter() - started) * 1000
                if elapsed_ms >= threshold_ms:
                    statement = statement_text(query, self)
                    logger.warning("slow query (%.0f ms): %s", elapsed_ms, statement,
                                   extra={"duration_ms": round(elapsed_ms, 1), "statement": statement,
                                          "threshold_ms": threshold_ms})

    return SlowQueryCursor
