"""`python -m bench.status_page [--pool N]`: the status page's report and /metrics' pool read on a
pool of 5 million, against counting the pool, the way a naive page would.

The pool is bench.distribution's (a third used, 72 targets of 200 a day), with 30 days of ingest
records (300 requests a day from three sources) and today's run done. Timed in-process through
Flask's test client: the server's share of the page's load, without the network.
"""

from __future__ import annotations

import argparse
import time
from statistics import median

import psycopg

from server import create_app
from server.tasks import today

from .distribution import populate
from .run import bench_database, print_table

BENCH_KEY = "bench-key-000001-not-secret"
RUNS = 7
REQUESTS_PER_DAY = 300
# What a page that counts would run: every row of the pool read at each load.
COUNT_THE_POOL = "SELECT count(*), count(*) FILTER (WHERE NOT used) FROM global_usernames"


def add_ingest_history(url: str, day: str) -> None:
    """30 days of ingest records with counts per source, as ingests write them."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("""
            INSERT INTO ingest_requests (id, api_key_id, body_sha256, received, inserted_raw, added_to_global,
                                         rejected, response, by_source, created_at)
            SELECT gen_random_uuid(), 'bench', 'sha', 1000, 990, 700, 10,
                   '{"errors": [{"index": 3, "field": "username", "reason": "is required"}]}',
                   jsonb_build_object(source, jsonb_build_object('received', 1000, 'inserted_raw', 990,
                                                                 'rejected', 10)),
                   %(day)s::date - d + make_interval(secs => r * 280)
            FROM generate_series(0, 29) AS d, generate_series(1, %(per_day)s) AS r,
                 LATERAL (SELECT (ARRAY['instagram', 'tiktok', 'x'])[1 + r %% 3] AS source) s""",
                     {"day": day, "per_day": REQUESTS_PER_DAY})
        conn.execute("VACUUM ANALYZE ingest_requests")


def _median_ms(action) -> float:
    action()  # warm: the worker's pool and the database's caches, as on a page open all day
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return round(median(timings) * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pool", type=int, default=5_000_000)
    pool = parser.parse_args().pool
    url = bench_database()
    started = time.perf_counter()
    populate(url, pool)
    app = create_app({"TESTING": True, "STORAGE_BACKEND": "postgres", "DATABASE_URL": url,
                      "API_KEYS": f"{BENCH_KEY}:admin+distribute", "RATELIMIT_ENABLED": False})
    client, headers = app.test_client(), {"Authorization": f"Bearer {BENCH_KEY}"}
    with app.app_context():
        day = today().isoformat()
    add_ingest_history(url, day)
    assert client.post("/api/distribution/run", json={"date": day}, headers=headers).status_code == 200
    print(f"loaded a pool of {pool:,} in {time.perf_counter() - started:.0f} s")

    def get(path: str):
        def load() -> None:
            response = client.get(path, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"{path} answered {response.status_code}: {response.text[:200]}")
        return load

    store = app.extensions["store"].get()

    def sql(statement: str, *params):
        def run():
            with store.pool.connection() as conn:
                conn.execute(statement, params).fetchone()
        return run

    rows = [{"what": what, "median ms": _median_ms(action)} for what, action in (
        ("GET /api/status/panel (the page's one request)", get("/api/status/panel")),
        ("GET /api/status (JSON)", get("/api/status")),
        ("status_report() alone, SQL", sql("SELECT status_report(%s, 30, 'UTC', 20)", day)),
        ("pool_outlook() alone, SQL (each /metrics scrape)", sql("SELECT pool_outlook(%s)", day)),
        ("peer: counting the pool, SQL", sql(COUNT_THE_POOL)),
    )]
    app.extensions["store"].close()
    print_table(f"Status page on a pool of {pool:,} ({RUNS} runs each, median)", rows)


if __name__ == "__main__":
    main()
