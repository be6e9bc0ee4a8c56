"""The distribution HTTP contract: targets, run, paginated lists, status updates, release, stats."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from .conftest import DISTRIBUTE_KEY, INGEST_KEY, Ingest, count, profiles
from .distribution_helpers import DistributionApi, add_pool, add_targets

DAY = "2026-03-02"


def utc_today():
    """Today in the test app's TIMEZONE (UTC), whatever the machine's zone."""
    return datetime.now(timezone.utc).date()


@pytest.fixture
def api(client) -> DistributionApi:
    return DistributionApi(client)


def test_targets_can_be_created_listed_changed_and_deactivated(api, db):
    created = api.target("outreach-1", 200, sources=["tiktok", "instagram", "tiktok"])
    assert {k: created[k] for k in ("name", "daily_quota", "sources", "active")} == {
        "name": "outreach-1", "daily_quota": 200, "sources": ["instagram", "tiktok"], "active": True}
    target_path = f"/api/targets/{created['id']}"
    assert api.get(target_path).get_json() == created
    changed = api.client.patch(target_path, json={"daily_quota": 50, "sources": None}, headers=api.headers)
    assert (changed.get_json()["daily_quota"], changed.get_json()["sources"]) == (50, None)
    assert api.client.delete(target_path, headers=api.headers).get_json()["active"] is False
    api.target("outreach-2", 10)
    names = lambda **q: [t["name"] for t in api.get("/api/targets", **q).get_json()["items"]]  # noqa: E731
    assert names() == ["outreach-1", "outreach-2"]
    assert names(active="true") == ["outreach-2"] and names(active="false") == ["outreach-1"]


@pytest.mark.parametrize(("body", "field"), [
    ({"daily_quota": 5}, "name"),
    ({"name": "a"}, "daily_quota"),
    ({"name": " ", "daily_quota": 5}, "name"),
    ({"name": "a", "daily_quota": -1}, "daily_quota"),
    ({"name": "a", "daily_quota": True}, "daily_quota"),
    ({"name": "a", "daily_quota": "5"}, "daily_quota"),
    ({"name": "a", "daily_quota": 5, "sources": []}, "sources"),
    ({"name": "a", "daily_quota": 5, "sources": "instagram"}, "sources"),
    ({"name": "a", "daily_quota": 5, "quota": 5}, "quota"),
    ({"name": "a", "daily_quota": 100_001}, "daily_quota"),  # over MAX_DAILY_QUOTA
], ids=["no-name", "no-quota", "blank-name", "negative", "bool", "string", "empty-sources",
        "sources-not-list", "unknown-field", "over-max-quota"])
def test_invalid_targets_are_400_naming_the_field(api, db, body, field):
    response = api.post("/api/targets", body)
    assert response.status_code == 400
    assert response.get_json()["error"]["details"] == {"field": field}
    assert count(db, "SELECT count(*) FROM distribution_targets") == 0


def test_duplicate_target_names_conflict_and_missing_targets_are_404(api, db):
    api.target("same", 1)
    duplicate = api.post("/api/targets", {"name": "same", "daily_quota": 2})
    assert duplicate.status_code == 409 and duplicate.get_json()["error"]["code"] == "target_exists"
    assert api.get("/api/targets/999999").status_code == 404
    missing = api.client.patch("/api/targets/999999", json={"active": True}, headers=api.headers)
    assert missing.status_code == 404


@pytest.mark.parametrize(("method", "path", "key"), [
    ("post", "/api/targets", INGEST_KEY),
    ("post", "/api/distribution/run", INGEST_KEY),
    ("get", f"/api/distribution/{DAY}", INGEST_KEY),
    ("post", "/api/distribution/status", INGEST_KEY),
    ("get", "/api/stats", INGEST_KEY),
    ("get", "/api/admin/profiles/raw", DISTRIBUTE_KEY),
    ("post", "/api/admin/cleanup", DISTRIBUTE_KEY),
], ids=["targets", "run", "list", "status", "stats", "raw-listing", "cleanup"])
def test_routes_need_their_scope(client, method, path, key):
    response = getattr(client, method)(path, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 403


def test_run_defaults_to_today_and_validates_its_options(api, db):
    add_pool(db, 3)
    api.target("t", 2)
    summary = api.run(None)
    assert summary["date"] == utc_today().isoformat() and summary["assigned"] == 2  # TIMEZONE=UTC
    invalid = [({"date": "2026-13-01"}, "date"), ({"top_up": "yes"}, "top_up"), ({"day": DAY}, "day")]
    for body, field in invalid:
        response = api.post("/api/distribution/run", body)
        assert response.status_code == 400 and response.get_json()["error"]["details"] == {"field": field}


def test_pages_return_every_assignment_exactly_once_in_order(api, db):
    add_pool(db, 800)
    targets = add_targets(db, [250, 250, 250])
    api.run(DAY)
    pages = api.pages(DAY, limit=100)
    items = [item for page in pages for item in page["items"]]
    assert len(pages) == 8 and all(len(p["items"]) == 100 for p in pages[:-1])
    assert len(items) == len({i["profile_id"] for i in items}) == 750
    assert [i["target"] for i in items] == sorted(i["target"] for i in items)
    assert set(items[0]) == {"profile_id", "username", "full_name", "source", "target", "status",
                             "assigned_at", "status_at"}
    one = [item for page in api.pages(DAY, target=targets[1], limit=33) for item in page["items"]]
    assert [i["profile_id"] for i in one] == [i["profile_id"] for i in items if i["target"] == targets[1]]


def test_limits_cursors_and_targets_are_checked(api, db):
    add_pool(db, 10)
    [target] = add_targets(db, [10])
    api.run(DAY)
    cursor = api.get(f"/api/distribution/{DAY}", limit=3).get_json()["next_cursor"]
    body, _, tag = cursor.partition(".")
    forged = ("A" if body[0] != "A" else "B") + body[1:] + "." + tag
    for params in [{"limit": 0}, {"limit": 1001}, {"limit": "ten"}, {"cursor": forged},
                   {"cursor": "garbage"}, {"cursor": cursor, "target": target}]:
        response = api.get(f"/api/distribution/{DAY}", **params)
        assert response.status_code == 400, params
    assert api.get("/api/distribution/2026-03-03", cursor=cursor).status_code == 400  # another date
    assert api.get(f"/api/distribution/{DAY}", cursor=cursor).status_code == 200
    assert api.get(f"/api/distribution/{DAY}", target=999999).status_code == 404
    assert api.get("/api/distribution/2026-13-01").status_code == 400
    assert api.get("/api/distribution/tomorrow").status_code == 404  # not a date-shaped path
    assert api.get("/api/distribution/run").status_code == 405


def test_status_updates_in_bulk_report_unknown_ids_and_show_in_the_list(api, db):
    add_pool(db, 5)
    add_targets(db, [5])
    api.run(DAY)
    assert [i["status"] for i in api.pages(DAY)[0]["items"]] == ["assigned"] * 5
    response = api.post("/api/distribution/status", {"updates": [
        {"profile_id": "p0", "status": "sent"}, {"profile_id": "p1", "status": "replied"},
        {"profile_id": "nobody", "status": "sent"}, {"profile_id": "p2", "status": "invalid"},
        {"profile_id": "p2", "status": "failed"}]})
    assert response.get_json() == {"received": 5, "updated": 3, "unknown": ["nobody"]}
    statuses = {i["profile_id"]: i["status"] for i in api.pages(DAY)[0]["items"]}
    assert statuses == {"p0": "sent", "p1": "replied", "p2": "failed", "p3": "assigned", "p4": "assigned"}


@pytest.mark.parametrize("updates", [
    [{"profile_id": "p0", "status": "sent"}, {"profile_id": "p1", "status": "released"}],
    [{"profile_id": "p0", "status": "sent"}, {"status": "sent"}],
    [{"profile_id": "p0", "status": "sent"}, "p1"],
], ids=["unknown-status", "missing-id", "not-an-object"])
def test_an_invalid_update_changes_nothing(api, db, updates):
    add_pool(db, 2)
    add_targets(db, [2])
    api.run(DAY)
    response = api.post("/api/distribution/status", {"updates": updates})
    assert response.status_code == 422
    assert [e["index"] for e in response.get_json()["error"]["details"]] == [1]
    assert count(db, "SELECT count(*) FROM distribution_assignments WHERE status <> 'assigned'") == 0


def test_release_returns_old_unsent_profiles_to_the_pool_and_keeps_the_rest(api, db):
    add_pool(db, 6)
    add_targets(db, [3])
    old, recent = (utc_today() - timedelta(days=8)).isoformat(), (utc_today() - timedelta(days=2)).isoformat()
    api.run(old)
    api.run(recent)
    api.post("/api/distribution/status", {"updates": [{"profile_id": "p0", "status": "sent"}]})
    body = api.post("/api/distribution/release", None).get_json()  # RELEASE_AFTER_DAYS = 7
    assert (body["released"], body["dates"]) == (2, [old])
    assert count(db, "SELECT count(*) FROM global_usernames WHERE NOT used") == 2
    assert [i["profile_id"] for i in api.pages(old)[0]["items"]] == ["p0"]
    summary = api.run(utc_today().isoformat())
    assert summary["assigned"] == 2  # the released profiles, the oldest in the pool, go out again
    assert api.post("/api/distribution/release", {"older_than_days": 1}).get_json()["released"] == 3
    assert api.post("/api/distribution/release", {"older_than_days": 0}).status_code == 400


def test_stats_count_the_pool_the_ingests_of_each_day_and_a_dates_distribution(api, client, db):
    ingest = Ingest(client, INGEST_KEY)
    ingest.json(profiles(7))
    ingest.json(profiles(3, start=5))  # 2 known, 1 new
    first, second = add_targets(db, [4, 2])
    today = utc_today().isoformat()
    api.run(today)
    api.post("/api/distribution/status", {"updates": [{"profile_id": "p0", "status": "sent"}]})
    stats = api.get("/api/stats", days=2).get_json()
    assert stats["pool"] == {"total": 8, "unused": 2, "used": 6}
    assert [d["date"] for d in stats["ingested_per_day"]] == [
        (utc_today() - timedelta(days=1)).isoformat(), today]
    assert stats["ingested_per_day"][1] == {"date": today, "requests": 2, "received": 10,
                                            "inserted_raw": 10, "added_to_global": 8, "rejected": 0}
    assert stats["ingested_per_day"][0]["requests"] == 0
    distribution = stats["distribution"]
    assert (distribution["date"], distribution["assigned"]) == (today, 6)
    assert distribution["by_status"] == {"assigned": 5, "sent": 1}
    assert [(t["target"], t["assigned"]) for t in distribution["targets"]] == [(first, 4), (second, 2)]
    assert api.get("/api/stats", days=0).status_code == 400


@pytest.mark.parametrize(("data", "content_type", "status"), [
    (b"{not json", "application/json", 400),
    (b"[1, 2]", "application/json", 400),
    (b"date=2026-03-02", "application/x-www-form-urlencoded", 415),
    (b'{"date": "' + b"x" * (16 << 20) + b'"}', "application/json", 413),
], ids=["malformed", "not-an-object", "form", "too-large"])
def test_bodies_that_are_not_one_small_json_object_are_refused(api, data, content_type, status):
    response = api.client.post("/api/distribution/run", data=data,
                               headers={**api.headers, "Content-Type": content_type})
    assert response.status_code == status
    assert "error" in response.get_json()


def test_status_updates_are_bounded(api):
    too_many = [{"profile_id": str(i), "status": "sent"} for i in range(50_001)]
    for updates in ([], too_many, "p1"):
        response = api.post("/api/distribution/status", {"updates": updates})
        assert response.status_code == 400 and response.get_json()["error"]["details"] == {"field": "updates"}


def test_run_dates_are_bounded_to_a_window_around_today(database_url, db):
    from server import create_app

    from .conftest import make_config
    app = create_app(make_config(database_url, RUN_DATE_WINDOW_DAYS=7))
    api = DistributionApi(app.test_client())
    today = datetime.now(timezone.utc).date()
    try:
        for days, status in ((7, 200), (-7, 200), (8, 400), (-8, 400), (2_900_000, 400)):
            day = (today + timedelta(days=min(days, 3000))).isoformat() if days < 2_900_000 else "9999-12-31"
            response = api.post("/api/distribution/run", {"date": day})
            assert response.status_code == status, (day, response.get_json())
            if status == 400:
                assert "RUN_DATE_WINDOW_DAYS" in response.get_json()["error"]["message"]
    finally:
        app.extensions["store"].close()
    assert count(db, "SELECT count(*) FROM distribution_runs") == 2
