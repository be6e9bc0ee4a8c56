"""Supabase's REST path: our ingest beside seed 000's shape and raw inserts alone, all three
through the strict PostgREST stand-in served over HTTP on loopback (TCP_NODELAY, keep-alive, a
transaction and connection per request), on the same embedded PostgreSQL, taking turns.

On hosted Supabase every request is also a network round trip, so requests per 1000 profiles set
the speed there; they are reported beside rows/s.

    .venv/bin/python -m bench.supabase_rest [profiles] [rounds]
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid

import httpx
import orjson
import psycopg

from server import create_app
from tests.conftest import Ingest
from tests.supabase.conftest import supabase_config
from tests.supabase.fake_postgrest import SERVICE_KEY
from tests.supabase.gateway_http import GatewayProcess
from tests.supabase.supabase_db import supabase_database

from .dataset import Dataset, make_dataset

BENCH_DB = "bench_supabase"
CHUNK = 1000
HEADERS = {"apikey": SERVICE_KEY, "Authorization": f"Bearer {SERVICE_KEY}"}
RAW_COLUMNS = "ingest_id,position,profile_id,username,full_name,source,scraped_at,profile"


def reset(url: str, data: Dataset) -> None:
    """Empty tables, then the job's pre-seeded ids in the pool (20% of the job)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE raw_scraped_profiles, global_usernames, ingest_requests, ingest_claims,"
                     " pool_count_deltas CASCADE")
        conn.execute("INSERT INTO global_usernames (id, username) SELECT i, i FROM unnest(%s::text[]) i",
                     [data.preseeded_ids])
        conn.execute("VACUUM ANALYZE raw_scraped_profiles, global_usernames")


def raw_rows(rows: list[dict], start: int, ingest_id: str) -> list[dict]:
    return [{"ingest_id": ingest_id, "position": start + n, "profile_id": p["id"], "username": p["username"],
             "full_name": p["full_name"], "source": "bench", "scraped_at": p["scraped_at"], "profile": p}
            for n, p in enumerate(rows)]


def ours(base: str, data: Dataset) -> None:
    """POST /api/ingest of the job as one NDJSON request, through the app's REST backend."""
    app = create_app(supabase_config("", SUPABASE_URL=base, LOG_LEVEL="warning", STORAGE_BACKEND="supabase",
                                     DATABASE_URL=""))
    try:
        body = b"".join(orjson.dumps(p) + b"\n" for p in data.profiles)
        response = Ingest(app.test_client()).raw(body, "application/x-ndjson")
        assert response.status_code == 200, response.get_json()
    finally:
        app.extensions["store"].close()


def seed_shape(base: str, data: Dataset) -> None:
    """Seed 000's fix: per 1000 rows an `in_` look-up, the raw insert, then the new ids' insert."""
    ingest_id, seen = str(uuid.uuid4()), set()
    with httpx.Client(base_url=base + "/rest/v1", headers=HEADERS, timeout=60) as http:
        valid = data.valid
        for start in range(0, len(valid), CHUNK):
            rows = valid[start:start + CHUNK]
            ids = ",".join(p["id"] for p in rows)
            existing = {r["id"] for r in http.get("/global_usernames", params={
                "select": "id", "id": f"in.({ids})"}).raise_for_status().json()}
            http.post("/raw_scraped_profiles", params={"columns": RAW_COLUMNS},
                      content=orjson.dumps(raw_rows(rows, start, ingest_id)),
                      headers={"Prefer": "return=minimal"}).raise_for_status()
            new = [p for p in rows if p["id"] not in existing and p["id"] not in seen]
            seen.update(p["id"] for p in new)
            if new:
                http.post("/global_usernames", params={"columns": "id,username,full_name,source",
                                                       "on_conflict": "id"},
                          content=orjson.dumps([{"id": p["id"], "username": p["username"],
                                                 "full_name": p["full_name"], "source": "bench"} for p in new]),
                          headers={"Prefer": "return=minimal,resolution=ignore-duplicates"}).raise_for_status()


def raw_only(base: str, data: Dataset) -> None:
    """The least any REST ingest sends: the raw rows, 1000 a request, nothing else."""
    ingest_id = str(uuid.uuid4())
    with httpx.Client(base_url=base + "/rest/v1", headers=HEADERS, timeout=60) as http:
        for start in range(0, len(data.valid), CHUNK):
            http.post("/raw_scraped_profiles", params={"columns": RAW_COLUMNS},
                      content=orjson.dumps(raw_rows(data.valid[start:start + CHUNK], start, ingest_id)),
                      headers={"Prefer": "return=minimal"}).raise_for_status()


CONTENDERS = {"ours: 1 request per chunk": ours, "seed 000 shape": seed_shape, "raw inserts alone": raw_only}


def run_supabase_rest(size: int = 50_000, rounds: int = 3, latencies_ms: tuple[float, ...] = (0, 50)) -> list[dict]:
    """Each contender `rounds` times per latency, taking turns; median rows/s of valid profiles.

    Latency 0 is loopback, where a request costs only the work it carries; 50 ms delays every
    answer as a round trip to a hosted project in another region would.
    """
    url = supabase_database(BENCH_DB)
    data = make_dataset(size, seed_tag="s")
    rows = []
    for latency in latencies_ms:
        times: dict[str, list[float]] = {name: [] for name in CONTENDERS}
        requests: dict[str, int] = {}
        with GatewayProcess(url, latency_ms=latency) as gateway:
            for _ in range(rounds):
                for name, contender in CONTENDERS.items():
                    reset(url, data)
                    before, started = gateway.handled(), time.perf_counter()
                    contender(gateway.url, data)
                    times[name].append(time.perf_counter() - started)
                    requests[name] = gateway.handled() - before
        rates = {name: len(data.valid) / statistics.median(runs) for name, runs in times.items()}
        ours_rate = rates["ours: 1 request per chunk"]
        rows += [{"latency ms": latency, "contender": name, "rows/s": round(rate),
                  "requests per 1000": round(requests[name] * 1000 / size, 2),
                  "ours vs it": round(ours_rate / rate, 2),
                  "runs, s": ", ".join(f"{t:.2f}" for t in times[name])} for name, rate in rates.items()]
    return rows


if __name__ == "__main__":
    from .run import print_table

    size = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    print_table(f"Supabase REST path, {size:,} profiles (20% pooled, 2% invalid)",
                run_supabase_rest(size, int(sys.argv[2]) if len(sys.argv) > 2 else 3))
