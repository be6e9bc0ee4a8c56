"""The per-process rate-limit counters (no REDIS_URL): exact under threads, and no thread of their own."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from server.extensions import limiter
from server.process_limits import ProcessMemoryStorage

from .conftest import ALL_KEY
from .test_ratelimit import limited_app  # noqa: F401 (fixture)

HEADERS = {"Authorization": f"Bearer {ALL_KEY}"}


def test_limited_requests_start_no_thread(limited_app, monkeypatch):
    """limits' memory storage started a timer thread for nearly every request 10 ms apart: about a
    hundred threads a second in a busy worker, each start waiting for the new thread to run."""
    client = limited_app(RATELIMIT_READ="1000/minute").test_client()
    assert client.get("/api/targets", headers=HEADERS).status_code == 200
    started = []
    original = threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start", lambda thread: (started.append(thread), original(thread)))
    for _ in range(20):
        assert client.get("/api/targets", headers=HEADERS).status_code == 200
        time.sleep(0.015)
    assert started == []


def test_concurrent_hits_are_all_counted(limited_app):
    """Eight threads handing the GIL over all the time: every hit counts (without the lock about
    half are lost), and nothing raises."""
    limited_app()
    storage = limiter.storage
    errors = []

    def hit():
        try:
            for _ in range(2000):
                storage.incr("test:concurrent", 60)
        except Exception as exc:  # noqa: BLE001 (any error fails the test below)
            errors.append(exc)

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads hand over the GIL all the time: a race shows at once
    try:
        threads = [threading.Thread(target=hit) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switch)
    assert errors == []
    assert storage.get("test:concurrent") == 16_000


def test_a_window_ends_and_its_counter_is_forgotten(limited_app, monkeypatch):
    limited_app()
    storage = limiter.storage
    assert [storage.incr("test:window", 1) for _ in range(3)] == [1, 2, 3]
    assert time.time() < storage.get_expiry("test:window") <= time.time() + 1
    for number in range(100):
        storage.incr(f"test:idle:{number}", 1)
    storage.incr("test:open", 60, amount=2)
    time.sleep(1.05)
    assert storage.get("test:window") == 0
    assert storage.get_expiry("test:window") == pytest.approx(time.time(), abs=0.1)
    monkeypatch.setattr(type(storage), "SWEEP_EVERY_SECONDS", 0.0)
    assert storage.incr("test:window", 1) == 1  # a new window; the sweep drops every ended one
    assert storage.get("test:open") == 2  # and keeps the open ones
    assert storage.counters() == 2


def test_clear_and_reset(limited_app):
    limited_app()
    storage = limiter.storage
    storage.incr("test:a", 60)
    storage.incr("test:b", 60, amount=2)
    storage.clear("test:a")
    assert (storage.get("test:a"), storage.get("test:b")) == (0, 2)
    assert storage.reset() == 1 and storage.get("test:b") == 0
    assert storage.check()


def test_the_app_limits_with_these_counters(limited_app):
    client = limited_app(RATELIMIT_READ="2/minute").test_client()
    assert isinstance(limiter.storage, ProcessMemoryStorage)
    assert [client.get("/api/targets", headers=HEADERS).status_code for _ in range(3)] == [200, 200, 429]


def test_flask_limiters_config_command_describes_them(limited_app):
    """`flask limiter config` prints the storage's `storage` attribute, which every storage of limits has."""
    from flask_limiter.commands import cli

    result = limited_app().test_cli_runner().invoke(cli, ["config"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert "ProcessMemoryStorage" in result.output
