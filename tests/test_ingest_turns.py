"""Ingests take turns per worker (INGEST_CONCURRENCY) and list reads never wait for those turns."""

from __future__ import annotations

import http.client
import select

import httpx
import orjson
import pytest

from .conftest import DISTRIBUTE_KEY, INGEST_KEY, count, profiles
from .held_upload import HeldUpload, ndjson, wait_for, writing_session
from .servers import GunicornServer


@pytest.fixture
def one_worker(database_url, tmp_path):
    """One worker with one ingest turn and threads to spare, so the test sees every request's thread."""
    server = GunicornServer(tmp_path, database_url, WEB_CONCURRENCY="1", GUNICORN_THREADS="4",
                            INGEST_CONCURRENCY="1", RATELIMIT_ENABLED="false").start()
    yield server
    server.stop()


def answered(connection: http.client.HTTPConnection, within: float) -> bool:
    """Whether the server has begun to answer on `connection` within `within` seconds."""
    return bool(select.select([connection.sock], [], [], within)[0])


@pytest.mark.parametrize("kind", ["ndjson", "json"])
def test_a_second_ingest_waits_for_its_turn_while_list_reads_are_answered(one_worker, db, kind):
    first_body = ndjson(profiles(20_000, prefix="first"))
    first = HeldUpload(one_worker, len(first_body), key="turn-first")
    first.send(first_body[:len(first_body) // 2])  # past the first 1000-row chunk: it is writing
    wait_for(lambda: writing_session(db), "the first ingest to write")

    # The second is whole and small: without turns it would be answered at once.
    second = http.client.HTTPConnection("127.0.0.1", one_worker.port, timeout=30)
    items = profiles(10, prefix="second")
    body = ndjson(items) if kind == "ndjson" else orjson.dumps(items)
    second.request("POST", "/api/ingest", body, {
        "Authorization": f"Bearer {INGEST_KEY}", "Content-Type": f"application/x-{kind}" if kind == "ndjson"
        else "application/json"})
    reader = httpx.get(f"{one_worker.url}/api/targets", headers={"Authorization": f"Bearer {DISTRIBUTE_KEY}"},
                       timeout=10)
    assert reader.status_code == 200  # a read is served while one ingest runs and one waits
    assert not answered(second, within=1.0), "the second ingest ran beside the first"

    first.send(first_body[len(first_body) // 2:])
    assert first.answer()[2]["inserted_raw"] == 20_000
    answer = second.getresponse()  # its turn came when the first one's ended
    assert (answer.status, orjson.loads(answer.read())["inserted_raw"]) == (200, 10)
    second.close()
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 20_010
