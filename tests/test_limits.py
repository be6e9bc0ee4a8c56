"""Every limit on unbounded consumption (OWASP API4) is a setting, and each one is enforced: body size,
records per request, page size, and request time on the database.

The ingest limits are enforced in tests/test_ingest_errors.py (MAX_CONTENT_LENGTH, MAX_JSON_BYTES,
MAX_PROFILES_PER_REQUEST, gzip expansion) and tests/test_validation.py (MAX_PROFILE_BYTES).
"""

from __future__ import annotations

import runpy

import pytest

from server import create_app
from server.config import SETTINGS

from .conftest import ALL_KEY, ROOT, make_config
from .distribution_helpers import add_pool, add_targets, run

DAY = "2026-03-02"
LIMITS = {
    "body size": ("MAX_CONTENT_LENGTH", "MAX_JSON_BYTES", "MAX_PROFILE_BYTES"),
    "records per request": ("MAX_PROFILES_PER_REQUEST", "MAX_STATUS_UPDATES"),
    "page size": ("MAX_PAGE_SIZE",),
    "memory": ("JSON_LARGE_BYTES",),
    "request time": ("STATEMENT_TIMEOUT_MS", "GUNICORN_TIMEOUT", "SUPABASE_TIMEOUT_SECONDS", "DB_POOL_TIMEOUT"),
    "request rate": ("RATELIMIT_INGEST", "RATELIMIT_READ", "RATELIMIT_RUN", "RATELIMIT_ADMIN"),
}
HEADERS = {"Authorization": f"Bearer {ALL_KEY}"}


def test_every_limit_is_a_documented_setting():
    documented = {setting.name: setting.help for setting in SETTINGS}
    for kind, names in LIMITS.items():
        for name in names:
            assert documented.get(name), f"{kind}: {name} is not a setting with a help text"


@pytest.fixture
def limited(database_url, db, tmp_path):
    """An app with small limits, on a day with 15 assignments."""
    add_pool(db, 15)
    add_targets(db, [15])
    run(db, DAY)
    app = create_app(make_config(database_url, CACHE_DIR=str(tmp_path / "cache"), MAX_CONTENT_LENGTH=4096,
                                 MAX_STATUS_UPDATES=5, MAX_PAGE_SIZE=10, STATEMENT_TIMEOUT_MS=4321))
    yield app
    app.extensions["store"].close()


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/api/targets", {"name": "n" * 5000, "daily_quota": 1}),
    ("PATCH", "/api/targets/1", {"name": "n" * 5000}),
    ("POST", "/api/distribution/run", {"date": DAY, "pad": "x" * 5000}),
    ("POST", "/api/distribution/status", {"updates": [{"profile_id": "p" * 5000, "status": "sent"}]}),
    ("POST", "/api/distribution/release", {"older_than_days": 1, "pad": "x" * 5000}),
    ("POST", "/api/admin/cleanup", {"max_batches": 1, "pad": "x" * 5000}),
], ids=["targets", "target", "run", "status", "release", "cleanup"])
def test_max_content_length_caps_the_body_of_every_route(limited, db, method, path, body):
    response = limited.test_client().open(path, method=method, json=body, headers=HEADERS)
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "payload_too_large"
    assert response.get_json()["error"]["details"] == {"limit_bytes": 4096}


def test_max_status_updates_caps_the_updates_of_one_request(limited):
    client = limited.test_client()
    updates = [{"profile_id": f"p{i}", "status": "sent"} for i in range(6)]
    refused = client.post("/api/distribution/status", json={"updates": updates}, headers=HEADERS)
    assert refused.status_code == 400 and "1 to 5" in refused.get_json()["error"]["message"]
    accepted = client.post("/api/distribution/status", json={"updates": updates[:5]}, headers=HEADERS)
    assert accepted.status_code == 200 and accepted.get_json()["updated"] == 5


@pytest.mark.parametrize("path", [f"/api/distribution/{DAY}", "/api/admin/profiles/global?from=2026-01-01"])
def test_max_page_size_caps_and_sets_the_default_page(limited, path):
    client = limited.test_client()
    separator = "&" if "?" in path else "?"
    assert client.get(f"{path}{separator}limit=11", headers=HEADERS).status_code == 400
    page = client.get(f"{path}{separator}limit=10", headers=HEADERS).get_json()
    assert len(page["items"]) == 10 and page["next_cursor"]
    default = client.get(path, headers=HEADERS).get_json()  # 100 by default, never above the maximum
    assert len(default["items"]) == 10


def test_statement_timeout_bounds_every_database_statement_of_a_request(limited):
    with limited.app_context():
        store = limited.extensions["store"].get()
        with store.pool.connection() as conn:
            assert conn.execute("SHOW statement_timeout").fetchone()[0] == "4321ms"


def test_gunicorn_timeout_comes_from_its_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("GUNICORN_TIMEOUT", "77")
    monkeypatch.setenv("GUNICORN_GRACEFUL_TIMEOUT", "88")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # the file sets it; keep it to this test
    monkeypatch.chdir(tmp_path)  # no .env of a developer's
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert (settings["timeout"], settings["graceful_timeout"]) == (77, 88)


def test_a_worker_parses_one_large_json_document_at_a_time(database_url, db):
    """A JSON body is parsed whole, at several times its size in memory: threads of one worker
    must not stack up large ones. A large one waits for the one before it; a small one never waits."""
    import threading

    from server.api import ingest as ingest_api

    from .conftest import Ingest, profiles

    app = create_app(make_config(database_url, JSON_LARGE_BYTES=2_000))
    large_done = threading.Event()
    answers: list[int] = []

    def post_large() -> None:
        answers.append(Ingest(app.test_client()).json(profiles(40, prefix="large")).status_code)
        large_done.set()

    try:
        with ingest_api.LARGE_JSON:  # as if another request of this worker were parsing a large body
            threading.Thread(target=post_large, daemon=True).start()
            assert not large_done.wait(0.5)
            assert Ingest(app.test_client()).json(profiles(2, prefix="small")).status_code == 200
            assert not large_done.is_set()
        assert large_done.wait(30) and answers == [200]
    finally:
        app.extensions["store"].close()
    assert db.execute("SELECT count(*) FROM raw_scraped_profiles").fetchone()[0] == 42
