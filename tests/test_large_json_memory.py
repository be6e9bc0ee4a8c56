"""Large JSON documents in one Gunicorn worker: threads wait for the large-document slot before
they buffer more than JSON_LARGE_BYTES, so concurrent large bodies do not add up in memory."""

from __future__ import annotations

import threading
from pathlib import Path

import orjson
import pytest

from .conftest import INGEST_KEY
from .servers import GunicornServer, fresh_client

DOCUMENTS = 4
PROFILES = 100_000  # of about 1 KB each: a 100 MB document
# Measured on this machine: about 585 MB with the slot taken before buffering, about 785 MB when
# every thread buffered its whole document first. The bound sits between them.
PEAK_MB = 680


def peak_rss_mb(pid: int) -> float:
    """The process's resident-memory high-water mark (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc")


@pytest.mark.slow
def test_four_concurrent_100_mb_documents_keep_a_worker_under_its_stated_peak(database_url, tmp_path):
    bio = "x" * 1000
    body = orjson.dumps({"profiles": [{"id": f"p{i}", "username": f"u{i}", "bio": bio} for i in range(PROFILES)]})
    assert len(body) > 100_000_000
    # Too many profiles for the server's limit: each document is parsed, then refused before writing.
    server = GunicornServer(tmp_path, database_url, WEB_CONCURRENCY="1", GUNICORN_THREADS=str(DOCUMENTS),
                            MAX_PROFILES_PER_REQUEST=str(PROFILES - 1), RATELIMIT_ENABLED="false").start()
    try:
        (worker,) = server.worker_pids()
        statuses = []

        def post() -> None:
            with fresh_client() as http:
                statuses.append(http.post(f"{server.url}/api/ingest", content=body, timeout=120, headers={
                    "Authorization": f"Bearer {INGEST_KEY}", "Content-Type": "application/json"}).status_code)

        threads = [threading.Thread(target=post) for _ in range(DOCUMENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        peak = peak_rss_mb(worker)
    finally:
        server.stop()
    assert statuses == [413] * DOCUMENTS
    assert peak < PEAK_MB, f"worker peak {peak:.0f} MB"
