"""Retries and failures over REST: transient errors retried, 4xx not, repeats never double rows."""

from __future__ import annotations

import httpx
import orjson
import pytest

from server.storage.supabase_client import MAX_WAIT_SECONDS, TransientResponse, backoff_seconds

from ..conftest import count, profiles

CHUNK, RECORD = "rpc/ingest_chunk", "rpc/record_ingest"


def assert_exact(db, body, size):
    """The reply and the tables agree: every row once, every id once."""
    assert (body["inserted_raw"], body["added_to_global"], body["skipped_existing"]) == (size, size, 0)
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == size
    assert count(db, "SELECT count(DISTINCT (ingest_id, position)) FROM raw_scraped_profiles") == size
    assert count(db, "SELECT count(*) FROM global_usernames") == size


def chunk_sizes(fake) -> list[int]:
    return [len(orjson.loads(r.content)["p_rows"]) for r in fake.requests if r.url.path.endswith(CHUNK)]


@pytest.mark.parametrize("how", [
    {"status": 503, "code": "PGRST000"},            # PostgREST lost its database connection
    {"status": 504, "code": "PGRST003"},            # no pool connection in time
    {"status": 503, "code": "08006"},               # connection failure
    {"status": 503, "code": "53300"},               # too many connections
    {"status": 503, "code": "57P01"},               # the server is shutting down
    {"status": 500, "code": "40P01"},               # deadlock detected
    {"status": 500, "code": "40001"},               # serialization failure
    {"status": 502},                                # the gateway's own pages, no PostgREST code
    {"status": 522},
    {"status": 408},
    {"status": 429, "headers": {"Retry-After": "0"}},
    {"exception": httpx.ConnectError},
    {"exception": httpx.RemoteProtocolError},       # "Server disconnected" on a stale connection
], ids=lambda how: str(how.get("code") or how.get("status") if "exception" not in how else how["exception"].__name__))
def test_a_transient_failure_of_a_chunk_is_retried_and_writes_once(ingest, fake, db, how):
    fake.fail(CHUNK, **how)
    body = ingest.json(profiles(30)).get_json()
    assert fake.paths() == [CHUNK, CHUNK, RECORD]
    assert_exact(db, body, 30)


# PostgREST answers these with 500 (Error.hs pgErrorStatus), but no retry will change them.
PERMANENT = ["21000", "25P02", "2D000", "38000", "39000", "3B000", "54000", "55000", "58000",
             "P0002", "XX000", "42P17", "53400", "57000"]


@pytest.mark.parametrize("code", PERMANENT)
def test_a_permanent_500_is_not_retried_and_is_answered_as_an_error_not_a_503(ingest, fake, db, code):
    fake.fail(CHUNK, status=500, code=code)
    response = ingest.json(profiles(5))
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "storage_rejected"
    assert response.get_json()["error"]["details"]["postgrest_code"] == code
    assert "Retry-After" not in response.headers
    assert fake.paths() == [CHUNK]
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 0


@pytest.mark.parametrize("how", [{"status": 500}, {"status": 429}], ids=["500-page", "429-without-retry-after"])
def test_a_failure_without_a_transient_sign_is_not_retried(ingest, fake, db, how):
    fake.fail(CHUNK, **how)
    assert ingest.json(profiles(5)).status_code == 500
    assert fake.paths() == [CHUNK]


def test_a_real_permanent_error_of_the_database_is_sent_once(ingest, fake, db):
    db.execute("ALTER TABLE raw_scraped_profiles ADD CONSTRAINT no_zebra CHECK (username <> 'zebra')")
    try:
        response = ingest.json([{"id": "z", "username": "zebra"}])
    finally:
        db.execute("ALTER TABLE raw_scraped_profiles DROP CONSTRAINT no_zebra")
    assert response.status_code == 422  # 23514 check_violation: PostgREST's 400, the data's fault
    assert response.get_json()["error"]["details"] == {"postgrest_code": "23514"}
    # In our words: PostgREST's message names the table and the constraint.
    assert "no_zebra" not in response.text and "raw_scraped_profiles" not in response.text
    assert fake.paths() == [CHUNK]


def test_a_timeout_on_a_chunk_that_landed_does_not_double_rows_or_counts(ingest, fake, db):
    fake.fail(CHUNK, exception=httpx.ReadTimeout, landed=True)
    body = ingest.json(profiles(1500)).get_json()
    assert fake.paths() == [CHUNK, CHUNK, CHUNK, RECORD]
    assert_exact(db, body, 1500)


def test_a_400_is_not_retried_and_becomes_a_request_error(ingest, fake, db):
    fake.fail(CHUNK, status=400, code="22P02")
    response = ingest.json(profiles(5))
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "rejected_by_database"
    assert response.get_json()["error"]["details"]["postgrest_code"] == "22P02"
    assert fake.paths() == [CHUNK]


def test_a_refused_service_key_is_a_server_error_not_a_retry(ingest, fake, db):
    fake.fail(CHUNK, status=401, code="PGRST301")
    response = ingest.json(profiles(5))
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "storage_rejected"
    assert fake.paths() == [CHUNK]


def test_unreachable_after_three_attempts_is_503_with_retry_after_and_nothing_recorded(ingest, fake, db):
    fake.fail(CHUNK, times=3, exception=httpx.ConnectTimeout)
    response = ingest.json(profiles(5))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.get_json()["error"]["code"] == "storage_unavailable"
    assert fake.paths() == [CHUNK] * 3
    assert count(db, "SELECT count(*) FROM ingest_requests") == 0


def test_a_statement_timeout_splits_the_chunk_in_half(ingest, fake, db, caplog):
    fake.fail(CHUNK, status=500, code="57014")
    body = ingest.json(profiles(1000)).get_json()
    assert chunk_sizes(fake) == [1000, 500, 500]
    assert_exact(db, body, 1000)
    assert "Statement timeout on a batch of 1000 records; writing it as 500 + 500" in caplog.text


def test_statement_timeouts_down_to_the_floor_give_503(fake, database_url, db):
    from server import create_app

    from ..conftest import Ingest
    from .conftest import supabase_config
    app = create_app(supabase_config(database_url, SUPABASE_MIN_CHUNK_SIZE=250))
    fake.fail(CHUNK, times=3, status=500, code="57014")
    try:
        response = Ingest(app.test_client()).json(profiles(1000))
    finally:
        app.extensions["store"].close()
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "statement_timeout"
    assert chunk_sizes(fake) == [1000, 500, 250]


@pytest.mark.parametrize("attempt, low, high", [(1, 0.5, 1.0), (2, 1.0, 1.5), (3, 2.0, 2.5)])
def test_backoff_doubles_with_jitter(attempt, low, high):
    waits = [backoff_seconds(None, attempt, 0.5) for _ in range(50)]
    assert all(low <= wait <= high for wait in waits) and len(set(waits)) > 1


def test_backoff_honours_retry_after_up_to_a_cap():
    assert backoff_seconds(TransientResponse(429, None, 3.0), 1, 0.5) >= 3.0
    assert backoff_seconds(TransientResponse(429, None, 3600.0), 1, 0.5) == MAX_WAIT_SECONDS
