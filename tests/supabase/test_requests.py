"""The exact REST requests an ingest sends: per chunk one look-up, one raw insert, one pool insert."""

from __future__ import annotations

import math

import orjson
import pytest

from ..conftest import count, profiles

RAW_COLUMNS = {"ingest_id", "position", "profile_id", "username", "full_name", "source", "scraped_at",
               "profile"}
POOL_COLUMNS = {"id", "username", "full_name", "source", "first_ingest_id"}
MAX_URL = 8 * 1024  # Supabase's gateway refuses longer request lines


def prefer(request) -> set[str]:
    return set(request.headers["Prefer"].split(","))


def columns(request) -> set[str]:
    return {c.strip('"') for c in request.url.params["columns"].split(",")}


@pytest.mark.parametrize("size", [1, 1000, 1001, 5000])
def test_each_chunk_of_1000_is_one_lookup_and_two_writes(ingest, fake, db, size):
    body = ingest.json(profiles(size)).get_json()
    assert (body["inserted_raw"], body["added_to_global"]) == (size, size)
    chunks = math.ceil(size / 1000)
    per_chunk = ["raw_scraped_profiles", "rpc/existing_profile_ids", "global_usernames"]
    assert fake.paths() == per_chunk * chunks + ["rpc/record_ingest"]
    sent = fake.requests
    assert all(request.method == "POST" for request in sent)
    for number in range(chunks):
        raw, lookup, pool = sent[3 * number: 3 * number + 3]
        rows = min(1000, size - 1000 * number)
        positions = list(range(1000 * number, 1000 * number + rows))

        assert set(raw.url.params) == {"on_conflict", "columns"}
        assert raw.url.params["on_conflict"] == "ingest_id,position"
        assert columns(raw) == RAW_COLUMNS
        assert prefer(raw) == {"return=minimal", "resolution=ignore-duplicates", "missing=default"}
        raw_rows = orjson.loads(raw.content)
        assert [row["position"] for row in raw_rows] == positions
        assert {row["ingest_id"] for row in raw_rows} == {body["ingest_id"]}
        assert raw_rows[0]["profile"] == profiles(1, start=positions[0])[0]  # a JSON object, not a string

        assert not lookup.url.params and "Prefer" not in lookup.headers
        assert orjson.loads(lookup.content) == {
            "p_ingest_id": body["ingest_id"], "p_ids": [f"p{i}" for i in positions]}

        assert set(pool.url.params) == {"on_conflict", "columns", "select"}
        assert (pool.url.params["on_conflict"], pool.url.params["select"]) == ("id", "id")
        assert columns(pool) == POOL_COLUMNS
        assert prefer(pool) == {"return=representation", "resolution=ignore-duplicates", "missing=default"}
        pool_ids = [row["id"] for row in orjson.loads(pool.content)]
        assert pool_ids == sorted(f"p{i}" for i in positions)  # id order: one lock order for everyone
    record = orjson.loads(sent[-1].content)
    assert record["p_ingest_id"] == body["ingest_id"] and record["p_response"] == body
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == size
    assert count(db, "SELECT count(*) FROM global_usernames WHERE first_ingest_id = %s",
                 body["ingest_id"]) == size


def test_known_ids_are_not_sent_to_the_pool_and_a_chunk_of_known_ids_skips_the_insert(ingest, fake, db):
    ingest.json(profiles(10))
    before = len(fake.requests)
    body = ingest.json(profiles(10) + profiles(2, start=10)).get_json()
    assert (body["added_to_global"], body["skipped_existing"]) == (2, 10)
    pool = [r for r in fake.requests[before:] if r.url.path.endswith("/global_usernames")]
    assert [row["id"] for row in orjson.loads(pool[0].content)] == ["p10", "p11"]

    before = len(fake.requests)
    ingest.json(profiles(10))
    assert fake.paths()[before:] == ["raw_scraped_profiles", "rpc/existing_profile_ids", "rpc/record_ingest"]


def test_a_larger_batch_chunk_size_is_still_written_1000_rows_at_a_time(fake, database_url, db):
    from server import create_app

    from ..conftest import Ingest
    from .conftest import supabase_config
    app = create_app(supabase_config(database_url, BATCH_CHUNK_SIZE=2500))
    try:
        Ingest(app.test_client()).json(profiles(2500))
    finally:
        app.extensions["store"].close()
    sizes = [len(orjson.loads(r.content)) for r in fake.requests
             if r.url.path.endswith("/raw_scraped_profiles")]
    assert sizes == [1000, 1000, 500]


def test_every_url_stays_under_8_kb_with_1000_of_the_longest_ids(ingest, fake, db):
    # 128 characters each (the longest id allowed), nearly all of them escaped in a URL.
    long_ids = [f"{i:04d}-" + "é/&?=" * 24 + "x" * 3 for i in range(1000)]
    assert all(len(i) == 128 for i in long_ids)
    body = ingest.json([{"id": i, "username": f"u{n}"} for n, i in enumerate(long_ids)]).get_json()
    assert body["added_to_global"] == 1000
    assert max(len(str(request.url)) for request in fake.requests) < MAX_URL
    lookup = next(r for r in fake.requests if r.url.path.endswith("/rpc/existing_profile_ids"))
    assert orjson.loads(lookup.content)["p_ids"] == long_ids  # the ids travel in the body
    assert count(db, "SELECT count(*) FROM global_usernames WHERE length(id) = 128") == 1000
