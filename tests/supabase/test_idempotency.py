"""Idempotency-Key over REST: replay, conflict, and resuming a request that failed half-way."""

from __future__ import annotations

import httpx
import orjson

from server.auth import parse_api_keys
from server.storage import supabase as supabase_module

from ..conftest import INGEST_KEY, count, profiles

RAW, LOOKUP, POOL = "raw_scraped_profiles", "rpc/existing_profile_ids", "global_usernames"
CLAIM, RECORD, RENEW = "rpc/claim_ingest", "rpc/record_ingest", "rpc/renew_ingest_claim"
KEY = {"Idempotency-Key": "job-0001"}
API_KEY_ID = parse_api_keys(f"{INGEST_KEY}:ingest")[0].key_id


def test_a_retry_with_the_same_key_and_body_replays_and_writes_nothing(ingest, fake, db):
    first = ingest.json(profiles(20), **KEY)
    before = len(fake.requests)
    again = ingest.json(profiles(20), **KEY)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert fake.paths()[before:] == [CLAIM]
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 20


def test_the_same_key_with_another_body_is_refused(ingest, fake, db):
    ingest.json(profiles(2), **KEY)
    response = ingest.json(profiles(3), **KEY)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "idempotency_key_reused"


def test_a_key_whose_request_is_still_running_is_409(ingest, fake, db):
    db.execute("INSERT INTO ingest_claims (api_key_id, idempotency_key, ingest_id, lease_until)"
               " VALUES (%s, %s, gen_random_uuid(), now() + interval '1 minute')",
               [API_KEY_ID, KEY["Idempotency-Key"]])
    response = ingest.json(profiles(2), **KEY)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "idempotency_in_progress"
    assert fake.paths() == [CLAIM]


def test_a_claim_whose_answer_was_lost_is_retried_without_conflicting_with_itself(ingest, fake, db):
    fake.fail(CLAIM, exception=httpx.ReadTimeout, landed=True)
    response = ingest.json(profiles(3), **KEY)
    assert response.status_code == 200
    assert fake.paths()[:2] == [CLAIM, CLAIM]


def fail_after_the_first_chunk(fake) -> None:
    """Chunk 1 of 3 lands; chunk 2's raw insert fails on every attempt (Supabase went away)."""
    fake.fail(RAW, after=1, times=3, exception=httpx.ConnectError)


def test_a_retry_after_a_failure_half_way_resumes_the_same_ingest_without_doubles(ingest, fake, db):
    fail_after_the_first_chunk(fake)
    assert ingest.json(profiles(2500), **KEY).status_code == 503
    partial = db.execute("SELECT DISTINCT ingest_id::text FROM raw_scraped_profiles").fetchall()
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 1000  # chunk 1 stayed written
    assert count(db, "SELECT count(*) FROM ingest_claims WHERE lease_until <= now()") == 1  # released

    before = len(fake.requests)
    body = ingest.json(profiles(2500), **KEY).get_json()
    assert [(body["ingest_id"],)] == partial
    assert (body["inserted_raw"], body["added_to_global"], body["skipped_existing"]) == (2500, 2500, 0)
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 2500
    assert count(db, "SELECT count(*) FROM global_usernames") == 2500
    # Chunk 1 again: its raw rows are ignored as duplicates, its ids come back as this ingest's own.
    assert fake.paths()[before:] == [CLAIM, RAW, LOOKUP] + [RAW, LOOKUP, POOL] * 2 + [RECORD]


def test_without_a_key_a_retry_after_a_failure_half_way_is_a_new_ingest(ingest, fake, db):
    fail_after_the_first_chunk(fake)
    assert ingest.json(profiles(2500)).status_code == 503
    body = ingest.json(profiles(2500)).get_json()
    # What the README promises for REST: the first attempt's chunk stays, under its own ingest_id.
    assert (body["inserted_raw"], body["added_to_global"], body["skipped_existing"]) == (2500, 1500, 1000)
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 3500
    assert count(db, "SELECT count(*) FROM global_usernames") == 2500


class SlowClock:
    """A monotonic clock where each reading is 60 seconds after the last."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 60
        return self.now


def test_a_long_request_renews_its_claim_between_chunks(ingest, fake, db, monkeypatch):
    monkeypatch.setattr(supabase_module, "time", SlowClock())
    assert ingest.json(profiles(2500), **KEY).status_code == 200
    renewals = [r for r in fake.requests if r.url.path.endswith(RENEW)]
    assert len(renewals) == 3  # after each chunk: 60 s >= a third of the 120 s lease
    assert orjson.loads(renewals[0].content)["p_lease_seconds"] == 120
    assert count(db, "SELECT count(*) FROM ingest_claims"
                     " WHERE lease_until > now() + interval '110 seconds'") == 1
