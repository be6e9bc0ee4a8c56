"""The claim and the statistics never read the whole pool: no sequential scan of global_usernames.

The statements run inside plpgsql functions, where EXPLAIN cannot see them (and the embedded server
ships no auto_explain), so the check is what PostgreSQL counted while the real functions ran:
pg_stat_xact_user_tables holds this transaction's scans of each table, nested statements included.
"""

from __future__ import annotations

import psycopg
import pytest

from .distribution_helpers import add_pool, add_targets

POOL = 200_000
DAY = "2026-03-02"

pytestmark = pytest.mark.slow


def _pool_scans(conn: psycopg.Connection) -> tuple[int, int]:
    """(sequential, index) scans of the pool so far in this transaction."""
    return conn.execute("SELECT coalesce(seq_scan, 0), coalesce(idx_scan, 0) FROM pg_stat_xact_user_tables"
                        " WHERE relname = 'global_usernames'").fetchone()


def test_the_claim_uses_indexes_only_and_the_statistics_do_not_read_the_pool(db, database_url):
    # Large enough that reading all of it is the planner's worst option; vacuumed and analysed
    # as autovacuum would leave it.
    add_pool(db, POOL // 2, prefix="ig", source="instagram")
    add_pool(db, POOL // 2, prefix="tt", source="tiktok")
    add_targets(db, [200] * 71)
    add_targets(db, [200], sources=["tiktok"], prefix="tiktok-only")
    db.execute("VACUUM ANALYZE global_usernames")
    with psycopg.connect(database_url) as conn:
        assert _pool_scans(conn) == (0, 0)
        summary = conn.execute("SELECT distribution_run(%s)", [DAY]).fetchone()[0]
        seq_scans, index_scans = _pool_scans(conn)
    assert summary["claimed"] == 14_400
    assert seq_scans == 0 and index_scans > 0

    with psycopg.connect(database_url) as conn:
        stats = conn.execute("SELECT distribution_stats(%s, 30, 'UTC')", [DAY]).fetchone()[0]
        assert _pool_scans(conn) == (0, 0)  # the counts come from pool_count_deltas
    assert stats["pool"] == {"total": POOL, "unused": POOL - 14_400, "used": 14_400}


def test_the_check_sees_a_sequential_scan(db, database_url):
    add_pool(db, 10)
    with psycopg.connect(database_url) as conn:
        conn.execute("SELECT count(*) FROM global_usernames WHERE full_name = 'nobody'")
        assert _pool_scans(conn)[0] == 1
