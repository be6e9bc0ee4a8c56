"""Retention at a month of raw rows: dropping the month's partition against deleting its rows.

A month of raw rows is generated straight into its partition (500,000 profiles a day make about
15 million a month), then removed twice, the two ways taking turns on the same rows:

- `drop`: what the clean-up does now, `retention_batch()`, which drops the month's partition;
- `delete`: what it did before partitions, batched `DELETE`s of `CLEANUP_BATCH_SIZE` rows in
  key order on a plain table (the rows moved to the default partition, which is deleted that way).
  Deleting every row takes minutes at this size, so it is timed on the first `--delete-sample` rows
  and the whole is extrapolated from that rate (said so in the output).

Beside them, a page of the admin raw listing in the middle of the month, with the month in place:
the listing reads the key in order, whatever the table holds. `python -m bench.retention [ROWS]`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from statistics import median

import psycopg

from server.storage import embedded

ROOT = Path(__file__).resolve().parents[1]
BENCH_DB = "scraper_bench_retention"
MONTH, NEXT_MONTH = "2026-01-01", "2026-02-01"
BATCH = 5000
GENERATE = """
INSERT INTO {table} (created_at, ingest_id, position, profile_id, username, full_name, source, profile)
SELECT %(month)s::timestamptz + (n / 1000) * %(step)s * interval '1 second',
       ('01a00000-0000-7000-8000-' || lpad(to_hex(n / 1000), 12, '0'))::uuid, n %% 1000,
       'p' || n, 'user_' || n, 'Person ' || n, 'bench', jsonb_build_object('id', 'p' || n, 'followers', n %% 977)
FROM generate_series(0, %(rows)s - 1) n
"""


def generate(conn: psycopg.Connection, rows: int, table: str) -> None:
    """`rows` raw rows spread over the month, 1000 per ingest, written into `table`."""
    step = 31 * 86400 / max(1, rows // 1000)
    conn.execute(GENERATE.format(table=table), {"month": MONTH, "rows": rows, "step": step})
    conn.execute(f"VACUUM ANALYZE {table}")


def listing_ms(conn: psycopg.Connection) -> float:
    """Median ms of a 100-row page of the raw listing, mid-month, over 20 pages."""
    times = []
    for day in range(5, 25):
        start = time.perf_counter()
        conn.execute("SELECT list_raw_profiles(%s::timestamptz, %s::timestamptz + interval '1 day',"
                     " NULL, NULL, NULL, 100)", [f"2026-01-{day:02d}", f"2026-01-{day:02d}"]).fetchone()
        times.append((time.perf_counter() - start) * 1000)
    return round(median(times), 2)


def run_retention(rows: int, delete_sample: int) -> list[dict]:
    """Both ways on `rows` rows; rows of the table printed by `make bench`."""
    url = embedded.fresh_database(ROOT / ".data", BENCH_DB)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT ensure_raw_partitions(%s, 1)", [MONTH])
        generate(conn, rows, "raw_partitions.raw_scraped_profiles_202601")
        page_ms = listing_ms(conn)
        start = time.perf_counter()
        dropped = conn.execute("SELECT retention_batch(%s, now(), %s)", [NEXT_MONTH, BATCH]).fetchone()[0]
        drop_s = time.perf_counter() - start
        # The same rows in a plain table (the default partition, as an upgraded database holds them).
        generate(conn, rows, "raw_partitions.raw_scraped_profiles_default")
        deleted, start = 0, time.perf_counter()
        while deleted < min(rows, delete_sample):
            deleted += conn.execute("SELECT retention_batch(%s, now(), %s)",
                                    [NEXT_MONTH, BATCH]).fetchone()[0]["raw_deleted"]
        delete_s = (time.perf_counter() - start) * rows / deleted
    return [{"way": "drop the month's partition", "rows": dropped["raw_deleted"], "seconds": round(drop_s, 2),
             "listing_page_ms": page_ms},
            {"way": f"batched DELETE of {BATCH} (timed on {deleted:,} rows, extrapolated)", "rows": rows,
             "seconds": round(delete_s, 1), "listing_page_ms": None},
            {"way": "drop vs delete", "rows": rows, "seconds": f"{delete_s / drop_s:.0f}x faster",
             "listing_page_ms": None}]


def main() -> None:
    """Command line: generate, remove both ways, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int, nargs="?", default=15_000_000)
    parser.add_argument("--delete-sample", type=int, default=1_000_000)
    args = parser.parse_args()
    from .run import print_table  # noqa: PLC0415 (bench.run imports this module)

    print_table(f"Removing a month of {args.rows:,} raw rows", run_retention(args.rows, args.delete_sample))


if __name__ == "__main__":
    main()
