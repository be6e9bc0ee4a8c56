"""The app under real Gunicorn with 2 workers: ingest, metrics and limits across workers, a killed worker."""

from __future__ import annotations

import gzip
import os
import re
import signal
import time

import orjson
import psutil
import pytest
import redis

from .conftest import ALL_KEY, INGEST_KEY, count, profiles
from .held_upload import NDJSON, HeldUpload, ndjson, wait_for
from .scraper import Scraper
from .servers import GunicornServer, fresh_client, redis_url  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(database_url, tmp_path_factory):
    """One Gunicorn for this module; the ingest limit is small enough to reach, per worker."""
    gunicorn = GunicornServer(tmp_path_factory.mktemp("gunicorn"), database_url,
                              RATELIMIT_INGEST="3/minute").start()
    yield gunicorn
    gunicorn.stop()


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text, 0 when absent."""
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            return float(match.group(2))
    return 0.0


def ndjson_gz(items: list) -> bytes:
    return gzip.compress(b"".join(orjson.dumps(item) + b"\n" for item in items))


def post_ingest(client, server, items, key=ALL_KEY):
    return client.post(f"{server.url}/api/ingest", content=ndjson_gz(items), headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"})


def test_ingest_through_gunicorn_lands_in_the_database(server, db):
    with fresh_client() as client:
        response = post_ingest(client, server, profiles(1000) + profiles(10))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["received"], body["inserted_raw"], body["added_to_global"], body["duplicates_in_request"]) == (
        1010, 1010, 1000, 10)
    assert response.headers["X-Request-ID"]
    assert count(db, "SELECT count(*) FROM global_usernames") == 1000


def test_metrics_add_up_requests_of_both_workers(server, db):
    with fresh_client() as client:
        before = client.get(f"{server.url}/metrics").text
        for _ in range(20):
            assert client.get(f"{server.url}/healthz").status_code == 200
        post_ingest(client, server, profiles(7))
        after = client.get(f"{server.url}/metrics").text
    served = (metric(after, "http_requests_total", route="/healthz", status="200")
              - metric(before, "http_requests_total", route="/healthz", status="200"))
    assert served == 20  # whichever worker answered /metrics, it counted both workers' requests
    added = (metric(after, "ingest_profiles_total", outcome="added_to_global")
             - metric(before, "ingest_profiles_total", outcome="added_to_global"))
    assert added == 7
    assert metric(after, "db_pool_connections", state="max") >= 8  # DB_POOL_MAX of at least one worker
    pids = {int(m) for m in re.findall(r"_(\d+)\.db", " ".join(os.listdir(server.metrics_dir)))}
    assert len(pids) >= 2, "both workers should have written samples"


def test_memory_limits_are_counted_per_worker(server, db):
    """Without REDIS_URL each worker keeps its own counters: with 2 workers a key gets between 1x and 2x its limit."""
    with fresh_client() as client:
        statuses = [post_ingest(client, server, profiles(1, start=i), key=INGEST_KEY).status_code
                    for i in range(10)]
    assert set(statuses) == {200, 429}
    assert 3 <= statuses.count(200) <= 6


def test_a_worker_killed_with_sigkill_is_replaced_and_requests_keep_succeeding(server, db):
    with fresh_client() as client:
        # Make both workers open their pool, so each has live pool gauges on disk.
        for _ in range(40):
            if len(_gauge_pids(server)) >= 2:
                break
            assert client.get(f"{server.url}/readyz").status_code == 200
        victim = _gauge_pids(server)[0]
        assert victim in server.worker_pids()
        os.kill(victim, signal.SIGKILL)
        statuses = [client.get(f"{server.url}/readyz").status_code for _ in range(20)]
        deadline = time.monotonic() + 30
        while victim in server.worker_pids() or len(server.worker_pids()) < 2:
            assert time.monotonic() < deadline, f"no replacement worker:\n{server.log_tail()}"
            time.sleep(0.2)
        statuses += [client.get(f"{server.url}/readyz").status_code for _ in range(20)]
        metrics = client.get(f"{server.url}/metrics")
    assert statuses == [200] * 40
    assert metrics.status_code == 200
    assert victim not in _gauge_pids(server)  # child_exit dropped the dead worker's live gauges


def test_a_request_line_over_gunicorns_limit_is_the_414_the_description_names(server):
    with fresh_client() as client:
        described = client.get(f"{server.url}/openapi.json").json()["paths"]["/api/distribution/{day}"]["get"]
        response = client.get(f"{server.url}/api/distribution/2026-03-02", params={"cursor": "x" * 5000},
                              headers={"Authorization": f"Bearer {ALL_KEY}"})
    assert response.status_code == 414
    assert response.headers["Content-Type"].split(";")[0] in described["responses"]["414"]["content"]


def test_a_worker_stuck_past_gunicorn_timeout_is_killed_and_replaced_and_the_retry_is_answered(
        database_url, tmp_path, db):
    """A gthread worker heartbeats from its main loop while requests run in its threads, so only a
    worker that stops as a whole (frozen here with SIGSTOP, as by a C call holding the GIL or a
    machine swapping) misses GUNICORN_TIMEOUT. Its client must not wait for ever."""
    server = GunicornServer(tmp_path / "stuck", database_url, GUNICORN_TIMEOUT="10", RATELIMIT_ENABLED="false",
                            GUNICORN_MAX_REQUESTS="0").start()
    body = ndjson(profiles(100, prefix="stuck"))
    victim = None
    try:
        upload = HeldUpload(server, len(body), key="stuck-upload")
        upload.send(body[:100])
        try:
            victim = server.worker_serving(upload.client_port)
        except BaseException:
            upload.conn.close()
            raise
        os.kill(victim, signal.SIGSTOP)
        stopped = time.monotonic()
        upload.send(body[100:])  # nobody reads it now
        assert upload.answer() is None  # the connection ends with the killed worker, without an answer
        waited = time.monotonic() - stopped
        wait_for(lambda: victim not in server.worker_pids() and len(server.worker_pids()) == 2,
                 "Gunicorn to replace the stuck worker")
        scraper = Scraper(server.url, give_up_after=60)
        retry = scraper.post(body, NDJSON, "stuck-upload")
        scraper.close()
    finally:
        if victim is not None and psutil.pid_exists(victim):
            os.kill(victim, signal.SIGKILL)  # the test failed before Gunicorn did it
        server.stop()
    assert 10 <= waited < 25, waited  # the timeout, plus the master's check once a second and its SIGKILL
    assert f"WORKER TIMEOUT (pid:{victim})" in server.log_path.read_text()
    assert retry.acknowledged and retry.body["inserted_raw"] == 100, retry.attempts
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 100


def _gauge_pids(server) -> list[int]:
    return sorted(int(m) for m in re.findall(r"gauge_livesum_(\d+)\.db", " ".join(os.listdir(server.metrics_dir))))


def test_redis_limits_are_shared_by_every_worker(database_url, tmp_path_factory, redis_url, db):
    redis.Redis.from_url(redis_url).flushdb()
    gunicorn = GunicornServer(tmp_path_factory.mktemp("gunicorn-redis"), database_url,
                              REDIS_URL=redis_url, RATELIMIT_INGEST="4/minute").start()
    try:
        with fresh_client() as client:
            responses = [post_ingest(client, gunicorn, profiles(1, start=i)) for i in range(9)]
    finally:
        gunicorn.stop()
    statuses = [r.status_code for r in responses]
    assert statuses == [200] * 4 + [429] * 5  # one budget, whichever worker answers
    refused = responses[-1]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.headers["X-RateLimit-Limit"] == "4"
