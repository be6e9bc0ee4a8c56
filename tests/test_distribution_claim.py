"""The daily claim (the SQL function both backends call): order, quotas, sources, fairness, idempotency."""

from __future__ import annotations

import threading

import psycopg
import pytest

from server.storage.migrate import apply_schema

from .conftest import count
from .distribution_helpers import BASE_TIME, add_pool, add_targets, assigned, run

DAY = "2026-03-02"


def test_one_target_gets_the_oldest_unused_profiles_and_they_are_marked_used(db):
    add_pool(db, 10, prefix="young", base=BASE_TIME.replace(year=2027))
    oldest = add_pool(db, 5, prefix="old")
    [target] = add_targets(db, [4])
    summary = run(db, DAY)
    assert (summary["assigned"], summary["shortfall"], summary["claimed"]) == (4, 0, 4)
    assert assigned(db, DAY) == {target: oldest[:4]}
    used = db.execute(
        "SELECT id FROM global_usernames WHERE used AND used_at IS NOT NULL ORDER BY id").fetchall()
    assert [row[0] for row in used] == sorted(oldest[:4])


def test_profiles_already_used_are_never_claimed(db):
    add_pool(db, 6)
    db.execute("UPDATE global_usernames SET used = true WHERE id IN ('p0', 'p2')")
    [target] = add_targets(db, [3])
    run(db, DAY)
    assert assigned(db, DAY) == {target: ["p1", "p3", "p4"]}


def test_every_active_target_gets_its_quota_and_inactive_ones_nothing(db):
    add_pool(db, 100)
    small, large, inactive = add_targets(db, [3, 10, 5])
    db.execute("UPDATE distribution_targets SET active = false WHERE id = %s", [inactive])
    summary = run(db, DAY)
    got = assigned(db, DAY)
    assert {target: len(ids) for target, ids in got.items()} == {small: 3, large: 10}
    assert summary["assigned"] == 13 and summary["shortfall"] == 0
    assert [t["target"] for t in summary["targets"]] == [small, large]
    # the 13 oldest, dealt out in turn
    assert sorted(got[small] + got[large], key=lambda p: int(p[1:])) == [f"p{i}" for i in range(13)]
    assert got[small] == ["p0", "p2", "p4"]


@pytest.mark.parametrize(("quotas", "pool", "expected"), [
    ([5, 5, 5], 9, [3, 3, 3]),
    ([5, 5, 5], 10, [4, 3, 3]),
    ([200, 100, 50], 90, [30, 30, 30]),
    ([200, 100, 50], 200, [75, 75, 50]),
    ([2, 10], 8, [2, 6]),
    ([4, 4], 0, [0, 0]),
], ids=["even", "one-extra-to-the-first", "equal-shares", "small-quota-filled-first", "small-need", "empty"])
def test_a_short_pool_is_shared_round_robin_and_the_shortfall_reported(db, quotas, pool, expected):
    add_pool(db, pool)
    targets = add_targets(db, quotas)
    summary = run(db, DAY)
    got = assigned(db, DAY)
    assert [len(got.get(t, [])) for t in targets] == expected
    assert summary["assigned"] == pool == sum(expected)
    assert summary["shortfall"] == sum(quotas) - pool
    shortfalls = [quota - share for quota, share in zip(quotas, expected, strict=True)]
    assert [t["shortfall"] for t in summary["targets"]] == shortfalls


def test_source_filters_take_only_their_sources_and_are_served_before_any_source_targets(db):
    add_pool(db, 6, prefix="ig", source="instagram")
    add_pool(db, 6, prefix="tt", source="tiktok", base=BASE_TIME.replace(month=2))
    add_pool(db, 6, prefix="x", source=None, base=BASE_TIME.replace(month=3))
    [only_ig] = add_targets(db, [4], sources=["instagram"], prefix="ig")
    [ig_or_tt] = add_targets(db, [6], sources=["instagram", "tiktok"], prefix="both")
    [anything] = add_targets(db, [10], prefix="any")
    run(db, DAY)
    got = assigned(db, DAY)
    assert got[only_ig] == ["ig0", "ig1", "ig2", "ig3"]
    assert sorted(got[ig_or_tt]) == sorted(["ig4", "ig5", "tt0", "tt1", "tt2", "tt3"])
    assert len(got[anything]) == 8 and set(got[anything]) == {"tt4", "tt5"} | {f"x{i}" for i in range(6)}


def test_a_second_run_of_the_same_date_returns_the_same_run_and_claims_nothing(db):
    add_pool(db, 50)
    targets = add_targets(db, [5, 5])
    first = run(db, DAY)
    db.execute("UPDATE distribution_targets SET daily_quota = 20")
    second = run(db, DAY)
    assert second["replayed"] is True and second["claimed"] == 0
    assert {k: second[k] for k in ("date", "assigned", "shortfall", "targets")} == \
        {k: first[k] for k in ("date", "assigned", "shortfall", "targets")}
    assert count(db, "SELECT count(*) FROM distribution_assignments") == 10
    assert count(db, "SELECT count(*) FROM global_usernames WHERE used") == 10
    assert set(assigned(db, DAY)) == set(targets)


def test_top_up_fills_targets_still_below_quota(db):
    add_pool(db, 6)
    first, second = add_targets(db, [5, 5])
    assert run(db, DAY)["shortfall"] == 4
    add_pool(db, 10, start=100)
    [late] = add_targets(db, [2], prefix="late")
    summary = run(db, DAY, top_up=True)
    assert (summary["top_up"], summary["replayed"], summary["claimed"]) == (True, False, 6)
    assert (summary["assigned"], summary["shortfall"]) == (12, 0)
    got = assigned(db, DAY)
    assert [len(got[t]) for t in (first, second, late)] == [5, 5, 2]
    assert run(db, DAY)["assigned"] == 12  # and a plain repeat now returns the topped-up run
    assert count(db, "SELECT top_ups FROM distribution_runs WHERE run_date = %s", DAY) == 1


def test_different_dates_take_different_profiles(db):
    add_pool(db, 10)
    [target] = add_targets(db, [4])
    run(db, "2026-03-01")
    run(db, "2026-03-02")
    first, second = assigned(db, "2026-03-01")[target], assigned(db, "2026-03-02")[target]
    assert first == ["p0", "p1", "p2", "p3"] and second == ["p4", "p5", "p6", "p7"]


def test_the_database_refuses_a_second_live_assignment_of_a_profile(db):
    add_pool(db, 1)
    [target] = add_targets(db, [1])
    run(db, DAY)
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute("INSERT INTO distribution_assignments (run_date, target_id, profile_id)"
                   " VALUES ('2026-03-03', %s, 'p0')", [target])


def test_a_claim_skips_rows_another_open_claim_holds_instead_of_waiting(db, database_url):
    add_pool(db, 10)
    [target] = add_targets(db, [4])
    with psycopg.connect(database_url) as holder, psycopg.connect(database_url, autocommit=True) as other:
        run(holder, "2026-03-01")  # transaction left open: p0..p3 stay locked
        other.execute("SET lock_timeout = '5s'")  # were it to wait, fail instead of hanging
        run(other, "2026-03-02")
        assert assigned(other, "2026-03-02") == {target: ["p4", "p5", "p6", "p7"]}
        holder.commit()
    assert assigned(db, "2026-03-01") == {target: ["p0", "p1", "p2", "p3"]}


def test_a_concurrent_run_of_the_same_date_waits_and_then_returns_the_first_run(db, database_url):
    add_pool(db, 10)
    add_targets(db, [4])
    results = {}
    with psycopg.connect(database_url) as first:
        results["first"] = run(first, DAY)  # open transaction holds the date's lock

        def second_caller():
            with psycopg.connect(database_url, autocommit=True) as conn:
                results["second"] = run(conn, DAY)

        thread = threading.Thread(target=second_caller)
        thread.start()
        while thread.is_alive() and not count(
                db, "SELECT count(*) FROM pg_locks WHERE NOT granted"):
            thread.join(0.01)  # until the second caller waits for a lock the first one holds
        first.commit()
        thread.join()
    assert results["second"]["replayed"] is True
    assert results["second"]["assigned"] == results["first"]["assigned"] == 4
    assert count(db, "SELECT count(*) FROM distribution_assignments") == 4


def _pool_counts(conn) -> dict:
    return conn.execute("SELECT pool_counts()").fetchone()[0]


def _real_counts(conn) -> dict:
    total, used = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE used) FROM global_usernames").fetchone()
    return {"total": total, "unused": total - used, "used": used}


def test_pool_counts_follow_every_kind_of_change_exactly(db):
    add_pool(db, 30)
    add_targets(db, [12])
    run(db, "2026-03-01")
    db.execute("UPDATE distribution_assignments SET status = 'sent' WHERE profile_id IN ('p0', 'p1')")
    db.execute("SELECT distribution_release('2026-03-01', 100)")  # 10 back to the pool
    db.execute("DELETE FROM distribution_assignments WHERE profile_id = 'p0'")
    db.execute("DELETE FROM global_usernames WHERE id IN ('p0', 'p29')")  # one used, one not
    db.execute("UPDATE global_usernames SET full_name = 'renamed'")  # no change of `used`
    add_pool(db, 4, start=100)
    assert _pool_counts(db) == _real_counts(db) == {"total": 32, "unused": 31, "used": 1}
    run(db, "2026-03-02")  # also folds the appended changes into one row
    assert count(db, "SELECT count(*) FROM pool_count_deltas") <= 2
    assert _pool_counts(db) == _real_counts(db) == {"total": 32, "unused": 19, "used": 13}
    db.execute("TRUNCATE global_usernames CASCADE")
    assert _pool_counts(db) == {"total": 0, "unused": 0, "used": 0}


def test_counts_start_from_the_existing_pool_when_the_triggers_are_installed(db, database_url):
    add_pool(db, 5)
    db.execute("UPDATE global_usernames SET used = true WHERE id = 'p0'")
    for kind in ("insert", "update", "delete", "truncate"):
        db.execute(f"DROP TRIGGER global_usernames_count_{kind} ON global_usernames")
    add_pool(db, 3, start=10)  # written while nothing counted
    apply_schema(database_url)
    assert _pool_counts(db) == {"total": 8, "unused": 7, "used": 1}
    add_pool(db, 2, start=20)
    assert _pool_counts(db) == {"total": 10, "unused": 9, "used": 1}
