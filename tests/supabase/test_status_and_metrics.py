"""The status page and the metrics over Supabase's REST API: the same report as on direct PostgreSQL
(status_report and pool_outlook called with .rpc()), and retries and failed chunks counted."""

from __future__ import annotations

import re

from server.tasks import today

from ..conftest import ADMIN_KEY, profiles
from ..status_helpers import arrange_day, expected_report
from ..test_status_page import _matching

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
CHUNK = "rpc/ingest_chunk"


def _sample(text: str, name: str) -> float:
    found = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)
    return float(found[1]) if found else 0.0


def test_the_report_over_rest_is_the_one_of_direct_postgresql(app, client, fake, db):
    with app.app_context():
        day = today().isoformat()
    arrange_day(client, day)
    report = client.get("/api/status", headers=ADMIN).get_json()
    assert _matching(report, day) == expected_report(day)
    assert "rpc/status_report" in fake.paths()
    assert db.execute("SELECT by_source FROM ingest_requests WHERE received = 7").fetchone()[0] == {
        "instagram": {"received": 7, "inserted_raw": 6, "rejected": 1}}
    metrics = client.get("/metrics").text
    assert "rpc/pool_outlook" in fake.paths()
    assert (_sample(metrics, 'pool_profiles{state="unused"}'), _sample(metrics, "distribution_daily_quota"),
            _sample(metrics, "storage_up")) == (2, 7, 1)


def test_retries_and_failed_chunks_are_counted(app, client, ingest, fake, db):
    before = client.get("/metrics").text
    fake.fail(CHUNK, status=503, code="PGRST000")  # once: the retry lands
    assert ingest.json(profiles(5)).status_code == 200
    fake.fail(CHUNK, times=3, status=503, code="PGRST000")  # every attempt
    assert ingest.json(profiles(5, start=5)).status_code == 503
    after = client.get("/metrics").text
    assert _sample(after, "supabase_retries_total") - _sample(before, "supabase_retries_total") == 3
    assert _sample(after, "supabase_failed_chunks_total") - _sample(before, "supabase_failed_chunks_total") == 1
    assert _sample(after, 'ingest_batch_duration_seconds_count{step="chunk"}') >= 1


def test_metrics_say_storage_is_down_when_supabase_does_not_answer(app, client, fake):
    fake.fail("rpc/pool_outlook", status=503, code="PGRST000")
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and _sample(metrics.text, "storage_up") == 0
