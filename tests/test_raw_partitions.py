"""Raw rows in monthly partitions: retention drops a month at once, and earlier tables are converted."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg

from server.storage.migrate import apply_schema

from .conftest import count, fresh_database

PARTITIONS = ("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
              " WHERE i.inhparent = 'raw_scraped_profiles'::regclass ORDER BY 1")
INSERT = ("INSERT INTO raw_scraped_profiles (created_at, ingest_id, position, profile_id, username, profile)"
          " SELECT %s::timestamptz, %s, n, 'p' || n, 'u', '{}' FROM generate_series(1, %s) n")


def partitions(db: psycopg.Connection) -> list[str]:
    return [row[0] for row in db.execute(PARTITIONS)]


def month_rows(db: psycopg.Connection, at: str, rows: int, ingest: str = "01a00000-0000-7000-8000-000000000000"):
    db.execute(INSERT, [at, ingest, rows])


def test_a_new_database_has_this_and_the_next_two_months_in_a_schema_nobody_else_may_use(db):
    months = db.execute("SELECT to_char(now() AT TIME ZONE 'UTC' + n * interval '1 month', 'YYYYMM')"
                        " FROM generate_series(0, 2) n").fetchall()
    assert set(partitions(db)) >= {f"raw_scraped_profiles_{m}" for (m,) in months} | {"raw_scraped_profiles_default"}
    assert db.execute("SELECT has_schema_privilege('public', 'raw_partitions', 'USAGE')").fetchone()[0] is False


def test_retention_drops_the_months_that_ended_and_deletes_older_rows_of_the_default(db):
    db.execute("SELECT ensure_raw_partitions('2026-01-01', 2)")
    assert {"raw_scraped_profiles_202601", "raw_scraped_profiles_202602"} <= set(partitions(db))
    month_rows(db, "2026-01-20", 3000)
    month_rows(db, "2026-02-27", 20)
    month_rows(db, "2025-06-01", 7, "01a00000-0000-7000-8000-000000000001")  # no partition: the default
    answer = db.execute("SELECT retention_batch('2026-02-01', now(), 5000)").fetchone()[0]
    assert answer["raw_deleted"] == 3007  # January's partition dropped whole, the default's row deleted
    assert "raw_scraped_profiles_202601" not in partitions(db)
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 20  # February ends after the cut-off


def test_a_month_someone_is_reading_is_left_for_the_next_clean_up(db, database_url):
    db.execute("SELECT ensure_raw_partitions('2026-01-01', 1)")
    month_rows(db, "2026-01-20", 10)
    with psycopg.connect(database_url) as reader:  # a long read of every month, still open
        reader.execute("SELECT count(*) FROM raw_scraped_profiles").fetchone()
        answers: list = []
        cleanup = threading.Thread(target=lambda: answers.append(
            db.execute("SELECT retention_batch('2026-02-01', now(), 5000)").fetchone()[0]))
        cleanup.start()
        cleanup.join(timeout=60)
        # It gave up on dropping the month instead of waiting, and deleted its rows batch-wise.
        assert answers and answers[0]["raw_deleted"] == 10
        assert "raw_scraped_profiles_202601" in partitions(db)
    db.execute("SELECT retention_batch('2026-02-01', now(), 5000)")  # the reader is gone: dropped
    assert "raw_scraped_profiles_202601" not in partitions(db)


def test_an_earlier_plain_raw_table_becomes_the_default_partition_with_its_rows():
    url = fresh_database("scraper_raw_upgrade", schema=False)
    with psycopg.connect(url, autocommit=True) as conn:
        # The tables as the previous release made them: raw rows keyed by (ingest_id, position).
        conn.execute((Path(__file__).parent / "data" / "schema_before_partitions.sql").read_text())
        conn.execute("INSERT INTO raw_scraped_profiles (created_at, ingest_id, position, profile_id, username,"
                     " profile) SELECT now() - n * interval '1 day', gen_random_uuid(), n, 'p' || n, 'u', '{}'"
                     " FROM generate_series(1, 100) n")
    apply_schema(url)
    apply_schema(url)  # and again, as every start does: nothing changes
    with psycopg.connect(url, autocommit=True) as conn:
        assert count(conn, "SELECT count(*) FROM raw_partitions.raw_scraped_profiles_default") == 100
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname LIKE '%created_keyset'").fetchone()[0] == 0
        answer = conn.execute("SELECT retention_batch(now() - interval '50 days', now(), 5000)").fetchone()[0]
        assert answer["raw_deleted"] == 51 and count(conn, "SELECT count(*) FROM raw_scraped_profiles") == 49
