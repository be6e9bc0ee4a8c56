"""SUPABASE_TIMEOUT_SECONDS cuts off a REST request that hangs: the request is retried, and when every
attempt hangs the client gets the JSON 503 with Retry-After, never a hang of its own.

The gateway is served over HTTP on loopback here, so the client's timeout meets a real socket that
stays silent. A hung request still runs once it is let go, as one on Supabase may have been carried
out after the client gave up: the test lets it go and checks that it changed nothing.
"""

from __future__ import annotations

import threading
import time
from typing import Iterable

import pytest

from server import create_app

from ..conftest import ALL_KEY, Ingest, count, profiles
from ..held_upload import wait_for
from .conftest import supabase_config
from .fake_postgrest import FakePostgrest
from .gateway_http import GatewayServer

TIMEOUT = 1  # SUPABASE_TIMEOUT_SECONDS
HANG = 20  # seconds a hung request waits at most for the test to let it go


class HangingGateway:
    """The strict gateway over HTTP, whose next requests to a path can be made to hang."""

    def __init__(self, database_url: str):
        self.gateway = FakePostgrest(database_url)
        self.let_go = threading.Event()

    def hang(self, path: str, times: int = 1) -> None:
        """The next `times` requests to `path` say nothing until let go (or HANG seconds), then run."""
        for _ in range(times):
            self.gateway.before(path, lambda: self.let_go.wait(HANG))

    def release(self) -> None:
        """Let every hung request run, and wait until they are done."""
        self.let_go.set()
        wait_for(lambda: self.gateway.running == 0, "the hung requests to finish")


@pytest.fixture
def hanging(db, database_url, tmp_path) -> Iterable[tuple[HangingGateway, object]]:
    """(the gateway, a Supabase app with SUPABASE_TIMEOUT_SECONDS=1 talking to it over HTTP)."""
    gateway = HangingGateway(database_url)
    with GatewayServer(gateway.gateway) as url:
        app = create_app(supabase_config(database_url, SUPABASE_URL=url, SUPABASE_TIMEOUT_SECONDS=TIMEOUT,
                                         CACHE_DIR=str(tmp_path / "cache")))
        try:
            yield gateway, app.test_client()
        finally:
            gateway.release()
            app.extensions["store"].close()
    gateway.gateway.close()


def test_a_request_hanging_past_the_timeout_is_cut_off_and_answered_503_after_the_retries(hanging):
    gateway, client = hanging
    gateway.hang("distribution_targets", times=3)  # every attempt of the read
    started = time.monotonic()
    response = client.get("/api/targets", headers={"Authorization": f"Bearer {ALL_KEY}"})
    elapsed = time.monotonic() - started
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "storage_unavailable"
    assert response.headers["Retry-After"] == "5"
    assert 3 * TIMEOUT <= elapsed < HANG / 2  # three attempts cut off at the timeout, not the hang


def test_an_ingest_chunk_hanging_once_is_retried_and_counted_once_when_the_first_attempt_lands_late(
        hanging, db):
    gateway, client = hanging
    gateway.hang("rpc/ingest_chunk")
    started = time.monotonic()
    reply = Ingest(client).json(profiles(5), **{"Idempotency-Key": "hung-chunk"})
    elapsed = time.monotonic() - started
    assert reply.status_code == 200, reply.get_json()
    assert TIMEOUT <= elapsed < HANG / 2
    body = reply.get_json()
    assert (body["inserted_raw"], body["added_to_global"], body["skipped_existing"]) == (5, 5, 0)
    gateway.release()  # the first attempt now reaches the database, after the ingest has finished
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 5
    assert count(db, "SELECT count(*) FROM global_usernames") == 5
    assert count(db, "SELECT count(*) FROM ingest_requests") == 1
    again = Ingest(client).json(profiles(5), **{"Idempotency-Key": "hung-chunk"})
    assert again.get_json() == body
