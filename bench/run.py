"""`make bench`: run the benchmarks, print the tables, write bench/results/<date>.json."""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

from server.storage import embedded

from .distribution import populate, run_claim, run_lists
from .ingest import run_ingest
from .load import run_reads_under_load
from .retention import run_retention
from .supabase_rest import run_supabase_rest

ROOT = Path(__file__).resolve().parents[1]
BENCH_DB = "scraper_bench"


def bench_database() -> str:
    """A fresh benchmark database on the embedded PostgreSQL, schema applied."""
    return embedded.fresh_database(ROOT / ".data", BENCH_DB)


def psql_binary() -> Path:
    """The psql that ships with the embedded server, so the floor needs no system install."""
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH) / "psql"


def print_table(title: str, rows: list[dict]) -> None:
    """Print rows as an aligned text table."""
    if not rows:
        return
    columns = list(rows[0])
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    print(f"\n{title}")
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in rows:
        print("  ".join(str(row[c]).ljust(w) for c, w in zip(columns, widths)))


def main() -> None:
    """Parse arguments, run what was asked, report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes only (a minute or two)")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; the median is reported")
    parser.add_argument("--only", choices=["ingest", "distribution", "supabase", "load", "retention"], help="run one part only")
    parser.add_argument("--sizes", type=lambda text: [int(n) for n in text.split(",")],
                        help="ingest job sizes, comma-separated (default 5000,50000,500000)")
    args = parser.parse_args()
    sizes = args.sizes or ([5_000, 50_000] if args.quick else [5_000, 50_000, 500_000])
    url = bench_database()
    results = {"date": datetime.date.today().isoformat(), "quick": args.quick, "runs": args.runs}
    if args.only in (None, "ingest"):
        results["ingest"], results["rss"] = run_ingest(url, psql_binary(), sizes, args.runs)
        print_table("Ingest (rows/s of valid profiles; vs_limit, vs_floor and vs_sqlalchemy > 1 means faster than it)",
                    results["ingest"])
        print_table("Gunicorn worker peak RSS", results["rss"])
    if args.only in (None, "supabase"):
        size = 5_000 if args.quick else 20_000  # keeps make bench near its 10 minutes
        results["supabase_rest"] = run_supabase_rest(size, args.runs)
        print_table(f"Supabase REST ingest of {size:,} profiles through the PostgREST stand-in"
                    " (rows/s of valid profiles; `ours vs it` > 1 means we are faster)",
                    results["supabase_rest"])
    if args.only in (None, "load"):
        seconds = 8 if args.quick else 20
        results["reads_under_load"] = run_reads_under_load(seconds)
        print_table(f"Cached list reads (10 readers, 5 pages/s each) while 40 scrapers post 1000-profile"
                    f" batches, {seconds} s per phase", results["reads_under_load"])
    if args.only in (None, "retention"):
        rows = 200_000 if args.quick else 2_000_000  # `python -m bench.retention` for a month at full size
        results["retention"] = run_retention(rows, min(rows, 1_000_000))
        print_table(f"Removing a month of {rows:,} raw rows", results["retention"])
    if args.only in (None, "distribution"):
        pool = 500_000 if args.quick else 5_000_000
        populate(url, pool)
        results["claim"] = run_claim(url, args.runs)
        print_table(f"Daily claim of 72 x 200 from a pool of {pool:,} (a third used)", results["claim"])
        results["lists"] = run_lists(url)
        print_table("Reading a day's 14,400 assignments through Gunicorn, 50 concurrent clients",
                    results["lists"])
    # A partial or quick run gets a name of its own, so it never overwrites the day's full run.
    suffix = ("-quick" if args.quick else "") + (f"-only-{args.only}" if args.only else "")
    out = ROOT / "bench" / "results" / f"{results['date']}{suffix}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
