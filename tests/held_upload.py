"""An ingest sent by hand over one socket, so a fault test decides when the rest of the body goes out."""

from __future__ import annotations

import http.client
import time
from typing import Any, Callable

import orjson
import psycopg

from .conftest import INGEST_KEY
from .servers import GunicornServer

NDJSON = {"Content-Type": "application/x-ndjson"}


def ndjson(items: list[dict]) -> bytes:
    """Profiles as NDJSON, one per line."""
    return b"".join(orjson.dumps(item) + b"\n" for item in items)


class HeldUpload:
    """POST /api/ingest with an Idempotency-Key whose body the test sends in parts."""

    def __init__(self, server: GunicornServer, length: int, key: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        self.conn.putrequest("POST", "/api/ingest")
        for name, value in {"Authorization": f"Bearer {INGEST_KEY}", "Idempotency-Key": key,
                            "Content-Length": str(length), **NDJSON}.items():
            self.conn.putheader(name, value)
        self.conn.endheaders()
        self.client_port = self.conn.sock.getsockname()[1]

    def send(self, data: bytes) -> None:
        """Send the next part of the body."""
        self.conn.send(data)

    def answer(self) -> tuple[int, dict[str, str], Any] | None:
        """(status, headers, JSON body) of the answer, or None when the connection died without one."""
        try:
            response = self.conn.getresponse()
            return response.status, dict(response.getheaders()), orjson.loads(response.read())
        except (OSError, http.client.HTTPException):
            return None
        finally:
            self.conn.close()


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    """Poll until `condition()` is truthy (at most `timeout` seconds); return its value."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def writing_session(db: psycopg.Connection, *, waiting_on_lock: bool = False, exclude: int = 0) -> int | None:
    """The database session of an ingest in progress: it has written rows (holds a transaction id)."""
    row = db.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid NOT IN"
        " (pg_backend_pid(), %s) AND backend_xid IS NOT NULL AND (NOT %s OR wait_event_type = 'Lock')",
        [exclude, waiting_on_lock]).fetchone()
    return row[0] if row else None
