"""Retries and failures over REST: transient errors retried, 4xx not, repeats never double rows."""

from __future__ import annotations

import httpx
import orjson
import pytest

from server.storage.supabase_client import MAX_WAIT_SECONDS, TransientResponse, backoff_seconds

from ..conftest import count, profiles

RAW, LOOKUP, POOL = "raw_scraped_profiles", "rpc/existing_profile_ids", "global_usernames"


def assert_exact(db, body, size):
    """The reply and the tables agree: every row once, every id once."""
    assert (body["inserted_raw"], body["added_to_global"], body["skipped_existing"]) == (size, size, 0)
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == size
    assert count(db, "SELECT count(DISTINCT (ingest_id, position)) FROM raw_scraped_profiles") == size
    assert count(db, "SELECT count(*) FROM global_usernames") == size


@pytest.mark.parametrize("how", [
    {"status": 503, "code": "PGRST000"},            # PostgREST lost its database connection
    {"status": 502},                                # the gateway's HTML error page
    {"status": 429, "headers": {"Retry-After": "0"}},
    {"status": 500, "code": "40P01"},               # deadlock detected
    {"exception": httpx.ConnectError},
    {"exception": httpx.RemoteProtocolError},       # "Server disconnected" on a stale connection
], ids=["503", "502-page", "429", "deadlock", "connect-error", "disconnected"])
def test_a_transient_failure_of_the_raw_insert_is_retried_and_writes_once(ingest, fake, db, how):
    fake.fail(RAW, **how)
    body = ingest.json(profiles(30)).get_json()
    assert fake.paths().count(RAW) == 2
    assert_exact(db, body, 30)


def test_a_transient_failure_of_the_pool_insert_repeats_lookup_and_insert(ingest, fake, db):
    fake.fail(POOL, status=503)
    body = ingest.json(profiles(30)).get_json()
    assert fake.paths() == [RAW, LOOKUP, POOL, LOOKUP, POOL, "rpc/record_ingest"]
    assert_exact(db, body, 30)


@pytest.mark.parametrize("path, first_chunk", [
    (RAW, [RAW, RAW, LOOKUP, POOL]),
    # The repeated look-up finds the landed ids as this ingest's own: counted, not re-sent.
    (POOL, [RAW, LOOKUP, POOL, LOOKUP]),
], ids=["raw", "pool"])
def test_a_timeout_on_a_write_that_landed_does_not_double_rows_or_counts(ingest, fake, db, path, first_chunk):
    fake.fail(path, exception=httpx.ReadTimeout, landed=True)
    body = ingest.json(profiles(1500)).get_json()
    assert fake.paths() == first_chunk + [RAW, LOOKUP, POOL, "rpc/record_ingest"]
    assert_exact(db, body, 1500)


def test_a_400_is_not_retried_and_becomes_a_request_error(ingest, fake, db):
    fake.fail(RAW, status=400, code="22P02")
    response = ingest.json(profiles(5))
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "rejected_by_database"
    assert response.get_json()["error"]["details"]["postgrest_code"] == "22P02"
    assert fake.paths() == [RAW]


def test_a_refused_service_key_is_a_server_error_not_a_retry(ingest, fake, db):
    fake.fail(RAW, status=401, code="PGRST301")
    response = ingest.json(profiles(5))
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "storage_rejected"
    assert fake.paths() == [RAW]


def test_unreachable_after_three_attempts_is_503_with_retry_after_and_nothing_recorded(ingest, fake, db):
    fake.fail(RAW, times=3, exception=httpx.ConnectTimeout)
    response = ingest.json(profiles(5))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.get_json()["error"]["code"] == "storage_unavailable"
    assert fake.paths() == [RAW] * 3
    assert count(db, "SELECT count(*) FROM ingest_requests") == 0


def test_a_statement_timeout_splits_the_chunk_in_half(ingest, fake, db, caplog):
    fake.fail(RAW, status=500, code="57014")
    body = ingest.json(profiles(1000)).get_json()
    sizes = [len(orjson.loads(r.content)) for r in fake.requests if r.url.path.endswith(RAW)]
    assert sizes == [1000, 500, 500]
    assert_exact(db, body, 1000)
    assert "Statement timeout on a batch of 1000 records; writing it as 500 + 500" in caplog.text


def test_statement_timeouts_down_to_the_floor_give_503(fake, database_url, db):
    from server import create_app

    from ..conftest import Ingest
    from .conftest import supabase_config
    app = create_app(supabase_config(database_url, SUPABASE_MIN_CHUNK_SIZE=250))
    fake.fail(RAW, times=3, status=500, code="57014")
    try:
        response = Ingest(app.test_client()).json(profiles(1000))
    finally:
        app.extensions["store"].close()
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "statement_timeout"
    sizes = [len(orjson.loads(r.content)) for r in fake.requests if r.url.path.endswith(RAW)]
    assert sizes == [1000, 500, 250]


@pytest.mark.parametrize("attempt, low, high", [(1, 0.5, 1.0), (2, 1.0, 1.5), (3, 2.0, 2.5)])
def test_backoff_doubles_with_jitter(attempt, low, high):
    waits = [backoff_seconds(None, attempt, 0.5) for _ in range(50)]
    assert all(low <= wait <= high for wait in waits) and len(set(waits)) > 1


def test_backoff_honours_retry_after_up_to_a_cap():
    assert backoff_seconds(TransientResponse(429, None, 3.0), 1, 0.5) >= 3.0
    assert backoff_seconds(TransientResponse(429, None, 3600.0), 1, 0.5) == MAX_WAIT_SECONDS
