"""Idempotency-Key over REST: replay, conflict, resuming a request that failed half-way, a lease
lost to another attempt, and a key used again after its TTL."""

from __future__ import annotations

import httpx
import orjson

from ..conftest import INGEST_KEY, count, key_id, profiles
from .fake_postgrest import chunk_from

CHUNK, CLAIM, RECORD, RELEASE = ("rpc/ingest_chunk", "rpc/claim_ingest", "rpc/record_ingest",
                                 "rpc/release_ingest_claim")
KEY = {"Idempotency-Key": "job-0001"}
API_KEY_ID = key_id(INGEST_KEY)


def test_a_retry_with_the_same_key_and_body_replays_and_writes_nothing(ingest, fake, db):
    first = ingest.json(profiles(20), **KEY)
    before = len(fake.requests)
    again = ingest.json(profiles(20), **KEY)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert fake.paths()[before:] == [CLAIM]
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 20
    assert count(db, "SELECT count(*) FROM ingest_claims") == 0  # a finished ingest keeps no claim


def test_the_same_key_with_another_body_is_refused(ingest, fake, db):
    ingest.json(profiles(2), **KEY)
    response = ingest.json(profiles(3), **KEY)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "idempotency_key_reused"


def test_a_key_whose_request_is_still_running_is_409(ingest, fake, db):
    db.execute("INSERT INTO ingest_claims (api_key_id, idempotency_key, ingest_id, holder, lease_until)"
               " VALUES (%s, %s, gen_random_uuid(), gen_random_uuid(), now() + interval '1 minute')",
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


def fail_the_second_chunk(fake) -> None:
    """Chunk 2 of 3 fails on every attempt; chunks 1 and 3 (sent while 2 was in flight) land."""
    fake.fail(CHUNK, times=3, exception=httpx.ConnectError, when=chunk_from(1000))


def test_a_retry_after_a_failure_half_way_resumes_the_same_ingest_without_doubles(ingest, fake, db):
    fail_the_second_chunk(fake)
    assert ingest.json(profiles(2500), **KEY).status_code == 503
    partial = db.execute("SELECT DISTINCT ingest_id::text FROM raw_scraped_profiles").fetchall()
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 1500  # chunks 1 and 3 stay
    assert count(db, "SELECT count(*) FROM ingest_claims WHERE lease_until <= now()") == 1  # released

    before = len(fake.requests)
    body = ingest.json(profiles(2500), **KEY).get_json()
    assert [(body["ingest_id"],)] == partial
    assert (body["inserted_raw"], body["added_to_global"], body["skipped_existing"]) == (2500, 2500, 0)
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 2500
    assert count(db, "SELECT count(*) FROM global_usernames") == 2500
    # Chunk 1 again: its raw rows are ignored as duplicates, its ids come back as this ingest's own.
    assert fake.paths()[before:] == [CLAIM, CHUNK, CHUNK, CHUNK, RECORD]


def test_a_resumed_claim_whose_answer_was_lost_is_retried_without_a_409(ingest, fake, db):
    fail_the_second_chunk(fake)
    assert ingest.json(profiles(2500), **KEY).status_code == 503
    fake.fail(CLAIM, exception=httpx.ReadTimeout, landed=True)  # "resumed" reached us never
    response = ingest.json(profiles(2500), **KEY)
    assert response.status_code == 200, response.get_json()
    assert (response.get_json()["inserted_raw"], response.get_json()["added_to_global"]) == (2500, 2500)
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 2500


def test_without_a_key_a_retry_after_a_failure_half_way_is_a_new_ingest(ingest, fake, db):
    fail_the_second_chunk(fake)
    assert ingest.json(profiles(2500)).status_code == 503
    body = ingest.json(profiles(2500)).get_json()
    # What docs/supabase.md promises for REST: the first attempt's chunks stay, under their own ingest_id.
    assert (body["inserted_raw"], body["added_to_global"], body["skipped_existing"]) == (2500, 1000, 1500)
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 4000
    assert count(db, "SELECT count(*) FROM global_usernames") == 2500


def test_every_chunk_renews_the_lease_in_the_same_request(ingest, fake, db):
    assert ingest.json(profiles(2500), **KEY).status_code == 200
    calls = [orjson.loads(r.content) for r in fake.requests if r.url.path.endswith(CHUNK)]
    claim = orjson.loads(fake.requests[0].content)
    assert len(calls) == 3 and not any(p.endswith("renew_ingest_claim") for p in fake.paths())
    assert {(c["p_holder"], c["p_idempotency_key"], c["p_lease_seconds"]) for c in calls} == {
        (claim["p_holder"], "job-0001", claim["p_lease_seconds"])}


def test_the_lease_covers_the_worst_case_of_one_chunk_with_its_retries(store):
    # 3 attempts of 30 s + 5 s to connect, and two waits of at most 10 s, between two renewals.
    assert store.lease_seconds >= 3 * 35 + 2 * 10


class TakeOver:
    """Before chunk 2 is written, another attempt takes the claim over (the lease had run out)."""

    def __init__(self, db):
        self.db = db

    def __call__(self) -> None:
        self.db.execute("UPDATE ingest_claims SET lease_until = now() - interval '1 second'")
        answer = self.db.execute("SELECT claim_ingest(%s, %s, gen_random_uuid(), gen_random_uuid(), 120)",
                                 [API_KEY_ID, KEY["Idempotency-Key"]]).fetchone()[0]
        assert answer["state"] == "resumed"


def test_a_worker_that_lost_its_lease_stops_writing_and_says_409(ingest, fake, db):
    fake.before(CHUNK, TakeOver(db), when=chunk_from(1000))
    response = ingest.json(profiles(4500), **KEY)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "idempotency_in_progress"
    # Chunk 2 was refused, and so was chunk 3 if it was sent: none of theirs and none after them.
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles WHERE position >= 1000") == 0
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") in (0, 1000)  # chunk 1 may have lost too
    assert fake.paths().count(CHUNK) <= 3 and RECORD not in fake.paths()
    assert count(db, "SELECT count(*) FROM ingest_requests") == 0


def test_a_key_used_again_after_its_ttl_starts_a_new_ingest_with_exact_counts(ingest, fake, db, app):
    first = ingest.json(profiles(1500), **KEY).get_json()
    # The TTL passes and the clean-up runs, as the daily cron does.
    db.execute("UPDATE ingest_requests SET created_at = created_at - interval '49 hours'")
    db.execute("UPDATE ingest_claims SET created_at = created_at - interval '49 hours'")
    with app.app_context():
        from server.tasks import retention_cleanup
        assert retention_cleanup()["keys_expired"] >= 1
    second = ingest.json(profiles(1500, start=1000), **KEY)
    assert second.status_code == 200 and "Idempotent-Replayed" not in second.headers
    body = second.get_json()
    assert body["ingest_id"] != first["ingest_id"]
    assert (body["inserted_raw"], body["added_to_global"], body["skipped_existing"]) == (1500, 1000, 500)
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 3000
    assert count(db, "SELECT count(*) FROM global_usernames") == 2500
    assert count(db, "SELECT count(*) FROM ingest_requests WHERE id = %s", body["ingest_id"]) == 1


def test_a_claim_left_over_from_a_finished_ingest_does_not_resume_it(ingest, fake, db):
    # Retention cleared the key, but the ingest's claim survived (an older version kept claims).
    first = ingest.json(profiles(10), **KEY).get_json()
    db.execute("UPDATE ingest_requests SET idempotency_key = NULL")
    db.execute("INSERT INTO ingest_claims (api_key_id, idempotency_key, ingest_id, lease_until)"
               " VALUES (%s, %s, %s, now() - interval '1 hour')",
               [API_KEY_ID, KEY["Idempotency-Key"], first["ingest_id"]])
    body = ingest.json(profiles(10, start=5), **KEY).get_json()
    assert body["ingest_id"] != first["ingest_id"]
    assert (body["inserted_raw"], body["added_to_global"]) == (10, 5)
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 20


def test_a_resumed_ingest_refuses_another_body_under_the_same_key(ingest, fake, db):
    fail_the_second_chunk(fake)
    assert ingest.json(profiles(2500), **KEY).status_code == 503
    response = ingest.json(profiles(2500, prefix="other"), **KEY)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "idempotency_key_reused"
    # The positions the first body wrote keep its rows; no answer is recorded for the key. (The
    # other body's chunk at positions nobody wrote may land, as any chunk of a failed REST request.)
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles WHERE (position < 1000 OR position >= 2000)"
                     " AND profile_id LIKE 'p%%'") == 1500
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles WHERE profile_id LIKE 'other%%'"
                     " AND (position < 1000 OR position >= 2000)") == 0
    assert count(db, "SELECT count(*) FROM ingest_requests") == 0


def test_a_claim_whose_every_answer_was_lost_is_released_for_the_retry(ingest, fake, db):
    fake.fail(CLAIM, times=3, landed=True, exception=httpx.ReadTimeout)
    assert ingest.json(profiles(3), **KEY).status_code == 503
    assert count(db, "SELECT count(*) FROM ingest_claims WHERE lease_until > now()") == 0
    assert ingest.json(profiles(3), **KEY).status_code == 200  # no 409 for the whole lease
