"""The status page's report (GET /api/status), its HTML panel, and the page itself, which holds no data."""

from __future__ import annotations

import re

import pytest

from server import create_app
from server.tasks import today

from .conftest import ADMIN_KEY, ALL_KEY, INGEST_KEY, READER_KEY, Ingest, make_config
from .status_helpers import arrange_day, expected_report

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def day(app, client) -> str:
    """Today (the page's default date) with arrange_day's operations done."""
    with app.app_context():
        day = today().isoformat()
    arrange_day(client, day)
    return day


def _matching(report: dict, day: str) -> dict:
    """The parts of a report that expected_report describes."""
    return {"pool": report["pool"], "distribution": {k: v for k, v in report["distribution"].items() if k != "run"},
            "today": report["ingest"]["per_day"][-1], "per_source": report["ingest"]["per_source"],
            "recent": [{k: item[k] for k in ("sources", "received", "inserted_raw", "added_to_global", "rejected")}
                       for item in report["recent_ingests"]]}


def test_the_report_tells_the_pool_the_run_and_the_ingest_by_day_and_source(client, day):
    report = client.get("/api/status", headers=ADMIN).get_json()
    assert _matching(report, day) == expected_report(day)
    assert report["distribution"]["run"]["done"] and report["distribution"]["run"]["at"].startswith(day)
    assert len(report["ingest"]["per_day"]) == report["days"] == 30
    assert sum(row["received"] for row in report["ingest"]["per_day_and_source"]) == 12
    first_reasons = report["recent_ingests"][0]["errors"]
    assert [(e["field"], e["reason"]) for e in first_reasons] == [("username", "is required"),
                                                                 (None, first_reasons[1]["reason"])]
    assert "JSON" in first_reasons[1]["reason"]


def test_before_the_run_the_report_says_so_and_shows_the_whole_shortfall(client, db):
    Ingest(client).json([{"id": f"p{i}", "username": f"u{i}"} for i in range(5)], source="instagram")
    client.post("/api/targets", json={"name": "alpha", "daily_quota": 4}, headers={"Authorization": f"Bearer {ALL_KEY}"})
    report = client.get("/api/status", headers=ADMIN).get_json()
    assert report["distribution"]["run"] == {"done": False, "at": None, "top_ups": 0}
    assert report["distribution"]["shortfall"] == 4 and report["distribution"]["targets"][0]["shortfall"] == 4
    assert report["pool"] == {"total": 5, "unused": 5, "used": 0, "daily_quota": 4, "days_left": 1.2,
                              "warning_days": 7, "low": True}
    panel = client.get("/api/status/panel", headers=ADMIN).get_data(as_text=True)
    assert 'data-field="run.missing"' in panel and 'data-field="run.done"' not in panel


def test_without_targets_the_pool_has_no_days_left_and_no_warning(client, db):
    Ingest(client).json([{"id": "p1", "username": "u1"}])
    pool = client.get("/api/status", headers=ADMIN).get_json()["pool"]
    assert (pool["daily_quota"], pool["days_left"], pool["low"]) == (0, None, False)


def test_the_panel_shows_the_reports_numbers_charts_and_warnings(client, day):
    report = client.get("/api/status", headers=ADMIN).get_json()
    response = client.get("/api/status/panel", headers=ADMIN)
    assert response.mimetype == "text/html" and response.headers["Cache-Control"] == "no-store"
    panel = response.get_data(as_text=True)
    shown = dict(re.findall(r'<dd data-field="(pool\.[a-z_]+)">([^<]*)<', panel))
    assert shown == {"pool.total": "9", "pool.unused": "2", "pool.used": "7", "pool.daily_quota": "7",
                     "pool.days_left": "0.3"}
    assert 'data-field="pool.warning"' in panel and 'data-field="run.done"' in panel
    assert panel.count("<svg") == 2 and "<title>" + report["ingest"]["per_day"][-1]["date"][5:] + ": 12 received" in panel
    assert re.search(r'data-source="instagram"><td>instagram</td><td class="n" data-field="received">7<', panel)
    # Links to the lists only for a key that may read them: admin alone may not.
    assert "/api/distribution/" not in panel
    with_reader = client.get("/api/status/panel", headers={"Authorization": f"Bearer {ALL_KEY}"})
    assert f'href="/api/distribution/{day}?target=1"' in with_reader.get_data(as_text=True)


def test_the_pool_warning_follows_pool_warning_days(database_url, db):
    app = create_app(make_config(database_url, POOL_WARNING_DAYS=0))
    try:
        client = app.test_client()
        with app.app_context():
            day = today().isoformat()
        arrange_day(client, day)  # outside: requests inside an app context would share its `g`
        assert client.get("/api/status", headers=ADMIN).get_json()["pool"]["low"] is False
        assert 'data-field="pool.warning"' not in client.get("/api/status/panel", headers=ADMIN).get_data(as_text=True)
    finally:
        app.extensions["store"].close()


def test_the_page_holds_no_data_sets_no_cookie_and_allows_only_its_own_script(client, day):
    response = client.get("/status")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "Set-Cookie" not in response.headers
    assert "instagram" not in page and "alpha" not in page and 'id="panel" aria-live="polite"></main>' in page
    policy = response.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy)[1]
    assert f'<script nonce="{nonce}">' in page and "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert nonce != re.search(r"'nonce-([^']+)'", client.get("/status").headers["Content-Security-Policy"])[1]
    assert "sessionStorage" in page and "localStorage" not in page and "document.cookie" not in page


@pytest.mark.parametrize("path", ["/api/status", "/api/status/panel"])
@pytest.mark.parametrize("key, status", [(None, 401), ("not-a-key-of-ours-0000000000", 401), (INGEST_KEY, 403),
                                         (READER_KEY, 403), (ADMIN_KEY, 200)],
                         ids=["none", "unknown", "ingest", "reader", "admin"])
def test_the_report_needs_a_key_with_the_admin_scope(client, db, path, key, status):
    response = client.get(path, headers={"Authorization": f"Bearer {key}"} if key else {})
    assert response.status_code == status
    if status != 200:
        assert response.get_json()["error"]["code"] in ("unauthorized", "forbidden")


def test_an_ingest_records_its_counts_per_source_capped_at_twenty_sources(client, db):
    profiles = [{"id": f"p{i}", "username": f"u{i}", "source": f"site-{i}"} for i in range(25)]
    Ingest(client).json(profiles + [{"id": "bad", "source": "site-0"}])
    by_source = db.execute("SELECT by_source FROM ingest_requests").fetchone()[0]
    assert len(by_source) == 21 and by_source["(other)"] == {"received": 5, "inserted_raw": 5, "rejected": 0}
    assert by_source["site-0"] == {"received": 2, "inserted_raw": 1, "rejected": 1}


def test_the_date_and_days_of_the_report_are_checked(client, db):
    assert client.get("/api/status?date=2026-02-30", headers=ADMIN).status_code == 400
    assert client.get("/api/status?days=0", headers=ADMIN).status_code == 400
    report = client.get("/api/status?date=2026-03-02&days=3", headers=ADMIN).get_json()
    assert [row["date"] for row in report["ingest"]["per_day"]] == ["2026-02-28", "2026-03-01", "2026-03-02"]
