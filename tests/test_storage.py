"""One store per process, made lazily, remade after fork; the schema applies any number of times."""

from __future__ import annotations

import os
import random
import threading
import time

import psycopg
import pytest

from server.app import create_app
from server.config import load_settings
from server.storage import StagedProfile, StoreHolder
from server.storage.migrate import apply_schema
from server.storage.postgres import PostgresStore

from .conftest import Ingest, count, make_config


def postgres_store(database_url: str, **overrides) -> PostgresStore:
    """A direct store on the test database with the test settings, changed by `overrides`."""
    return PostgresStore(database_url, load_settings(make_config(database_url, **overrides)))


def test_one_store_per_process_shared_by_threads(database_url):
    holder = StoreHolder(load_settings(make_config(database_url)))
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(holder.get())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert len({id(store) for store in seen}) == 1
        assert holder.get() is seen[0]
    finally:
        holder.close()


def test_a_forked_child_makes_its_own_store(database_url):
    holder = StoreHolder(load_settings(make_config(database_url)))
    parent_store = holder.get()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must not reuse the parent's pool, and its own must work
        try:
            child_store = holder.get()
            ok = child_store is not parent_store and child_store.readiness()["database"] == "ok"
            os.write(write_end, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    answer = os.read(read_end, 1)
    os.close(read_end)
    try:
        assert answer == b"1"
        assert holder.get() is parent_store and parent_store.readiness()["database"] == "ok"
    finally:
        holder.close()


def test_schema_can_be_applied_again_without_losing_rows(database_url, ingest, db):
    ingest.json([{"id": "keep", "username": "keep"}])
    apply_schema(database_url)
    apply_schema(database_url)
    assert count(db, "SELECT count(*) FROM global_usernames") == 1
    indexes = {r[0] for r in db.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'global_usernames'")}
    assert "idx_global_usernames_unused" in indexes


def test_a_failed_copy_surfaces_and_nothing_lands(database_url, db):
    store = postgres_store(database_url)
    row = StagedProfile(0, "a", "a", None, None, None, "{}", True)
    try:
        with pytest.raises(psycopg.errors.UniqueViolation):
            with store.begin_ingest("key-id", None) as txn:
                txn.write_chunk([row])
                txn.write_chunk([row])  # the same (ingest, position) twice breaks the primary key
                txn.write_chunk([row])
                txn.finish()
    finally:
        store.close()
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 0
    assert count(db, "SELECT count(*) FROM global_usernames") == 0


def test_an_up_to_date_schema_is_not_applied_again(database_url, db):
    from server.storage.migrate import ensure_schema, schema_version

    apply_schema(database_url)
    assert db.execute("SELECT version FROM schema_version").fetchone() == (schema_version(),)
    # An open transaction holding a lock that CREATE INDEX would wait for: ensure_schema must not.
    with psycopg.connect(database_url) as blocker:
        blocker.execute("LOCK TABLE global_usernames IN ROW EXCLUSIVE MODE")
        assert ensure_schema(database_url) is False
    db.execute("UPDATE schema_version SET version = 'old'")
    assert ensure_schema(database_url) is True
    assert db.execute("SELECT version FROM schema_version").fetchone() == (schema_version(),)


def test_a_writer_failing_on_its_first_chunk_fails_the_request_instead_of_hanging_it(database_url, db):
    """The writer's first statement (the COPY) fails, as it does when the database shuts down at that
    moment; here because the transaction is read-only. The request must get the error, not wait."""
    store = postgres_store(database_url)
    errors: list[BaseException] = []

    def ingest() -> None:
        try:
            with store.begin_ingest("key-id", None) as txn:
                txn.conn.execute("SET TRANSACTION READ ONLY")
                for position in range(5):  # more chunks than the writer's queue holds
                    txn.write_chunk([StagedProfile(position, f"p{position}", "u", None, None, None, "{}", True)])
                txn.finish()
        except Exception as exc:  # noqa: BLE001 (checked below)
            errors.append(exc)

    request = threading.Thread(target=ingest, daemon=True)
    request.start()
    request.join(timeout=30)
    try:
        assert not request.is_alive(), "the request waits for ever on a writer thread that died"
        assert [type(e) for e in errors] == [psycopg.errors.ReadOnlySqlTransaction]
    finally:
        if not request.is_alive():
            store.close()
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 0


def test_the_first_sighting_of_an_id_wins_across_chunks_and_pool_batches(database_url, db):
    app = create_app(make_config(database_url, BATCH_CHUNK_SIZE=3))
    items = [{"id": f"p{i}", "username": f"u{i}"} for i in range(10)]
    items[7] = {"id": "p1", "username": "later"}  # p1 again, two chunks after its first sighting
    items.append({"id": "p4", "username": "later"})
    try:
        Ingest(app.test_client()).json([{"id": "p9", "username": "pooled"}])
        body = Ingest(app.test_client()).json(items).get_json()
    finally:
        app.extensions["store"].close()
    assert (body["inserted_raw"], body["added_to_global"], body["skipped_existing"],
            body["duplicates_in_request"]) == (11, 8, 1, 2)
    names = dict(db.execute("SELECT id, username FROM global_usernames").fetchall())
    assert names == {**{f"p{i}": f"u{i}" for i in range(9) if i != 7}, "p9": "pooled"}


@pytest.mark.parametrize(("pause", "chunks"), [(0.8, 3), (0.1, 20)], ids=["pausing", "steady"])
def test_a_slow_request_outlasts_the_statement_timeout(database_url, db, pause, chunks):
    """A scraper that sends its chunks slowly: no statement may stay open across its pauses (a COPY
    ends when the request pauses), nor for long while chunks keep coming (it ends after a second),
    or statement_timeout would cancel the ingest however little each step does."""
    store = postgres_store(database_url, STATEMENT_TIMEOUT_MS=1500)
    try:
        with store.begin_ingest("key-id", None) as txn:
            for position in range(chunks):
                txn.write_chunk([StagedProfile(position, f"p{position}", "u", None, None, None, "{}", True)])
                time.sleep(pause)
            totals = txn.finish()
    finally:
        store.close()
    assert (totals.inserted_raw, totals.added_to_global) == (chunks, chunks)
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == chunks


def test_ingests_adding_the_same_ids_at_the_same_time_wait_for_each_other_not_deadlock(database_url, db):
    """Two ingests reach the pool at the same moment with the same ids, each sent in its own order:
    were the pool's row locks taken in request order, each would wait on the other for ever."""
    store = postgres_store(database_url, BATCH_CHUNK_SIZE=500)
    at_the_pool = threading.Barrier(2, timeout=30)
    results: list[object] = []

    def ingest(seed: int) -> None:
        ids = random.Random(seed).sample(range(3_000), 3_000)
        try:
            with store.begin_ingest("key-id", None) as txn:
                for start in range(0, len(ids), 500):
                    txn.write_chunk([StagedProfile(n, f"p{i}", "u", None, None, None, "{}", True)
                                     for n, i in enumerate(ids[start:start + 500], start)])
                at_the_pool.wait()
                results.append(txn.finish())
        except Exception as exc:  # noqa: BLE001 (checked below)
            results.append(exc)

    threads = [threading.Thread(target=ingest, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    store.close()
    assert not [r for r in results if isinstance(r, Exception)]
    assert sorted(totals.added_to_global for totals in results) == [0, 3_000]
    assert count(db, "SELECT count(*) FROM global_usernames") == 3_000
