"""Daily distribution on a large pool: the claim, statistics and cached lists, against their peers.

    .venv/bin/python -m bench.bench_distribution [--pool 1000000] [--targets 72] [--quota 200]

Builds a pool in its own database on the embedded server, then times, in the same run: the daily
claim; the statistics against counting the pool directly; a list page from the database against the
same page from the cache; one bulk status update and one release of the whole day.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from contextlib import contextmanager
from datetime import date

import psycopg

from server import create_app, tasks
from server.storage import embedded

DATABASE = "bench_distribution"
API_KEY = "bench-key-000001-not-secret"


def _populate(url: str, pool: int, targets: int, quota: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for start in range(0, pool, 250_000):  # several statements keep each transaction modest
            conn.execute("INSERT INTO global_usernames (id, username, source, first_seen_at)"
                         " SELECT 'p' || i, 'user_' || i, (ARRAY['instagram', 'tiktok'])[1 + i %% 2],"
                         "        timestamptz '2026-01-01' + make_interval(secs => i)"
                         " FROM generate_series(%s::int, %s::int) AS i",
                         [start, min(start + 250_000, pool) - 1])
        conn.execute("INSERT INTO distribution_targets (name, daily_quota)"
                     " SELECT 'target-' || n, %s FROM generate_series(1, %s) AS n", [quota, targets])
        conn.execute("VACUUM ANALYZE global_usernames")


@contextmanager
def _timed(results: dict, name: str):
    started = time.perf_counter()
    yield
    results[name] = time.perf_counter() - started


def _median(call, repeat: int = 20) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    """Run the benchmark and print seconds and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=1_000_000)
    parser.add_argument("--targets", type=int, default=72)
    parser.add_argument("--quota", type=int, default=200)
    parser.add_argument("--data-dir", default=".data")
    args = parser.parse_args()
    url = embedded.fresh_database(args.data_dir, DATABASE)
    _populate(url, args.pool, args.targets, args.quota)
    day = date(2026, 3, 2)
    with tempfile.TemporaryDirectory() as cache_dir:
        app = create_app({"STORAGE_BACKEND": "postgres", "DATABASE_URL": url, "CACHE_DIR": cache_dir,
                          "API_KEYS": f"{API_KEY}:distribute", "RATELIMIT_ENABLED": False})
        client, headers, results = app.test_client(), {"Authorization": f"Bearer {API_KEY}"}, {}
        with _timed(results, "claim"):
            summary = client.post("/api/distribution/run", json={"date": day.isoformat()},
                                  headers=headers).get_json()
        with psycopg.connect(url) as conn:
            results["stats"] = _median(lambda: conn.execute(
                "SELECT distribution_stats(%s, 30, 'UTC')", [day]).fetchone())
            results["count(*) of the pool"] = _median(lambda: conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE used) FROM global_usernames").fetchone(), 5)
        page = f"/api/distribution/{day}?limit=1000"
        store = app.extensions["store"].get()
        results["list page, database"] = _median(lambda: store.list_assignments(day, None, (0, 0), 1001))
        client.get(page, headers=headers)
        results["list page, cache"] = _median(lambda: client.get(page, headers=headers))
        updates = [{"profile_id": f"p{i}", "status": "sent"} for i in range(0, summary["assigned"], 2)]
        with _timed(results, f"status update x{len(updates)}"):
            client.post("/api/distribution/status", json={"updates": updates}, headers=headers)
        with app.app_context(), _timed(results, "release of the day"):
            released = tasks.release_unsent(max(1, (date.today() - day).days - 1))
        app.extensions["store"].close()
    print(f"pool {args.pool:,}; claimed {summary['claimed']:,} for {args.targets} targets; "
          f"released {released['released']:,}")
    for name, seconds in results.items():
        print(f"  {name:<28} {seconds * 1000:10.1f} ms")
    ratio = results["count(*) of the pool"] / results["stats"]
    print(f"  stats vs count(*) of the pool: {ratio:.0f}x faster")
    print(f"  cached page vs database page: "
          f"{results['list page, database'] / results['list page, cache']:.1f}x faster")
    with psycopg.connect(embedded.ensure_running(args.data_dir), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


if __name__ == "__main__":
    main()
