"""The load check of tests/load.py, short enough for every CI run (`make reliability` runs it for 60 s)."""

from __future__ import annotations

import pytest

from .load import SERVER_SETTINGS, LoadPlan, run_load
from .servers import GunicornServer

pytestmark = pytest.mark.slow


def test_scrapers_and_readers_under_load_get_no_5xx_and_the_tables_match_the_answers(
        database_url, db, tmp_path):
    server = GunicornServer(tmp_path, database_url, **SERVER_SETTINGS).start()
    try:
        report = run_load(server.url, database_url, LoadPlan(seconds=8, scrapers=24, readers=4))
    finally:
        server.stop()
    assert report["status_5xx"] == report["transport_errors"] == report["other_non_2xx"] == 0, report["answers"]
    assert report["batches_unacknowledged"] == 0
    assert report["mismatches"] == [], report
    assert report["sum_added_to_global"] == report["pool_rows_added"] > 0
    assert report["sum_inserted_raw"] == report["raw_rows_added"] > 0
    assert report["list_reads"] > 0 and report["threads_still_running"] == 0
    assert report["passed"]
