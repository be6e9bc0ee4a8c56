"""The Batcher against the real app under Gunicorn: exact totals, keys per run, failures reported."""

from __future__ import annotations

import datetime
import hashlib
import math
import queue

import pytest

from scraper_client import Client, RetryPolicy
from scraper_client.batch import encode_profile

from ..conftest import ALL_KEY, INGEST_KEY, READER_KEY, count, key_id
from ..held_upload import wait_for
from .conftest import stored, totals_as_stored
from .fault_proxy import FaultProxy, Refuse

pytestmark = pytest.mark.slow


def mixed_profiles(total: int, distinct: int, invalid_every: int) -> list[dict]:
    """`total` profiles over `distinct` ids (so ids repeat in and across batches), every
    `invalid_every`-th without a username."""
    items = []
    for n in range(total):
        item = {"id": f"m{n % distinct}", "username": f"user_m{n % distinct}", "followers": n}
        if n % invalid_every == invalid_every - 1:
            del item["username"]
        items.append(item)
    return items


def test_100000_profiles_the_tables_hold_exactly_what_the_totals_say(backend, db):
    items = mixed_profiles(100_000, 97_000, 400)
    with Client(backend.url, INGEST_KEY) as client, client.batcher(batch_size=5000) as batcher:
        for item in items:
            batcher.add(item)
    totals = batcher.totals
    assert stored(db) == totals_as_stored(totals)
    valid_ids = {item["id"] for item in items if "username" in item}
    assert (totals.received, totals.rejected, totals.inserted_raw, totals.added_to_global) == (
        100_000, 250, 99_750, len(valid_ids))
    assert totals.skipped_existing + totals.duplicates_in_request == totals.inserted_raw - totals.added_to_global
    assert (totals.batches, totals.requests, totals.retries, totals.failed_batches) == (20, 20, 0, 0)
    # Each rejection names the profile by its place in the run and its id, with the server's reason.
    invalid = [n for n, item in enumerate(items) if "username" not in item]
    assert [(r.position, r.profile_id, r.field) for r in totals.rejections] == [
        (n, items[n]["id"], "username") for n in invalid]


def test_batches_close_by_bytes_large_ones_go_as_gzip_ndjson_small_ones_as_json(backend, db):
    items = [{"id": f"b{n:02d}", "username": f"b{n:02d}", "bio": "x" * 4950} for n in range(50)]
    lines = [encode_profile(item) for item in items]
    assert {len(line) + 1 for line in lines} == {4989}  # so 20 fit in 100,000 bytes, not 21
    with Client(backend.url, INGEST_KEY) as client, client.batcher(batch_size=1000,
                                                                   max_batch_bytes=100_000) as batcher:
        for item in items:
            batcher.add(item)
    assert (batcher.totals.batches, batcher.totals.added_to_global) == (3, 50)
    # The server records the hash of each body as decoded: NDJSON for the two full batches, a JSON
    # array for the last, which is under GZIP_FROM_BYTES.
    expected = [(20, hashlib.sha256(b"\n".join(lines[:20]) + b"\n").hexdigest()),
                (20, hashlib.sha256(b"\n".join(lines[20:40]) + b"\n").hexdigest()),
                (10, hashlib.sha256(b"[" + b",".join(lines[40:]) + b"]").hexdigest())]
    assert db.execute("SELECT received, body_sha256 FROM ingest_requests ORDER BY idempotency_key").fetchall() == \
        expected


def test_runs_never_share_keys_so_a_second_run_counts_profiles_as_known(backend, db):
    items = [{"id": f"r{n}", "username": f"r{n}"} for n in range(250)]
    runs = []
    with Client(backend.url, INGEST_KEY) as client:
        for _ in range(2):  # the same profiles in the same order: the same bodies, batch by batch
            with client.batcher(batch_size=100) as batcher:
                for item in items:
                    batcher.add(item)
            runs.append(batcher)
    first, second = (run.totals for run in runs)
    assert (first.added_to_global, first.skipped_existing) == (250, 0)
    assert (second.added_to_global, second.skipped_existing, second.failed_batches) == (0, 250, 0)
    keys = [r[0] for r in db.execute("SELECT idempotency_key FROM ingest_requests WHERE api_key_id = %s"
                                     " ORDER BY idempotency_key", [key_id(INGEST_KEY)])]
    assert sorted(keys) == sorted(f"{run.run_id}-{n:06d}" for run in runs for n in (1, 2, 3))
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 500


def test_a_refused_batch_is_reported_with_its_profiles_and_not_retried(backend, db):
    with Client(backend.url, READER_KEY) as client, client.batcher(batch_size=10) as batcher:
        for n in range(25):
            batcher.add({"id": f"f{n}", "username": f"f{n}"})
    totals = batcher.totals
    assert (totals.failed_batches, totals.failed_profiles, totals.requests, totals.received) == (3, 25, 3, 0)
    assert [(f.batch, f.first, f.profiles, f.status, f.code) for f in totals.failures] == [
        (1, 0, 10, 403, "forbidden"), (2, 10, 10, 403, "forbidden"), (3, 20, 5, 403, "forbidden")]
    assert totals.failures[0].key == f"{batcher.run_id}-000001"
    assert stored(db)["batches"] == 0


def test_retries_stop_at_the_limit_and_the_batch_is_reported(backend, db):
    with FaultProxy(backend.url, Refuse(503, seconds=30, retry_after=0)) as proxy, \
            Client(proxy.url, INGEST_KEY, retry=RetryPolicy(max_retries=2, base=0.1)) as client:
        with pytest.raises(Exception) as raised:
            client.ingest([{"id": "x1", "username": "x1"}])
    assert (raised.value.code, raised.value.attempts) == ("retries_exhausted", 3)
    assert "503 storage_unavailable" in str(raised.value)
    assert proxy.actions() == ["503"] * 3
    assert stored(db)["batches"] == 0


def test_add_refuses_what_json_cannot_carry_and_converts_dates(backend, db):
    with Client(backend.url, ALL_KEY) as client, client.batcher() as batcher:
        with pytest.raises(ValueError):
            batcher.add({"id": "n1", "username": "n1", "score": math.nan})
        with pytest.raises(TypeError):
            batcher.add({"id": "n2", "username": "n2", "raw": object()})
        batcher.add({"id": "n3", "username": "n3", "scraped_at": datetime.datetime(2026, 3, 2, 10, 30)})
    assert batcher.totals.received == 1
    assert db.execute("SELECT profile_id, scraped_at::text FROM raw_scraped_profiles").fetchall() == [
        ("n3", "2026-03-02 10:30:00+00")]


def test_add_without_blocking_raises_full_and_keeps_nothing_while_the_sender_is_behind(backend, db):
    with FaultProxy(backend.url, Refuse(503, seconds=1.0)) as proxy, Client(proxy.url, INGEST_KEY) as client:
        batcher = client.batcher(batch_size=1, max_queued_batches=1)
        batcher.add({"id": "q0", "username": "q0"})
        batcher.add({"id": "q1", "username": "q1"})  # seals batch 1 (q0) for the sender
        wait_for(proxy.actions, "batch 1 to reach the proxy")  # the sender holds it: the queue is empty
        batcher.add({"id": "q2", "username": "q2"}, block=False)  # batch 2 (q1) takes the one place
        with pytest.raises(queue.Full):
            batcher.add({"id": "q3", "username": "q3"}, block=False)  # batch 3 (q2) cannot be queued
        batcher.add({"id": "q4", "username": "q4"})  # blocking: waits for room, then goes
        totals = batcher.close()
    assert (totals.received, totals.added_to_global, totals.failed_batches) == (4, 4, 0)
    assert {r[0] for r in db.execute("SELECT id FROM global_usernames")} == {"q0", "q1", "q2", "q4"}
