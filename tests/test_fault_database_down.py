"""PostgreSQL stopped under load: 503 + Retry-After (no hang, no 500), /readyz unready, then recovery
without restarting the app, and every acknowledged batch still there exactly once.

The database is a separate embedded server for this test alone (the session's shared one keeps
running), stopped with a fast shutdown while scrapers and readers keep sending.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest

from server import create_app
from server.storage import embedded
from server.storage.migrate import apply_schema

from .conftest import DATA_DIR, DISTRIBUTE_KEY, fresh_database, make_config, profiles
from .held_upload import NDJSON, HeldUpload, ndjson, wait_for, writing_session
from .load_audit import Baseline, audit
from .scraper import Attempt, Outcome, Scraper, encode, overlapping_batch, timed_get
from .servers import GunicornServer

pytestmark = pytest.mark.slow

OUTAGE_DB = "scraper_outage"
RECONNECT_DB = "reconnect_test"
SCRAPERS = 4
LARGE_BATCH = 30_000
CLIENT_TIMEOUT = 30  # seconds; any request taking longer counts as a hang
SETTINGS = {"DB_POOL_MIN": "1", "DB_POOL_TIMEOUT": "2", "RETRY_AFTER_SECONDS": "1",
            "RATELIMIT_ENABLED": "false", "GUNICORN_MAX_REQUESTS": "0"}


class OwnPostgres:
    """An embedded PostgreSQL of our own that the test may stop and start again."""

    def __init__(self, data_dir):
        admin_url = embedded.ensure_running(data_dir, stop_at_exit=True)
        import pgserver  # noqa: PLC0415 (imported by ensure_running, with its runtime dir set)

        self.handle = pgserver.get_server(embedded.pgdata_path(data_dir))  # the handle just made
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {OUTAGE_DB}")
        self.url = embedded.ensure_running(data_dir, database=OUTAGE_DB)
        apply_schema(self.url)

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster): sessions are ended, open transactions roll back."""
        postmaster = psutil.Process(self.handle.get_pid())
        postmaster.send_signal(signal.SIGINT)
        postmaster.wait(timeout=60)

    def start(self) -> None:
        """Start it again on the same data folder and socket."""
        self.handle.ensure_postgres_running()  # pg_ctl start -w

    def close(self) -> None:
        """Stop it for good: this process holds its only handle."""
        self.handle.cleanup()


@pytest.fixture
def own_postgres(database_url):  # after the session's server, whose runtime folder pgserver keeps
    # Under DATA_DIR rather than pytest's temporary folder: a pytest session starting meanwhile
    # resets that folder to mode 0700, and a server running as another user (pgserver does, under
    # root) could then not start again. The path stays short, as the server's socket lives in it.
    data_dir = Path(tempfile.mkdtemp(prefix="outage-", dir=DATA_DIR))
    try:
        postgres = OwnPostgres(data_dir)
        yield postgres
        postgres.close()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@dataclass
class Traffic:
    """What the scrapers and the reader saw, and the flag that ends them."""

    outcomes: list[Outcome] = field(default_factory=list)
    reads: list[Attempt] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def attempts(self) -> list[Attempt]:
        return [a for o in list(self.outcomes) for a in o.attempts] + list(self.reads)

    def acknowledged(self) -> int:
        return sum(o.acknowledged for o in list(self.outcomes))

    def refused(self) -> int:
        return sum(a.status == 503 for a in self.attempts())


def scrape(url: str, number: int, traffic: Traffic) -> None:
    """One scraper: 300-profile batches, each retried with its key until acknowledged, until told to stop."""
    rng = random.Random(number)
    scraper = Scraper(url, timeout=CLIENT_TIMEOUT, give_up_after=90, max_wait=1)
    try:
        for sequence in range(10_000):
            if traffic.stop.is_set():
                break
            body, headers = encode(overlapping_batch(rng, 300, 5_000), "ndjson.gz" if number % 2 else "json")
            traffic.outcomes.append(scraper.post(body, headers, key=f"outage-{number}-{sequence}"))
    finally:
        scraper.close()


def read_targets(url: str, traffic: Traffic) -> None:
    """One reader: GET /api/targets (a database read each time) until told to stop."""
    with httpx.Client(timeout=CLIENT_TIMEOUT, headers={"Authorization": f"Bearer {DISTRIBUTE_KEY}"}) as client:
        for _ in range(100_000):
            if traffic.stop.is_set():
                break
            traffic.reads.append(timed_get(client, f"{url}/api/targets")[0])
            time.sleep(0.05)


def readyz(server: GunicornServer) -> httpx.Response:
    """GET /readyz."""
    return httpx.get(f"{server.url}/readyz", timeout=CLIENT_TIMEOUT)


def test_postgres_stopped_under_load_gives_503_then_recovers_without_losing_anything(own_postgres, tmp_path):
    # `make reliability` holds the outage for longer than the pool's reconnection bound.
    outage_seconds = float(os.environ.get("OUTAGE_SECONDS", "0"))
    large_body = ndjson(profiles(LARGE_BATCH, prefix="large"))
    server = GunicornServer(tmp_path / "gunicorn", own_postgres.url, **SETTINGS).start()
    traffic = Traffic()
    threads = [threading.Thread(target=scrape, args=(server.url, n, traffic)) for n in range(SCRAPERS)]
    threads.append(threading.Thread(target=read_targets, args=(server.url, traffic)))
    try:
        # A large batch caught half-way: some of its chunks are written, uncommitted. It starts
        # alone, so the one session writing is surely its own.
        upload = HeldUpload(server, len(large_body), key="outage-large")
        upload.send(large_body[: len(large_body) // 2])
        with psycopg.connect(own_postgres.url, autocommit=True) as db:
            wait_for(lambda: writing_session(db), "the large batch to write its first chunks")
        for thread in threads:
            thread.start()
        wait_for(lambda: traffic.acknowledged() >= 2 * SCRAPERS, "traffic before the outage")
        workers = server.worker_pids()

        own_postgres.stop()
        stopped_at = time.monotonic()
        upload.send(large_body[len(large_body) // 2:])
        caught = upload.answer()
        refused_before = traffic.refused()
        unready = wait_for(lambda: (r := readyz(server)).status_code == 503 and r, "/readyz to turn unready")
        wait_for(lambda: traffic.refused() >= refused_before + SCRAPERS, "requests refused during the outage")

        time.sleep(max(0.0, outage_seconds - (time.monotonic() - stopped_at)))
        outage = time.monotonic() - stopped_at
        own_postgres.start()
        restarted = time.monotonic()
        wait_for(lambda: readyz(server).status_code == 200, "/readyz to recover", timeout=180)
        recovered_after = time.monotonic() - restarted
        scraper = Scraper(server.url, timeout=CLIENT_TIMEOUT, give_up_after=60)
        traffic.outcomes.append(large := scraper.post(large_body, NDJSON, "outage-large"))  # the retry
        scraper.close()
        acknowledged = traffic.acknowledged()
        wait_for(lambda: traffic.acknowledged() >= acknowledged + 2 * SCRAPERS, "traffic after the outage")
        workers_after = server.worker_pids()
    finally:
        traffic.stop.set()
        for thread in threads:
            thread.join(timeout=120)
        server.stop()

    attempts = traffic.attempts()
    assert all(a.status is not None for a in attempts), "a request hung or lost its connection"
    assert {a.status for a in attempts} == {200, 503}
    refused = [a for a in attempts if a.status == 503]
    assert all(a.retry_after == "1" and a.error_code == "storage_unavailable" for a in refused), refused
    assert unready.headers["Retry-After"] == "1" and unready.json()["error"]["code"] == "not_ready"
    assert caught is not None, "the batch in flight lost its connection instead of an answer"
    assert (caught[0], caught[1].get("Retry-After"), caught[2]["error"]["code"]) == (503, "1", "storage_unavailable")
    assert large.body["inserted_raw"] == LARGE_BATCH  # its retry landed, and the audit below finds it once
    assert workers_after == workers  # recovered in the same processes: nothing was restarted
    assert all(o.acknowledged for o in traffic.outcomes)
    with psycopg.connect(own_postgres.url, autocommit=True) as conn:
        report = audit(conn, Baseline(0, 0, 0), traffic.outcomes)
    assert report["mismatches"] == [] and report["rows_lost"] == 0, report
    print(f"PostgreSQL down {outage:.1f} s: {len(refused)} requests refused with 503 (slowest answer"
          f" {max(a.seconds for a in attempts):.1f} s, none hung, no 500), /readyz ready {recovered_after:.1f} s"
          f" after PostgreSQL was back; {report['ingests_acknowledged']} batches acknowledged,"
          f" {report['raw_rows_added']} raw rows, rows lost: {report['rows_lost']}")


@pytest.fixture
def closable_database(database_url) -> str:
    """A database of its own, whose connections the test can refuse and cut for an outage."""
    return fresh_database(RECONNECT_DB)


def set_connections(admin: psycopg.Connection, allowed: bool) -> None:
    """Let clients connect to RECONNECT_DB again, or refuse them and end every session it has."""
    admin.execute(f"ALTER DATABASE {RECONNECT_DB} ALLOW_CONNECTIONS {str(allowed).lower()}")
    if not allowed:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [RECONNECT_DB])


def test_the_pool_reconnects_afresh_when_the_database_is_back_after_db_reconnect_timeout(closable_database,
                                                                                        database_url):
    """psycopg_pool doubles the pause between reconnection attempts (1, 2, 4, 8 ... s); past
    DB_RECONNECT_TIMEOUT it gives the chain up and the next request connects at once. Left at
    psycopg_pool's 300 s, the request below would find the pool asleep until its attempt at ~7 s and
    get a 503 though the database had been back for a second."""
    app = create_app(make_config(closable_database, DB_POOL_MIN=1, DB_POOL_TIMEOUT=1, DB_RECONNECT_TIMEOUT=1))
    client = app.test_client()

    def targets():
        return client.get("/api/targets", headers={"Authorization": f"Bearer {DISTRIBUTE_KEY}"})

    try:
        with psycopg.connect(database_url, autocommit=True) as admin:
            assert targets().status_code == 200
            set_connections(admin, allowed=False)
            refused = [targets()]  # finds its connection cut: the pool drops it
            growing = time.monotonic()
            refused.append(targets())  # finds the pool empty: its reconnection attempts start
            assert [(r.status_code, r.get_json()["error"]["code"]) for r in refused] == [
                (503, "storage_unavailable")] * 2
            time.sleep(max(0.0, growing + 3.5 - time.monotonic()))  # between its attempts at ~3 s and ~7 s
            set_connections(admin, allowed=True)
            assert targets().status_code == 200
    finally:
        app.extensions["store"].close()
