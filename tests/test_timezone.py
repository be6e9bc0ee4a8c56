"""TIMEZONE other than UTC: what "today" is, and where days begin and end, across daylight-saving changes."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from server import create_app

from .conftest import ALL_KEY, Ingest, make_config, profiles

HEADERS = {"Authorization": f"Bearer {ALL_KEY}"}
UTC = timezone.utc
# A day with a clock change, and where it begins and ends in UTC (worked out by hand, not by zoneinfo).
DST_DAYS = {
    "America/New_York": (date(2026, 3, 8), datetime(2026, 3, 8, 5, tzinfo=UTC),  # 23 hours: EST, then EDT
                         datetime(2026, 3, 9, 4, tzinfo=UTC)),
    "Europe/Berlin": (date(2026, 10, 25), datetime(2026, 10, 24, 22, tzinfo=UTC),  # 25 hours: CEST, then CET
                      datetime(2026, 10, 25, 23, tzinfo=UTC)),
}


@pytest.fixture
def zoned(database_url, db, tmp_path):
    """make(zone): a test client of an app whose TIMEZONE is `zone`; the apps are closed after the test."""
    apps = []

    def make(zone: str):
        apps.append(create_app(make_config(database_url, CACHE_DIR=str(tmp_path / f"cache-{len(apps)}"),
                                           TIMEZONE=zone)))
        return apps[-1].test_client()

    yield make
    for app in apps:
        app.extensions["store"].close()


def test_today_is_the_date_in_timezone_for_the_run_and_the_stats(zoned):
    # UTC+14 and UTC-11: at any moment at least one of them is not on UTC's date.
    dates = {}
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
        client = zoned(zone)
        before = datetime.now(ZoneInfo(zone)).date()
        run = client.post("/api/distribution/run", json={}, headers=HEADERS)
        stats = client.get("/api/stats", headers=HEADERS)
        after = datetime.now(ZoneInfo(zone)).date()
        assert run.status_code == 200 and stats.status_code == 200, (run.get_json(), stats.get_json())
        dates[zone] = date.fromisoformat(run.get_json()["date"])
        assert dates[zone] in {before, after}  # {before, after}: the test may run across midnight
        assert stats.get_json()["distribution"]["date"] == dates[zone].isoformat()
    assert dates["Pacific/Kiritimati"] - dates["Pacific/Pago_Pago"] in {timedelta(days=1), timedelta(days=2)}


@pytest.mark.parametrize("zone", DST_DAYS)
def test_days_of_the_stats_and_the_listings_begin_and_end_at_local_midnight_across_a_clock_change(
        zoned, db, zone):
    day, start, end = DST_DAYS[zone]
    client = zoned(zone)
    second = timedelta(seconds=1)
    # Batches of 1, 2, 3 and 4 profiles, received just before the day, at its start, at its last
    # second and at the start of the next day.
    moments = [start - second, start, end - second, end]
    ingest_ids = []
    for number, moment in enumerate(moments, 1):
        reply = Ingest(client).json(profiles(number, prefix=f"b{number}-")).get_json()
        ingest_ids.append(reply["ingest_id"])
        db.execute("UPDATE ingest_requests SET created_at = %s WHERE id = %s", [moment, reply["ingest_id"]])
        db.execute("UPDATE raw_scraped_profiles SET created_at = %s WHERE ingest_id = %s", [moment, reply["ingest_id"]])
        db.execute("UPDATE global_usernames SET first_seen_at = %s WHERE first_ingest_id = %s",
                   [moment, reply["ingest_id"]])

    stats = client.get("/api/stats", query_string={"date": (day + timedelta(days=1)).isoformat(), "days": 3},
                       headers=HEADERS).get_json()
    assert [(d["date"], d["requests"], d["received"]) for d in stats["ingested_per_day"]] == [
        ((day - timedelta(days=1)).isoformat(), 1, 1), (day.isoformat(), 2, 5),
        ((day + timedelta(days=1)).isoformat(), 1, 4)]

    of_the_day = {"from": day.isoformat(), "to": day.isoformat(), "limit": 100}
    raw = client.get("/api/admin/profiles/raw", query_string=of_the_day, headers=HEADERS).get_json()
    assert sorted(item["ingest_id"] for item in raw["items"]) == sorted([ingest_ids[1]] * 2 + [ingest_ids[2]] * 3)
    pool = client.get("/api/admin/profiles/global", query_string=of_the_day, headers=HEADERS).get_json()
    assert sorted(item["id"] for item in pool["items"]) == ["b2-0", "b2-1", "b3-0", "b3-1", "b3-2"]
