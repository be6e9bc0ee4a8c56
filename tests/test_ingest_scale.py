"""Large and concurrent ingests: the counts in the responses and in the tables agree exactly."""

from __future__ import annotations

import random
import threading

import pytest

from .conftest import Ingest, count, profiles


def test_fifty_thousand_profiles_in_one_request(ingest, db):
    ingest.json(profiles(5_000))  # 10% of the big job is already in the pool
    body = ingest.json(profiles(50_000)).get_json()
    assert (body["inserted_raw"], body["added_to_global"], body["skipped_existing"]) == (50_000, 45_000, 5_000)
    assert count(db, "SELECT count(*) FROM global_usernames") == 50_000
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 55_000


@pytest.mark.parametrize("kind", ["json", "ndjson"])
def test_eight_threads_posting_overlapping_batches_count_exactly(app, db, kind):
    rng = random.Random(7)
    # 8 clients x 4 batches of 1000 ids drawn from 6000: heavy overlap between and inside batches.
    batches = [[rng.randrange(6_000) for _ in range(1_000)] for _ in range(32)]
    replies: list[dict] = []
    lock = threading.Lock()

    def client_loop(mine: list[list[int]]):
        poster = Ingest(app.test_client())
        for ids in mine:
            items = [{"id": i, "username": f"u{i}"} for i in ids]
            response = poster.json(items) if kind == "json" else poster.ndjson(items)
            assert response.status_code == 200, response.get_data(as_text=True)
            with lock:
                replies.append(response.get_json())

    threads = [threading.Thread(target=client_loop, args=(batches[n::8],)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(replies) == 32
    distinct = len({i for ids in batches for i in ids})
    assert sum(r["added_to_global"] for r in replies) == distinct == count(db, "SELECT count(*) FROM global_usernames")
    assert sum(r["inserted_raw"] for r in replies) == 32_000 == count(db, "SELECT count(*) FROM raw_scraped_profiles")
    for reply in replies:  # every valid profile is new, already pooled, or a repeat: nothing lost
        assert reply["added_to_global"] + reply["skipped_existing"] + reply["duplicates_in_request"] == 1_000
        assert count(db, "SELECT count(*) FROM global_usernames WHERE first_ingest_id = %s",
                     reply["ingest_id"]) == reply["added_to_global"]

def test_each_pool_row_points_at_the_ingest_that_added_it(ingest, db):
    first = ingest.json(profiles(3)).get_json()
    ingest.json(profiles(5))
    assert count(db, "SELECT count(*) FROM global_usernames WHERE first_ingest_id = %s",
                 first["ingest_id"]) == 3
