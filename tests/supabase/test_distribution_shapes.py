"""Both backends answer every distribution call with the same data: the API cannot tell them apart."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Iterable

import pytest

from server.config import load_settings
from server.storage.postgres import PostgresStore

from ..conftest import make_config
from ..distribution_helpers import BASE_TIME, add_pool

DAY = date(2026, 3, 2)


@pytest.fixture
def direct(db, database_url) -> Iterable[PostgresStore]:
    """The direct backend on the same database the fake REST API serves."""
    postgres_store = PostgresStore(database_url, load_settings(make_config(database_url)))
    yield postgres_store
    postgres_store.close()


def test_targets_look_the_same_from_both_backends(store, direct):
    created = store.create_target("outreach-1", 200, ["instagram"])
    assert list(created) == ["id", "name", "daily_quota", "sources", "active", "created_at",
                             "updated_at"]
    assert created == direct.get_target(created["id"])
    changed = store.update_target(created["id"], {"daily_quota": 50, "active": False})
    assert changed == direct.get_target(created["id"]) and changed["updated_at"] > created["updated_at"]
    direct.create_target("outreach-2", 10, None)
    for active in (None, True, False):
        assert store.list_targets(active) == direct.list_targets(active)
    assert store.get_target(10**9) is direct.get_target(10**9) is None
    assert store.update_target(10**9, {"active": True}) is direct.update_target(10**9, {"active": True}) is None


def test_runs_lists_statuses_and_stats_look_the_same_from_both_backends(store, direct, db):
    add_pool(db, 30, source="instagram")
    first = store.create_target("a", 10, None)["id"]
    direct.create_target("b", 10, ["instagram"])
    claimed = store.run_distribution(DAY)
    assert claimed["claimed"] == 20
    assert store.run_distribution(DAY) == direct.run_distribution(DAY)  # both replay it
    assert store.run_distribution(DAY, top_up=True) == direct.run_distribution(DAY, top_up=True)

    for target, after, limit in [(None, (0, 0), 7), (None, (first, 5), 100), (first, (first, 3), 4)]:
        page = store.list_assignments(DAY, target, after, limit)
        assert page and page == direct.list_assignments(DAY, target, after, limit)

    updates = [("p0", "sent"), ("p1", "replied"), ("ghost", "failed")]
    assert store.update_statuses(updates) == direct.update_statuses(updates)
    assert store.distribution_stats(DAY, 3, "UTC") == direct.distribution_stats(DAY, 3, "UTC")
    released = store.release_unsent(DAY, 3)
    assert released == {"released": 3, "returned": 3, "dates": [DAY.isoformat()]}
    assert released == direct.release_unsent(DAY, 3)  # the next three


def test_listings_and_retention_look_the_same_from_both_backends(store, direct, db):
    add_pool(db, 12)
    day_start, day_end = BASE_TIME, BASE_TIME + timedelta(days=1)
    page = store.list_global_profiles(day_start, day_end, None, 5)
    assert len(page) == 5 and page == direct.list_global_profiles(day_start, day_end, None, 5)
    after = (page[-1]["first_seen_at"], page[-1]["id"])
    assert store.list_global_profiles(day_start, day_end, after, 5) == direct.list_global_profiles(
        day_start, day_end, after, 5)

    db.execute("INSERT INTO raw_scraped_profiles (ingest_id, position, profile_id, username, profile)"
               " SELECT gen_random_uuid(), i, 'p' || i, 'u' || i, '{}' FROM generate_series(1, 6) AS i")
    now = datetime.now(timezone.utc)
    raw = store.list_raw_profiles(now - timedelta(hours=1), now + timedelta(hours=1), None, 4)
    assert len(raw) == 4 and raw == direct.list_raw_profiles(now - timedelta(hours=1),
                                                              now + timedelta(hours=1), None, 4)
    after = (raw[-1]["created_at"], raw[-1]["ingest_id"], raw[-1]["position"])
    assert store.list_raw_profiles(now - timedelta(hours=1), now + timedelta(hours=1), after, 4) == \
        direct.list_raw_profiles(now - timedelta(hours=1), now + timedelta(hours=1), after, 4)

    old = now - timedelta(days=1)
    assert store.retention_batch(old, old, 100) == direct.retention_batch(old, old, 100)
    assert store.retention_batch(now + timedelta(hours=1), old, 4) == {
        "raw_deleted": 4, "ingests_deleted": 0, "keys_expired": 0}
