"""Distribution benchmarks: the daily claim against the bare statement, and list reads over HTTP."""

from __future__ import annotations

import time
from datetime import date, timedelta
from statistics import median, quantiles
from typing import Callable

import orjson
import psycopg

from server.storage.migrate import apply_schema

from .aioclient import get_many
from .serve import gunicorn, request

BENCH_KEY = "bench-key-000001-not-secret"
COLD, HOT = "closed loop, cold (cache just invalidated)", "closed loop, hot (cached)"
FLOOR_HOT = "closed loop, empty Flask view (floor)"
PACED_COLD, PACED_HOT = "5 req/s per client, cold", "5 req/s per client, hot"
FLOOR_PACED = "5 req/s per client, empty Flask view (floor)"
TARGETS, QUOTA = 72, 200

# The bare statement: the same oldest-first claim of 14,400 unused profiles, marked used and dealt
# round-robin to the 72 targets, in one statement, without per-date locking, source filters,
# fair-shortfall groups or the run's summary.
_BARE_CLAIM = """
WITH picked AS (
    SELECT id, first_seen_at FROM global_usernames WHERE NOT used
    ORDER BY first_seen_at, id LIMIT %(total)s FOR UPDATE SKIP LOCKED
), marked AS (
    UPDATE global_usernames g SET used = true, used_at = now() FROM picked p
    WHERE g.id = p.id RETURNING g.id, g.first_seen_at
), dealt AS (
    SELECT id, row_number() OVER (ORDER BY first_seen_at, id) AS slot FROM marked
)
INSERT INTO distribution_assignments (run_date, target_id, profile_id)
SELECT %(day)s, t.id, d.id FROM dealt d
JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM distribution_targets) t
  ON t.k = (d.slot - 1) %% %(targets)s
"""


def populate(url: str, pool: int) -> None:
    """A pool of `pool` profiles, a third of them already used, and 72 targets of 200 a day."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE global_usernames, distribution_targets, distribution_assignments,"
                     " distribution_runs, raw_scraped_profiles, ingest_requests CASCADE")
        # Building the pool's indexes once after the load is several times faster than keeping
        # them up to date row by row; apply_schema below makes them again, exactly as deployed.
        for (index,) in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'global_usernames'"
                                     " AND indexname LIKE 'idx_%'").fetchall():
            conn.execute(f'DROP INDEX "{index}"')
        for start in range(0, pool, 500_000):  # bounded transactions
            conn.execute(
                "INSERT INTO global_usernames (id, username, source, first_seen_at, used, used_at)"
                " SELECT 'p' || i, 'user_' || i, 'instagram',"
                "        timestamptz '2026-01-01' + make_interval(secs => i), i %% 3 = 0,"
                "        CASE WHEN i %% 3 = 0 THEN timestamptz '2026-02-01' END"
                " FROM generate_series(%s::int, %s::int) AS i", [start, min(start + 500_000, pool) - 1])
        conn.execute("INSERT INTO distribution_targets (name, daily_quota)"
                     " SELECT 'target-' || n, %s FROM generate_series(1, %s) AS n", [QUOTA, TARGETS])
    apply_schema(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE global_usernames")
        # The load wrote gigabytes of WAL: flush it now, or the timed claims pay for the checkpoint
        # it triggers (a daily claim does not run right after loading millions of rows).
        conn.execute("CHECKPOINT")


def _claim_once(url: str, sql: str, params: dict) -> float:
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        conn.execute(sql, params)
        conn.commit()
        elapsed = time.perf_counter() - started
        assigned = conn.execute("SELECT count(*) FROM distribution_assignments WHERE run_date = %s",
                                [params["day"]]).fetchone()[0]
    if assigned != TARGETS * QUOTA:
        raise RuntimeError(f"claim assigned {assigned}, expected {TARGETS * QUOTA}")
    return elapsed


def run_claim(url: str, runs: int) -> list[dict]:
    """Median seconds of our claim (the SQL function the endpoint calls) and of the bare statement."""
    days = iter(date(2026, 3, 1) + timedelta(days=n) for n in range(2 * runs))
    ours, bare = [], []

    def run_ours() -> None:
        ours.append(_claim_once(url, "SELECT distribution_run(%(day)s, false)", {"day": next(days)}))

    def run_bare() -> None:
        bare.append(_claim_once(url, _BARE_CLAIM, {"day": next(days), "total": TARGETS * QUOTA,
                                                   "targets": TARGETS}))

    for number in range(runs):  # alternated, each first in turn: a slow spell falls on both alike
        for action in ((run_ours, run_bare) if number % 2 == 0 else (run_bare, run_ours)):
            action()
    ours_s, bare_s = median(ours), median(bare)
    return [{"contender": "distribution_run() (the endpoint's claim)", "median_ms": round(ours_s * 1000),
             "vs_bare": round(ours_s / bare_s, 2)},
            {"contender": "bare UPDATE ... INSERT statement", "median_ms": round(bare_s * 1000),
             "vs_bare": 1.0}]


def _read_all(port: int, paths: list[str], clients: int, rounds: int,
              per_client_rate: float | None = None) -> tuple[list[float], float]:
    """Every path `rounds` times over `clients` connections; (latencies in s, wall seconds)."""
    return get_many(port, paths * rounds, clients, {"Authorization": f"Bearer {BENCH_KEY}"},
                    per_client_rate)


def _page_paths(port: int, day: str, limit: int) -> tuple[list[str], list[str]]:
    """Every page of every target's list for `day`, following the cursors once; and one profile id
    of each target (a status update for all of them invalidates every page)."""
    headers = {"Authorization": f"Bearer {BENCH_KEY}"}
    targets = orjson.loads(request(port, "GET", "/api/targets", headers=headers)[1])["items"]
    paths, one_each = [], []
    for target in (t["id"] for t in targets):
        path = first = f"/api/distribution/{day}?target={target}&limit={limit}"
        while path:
            paths.append(path)
            status, body = request(port, "GET", path, headers=headers)
            page = orjson.loads(body) if status == 200 else {"items": [], "next_cursor": None}
            if path == first and page["items"]:
                one_each.append(page["items"][0]["profile_id"])
            cursor = page["next_cursor"]
            path = f"/api/distribution/{day}?target={target}&limit={limit}&cursor={cursor}" if cursor else None
    return paths, one_each


def run_lists(url: str, clients: int = 50, limit: int = 50, rounds: int = 3) -> list[dict]:
    """List reads of a day's 14,400 assignments through Gunicorn: cold (cache just invalidated) and
    hot, and the same hot reads of an empty Flask view (the floor of Gunicorn, Flask and the client)."""
    headers = {"Authorization": f"Bearer {BENCH_KEY}", "Content-Type": "application/json"}
    with gunicorn(url, f"{BENCH_KEY}:distribute") as (port, _):
        status, body = request(port, "POST", "/api/distribution/run", b'{"date": "2026-04-01"}', headers)
        if status != 200:
            raise RuntimeError(f"run answered {status}: {body[:200]!r}")
        day = "2026-04-01"
        paths, one_each = _page_paths(port, day, limit)
        page = request(port, "GET", paths[0], headers=headers)[1]
        invalidate: Callable[[], None] = lambda: request(  # touching every target drops every page
            port, "POST", "/api/distribution/status",
            orjson.dumps({"updates": [{"profile_id": p, "status": "assigned"} for p in one_each]}), headers)
        runs: dict[str, tuple[list[float], float]] = {}

        def measure(name: str, server_port: int, passes: int, rate: float | None = None) -> None:
            latencies, wall = _read_all(server_port, paths, clients, passes, rate)
            before = runs.get(name, ([], 0.0))
            runs[name] = (before[0] + latencies, before[1] + wall)

        with gunicorn(url, "", app="bench.empty_app:app", BENCH_PAGE_HEX=page.hex()) as (floor_port, _):
            for _ in range(rounds):  # taking turns: a slow spell of the machine falls on both
                invalidate()
                measure(COLD, port, 1)
                measure(HOT, port, 4)
                measure(FLOOR_HOT, floor_port, 4)
            invalidate()
            measure(PACED_COLD, port, 1, 5)
            measure(PACED_HOT, port, 2, 5)
            measure(FLOOR_PACED, floor_port, 2, 5)
    rows = []
    for name, (latencies, wall) in runs.items():
        cuts = quantiles(latencies, n=100)
        rows.append({"reads": name, "requests": len(latencies), "clients": clients, "page_size": limit,
                     "p50_ms": round(cuts[49] * 1000, 1), "p99_ms": round(cuts[98] * 1000, 1),
                     "requests_per_s": round(len(latencies) / wall)})
    return rows
