"""The exact REST requests an ingest sends: ONE ingest_chunk call per chunk of at most 1000."""

from __future__ import annotations

import math

import orjson
import pytest

from ..conftest import count, profiles

CHUNK = "rpc/ingest_chunk"
ROW_FIELDS = {"position", "profile_id", "username", "full_name", "source", "scraped_at", "profile", "first"}
MAX_URL = 8 * 1024  # Supabase's gateway refuses longer request lines


@pytest.mark.parametrize("size", [1, 1000, 1001, 5000])
def test_each_chunk_of_1000_is_one_request(ingest, fake, db, size):
    body = ingest.json(profiles(size)).get_json()
    assert (body["inserted_raw"], body["added_to_global"]) == (size, size)
    chunks = math.ceil(size / 1000)
    assert fake.paths() == [CHUNK] * chunks + ["rpc/record_ingest"]
    sent = fake.requests
    assert all(request.method == "POST" and not request.url.params for request in sent)
    # Two chunks are in flight at once, so they may arrive in either order.
    in_order = sorted(sent[:chunks], key=lambda request: orjson.loads(request.content)["p_rows"][0]["position"])
    for number, request in enumerate(in_order):
        positions = list(range(1000 * number, 1000 * number + min(1000, size - 1000 * number)))
        call = orjson.loads(request.content)
        assert (call["p_ingest_id"], call["p_idempotency_key"]) == (body["ingest_id"], None)
        assert [row["position"] for row in call["p_rows"]] == positions
        assert set(call["p_rows"][0]) == ROW_FIELDS
        assert call["p_rows"][0]["profile"] == profiles(1, start=positions[0])[0]  # an object, not a string
        assert "Prefer" not in request.headers  # no missing=default: PostgREST's jsonb path is slower
    record = orjson.loads(sent[-1].content)
    assert record["p_ingest_id"] == body["ingest_id"] and record["p_response"] == body
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == size
    assert count(db, "SELECT count(*) FROM global_usernames WHERE first_ingest_id = %s",
                 body["ingest_id"]) == size


def test_only_each_ids_first_row_is_offered_to_the_pool_and_known_ids_are_counted_skipped(ingest, fake, db):
    ingest.json(profiles(10))
    before = len(fake.requests)
    body = ingest.json(profiles(10) + profiles(2, start=10) + profiles(1, start=3)).get_json()
    assert (body["added_to_global"], body["skipped_existing"], body["duplicates_in_request"]) == (2, 10, 1)
    rows = orjson.loads(fake.requests[before].content)["p_rows"]
    assert [row["first"] for row in rows] == [True] * 12 + [False]
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 23
    assert count(db, "SELECT count(*) FROM global_usernames") == 12


def test_a_larger_batch_chunk_size_is_still_written_1000_rows_at_a_time(fake, database_url, db):
    from server import create_app

    from ..conftest import Ingest
    from .conftest import supabase_config
    app = create_app(supabase_config(database_url, BATCH_CHUNK_SIZE=2500))
    try:
        Ingest(app.test_client()).json(profiles(2500))
    finally:
        app.extensions["store"].close()
    sizes = [len(orjson.loads(r.content)["p_rows"]) for r in fake.requests if r.url.path.endswith(CHUNK)]
    assert sizes == [1000, 1000, 500]


def test_every_url_stays_under_8_kb_with_1000_of_the_longest_ids(ingest, fake, db):
    # 128 characters each (the longest id allowed), nearly all of them escaped in a URL.
    long_ids = [f"{i:04d}-" + "é/&?=" * 24 + "x" * 3 for i in range(1000)]
    assert all(len(i) == 128 for i in long_ids)
    body = ingest.json([{"id": i, "username": f"u{n}"} for n, i in enumerate(long_ids)]).get_json()
    assert body["added_to_global"] == 1000
    assert max(len(str(request.url)) for request in fake.requests) < MAX_URL
    assert count(db, "SELECT count(*) FROM global_usernames WHERE length(id) = 128") == 1000
