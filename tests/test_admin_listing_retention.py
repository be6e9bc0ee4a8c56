"""Admin routes: date-range listing of raw and pool profiles by keyset, and the retention clean-up."""

from __future__ import annotations

import pytest

from server import create_app

from .conftest import ADMIN_KEY, Ingest, count, make_config, profiles
from .distribution_helpers import BASE_TIME, add_pool


@pytest.fixture
def admin(client):
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}

    def call(method: str, path: str, **kwargs):
        return getattr(client, method)(path, headers=headers, **kwargs)

    return call


def _all_pages(admin, path: str, **params) -> list[dict]:
    items, cursor = [], None
    while True:
        response = admin("get", path, query_string={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.get_json()
        items += response.get_json()["items"]
        cursor = response.get_json()["next_cursor"]
        if cursor is None:
            return items


def _ingest_on(db, ingest: Ingest, day: str, items: list) -> str:
    """Ingest, then date the request and its raw rows to `day` (noon UTC)."""
    ingest_id = ingest.json(items).get_json()["ingest_id"]
    for table, column in (("raw_scraped_profiles", "ingest_id"), ("ingest_requests", "id")):
        db.execute(f"UPDATE {table} SET created_at = %s::date + time '12:00' WHERE {column} = %s",
                   [day, ingest_id])
    return ingest_id


def test_raw_rows_of_a_date_range_come_once_each_in_order(admin, client, db):
    ingest = Ingest(client)
    _ingest_on(db, ingest, "2026-02-27", profiles(3, prefix="before"))
    inside = [_ingest_on(db, ingest, "2026-02-28", profiles(5, prefix="a")),
              _ingest_on(db, ingest, "2026-03-01", profiles(4, prefix="b") + profiles(1, prefix="a"))]
    _ingest_on(db, ingest, "2026-03-02", profiles(2, prefix="after"))
    items = _all_pages(admin, "/api/admin/profiles/raw",
                       **{"from": "2026-02-28", "to": "2026-03-01", "limit": 3})
    assert len(items) == 10
    keys = [(i["created_at"], i["ingest_id"], i["position"]) for i in items]
    assert keys == sorted(set(keys))
    assert {i["ingest_id"] for i in items} == set(inside)
    assert items[0]["profile"] == {"id": "a0", "username": "user_a0", "full_name": "User 0"}


def test_pool_rows_of_a_date_range_come_once_each_in_order(admin, db):
    add_pool(db, 50, prefix="jan1")  # 2026-01-01 00:00:00 + i seconds
    add_pool(db, 50, prefix="jan2", base=BASE_TIME.replace(day=2))
    add_pool(db, 5, prefix="jan3", base=BASE_TIME.replace(day=3))
    db.execute("UPDATE global_usernames SET first_seen_at = %s WHERE id LIKE 'jan2%%'",
               [BASE_TIME.replace(day=2)])  # ties on first_seen_at are ordered by id
    items = _all_pages(admin, "/api/admin/profiles/global",
                       **{"from": "2026-01-02", "to": "2026-01-03", "limit": 7})
    assert [i["id"] for i in items] == sorted(f"jan2{n}" for n in range(50)) + [f"jan3{n}" for n in range(5)]
    one_day = _all_pages(admin, "/api/admin/profiles/global", **{"from": "2026-01-01", "limit": 1000})
    assert len(one_day) == 50 and set(one_day[0]) == {"first_seen_at", "id", "username", "full_name",
                                                      "source", "used", "used_at"}


def test_pool_listing_interleaves_used_and_unused_rows_in_order(admin, db):
    # Used and unused rows sit in different indexes; every page must merge them in one order.
    add_pool(db, 60, prefix="mix")
    db.execute("UPDATE global_usernames SET first_seen_at = %s WHERE id ~ '[05]$'", [BASE_TIME])  # ties
    db.execute("UPDATE global_usernames SET used = true, used_at = now() WHERE id ~ '[13579]$'")
    db.execute("UPDATE global_usernames SET used = true, used_at = now() WHERE id IN ('mix0', 'mix40')")
    expected = [row[0] for row in db.execute(
        "SELECT id FROM global_usernames ORDER BY first_seen_at, id").fetchall()]
    for limit in (1, 4, 7, 1000):
        items = _all_pages(admin, "/api/admin/profiles/global", **{"from": "2026-01-01", "limit": limit})
        assert [i["id"] for i in items] == expected
    assert {i["used"] for i in items} == {True, False}


def test_listing_checks_its_range_and_cursor(admin, db):
    add_pool(db, 5)
    page = admin("get", "/api/admin/profiles/global",
                 query_string={"from": "2026-01-01", "limit": 2}).get_json()
    assert page["next_cursor"]
    other_range = {"from": "2025-12-31", "to": "2026-01-01", "cursor": page["next_cursor"]}
    for params in [other_range, {"from": "2026-01-02", "to": "2026-01-01"}, {"from": "yesterday"}]:
        assert admin("get", "/api/admin/profiles/global", query_string=params).status_code == 400


def test_cleanup_deletes_old_raw_rows_in_batches_and_forgets_expired_keys(client, db, database_url, tmp_path):
    ingest = Ingest(client)
    old = _ingest_on(db, ingest, "2025-01-01", profiles(250, prefix="old"))
    recent = ingest.json(profiles(3, prefix="new")).get_json()["ingest_id"]
    ingest.json(profiles(1, prefix="k"), **{"Idempotency-Key": "job-1"})
    db.execute("UPDATE ingest_requests SET created_at = now() - interval '3 days'"
               " WHERE idempotency_key = 'job-1'")  # older than IDEMPOTENCY_TTL_HOURS (48)
    app = create_app(make_config(database_url, CLEANUP_BATCH_SIZE=100, CACHE_DIR=str(tmp_path)))
    try:
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        first = app.test_client().post("/api/admin/cleanup", json={"max_batches": 1},
                                       headers=headers).get_json()
        assert (first["raw_deleted"], first["batches"], first["done"]) == (100, 1, False)
        result = app.test_cli_runner().invoke(args=["cleanup"])
        assert result.exit_code == 0 and '"raw_deleted": 150' in result.output
    finally:
        app.extensions["store"].close()
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles WHERE ingest_id = %s", old) == 0
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles WHERE ingest_id = %s", recent) == 3
    assert count(db, "SELECT count(*) FROM ingest_requests WHERE id = %s", old) == 0
    assert count(db, "SELECT count(*) FROM ingest_requests WHERE idempotency_key IS NOT NULL") == 0
    assert count(db, "SELECT count(*) FROM global_usernames") == 254  # the pool is never cleaned up
    retry = ingest.json(profiles(1, prefix="k"), **{"Idempotency-Key": "job-1"})
    assert "Idempotent-Replayed" not in retry.headers  # the key expired: a new request


def test_zero_retention_keeps_raw_rows(client, db, database_url, tmp_path):
    _ingest_on(db, Ingest(client), "2020-01-01", profiles(2))
    app = create_app(make_config(database_url, RAW_RETENTION_DAYS=0, CACHE_DIR=str(tmp_path)))
    try:
        body = app.test_client().post("/api/admin/cleanup", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    finally:
        app.extensions["store"].close()
    assert (body.get_json()["raw_deleted"], body.get_json()["done"]) == (0, True)
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 2
