"""Load check: scrapers posting overlapping batches and list readers against real Gunicorn, then an audit.

`python -m tests.load` (what `make reliability` runs) starts a fresh database and Gunicorn, runs
100 scrapers posting 1000-profile batches and 20 list readers for 60 s, and exits 1 when any
request got a 5xx, any batch stayed unacknowledged, or the tables do not hold exactly what the 2xx
responses reported. tests/test_load.py runs the same check for a few seconds with fewer clients.
Traffic goes to 127.0.0.1 only; every client loop ends by its deadline and its request count.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from .conftest import DISTRIBUTE_KEY, fresh_database
from .load_audit import Baseline, audit, percentile
from .scraper import Attempt, Outcome, Scraper, encode, overlapping_batch, timed_get
from .servers import GunicornServer

LOAD_DB = "scraper_load"
LIST_DATE = "2026-06-01"
PAGE_LIMITS = (50, 100, 200)
# Gunicorn as deployed on a 2-core machine; limits off, because 100 scrapers share one test key.
SERVER_SETTINGS = {"WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "4", "RATELIMIT_ENABLED": "false",
                   "GUNICORN_MAX_REQUESTS": "0"}


@dataclass
class LoadPlan:
    """How much load, for how long."""

    seconds: float = 60.0
    scrapers: int = 100
    readers: int = 20
    batch_size: int = 1000
    id_space: int = 200_000
    max_requests_per_client: int = 10_000  # a second bound besides the clock
    seed: int = 7
    id_prefix: str = "L"  # the id space's name: runs against one server draw from spaces of their own
    reads_per_second: float | None = None  # per reader; None reads in a closed loop


@dataclass
class Traffic:
    """What the clients saw, collected from every thread."""

    outcomes: list[Outcome] = field(default_factory=list)
    reads: list[Attempt] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def arrange(base_url: str, targets: int = 20, quota: int = 50) -> list[int]:
    """Targets, a seed pool and a run of LIST_DATE, so the readers have lists to page through;
    returns the targets' ids."""
    headers = {"Authorization": f"Bearer {DISTRIBUTE_KEY}"}
    target_ids = []
    with httpx.Client(base_url=base_url, timeout=60, headers=headers) as client:
        for number in range(targets):
            response = client.post("/api/targets", json={"name": f"load-target-{number}", "daily_quota": quota})
            response.raise_for_status()
            target_ids.append(response.json()["id"])
        scraper = Scraper(base_url)
        try:
            items = overlapping_batch(random.Random(0), targets * quota * 2, targets * quota * 2, prefix="seed")
            if not scraper.post(*encode(items, "json"), key="load-seed").acknowledged:
                raise RuntimeError("the seed batch was not acknowledged")
        finally:
            scraper.close()
        client.post("/api/distribution/run", json={"date": LIST_DATE}).raise_for_status()
    return target_ids


def scrape(base_url: str, plan: LoadPlan, number: int, deadline: float, traffic: Traffic) -> None:
    """One scraper: batches from the shared id space until the deadline, each retried until answered."""
    rng = random.Random(plan.seed * 1000 + number)
    kind = "json" if number % 2 == 0 else "ndjson.gz"
    scraper = Scraper(base_url, give_up_after=60.0)
    try:
        for sequence in range(plan.max_requests_per_client):
            if time.monotonic() >= deadline:
                break
            body, headers = encode(overlapping_batch(rng, plan.batch_size, plan.id_space, plan.id_prefix), kind)
            outcome = scraper.post(body, headers, key=f"load-{plan.id_prefix}-{number}-{sequence}")
            with traffic.lock:
                traffic.outcomes.append(outcome)
    finally:
        scraper.close()


def read_lists(base_url: str, plan: LoadPlan, number: int, deadline: float, traffic: Traffic,
               target_ids: list[int]) -> None:
    """One list reader: walks LIST_DATE's list (all targets or one) page by page until the deadline,
    a page every 1 / plan.reads_per_second s when that is set (a target's worker), else at once."""
    rng = random.Random(plan.seed * 1000 + 500 + number)
    headers = {"Authorization": f"Bearer {DISTRIBUTE_KEY}"}
    pace = 1 / plan.reads_per_second if plan.reads_per_second else 0.0
    with httpx.Client(base_url=base_url, timeout=60, headers=headers) as client:
        cursor, params, due = None, {}, time.monotonic() + rng.random() * pace
        for _ in range(plan.max_requests_per_client):
            if due >= deadline or time.monotonic() >= deadline:
                break
            time.sleep(max(0.0, due - time.monotonic()))
            due += pace
            if cursor is None:  # start a new walk
                params = {"limit": rng.choice(PAGE_LIMITS)}
                if rng.random() < 0.5:
                    params["target"] = rng.choice(target_ids)
            attempt, response = timed_get(client, f"/api/distribution/{LIST_DATE}",
                                          **params, **({"cursor": cursor} if cursor else {}))
            cursor = response.json()["next_cursor"] if attempt.status == 200 else None
            with traffic.lock:
                traffic.reads.append(attempt)


def run_load(base_url: str, database_url: str, plan: LoadPlan) -> dict:
    """Arrange, run every client until plan.seconds have passed, audit the tables; return the report."""
    target_ids = arrange(base_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        baseline = Baseline.measure(conn)
    traffic = Traffic(started=time.monotonic())
    deadline = traffic.started + plan.seconds
    threads = [threading.Thread(target=scrape, args=(base_url, plan, n, deadline, traffic), daemon=True)
               for n in range(plan.scrapers)]
    threads += [threading.Thread(target=read_lists, args=(base_url, plan, n, deadline, traffic, target_ids),
                                 daemon=True) for n in range(plan.readers)]
    for thread in threads:
        thread.start()
    for thread in threads:  # a request in flight at the deadline finishes, within the client's bounds
        thread.join(timeout=plan.seconds + 180)
    traffic.finished = time.monotonic()
    with psycopg.connect(database_url, autocommit=True) as conn:
        report = audit(conn, baseline, traffic.outcomes)
    report.update(traffic_figures(traffic, plan))
    report["threads_still_running"] = sum(thread.is_alive() for thread in threads)
    report["passed"] = passed(report)
    return report


def traffic_figures(traffic: Traffic, plan: LoadPlan) -> dict:
    """Throughput and latency, counted from what the clients saw."""
    elapsed = traffic.finished - traffic.started
    attempts = [a for o in traffic.outcomes for a in o.attempts]
    acknowledged = [o for o in traffic.outcomes if o.acknowledged]
    received = sum(o.body["received"] for o in acknowledged)
    answered = [a.seconds for a in attempts if a.status is not None]
    reads = [a.seconds for a in traffic.reads if a.status is not None]
    return {
        "seconds": round(elapsed, 1), "scrapers": plan.scrapers, "readers": plan.readers,
        "batch_size": plan.batch_size,
        "ingest_requests": len(attempts), "batches_acknowledged": len(acknowledged),
        "batches_unacknowledged": len(traffic.outcomes) - len(acknowledged),
        "retries": len(attempts) - len(traffic.outcomes),
        "profiles_per_second": round(received / elapsed), "batches_per_second": round(len(acknowledged) / elapsed, 1),
        "ingest_p50_ms": percentile(answered, 50), "ingest_p99_ms": percentile(answered, 99),
        "ingest_max_ms": percentile(answered, 100),
        "list_reads": len(traffic.reads), "list_reads_per_second": round(len(traffic.reads) / elapsed, 1),
        "list_p50_ms": percentile(reads, 50), "list_p99_ms": percentile(reads, 99),
        "status_5xx": sum(1 for a in attempts + traffic.reads if a.status is not None and a.status >= 500),
        "other_non_2xx": sum(1 for a in attempts + traffic.reads
                             if a.status is not None and not (a.status < 300 or a.status >= 500)),
        "transport_errors": sum(1 for a in attempts + traffic.reads if a.status is None),
        # Every answer and lost connection by kind, for reading a failure.
        "answers": dict(Counter(str(a.status or a.transport_error) for a in attempts + traffic.reads)),
    }


def passed(report: dict) -> bool:
    """The load held: no 5xx, everything answered and acknowledged, and the tables agree."""
    return (report["status_5xx"] == 0 and report["transport_errors"] == 0 and report["other_non_2xx"] == 0
            and report["batches_unacknowledged"] == 0 and report["batches_acknowledged"] > 0
            and report["list_reads"] > 0 and not report["mismatches"] and report["threads_still_running"] == 0)


def main(argv: list[str] | None = None) -> int:
    """Command line: run the check against a fresh database and Gunicorn; exit 0 when it held."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=LoadPlan.seconds)
    parser.add_argument("--scrapers", type=int, default=LoadPlan.scrapers)
    parser.add_argument("--readers", type=int, default=LoadPlan.readers)
    parser.add_argument("--batch-size", type=int, default=LoadPlan.batch_size)
    parser.add_argument("--id-space", type=int, default=LoadPlan.id_space)
    parser.add_argument("--json", type=Path, help="also write the report to this file")
    args = parser.parse_args(argv)
    plan = LoadPlan(seconds=args.seconds, scrapers=args.scrapers, readers=args.readers,
                    batch_size=args.batch_size, id_space=args.id_space)
    database_url = fresh_database(LOAD_DB)
    with tempfile.TemporaryDirectory(prefix="load-") as workdir:
        server = GunicornServer(Path(workdir), database_url, **SERVER_SETTINGS).start()
        try:
            report = run_load(server.url, database_url, plan)
        finally:
            server.stop()
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    print("PASS: the load held" if report["passed"] else "FAIL: see the report above", file=sys.stderr)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
