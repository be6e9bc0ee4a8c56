"""The SQL functions the Supabase adapter calls, on the real PostgreSQL."""

from __future__ import annotations

import threading
import uuid

import orjson
import psycopg
import pytest
from psycopg.types.json import Jsonb

from server.storage.base import new_ingest_id

from ..conftest import count


def new_id() -> str:
    """A fresh ingest id, as the adapter makes them (a UUIDv7)."""
    return new_ingest_id()[0]


def claim(conn, ingest_id, holder=None, key="key-1", lease=60):
    holder = holder or ingest_id  # one attempt: the ingest it starts and its holder token
    return conn.execute("SELECT claim_ingest('api-1', %s, %s, %s, %s)",
                        [key, ingest_id, holder, lease]).fetchone()[0]


def chunk(conn, ingest_id, rows, key=None, holder=None):
    return conn.execute("SELECT ingest_chunk(%s, 'api-1', %s, %s, 60, %s::json)",
                        [ingest_id, key, holder, orjson.dumps(rows).decode()]).fetchone()[0]


def rows(*ids, start=0):
    return [{"position": start + n, "profile_id": i, "username": i, "profile": {"id": i}, "first": True}
            for n, i in enumerate(ids)]


def test_ingest_chunk_writes_raw_rows_and_new_ids_and_counts_ours_again_on_a_repeat(db):
    mine, other = new_id(), new_id()
    db.execute("INSERT INTO global_usernames (id, username, first_ingest_id) VALUES ('b', 'b', %s)", [other])
    batch = rows("a", "b", "c") + [{"position": 3, "profile_id": "a", "username": "a", "profile": {},
                                    "first": False}]
    expected = {"inserted_raw": 4, "added_to_global": 2, "distinct_ids": 3}
    assert chunk(db, mine, batch) == expected
    assert chunk(db, mine, batch) == expected  # an answer lost, the chunk sent again: same counts
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 4
    assert count(db, "SELECT count(*) FROM global_usernames WHERE first_ingest_id = %s", mine) == 2
    assert chunk(db, mine, []) == {"inserted_raw": 0, "added_to_global": 0, "distinct_ids": 0}


def test_ingest_chunk_is_all_or_nothing(db):
    bad = rows("a", "b") + [{"position": 2, "profile_id": "c", "username": None, "profile": {}, "first": True}]
    with pytest.raises(psycopg.errors.NotNullViolation):
        chunk(db, new_id(), bad)
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 0
    assert count(db, "SELECT count(*) FROM global_usernames") == 0


def test_ingest_chunk_refuses_a_holder_that_lost_its_claim_with_pt409(db):
    ingest_id, holder = new_id(), new_id()
    claim(db, ingest_id, holder)
    assert chunk(db, ingest_id, rows("a"), "key-1", holder)["inserted_raw"] == 1
    with pytest.raises(psycopg.Error) as refused:
        chunk(db, ingest_id, rows("b", start=1), "key-1", new_id())
    assert refused.value.sqlstate == "PT409"  # PostgREST answers it as HTTP 409
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 1


def test_a_claim_is_new_then_busy_then_resumed_once_its_lease_ends(db):
    first, second, third = new_id(), new_id(), new_id()
    assert claim(db, first) == {"state": "new", "ingest_id": first}
    assert claim(db, first) == {"state": "new", "ingest_id": first}  # a repeated call answers the same
    assert claim(db, second) == {"state": "busy", "ingest_id": first}
    assert db.execute("SELECT release_ingest_claim('api-1', 'key-1', %s)", [first]).fetchone()[0] is True
    assert claim(db, second) == {"state": "resumed", "ingest_id": first}
    assert claim(db, second) == {"state": "resumed", "ingest_id": first}  # its own answer, repeated
    assert claim(db, third) == {"state": "busy", "ingest_id": first}  # the resumer holds it now


def test_releasing_a_claim_someone_else_holds_changes_nothing(db):
    holder = new_id()
    claim(db, holder)
    released = db.execute("SELECT release_ingest_claim('api-1', 'key-1', %s)", [uuid.uuid4()])
    assert released.fetchone()[0] is None
    assert count(db, "SELECT count(*) FROM ingest_claims WHERE lease_until > now()") == 1


def test_a_recorded_ingest_answers_done_with_its_reply_is_recorded_once_and_drops_its_claim(db):
    ingest_id = new_id()
    claim(db, ingest_id)
    reply = {"success": True, "received": 3, "inserted_raw": 2, "added_to_global": 1, "rejected": 1}
    record = "SELECT record_ingest(%s, 'api-1', 'key-1', %s, 'sha', %s)"
    assert db.execute(record, [ingest_id, ingest_id, Jsonb(reply)]).fetchone()[0] is True
    assert db.execute(record, [ingest_id, ingest_id, Jsonb(reply)]).fetchone()[0] is None
    assert count(db, "SELECT count(*) FROM ingest_claims") == 0
    counts = db.execute("SELECT received, inserted_raw, added_to_global, rejected FROM ingest_requests")
    assert counts.fetchone() == (3, 2, 1, 1)
    assert claim(db, new_id()) == {"state": "done", "ingest_id": ingest_id,
                                            "body_sha256": "sha", "response": reply}
    assert count(db, "SELECT count(*) FROM ingest_claims") == 0


def test_two_claims_of_one_new_key_at_once_give_exactly_one_owner(db, database_url):
    first, second = new_id(), new_id()
    answers = {}
    with psycopg.connect(database_url) as holder:  # not autocommit: holds its claim uncommitted
        answers["first"] = claim(holder, first)
        waiter = threading.Thread(target=lambda: answers.update(second=claim(db, second)))
        waiter.start()  # blocks on the first claim's row until it commits
        holder.commit()
        waiter.join()
    assert answers == {"first": {"state": "new", "ingest_id": first},
                       "second": {"state": "busy", "ingest_id": first}}


def test_every_function_pins_its_search_path(db):
    unpinned = db.execute("SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace"
                          " AND NOT coalesce(proconfig, '{}') && ARRAY['search_path=public']").fetchall()
    assert unpinned == []


def test_retention_forgets_abandoned_claims_but_never_one_an_attempt_holds(db):
    for key, lease in (("abandoned", "-1 minute"), ("held", "1 minute")):
        db.execute("INSERT INTO ingest_claims (api_key_id, idempotency_key, ingest_id, holder, lease_until,"
                   " created_at) VALUES ('api-1', %s, gen_random_uuid(), gen_random_uuid(),"
                   " now() + %s::interval, now() - interval '3 days')", [key, lease])
    db.execute("SELECT retention_batch(NULL, now() - interval '2 days', 100)")
    assert [row[0] for row in db.execute("SELECT idempotency_key FROM ingest_claims")] == ["held"]


def test_raw_rows_carry_their_ingest_ids_time_and_other_id_versions_are_refused(db):
    ingest_id, at = new_ingest_id()
    chunk(db, ingest_id, rows("a", "b"))
    assert db.execute("SELECT DISTINCT created_at FROM raw_scraped_profiles").fetchall() == [(at,)]
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        chunk(db, str(uuid.uuid4()), rows("c"))


def test_a_claim_an_earlier_version_left_starts_a_new_ingest_instead_of_resuming_it(db):
    legacy = str(uuid.uuid4())  # earlier versions made random ingest ids, which carry no time
    db.execute("INSERT INTO ingest_claims (api_key_id, idempotency_key, ingest_id, holder, lease_until)"
               " VALUES ('api-1', 'key-1', %s, %s, now() - interval '1 second')", [legacy, legacy])
    fresh = new_id()
    assert claim(db, fresh) == {"state": "new", "ingest_id": fresh}
