"""The cached daily lists: hits need no database, and writes anywhere invalidate pages cached anywhere."""

from __future__ import annotations

import pytest
import redis

from server import create_app
from server.extensions import cache

from .conftest import make_config
from .distribution_helpers import DistributionApi, add_pool, add_targets, run
from .servers import redis_url  # noqa: F401 (fixture)

DAY = "2026-03-02"
DEAD_DATABASE = "postgresql://127.0.0.1:1/nowhere"


@pytest.fixture
def make_app(database_url, tmp_path):
    """Build apps sharing one cache directory (like Gunicorn workers on one machine); close them after."""
    apps = []

    def build(**overrides):
        settings = {"CACHE_DIR": str(tmp_path / "shared-cache"), **overrides}
        apps.append(create_app(make_config(overrides.pop("DATABASE_URL", database_url), **settings)))
        return apps[-1]

    yield build
    for application in apps:
        application.extensions["store"].close()


def _statuses(api: DistributionApi, **params) -> dict[str, str]:
    return {i["profile_id"]: i["status"] for page in api.pages(DAY, **params) for i in page["items"]}


def test_a_cached_page_is_served_by_another_instance_that_has_no_database(make_app, db):
    add_pool(db, 10)
    add_targets(db, [10])
    worker = DistributionApi(make_app().test_client())
    worker.run(DAY)
    first = worker.get(f"/api/distribution/{DAY}", limit=4)
    assert first.status_code == 200

    offline = DistributionApi(make_app(DATABASE_URL=DEAD_DATABASE, DB_POOL_TIMEOUT=1).test_client())
    cached = offline.get(f"/api/distribution/{DAY}", limit=4)
    assert cached.status_code == 200 and cached.get_json() == first.get_json()
    second_page = offline.get(f"/api/distribution/{DAY}", limit=4, cursor=first.get_json()["next_cursor"])
    assert second_page.status_code == 503  # not cached: it needs the database, which is not there


def test_writes_through_one_instance_invalidate_pages_cached_by_another(make_app, db):
    add_pool(db, 6)
    [target] = add_targets(db, [4])
    reader = DistributionApi(make_app().test_client())
    writer_app = make_app()
    writer = DistributionApi(writer_app.test_client())
    writer.run(DAY)
    assert _statuses(reader) == dict.fromkeys(["p0", "p1", "p2", "p3"], "assigned")

    db.execute("UPDATE distribution_assignments SET status = 'failed'")  # behind the app's back
    assert set(_statuses(reader).values()) == {"assigned"}  # so the reader is served from the cache

    writer.post("/api/distribution/status", {"updates": [{"profile_id": "p1", "status": "sent"}]})
    assert _statuses(reader) == {"p0": "failed", "p1": "sent", "p2": "failed", "p3": "failed"}

    db.execute("UPDATE distribution_targets SET daily_quota = 6 WHERE id = %s", [target])
    result = writer_app.test_cli_runner().invoke(args=["distribute", "--date", DAY, "--top-up"])
    assert result.exit_code == 0, result.output
    assert sorted(_statuses(reader, target=target)) == ["p0", "p1", "p2", "p3", "p4", "p5"]


def test_two_instances_sharing_one_redis_see_each_others_pages_and_invalidations(make_app, db, redis_url, tmp_path):
    """Two app instances (machines) with nothing in common but the database and one Redis."""
    shared = redis.Redis.from_url(redis_url)
    shared.flushdb()
    add_pool(db, 4)
    add_targets(db, [4])
    # Cache folders of their own: a page they share can only have come through Redis.
    reader = DistributionApi(make_app(REDIS_URL=redis_url, CACHE_DIR=str(tmp_path / "reader")).test_client())
    writer = DistributionApi(make_app(REDIS_URL=redis_url, CACHE_DIR=str(tmp_path / "writer")).test_client())
    writer.run(DAY)
    assert _statuses(reader) == dict.fromkeys(["p0", "p1", "p2", "p3"], "assigned")
    assert shared.keys("scraper:distribution:list:*")  # the page is in Redis

    db.execute("UPDATE distribution_assignments SET status = 'failed'")  # behind the apps' back
    assert set(_statuses(writer).values()) == {"assigned"}  # the page the reader cached

    writer.post("/api/distribution/status", {"updates": [{"profile_id": "p1", "status": "sent"}]})
    assert _statuses(reader) == {"p0": "failed", "p1": "sent", "p2": "failed", "p3": "failed"}


def test_a_replayed_run_refreshes_the_dates_pages(make_app, db):
    add_pool(db, 4)
    add_targets(db, [4])
    api = DistributionApi(make_app().test_client())
    assert api.get(f"/api/distribution/{DAY}").get_json()["items"] == []
    run(db, DAY)  # a run whose answer never reached the cron, which therefore calls again
    assert api.run(DAY)["replayed"] is True
    assert len(api.get(f"/api/distribution/{DAY}").get_json()["items"]) == 4


def test_pages_differ_by_target_limit_and_cursor(make_app, db):
    add_pool(db, 6)
    first, second = add_targets(db, [3, 3])
    api = DistributionApi(make_app().test_client())
    api.run(DAY)
    lists = {name: [i["profile_id"] for p in api.pages(DAY, **params) for i in p["items"]]
             for name, params in {"all": {}, "first": {"target": first}, "second": {"target": second},
                                  "small-pages": {"limit": 1}}.items()}
    assert len(lists["all"]) == 6 and lists["small-pages"] == lists["all"]
    assert lists["first"] + lists["second"] == lists["all"]


def test_the_cache_is_files_under_data_dir_by_default_and_redis_with_redis_url(database_url, tmp_path):
    files = create_app(make_config(database_url, DATA_DIR=str(tmp_path)))
    redis = create_app(make_config(database_url, REDIS_URL="redis://127.0.0.1:1/0"))
    try:
        assert type(files.extensions["cache"][cache]).__name__ == "PrunedFileCache"
        assert files.config["CACHE_DIR"] == str(tmp_path / "cache")
        assert type(redis.extensions["cache"][cache]).__name__ == "SafeRedisCache"
        assert redis.config["CACHE_REDIS_URL"] == "redis://127.0.0.1:1/0"
    finally:
        files.extensions["store"].close()
        redis.extensions["store"].close()


def test_lists_are_served_from_the_database_while_redis_is_down(make_app, db):
    add_pool(db, 3)
    add_targets(db, [3])
    api = DistributionApi(make_app(REDIS_URL="redis://127.0.0.1:1/0").test_client())
    api.run(DAY)
    assert len(api.pages(DAY)[0]["items"]) == 3


def test_a_status_update_refreshes_its_targets_lists_and_leaves_the_others_cached(make_app, db):
    add_pool(db, 4)
    first, second = add_targets(db, [2, 2])
    api = DistributionApi(make_app().test_client())
    api.run(DAY)
    firsts, seconds = _statuses(api, target=first), _statuses(api, target=second)
    _statuses(api)  # every page cached: one target's, the other's, and the all-targets list

    db.execute("UPDATE distribution_assignments SET status = 'failed'")  # behind the app's back
    [touched] = list(firsts)[:1]
    api.post("/api/distribution/status", {"updates": [{"profile_id": touched, "status": "sent"}]})
    assert _statuses(api, target=first) == {p: "sent" if p == touched else "failed" for p in firsts}
    assert set(_statuses(api).values()) == {"sent", "failed"}  # the all-targets list holds the change
    assert _statuses(api, target=second) == dict.fromkeys(seconds, "assigned")  # still the cached page


def test_a_database_without_the_touched_lists_in_its_answer_drops_the_whole_dates_pages(make_app, db,
                                                                                        monkeypatch):
    # The answer of distribution_set_status before it named the lists: as from a schema not yet re-applied.
    add_pool(db, 4)
    first, second = add_targets(db, [2, 2])
    app = make_app()
    api = DistributionApi(app.test_client())
    api.run(DAY)
    seconds = _statuses(api, target=second)
    store = app.extensions["store"].get()
    answer_of = store.update_statuses
    monkeypatch.setattr(store, "update_statuses", lambda updates: {
        k: v for k, v in answer_of(updates).items() if k != "lists"})

    db.execute("UPDATE distribution_assignments SET status = 'failed'")  # behind the app's back
    touched = next(iter(_statuses(api, target=first)))
    api.post("/api/distribution/status", {"updates": [{"profile_id": touched, "status": "sent"}]})
    assert _statuses(api, target=second) == dict.fromkeys(seconds, "failed")


def test_nothing_in_the_cache_lives_for_ever(make_app, db, tmp_path):
    """Version tokens too expire (long after the pages keyed by them): one made for a date or a
    target nobody reads again, an unknown target's included, must not fill the cache for good."""
    import struct

    add_pool(db, 4)
    [target] = add_targets(db, [4])
    api = DistributionApi(make_app().test_client())
    api.run(DAY)
    _statuses(api, target=target)
    assert api.get(f"/api/distribution/{DAY}", target=target + 100).status_code == 404
    api.post("/api/distribution/status", {"updates": [{"profile_id": "p0", "status": "sent"}]})
    files = [path for path in (tmp_path / "shared-cache").iterdir() if path.is_file()]
    assert len(files) >= 4  # pages, the date's token and the lists' tokens
    expiries = [struct.unpack("I", path.read_bytes()[:4])[0] for path in files]  # cachelib's file layout
    assert 0 not in expiries
