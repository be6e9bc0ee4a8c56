"""A day of distribution over the REST backend next to the direct one, on the same embedded PostgreSQL.

The REST side goes through supabase-py and our HTTP client into the strict test gateway (in
process, through respx), on a database set up as on Supabase: it measures our client-side work and
the SQL, and counts the requests, not Supabase's network round trips (add one per request).

    .venv/bin/python -m bench.supabase_distribution [pool]

Each backend gets a fresh pool; then, through the HTTP API: the run (72 targets x 200), reading the
whole day's list 1000 at a time, one status update of every profile handed out, and the statistics.
"""

from __future__ import annotations

import sys
import tempfile
import time
from typing import Callable

from bench.bench_distribution import _populate
from server import create_app
from tests.conftest import DISTRIBUTE_KEY, fresh_database, make_config
from tests.distribution_helpers import DistributionApi
from tests.supabase.conftest import supabase_config
from tests.supabase.fake_postgrest import FakePostgrest
from tests.supabase.supabase_db import supabase_database

BENCH_DB = "bench_supabase_distribution"
DAY = "2026-03-02"
TARGETS, QUOTA = 72, 200


def _day(api: DistributionApi) -> dict[str, float]:
    """Time each step of a day; check that every profile handed out was listed and updated."""
    timings: dict[str, float] = {}

    def step(name: str, work: Callable[[], object]) -> object:
        started = time.perf_counter()
        result = work()
        timings[name] = time.perf_counter() - started
        return result

    summary = step("run", lambda: api.run(DAY))
    pages = step("read list", lambda: api.pages(DAY, limit=1000))
    ids = [item["profile_id"] for page in pages for item in page["items"]]
    assert len(ids) == len(set(ids)) == summary["assigned"] == TARGETS * QUOTA
    updates = {"updates": [{"profile_id": i, "status": "sent"} for i in ids]}
    reply = step("status update", lambda: api.post("/api/distribution/status", updates).get_json())
    assert reply["updated"] == len(ids), reply
    step("stats", lambda: api.get("/api/stats", date=DAY).get_json())
    return timings


def _measure(config: dict, pool: int) -> dict[str, float]:
    _populate(config["DATABASE_URL"], pool, TARGETS, QUOTA)
    with tempfile.TemporaryDirectory() as cache_dir:
        app = create_app({**config, "CACHE_DIR": cache_dir, "LOG_LEVEL": "warning"})
        try:
            return _day(DistributionApi(app.test_client(), DISTRIBUTE_KEY))
        finally:
            app.extensions["store"].close()


def main(pool: int) -> None:
    """Print seconds per step for both backends, their ratio, and the REST requests per step."""
    url = fresh_database(BENCH_DB)
    direct = _measure(make_config(url), pool)
    url = supabase_database(BENCH_DB)
    fake = FakePostgrest(url)
    with fake.router:
        rest = _measure(supabase_config(url), pool)
        paths = fake.paths()
    fake.close()
    print(f"pool {pool:,}, {TARGETS} targets x {QUOTA}; seconds (REST through the gateway, no network)")
    for name in direct:
        print(f"  {name:14} direct {direct[name]:6.3f}   REST {rest[name]:6.3f}"
              f"   = {rest[name] / direct[name]:4.1f} x direct")
    requests = {path: paths.count(path) for path in dict.fromkeys(paths)}
    print(f"  REST requests: {requests}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
