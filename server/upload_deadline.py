"""Slow uploads end in 408: a request body must keep arriving, or it stops holding a thread.

With Gunicorn's gthread workers a request body is read by a worker thread with no deadline of its
own: about `workers x threads` clients trickling a byte now and then would hold every thread and
stop the service for everyone. Here a body must not pause for longer than UPLOAD_GRACE_SECONDS
(the socket's timeout), and from then on must have arrived at MIN_UPLOAD_BYTES_PER_SECOND on
average. A trickle keeps a blocking read waiting without ever timing out, so a watchdog thread per
worker checks the bodies being read and shuts the read side of a late one's socket: the read then
ends, and the request is answered 408 (the connection closes, since the rest of its body is still
on the way).

Only the time spent waiting for the body counts, not the time the server spends between reads
(writing chunks, a slow database): a slow server never turns a client's upload into a 408. Bodies
are read in pieces of MIN_UPLOAD_BYTES_PER_SECOND bytes (1 KiB at least), so a client at the
minimum rate shows progress every second, and the watchdog allows one piece in flight. Pieces grow
to a quarter of what has arrived (at most MAX_PIECE): 8 KiB reads from Gunicorn's 1 MiB buffer cost
0.7 s of a worker's CPU for an 86 MB document, and the piece in flight then adds at most a quarter
to the credit a client has earned by sending fast.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import weakref
from typing import Any, Callable, Iterable

from .errors import RequestTimeout

logger = logging.getLogger("server.upload_deadline")
WATCH_EVERY_SECONDS = 0.25
MAX_PIECE = 1 << 20  # Gunicorn's largest single recv() for a body of known length


class _TimedInput:
    """wsgi.input read in pieces, each checked against the deadline."""

    def __init__(self, stream: Any, sock: socket.socket | None, min_rate: int, grace: float):
        self.stream = stream
        self.sock = sock
        self.min_rate = min_rate
        self.grace = grace
        self.smallest_piece = self.piece = max(1024, min_rate)
        self.waited = 0.0  # seconds spent in reads that ended
        self.reading_since: float | None = None  # the read under way, if any
        self.received = 0
        self.late = False

    def behind(self, now: float) -> bool:
        """Past the grace period of waiting, more than one piece behind the minimum rate."""
        since = self.reading_since  # read once: the request thread may clear it meanwhile
        waited = self.waited + (now - since if since is not None else 0.0)
        return waited > self.grace and self.received + self.piece < self.min_rate * (waited - self.grace)

    def _read(self, read: Callable[[int], bytes], size: int) -> bytes:
        self.reading_since = started = time.monotonic()
        try:
            return read(size)
        finally:
            self.reading_since = None
            self.waited += time.monotonic() - started

    def _late(self, reason: str) -> RequestTimeout:
        self.late = True
        return RequestTimeout(reason)

    def _too_slow(self) -> RequestTimeout:
        return self._late(f"request body arrived at under {self.min_rate} bytes/s "
                          "(MIN_UPLOAD_BYTES_PER_SECOND); send it faster or in smaller requests")

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes (all when negative), read one piece at a time."""
        parts, wanted = [], size if size is not None and size >= 0 else float("inf")
        while wanted > 0:
            try:
                data = self._read(self.stream.read, int(min(wanted, self.piece)))
            except TimeoutError:  # the socket's own timeout: not a byte for UPLOAD_GRACE_SECONDS
                raise self._late(f"request body stalled for {self.grace:g} s (UPLOAD_GRACE_SECONDS)") from None
            except OSError:  # a chunked body cut off by the watchdog ends in Gunicorn's NoMoreData
                if self.late:
                    raise self._too_slow() from None
                raise
            if self.late or self.behind(time.monotonic()):
                raise self._too_slow()
            if not data:
                break
            self.received += len(data)
            self.piece = max(self.smallest_piece, min(MAX_PIECE, self.received // 4))
            wanted -= len(data)
            parts.append(data)
        return b"".join(parts)

    def readline(self, size: int = -1) -> bytes:
        """One line; Werkzeug reads bodies with read(), so this is rare: same checks, unsplit."""
        line = self._read(self.stream.readline, size)
        if self.late or self.behind(time.monotonic()):
            raise self._too_slow()
        self.received += len(line)
        return line

    def __iter__(self):
        while line := self.readline():
            yield line


class _Watchdog:
    """One thread per worker process: ends the reads of bodies that fell behind."""

    def __init__(self) -> None:
        self.bodies: weakref.WeakSet[_TimedInput] = weakref.WeakSet()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def watch(self, body: _TimedInput) -> None:
        with self.lock:
            self.bodies.add(body)
            if self.thread is None or not self.thread.is_alive():  # also after a fork
                self.thread = threading.Thread(target=self._run, name="upload-deadline", daemon=True)
                self.thread.start()

    def forget(self, body: _TimedInput) -> None:
        with self.lock:
            self.bodies.discard(body)

    def _run(self) -> None:
        while True:
            time.sleep(WATCH_EVERY_SECONDS)
            try:
                self._cut_late_bodies()
            except Exception:  # the watchdog must outlive any one body: it is the only one there is
                logger.exception("upload watchdog: a check failed")

    def _cut_late_bodies(self) -> None:
        now = time.monotonic()
        with self.lock:
            late = [body for body in self.bodies if not body.late and body.behind(now)]
        for body in late:
            body.late = True
            try:
                body.sock.shutdown(socket.SHUT_RD)  # the blocked read returns; answering still works
            except OSError:
                pass


_watchdog = _Watchdog()


class UploadDeadline:
    """WSGI middleware that puts every request body under the deadline above."""

    def __init__(self, app: Any, min_rate: int, grace: float):
        self.app = app
        self.min_rate = min_rate
        self.grace = grace

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        sock = environ.get("gunicorn.socket")
        body = _TimedInput(environ["wsgi.input"], sock, self.min_rate, self.grace)
        environ["wsgi.input"] = body
        if sock is None:  # the test client or `flask run`: no socket to guard
            return self.app(environ, start_response)
        sock.settimeout(self.grace)  # gthread puts keep-alive sockets back to non-blocking itself
        if self.min_rate:
            _watchdog.watch(body)
        try:
            return self.app(environ, self._closing_after_408(sock, start_response))
        finally:
            _watchdog.forget(body)

    @staticmethod
    def _closing_after_408(sock: socket.socket, start_response: Callable) -> Callable:
        def start(status: str, headers: list, *exc_info: Any):
            if status.startswith("408"):
                # The rest of the body is still on its way: read no further request from here.
                try:
                    sock.shutdown(socket.SHUT_RD)
                except OSError:
                    pass
            return start_response(status, headers, *exc_info)

        return start
