"""Trickling and stalled uploads against a real Gunicorn: they get 408 and free their threads."""

from __future__ import annotations

import io
import socket
import threading
import time

import httpx
import orjson
import pytest

from server.errors import RequestTimeout
from server.upload_deadline import _TimedInput

from .conftest import INGEST_KEY
from .servers import GunicornServer

THREADS = 2


@pytest.fixture
def server(database_url, tmp_path):
    """One worker of two threads: two slow clients are enough to occupy all of it."""
    gunicorn = GunicornServer(tmp_path, database_url, WEB_CONCURRENCY="1", GUNICORN_THREADS=str(THREADS),
                              UPLOAD_GRACE_SECONDS="1", MIN_UPLOAD_BYTES_PER_SECOND="1000",
                              RATELIMIT_ENABLED="false").start()
    yield gunicorn
    gunicorn.stop()


def slow_upload(port: int, answers: list, byte_every: float | None, seconds: float = 8) -> None:
    """POST a 100 KB body announced in full, then send a byte every `byte_every` s (None: never)."""
    with socket.create_connection(("127.0.0.1", port), timeout=seconds + 5) as sock:
        sock.sendall(b"POST /api/ingest HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-ndjson\r\n"
                     b"Authorization: Bearer " + INGEST_KEY.encode() + b"\r\nContent-Length: 100000\r\n\r\n")
        started, reply = time.monotonic(), b""
        sock.settimeout(byte_every or seconds)
        while time.monotonic() - started < seconds and b"\r\n\r\n" not in reply:
            try:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
            except TimeoutError:
                try:
                    sock.sendall(b"{")  # the trickle
                except OSError:
                    break
        answers.append((time.monotonic() - started, reply))


@pytest.mark.parametrize("byte_every", [0.2, None], ids=["trickling", "stalled"])
def test_slow_uploads_get_408_and_the_service_keeps_answering(server, byte_every):
    answers: list = []
    clients = [threading.Thread(target=slow_upload, args=(server.port, answers, byte_every)) for _ in range(THREADS)]
    for client in clients:
        client.start()
    time.sleep(0.3)  # both threads now hold a slow body
    started = time.monotonic()
    health = httpx.get(f"{server.url}/healthz", timeout=10)
    waited = time.monotonic() - started
    for client in clients:
        client.join()
    assert health.status_code == 200 and waited < 4  # without the deadline: held for the full 8 s
    for seconds, reply in answers:
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408"), reply[:200]
        assert seconds < 4
        if body:
            assert orjson.loads(body)["error"]["code"] == "request_timeout"


class SlowStream(io.BytesIO):
    """A body whose every read waits `delay` seconds: a slow client."""

    def __init__(self, data: bytes, delay: float):
        super().__init__(data)
        self.delay = delay

    def read(self, size: int = -1) -> bytes:
        time.sleep(self.delay)
        return super().read(size)


def test_only_time_spent_waiting_for_the_client_counts_not_the_servers_own_work():
    body = _TimedInput(io.BytesIO(b"x" * 10_000), None, min_rate=1000, grace=0.2)
    for _ in range(10):
        assert len(body.read(1000)) == 1000
        time.sleep(0.1)  # the server writing a chunk between reads: a whole second in all
    assert body.read() == b""


def test_a_client_slower_than_the_minimum_rate_is_cut_off_by_its_reads():
    # 100 bytes every 0.1 s is 1 KB/s against a minimum of 5 KB/s: cut within about 2 s of waiting.
    body = _TimedInput(SlowStream(b"x" * 10_000, delay=0.1), None, min_rate=5000, grace=0.2)
    with pytest.raises(RequestTimeout):
        while body.read(100):
            pass
    assert body.received < 3000


def test_a_trickling_chunked_upload_gets_408_too(server):
    """A body without Content-Length: Gunicorn's chunked reader ends in NoMoreData when cut off."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /api/ingest HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-ndjson\r\n"
                     b"Authorization: Bearer " + INGEST_KEY.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n")
        started, reply = time.monotonic(), b""
        sock.settimeout(0.2)
        while time.monotonic() - started < 8 and b"\r\n\r\n" not in reply:
            try:
                reply += sock.recv(65536) or b"\r\n\r\n"
            except TimeoutError:
                try:
                    sock.sendall(b"1\r\n{\r\n")  # one byte per chunk, five a second
                except OSError:
                    break
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]


class CountingStream(io.BytesIO):
    """A body that arrives at once, noting the size of every read asked of it."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.asked: list[int] = []

    def read(self, size: int = -1) -> bytes:
        self.asked.append(size)
        return super().read(size)


def test_a_body_that_arrives_fast_is_read_in_growing_pieces():
    # 8 KiB reads from Gunicorn's 1 MiB buffer copied the rest of it on every read: 0.7 s of CPU
    # for an 86 MB document. Pieces grow to a quarter of what has arrived, up to MAX_PIECE.
    stream = CountingStream(b"x" * (16 << 20))
    body = _TimedInput(stream, None, min_rate=8192, grace=10)
    received = 0
    while data := body.read(256 * 1024):
        received += len(data)
    assert received == 16 << 20
    assert len(stream.asked) < 120  # 2,049 reads of 8 KiB before
    arrived = 0
    for size in stream.asked:
        assert size <= max(8192, arrived // 4, 1)  # never more than a quarter of what arrived
        arrived += size


def test_the_piece_in_flight_adds_at_most_a_quarter_to_a_fast_clients_credit():
    body = _TimedInput(io.BytesIO(b"x" * 400_000), None, min_rate=8192, grace=1)
    while body.read(65536):
        pass
    # Waiting now: the credit is what arrived, at the minimum rate, plus the piece in flight.
    credit = 1 + (body.received + body.received // 4) / 8192
    body.reading_since = time.monotonic()
    assert not body.behind(body.reading_since + credit - 0.5)
    assert body.behind(body.reading_since + credit + 0.5)
