"""Concurrent ingests over REST: each request on its own gateway connection and transaction, so
overlapping ids really race in PostgreSQL, and the counts must still be exact."""

from __future__ import annotations

import threading

from server import create_app

from ..conftest import Ingest, count, profiles
from .conftest import supabase_config

CLIENTS, SIZE, STEP = 8, 2000, 500


def test_eight_clients_with_overlapping_ids_get_exact_counts_that_match_the_tables(fake, database_url, db):
    app = create_app(supabase_config(database_url, BATCH_CHUNK_SIZE=250))
    barrier, replies = threading.Barrier(CLIENTS), [None] * CLIENTS

    def scraper(number: int) -> None:
        client = Ingest(app.test_client())
        barrier.wait()
        replies[number] = client.json(profiles(SIZE, start=number * STEP))

    threads = [threading.Thread(target=scraper, args=(n,)) for n in range(CLIENTS)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        app.extensions["store"].close()
    bodies = [reply.get_json() for reply in replies]
    assert [reply.status_code for reply in replies] == [200] * CLIENTS, bodies
    distinct = (CLIENTS - 1) * STEP + SIZE
    assert sum(body["added_to_global"] for body in bodies) == distinct
    assert all(body["added_to_global"] + body["skipped_existing"] == SIZE for body in bodies)
    assert count(db, "SELECT count(*) FROM global_usernames") == distinct
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == CLIENTS * SIZE
    for body in bodies:  # every reply names exactly the ids its ingest added to the pool
        assert count(db, "SELECT count(*) FROM global_usernames WHERE first_ingest_id = %s",
                     body["ingest_id"]) == body["added_to_global"]
    # The requests overlapped for real: the gateway held several connections at once.
    assert fake.pool.get_stats().get("connections_num", 0) > 1
