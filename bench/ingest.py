"""Ingest benchmarks: our HTTP endpoint in three shapes against the peers, same rows, same run."""

from __future__ import annotations

import queue
import tempfile
import threading
import time
from pathlib import Path
from statistics import median
from typing import Callable

import orjson
import psycopg

from . import peers
from .dataset import Dataset, make_dataset
from .serve import gunicorn, request, worker_peak_rss_mb

BENCH_KEY = "bench-key-000001-not-secret"
# The single-request contenders whose worker peak RSS is reported, and the body each sends.
RSS_BODIES = {"http NDJSON+gzip, 1 request": "NDJSON+gzip", "http JSON, 1 request": "JSON"}


def _post(port: int, body: bytes, **headers: str) -> dict:
    status, reply = request(port, "POST", "/api/ingest", body, {
        "Authorization": f"Bearer {BENCH_KEY}", "Content-Type": "application/json", **headers})
    if status != 200:
        raise RuntimeError(f"ingest answered {status}: {reply[:300]!r}")
    return orjson.loads(reply)


def http_json(port: int, body: bytes) -> None:
    _post(port, body)


def http_ndjson_gzip(port: int, body: bytes) -> None:
    _post(port, body, **{"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"})


def http_eight_clients(port: int, bodies: list[bytes]) -> None:
    """8 threads posting 1000-profile JSON requests until the job is done."""
    work: queue.Queue[bytes] = queue.Queue()
    for body in bodies:
        work.put(body)
    failures: list[Exception] = []

    def client() -> None:
        while True:
            try:
                body = work.get_nowait()
            except queue.Empty:
                return
            try:
                _post(port, body)
            except Exception as exc:  # noqa: BLE001 (reported after the run)
                failures.append(exc)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


LIMIT = "limit: psql \\copy, lean schema"
FLOOR = "floor: psql \\copy + SQL, our tables"
TABLES = {LIMIT: ("lean.raw", "lean.pool")}  # every other contender writes our own tables


def check_tables(url: str, data: Dataset, name: str) -> None:
    """Every contender must leave the same rows: each valid profile raw, each id once in the pool."""
    valid = len(data.valid)
    raw_table, pool_table = TABLES.get(name, ("raw_scraped_profiles", "global_usernames"))
    with psycopg.connect(url) as conn:
        raw = conn.execute(f"SELECT count(*) FROM {raw_table}").fetchone()[0]
        pool = conn.execute(f"SELECT count(*) FROM {pool_table}").fetchone()[0]
    if (raw, pool) != (valid, valid):
        raise RuntimeError(f"{name}: expected {valid} raw rows and pool rows, found {raw} and {pool}")


def timed(url: str, data: Dataset, name: str, action: Callable[[], None]) -> float:
    """Seconds of one run from the same starting tables; the result checked afterwards."""
    peers.reset(url, data)
    start = time.perf_counter()
    action()
    seconds = time.perf_counter() - start
    check_tables(url, data, name)
    return seconds


def run_ingest(url: str, psql: Path, sizes: list[int], runs: int) -> tuple[list[dict], list[dict]]:
    """Every contender at every size: (rows/s and ratios against the limit, the floor and SQLAlchemy, peak RSS).

    The contenders take turns, one run each per round, so a machine that slows down for a while
    slows all of them alike. Each size gets a fresh Gunicorn, and in the first round the
    single-request contenders go first, NDJSON before JSON, so the workers' peak RSS read after
    each is that body's peak for this size.
    """
    rows, rss = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            data = make_dataset(size)
            # Every contender's input is made before the clock runs: the peers' CSV, our request bodies.
            csv_path = data.write_stage_csv(Path(tmp) / f"stage-{size}.csv")
            ndjson_body, json_body, json_chunks = data.ndjson_gzip_body(), data.json_body(), data.json_chunks(1000)
            with gunicorn(url, f"{BENCH_KEY}:ingest") as (port, master):
                contenders: dict[str, Callable[[], None]] = {
                    "http NDJSON+gzip, 1 request": lambda: http_ndjson_gzip(port, ndjson_body),
                    "http JSON, 1 request": lambda: http_json(port, json_body),
                    "http JSON, 8 clients x 1000": lambda: http_eight_clients(port, json_chunks),
                    LIMIT: lambda: peers.limit(url, psql, csv_path),
                    FLOOR: lambda: peers.floor(url, psql, csv_path),
                    "SQLAlchemy executemany": lambda: peers.sqlalchemy_executemany(url, data),
                }
                if size <= 50_000:  # slow peers stay at sizes where they take seconds, not minutes
                    contenders["seed 000 shape"] = lambda: peers.seed_shape(url, data)
                if size <= 5000:
                    contenders["per-row INSERT+SELECT"] = lambda: peers.per_row(url, data)
                times: dict[str, list[float]] = {name: [] for name in contenders}
                for round_number in range(runs):
                    for name, action in contenders.items():
                        times[name].append(timed(url, data, name, action))
                        if round_number == 0 and name in RSS_BODIES and size == sizes[-1]:
                            rss.append({"size": size, "body": RSS_BODIES[name],
                                        "worker_peak_rss_mb": round(worker_peak_rss_mb(master), 1)})
            seconds = {name: median(runs_s) for name, runs_s in times.items()}
            limit_s, floor_s = seconds[LIMIT], seconds[FLOOR]
            orm_s = seconds["SQLAlchemy executemany"]
            for name, secs in seconds.items():
                rows.append({"size": size, "contender": name, "median_s": round(secs, 3),
                             "rows_per_s": round(len(data.valid) / secs),
                             "vs_limit": round(limit_s / secs, 2), "vs_floor": round(floor_s / secs, 2),
                             "vs_sqlalchemy": round(orm_s / secs, 2),
                             "runs_s": [round(t, 2) for t in times[name]]})
    return rows, rss
