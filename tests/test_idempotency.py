"""Idempotency-Key: a retry replays the first answer, another body is refused, a running one is 409."""

from __future__ import annotations

import threading

import orjson
import psycopg

from server.storage.postgres import idempotency_lock_id

from .conftest import ALL_KEY, INGEST_KEY, Ingest, count, key_id, profiles


def test_retry_with_the_same_key_replays_and_writes_nothing(ingest, db):
    first = ingest.json(profiles(20), **{"Idempotency-Key": "job-1"})
    retry = ingest.json(profiles(20), **{"Idempotency-Key": "job-1"})
    assert first.status_code == retry.status_code == 200
    assert retry.get_json() == first.get_json()
    assert retry.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 20
    assert count(db, "SELECT count(*) FROM ingest_requests") == 1


def test_a_replay_is_the_first_answer_byte_for_byte(ingest):
    """The stored reply is jsonb, which reorders keys; a retry must still read exactly like the first answer."""
    batch = profiles(3) + [{"id": "no-username"}]  # one rejected, so the answer lists an error
    first = ingest.json(batch, **{"Idempotency-Key": "order-1"})
    retry = ingest.json(batch, **{"Idempotency-Key": "order-1"})
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert first.get_json()["errors"], "the answer should list the rejected profile"
    assert retry.data == first.data


def test_streamed_gzip_ndjson_retry_replays(ingest, db):
    first = ingest.ndjson(profiles(30), gzip_body=True, **{"Idempotency-Key": "nd-1"}).get_json()
    again = ingest.ndjson(profiles(30), gzip_body=True, **{"Idempotency-Key": "nd-1"})
    assert again.get_json() == first and again.headers["Idempotent-Replayed"] == "true"
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 30


def test_same_key_with_another_body_is_422(ingest, db):
    ingest.json(profiles(5), **{"Idempotency-Key": "job-2"})
    response = ingest.json(profiles(6), **{"Idempotency-Key": "job-2"})
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "idempotency_key_reused"
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 5


def test_keys_belong_to_the_api_key_that_sent_them(client, db):
    Ingest(client, INGEST_KEY).json(profiles(3), **{"Idempotency-Key": "shared"})
    other = Ingest(client, ALL_KEY).json(profiles(3), **{"Idempotency-Key": "shared"})
    assert "Idempotent-Replayed" not in other.headers
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 6


def test_key_in_use_by_a_running_request_is_409(ingest, db, database_url):
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [idempotency_lock_id(key_id(INGEST_KEY), "busy")])
        response = ingest.json(profiles(2), **{"Idempotency-Key": "busy"})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "idempotency_in_progress"
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 0


def test_a_failed_request_leaves_its_key_free_for_the_retry(ingest, db):
    failed = ingest.raw(b'{"profiles": [', "application/json", **{"Idempotency-Key": "job-3"})
    assert failed.status_code == 400
    retry = ingest.json(profiles(4), **{"Idempotency-Key": "job-3"})
    assert retry.status_code == 200 and retry.get_json()["inserted_raw"] == 4


def test_concurrent_requests_with_one_key_write_once(app, db):
    body = orjson.dumps({"profiles": profiles(20_000)})
    statuses: list[tuple[int, bool]] = []

    def post():
        response = Ingest(app.test_client()).raw(body, "application/json", **{"Idempotency-Key": "race"})
        statuses.append((response.status_code, "Idempotent-Replayed" in response.headers))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses).count((200, False)) == 1  # exactly one request did the work
    assert all(status in (409, 200) for status, _ in statuses)
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 20_000
