"""Both backends answer every distribution call with the same data: the API cannot tell them apart.

The same pool and targets are arranged in two databases, one served over Supabase REST through the
strict gateway and one over direct PostgreSQL; every call is made on both, and the answers must be
equal (apart from times of day and random ids, which no two runs share).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

import psycopg
import pytest

from server import create_app

from ..conftest import ALL_KEY, Ingest, empty_tables, fresh_database, make_config, profiles
from ..distribution_helpers import BASE_TIME, DistributionApi, add_pool

DAY, NEXT_DAY = "2026-03-02", "2026-03-03"
DIRECT_DB = "shapes_direct_test"
VARYING = {"created_at", "updated_at", "first_seen_at", "assigned_at", "status_at", "ingest_id", "ingest_ids", "next_cursor",
           "raw_before", "keys_before", "through"}


@dataclass
class Side:
    """One backend: its API (every scope) and a connection to its own database."""

    api: DistributionApi
    db: psycopg.Connection


@pytest.fixture(scope="module")
def direct_url() -> str:
    return fresh_database(DIRECT_DB)


@pytest.fixture
def sides(app, db, direct_url, tmp_path) -> Iterable[list[Side]]:
    """[Supabase REST, direct PostgreSQL], each on an emptied database of its own."""
    direct_app = create_app(make_config(direct_url, CACHE_DIR=str(tmp_path / "direct-cache")))
    with psycopg.connect(direct_url, autocommit=True) as direct_db:
        empty_tables(direct_db)
        yield [Side(DistributionApi(app.test_client(), ALL_KEY), db),
               Side(DistributionApi(direct_app.test_client(), ALL_KEY), direct_db)]
    direct_app.extensions["store"].close()


def steady(value: Any) -> Any:
    """`value` without the fields that differ between any two runs (times, random ids, cursors)."""
    if isinstance(value, dict):
        return {k: steady(v) for k, v in value.items() if k not in VARYING}
    if isinstance(value, list):
        return [steady(v) for v in value]
    return value


def same(sides: list[Side], call: Callable[[Side], Any]) -> Any:
    """call(side) on both backends; the answers must agree; return the Supabase one."""
    rest, direct = (call(side) for side in sides)
    assert steady(rest) == steady(direct)
    return rest


def answer(response) -> Any:
    assert response.status_code < 300, response.get_json()
    return response.get_json()


def arrange(side: Side) -> None:
    """8 Instagram and 3 TikTok profiles, 2 with no source; four targets, one of them inactive."""
    add_pool(side.db, 8, prefix="ig", source="instagram")
    add_pool(side.db, 3, prefix="tt", source="tiktok", base=BASE_TIME + timedelta(minutes=1))
    add_pool(side.db, 2, prefix="none", base=BASE_TIME + timedelta(minutes=2))
    side.api.target("any-source", 5)
    side.api.target("tiktok-only", 5, sources=["tiktok"])
    side.api.target("instagram-or-x", 4, sources=["x", "instagram"])
    side.api.target("paused", 3, active=False)


def every_item(side: Side, day: str, **params: Any) -> list[dict[str, Any]]:
    return [item for page in side.api.pages(day, limit=3, **params) for item in page["items"]]


def test_runs_top_ups_lists_statuses_stats_and_releases_agree(sides):
    for side in sides:
        arrange(side)
    run = same(sides, lambda s: s.api.run(DAY))
    assert (run["assigned"], run["shortfall"]) == (12, 2)  # TikTok runs short; the rest share what is left
    assert {t["name"]: (t["assigned"], t["shortfall"]) for t in run["targets"]} == {
        "any-source": (5, 0), "tiktok-only": (3, 2), "instagram-or-x": (4, 0)}
    same(sides, lambda s: s.api.run(DAY))  # each replays its own run
    for params in ({}, {"target": 1}, {"target": 2}, {"target": 3}):
        assert same(sides, lambda s: every_item(s, DAY, **params))

    for side in sides:  # two TikTok profiles arrive; the top-up fills what the run left short
        add_pool(side.db, 2, start=3, prefix="tt", source="tiktok", base=BASE_TIME + timedelta(minutes=3))
    top_up = same(sides, lambda s: s.api.run(DAY, top_up=True))
    assert (top_up["assigned"], top_up["claimed"], top_up["shortfall"]) == (14, 2, 0)
    tiktok = same(sides, lambda s: every_item(s, DAY, target=2))
    assert sorted(item["profile_id"] for item in tiktok) == ["tt0", "tt1", "tt2", "tt3", "tt4"]

    updates = [{"profile_id": "ig0", "status": "sent"}, {"profile_id": "tt1", "status": "replied"},
               {"profile_id": "ghost", "status": "failed"}]
    assert same(sides, lambda s: answer(s.api.post("/api/distribution/status", {"updates": updates})))[
        "updated"] == 2
    stats = same(sides, lambda s: answer(s.api.get("/api/stats", date=DAY)))
    assert stats["distribution"]["by_status"] == {"assigned": 12, "sent": 1, "replied": 1}
    assert same(sides, lambda s: answer(s.api.post("/api/distribution/release", {"older_than_days": 7})))[
        "released"] == 12
    next_day = same(sides, lambda s: s.api.run(NEXT_DAY))  # the released profiles go out again
    assert next_day["assigned"] == 13
    same(sides, lambda s: every_item(s, NEXT_DAY))
    same(sides, lambda s: answer(s.api.get("/api/stats", date=NEXT_DAY)))


def test_targets_listings_and_retention_agree(sides):
    for side in sides:
        arrange(side)
        for number in range(3):  # ingests that the clean-up will find old
            Ingest(side.api.client).json(profiles(4, start=number * 2, prefix="old"), source="web")
        side.db.execute("UPDATE raw_scraped_profiles SET created_at = created_at - interval '200 days'"
                        " WHERE profile_id IN ('old0', 'old1', 'old2', 'old3')")
        side.db.execute("UPDATE ingest_requests SET created_at = created_at - interval '200 days'")
    same(sides, lambda s: answer(s.api.get("/api/targets")))
    same(sides, lambda s: answer(s.api.get("/api/targets", active="false")))
    same(sides, lambda s: answer(s.api.client.patch("/api/targets/2", json={"daily_quota": 1},
                                                    headers=s.api.headers)))

    today = datetime.now(timezone.utc).date().isoformat()
    listing = {"from": BASE_TIME.date().isoformat(), "to": today, "limit": 5}
    pool = same(sides, lambda s: [i for p in pages(s, "/api/admin/profiles/global", listing) for i in p])
    assert len(pool) == 13 + 8
    raw = same(sides, lambda s: [i for p in pages(s, "/api/admin/profiles/raw", {**listing, "from": "2025-01-01"})
                                 for i in p])
    assert len(raw) == 12
    cleaned = same(sides, lambda s: answer(s.api.post("/api/admin/cleanup", {})))
    assert (cleaned["raw_deleted"], cleaned["ingests_deleted"], cleaned["done"]) == (6, 3, True)


def pages(side: Side, path: str, params: dict[str, Any]) -> Iterable[list[dict[str, Any]]]:
    """The items of every page of an admin listing, following next_cursor."""
    cursor = None
    while True:
        page = answer(side.api.get(path, **params, **({"cursor": cursor} if cursor else {})))
        yield page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return
