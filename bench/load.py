"""List reads while scrapers post: cached pages' latency, and ingest throughput with and without readers.

Phases against one Gunicorn as deployed (its default workers and threads): readers alone, then
scrapers alone, both at once, both again, scrapers alone again. The tables grow with every phase and
the database's own chores (checkpoints, autovacuum) follow the writes, so the phases with and
without readers come in the order A B B A, which cancels a drift that is steady over the run. Scrapers (1000-profile batches, half JSON, half gzip NDJSON,
overlapping ids) and readers (walking a day's cached list page by page) run in processes of their
own, so neither side's client time lands in the other's figures. `python -m bench.load`, or
`python -m bench.run --only load`.
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import threading
import time
from pathlib import Path

from tests.conftest import fresh_database
from tests.load import LoadPlan, Traffic, arrange, read_lists, scrape
from tests.load_audit import percentile
from tests.servers import GunicornServer

from .serve import RATE_LIMITS_NEVER_REACHED

LOAD_DB = "scraper_bench_load"
# A target's worker reads its list at a worker's pace, not in a closed loop: 10 readers at 5 pages
# a second each are 50 pages a second, far more than 72 targets reading 200 profiles a day need.
READS_PER_SECOND = 5


def _clients(role: str, base_url: str, plan: LoadPlan, count: int, target_ids: list[int], out) -> None:
    """Run `count` scrapers or readers in threads of this process until plan.seconds pass; report."""
    traffic = Traffic(started=time.monotonic())
    deadline = traffic.started + plan.seconds
    work, extra = (scrape, ()) if role == "scrapers" else (read_lists, (target_ids,))
    threads = [threading.Thread(target=work, args=(base_url, plan, n, deadline, traffic, *extra), daemon=True)
               for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=plan.seconds + 120)
    elapsed = time.monotonic() - traffic.started
    received = sum(o.body["received"] for o in traffic.outcomes if o.acknowledged)
    reads = [a.seconds for a in traffic.reads if a.status == 200]
    out.put({"role": role, "profiles_per_s": round(received / elapsed),
             "failed": sum(not o.acknowledged for o in traffic.outcomes)
             + sum(a.status != 200 for a in traffic.reads),
             "reads": len(reads), "p50_ms": percentile(reads, 50), "p99_ms": percentile(reads, 99)})


def phase_plan(seconds: float, scrapers: int, readers: int, seed: int) -> LoadPlan:
    """One phase's load: ids from a space named by its seed, readers at a target's worker's pace."""
    return LoadPlan(seconds, scrapers, readers, seed=seed, id_prefix=f"P{seed}-", reads_per_second=READS_PER_SECOND)


def phase(base_url: str, plan: LoadPlan, target_ids: list[int]) -> dict:
    """One phase: plan.scrapers and plan.readers, each side in its own process."""
    out = multiprocessing.Queue()
    sides = [(role, count) for role, count in (("scrapers", plan.scrapers), ("readers", plan.readers)) if count]
    processes = [multiprocessing.Process(target=_clients, args=(role, base_url, plan, count, target_ids, out))
                 for role, count in sides]
    for process in processes:
        process.start()
    reports = {report["role"]: report for report in (out.get() for _ in processes)}
    for process in processes:
        process.join()
    scrapers, readers = reports.get("scrapers", {}), reports.get("readers", {})
    return {"scrapers": plan.scrapers, "readers": plan.readers,
            "ingest_profiles_per_s": scrapers.get("profiles_per_s"), "list_reads": readers.get("reads"),
            "list_p50_ms": readers.get("p50_ms"), "list_p99_ms": readers.get("p99_ms"),
            "failed_requests": scrapers.get("failed", 0) + readers.get("failed", 0)}


def run_reads_under_load(seconds: float = 20, scrapers: int = 40, readers: int = 10, **settings: str) -> list[dict]:
    """Readers alone, then scrapers alone, both, both, scrapers alone: one row each, and each row's
    ingest rate against the mean of the two phases without readers."""
    database_url = fresh_database(LOAD_DB)
    with tempfile.TemporaryDirectory(prefix="bench-load-") as workdir:
        server = GunicornServer(Path(workdir), database_url, **{
            "WEB_CONCURRENCY": "", "GUNICORN_THREADS": "", **RATE_LIMITS_NEVER_REACHED,
            "GUNICORN_MAX_REQUESTS": "0", **settings})
        for name in ("WEB_CONCURRENCY", "GUNICORN_THREADS"):  # the deployed defaults, not the tests' 2 x 2
            if not server.env[name]:
                del server.env[name]
        server.start()
        try:
            target_ids = arrange(server.url)
            # Each phase draws ids from a space of its own (the seed names it), so every ingest
            # phase adds as many new ids; the first, unmeasured, fills the readers' cache.
            run = lambda seed, s, r: phase(server.url, phase_plan(seconds, s, r, seed), target_ids)
            phase(server.url, phase_plan(2, 0, readers, 0), target_ids)
            rows = [run(1, 0, readers), run(2, scrapers, 0), run(3, scrapers, readers),
                    run(4, scrapers, readers), run(5, scrapers, 0)]
        finally:
            server.stop()
    alone = (rows[1]["ingest_profiles_per_s"] + rows[4]["ingest_profiles_per_s"]) / 2
    for row in rows:
        row["ingest_vs_without_readers"] = round(row["ingest_profiles_per_s"] / alone, 2) if row[
            "ingest_profiles_per_s"] and alone else None
    return rows


def main() -> None:
    """Command line: print the three phases."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--scrapers", type=int, default=40)
    parser.add_argument("--readers", type=int, default=10)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a server setting for this run, e.g. --set GUNICORN_THREADS=4")
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in args.set)
    for row in run_reads_under_load(args.seconds, args.scrapers, args.readers, **settings):
        print(row)


if __name__ == "__main__":
    main()
