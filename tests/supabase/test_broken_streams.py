"""A streamed request that breaks half-way over REST, and what it leaves behind.

Over REST every chunk commits on its own, so the chunks written before the break stay: under an
ingest_id that no ingest record names, with their ids in the pool. Without an Idempotency-Key a
retry is a new ingest (those ids count as skipped_existing); with one, the retry resumes the same
ingest and the counts are those of one clean request. docs/supabase.md says so.
"""

from __future__ import annotations

import gzip

import orjson
import pytest

from server import create_app

from ..conftest import Ingest, count, profiles
from .conftest import supabase_config

KEY = {"Idempotency-Key": "stream-0001"}


def ndjson(items) -> bytes:
    return b"".join(orjson.dumps(item) + b"\n" for item in items)


@pytest.fixture
def scraper(fake, database_url, db):
    """Chunks of 100; bodies expanding past 300,000 bytes are refused with 413 when reached."""
    app = create_app(supabase_config(database_url, BATCH_CHUNK_SIZE=100, MAX_CONTENT_LENGTH=300_000))
    yield Ingest(app.test_client())
    app.extensions["store"].close()


def assert_whole_chunks_left_and_no_record(db) -> int:
    left = count(db, "SELECT count(*) FROM raw_scraped_profiles")
    assert left > 0 and left % 100 == 0  # whole chunks only: each is one transaction
    assert count(db, "SELECT count(*) FROM global_usernames") == left
    assert count(db, "SELECT count(*) FROM ingest_requests") == 0  # no answer was given for them
    return left


def test_a_413_part_way_leaves_the_chunks_written_before_it(scraper, db):
    # 8000 profiles gzipped are small as sent and expand past the limit after the first read.
    body = gzip.compress(ndjson(profiles(8000)))
    response = scraper.raw(body, "application/x-ndjson", **{"Content-Encoding": "gzip"}, **KEY)
    assert response.status_code == 413
    assert_whole_chunks_left_and_no_record(db)
    assert count(db, "SELECT count(*) FROM ingest_claims WHERE lease_until <= now()") == 1  # released


def broken_gzip(items) -> bytes:
    packed = gzip.compress(ndjson(items))
    return packed[: len(packed) * 2 // 3]  # the stream ends two thirds of the way in


def test_a_broken_gzip_part_way_is_resumed_by_a_keyed_retry_of_the_same_body(scraper, db):
    items = profiles(3000)
    response = scraper.raw(broken_gzip(items), "application/x-ndjson", **{"Content-Encoding": "gzip"}, **KEY)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_gzip"
    assert_whole_chunks_left_and_no_record(db)

    fixed = scraper.raw(gzip.compress(ndjson(items)), "application/x-ndjson", **{"Content-Encoding": "gzip"}, **KEY)
    body = fixed.get_json()
    assert fixed.status_code == 200, body
    assert (body["inserted_raw"], body["added_to_global"], body["skipped_existing"]) == (3000, 3000, 0)
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 3000


def test_without_a_key_the_retry_is_a_new_ingest_and_the_broken_chunks_count_as_known(scraper, db):
    items = profiles(3000)
    assert scraper.raw(broken_gzip(items), "application/x-ndjson", **{"Content-Encoding": "gzip"}).status_code == 400
    left = assert_whole_chunks_left_and_no_record(db)
    body = scraper.raw(ndjson(items), "application/x-ndjson").get_json()
    assert (body["added_to_global"], body["skipped_existing"]) == (3000 - left, left)
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 3000 + left
