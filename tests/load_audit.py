"""After a load or fault run: do the tables hold exactly what the acknowledged (2xx) answers reported?"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import psycopg

from .scraper import Outcome

MAX_LISTED = 20  # mismatches named in a report; the count is always exact


@dataclass(frozen=True)
class Baseline:
    """Row counts before the traffic started."""

    pool: int
    raw: int
    ingests: int

    @classmethod
    def measure(cls, conn: psycopg.Connection) -> "Baseline":
        """Count the rows now."""
        return cls(*conn.execute(
            "SELECT (SELECT count(*) FROM global_usernames), (SELECT count(*) FROM raw_scraped_profiles),"
            " (SELECT count(*) FROM ingest_requests)").fetchone())


def audit(conn: psycopg.Connection, baseline: Baseline, outcomes: Iterable[Outcome]) -> dict:
    """Compare the tables with the acknowledged answers, in total and ingest by ingest."""
    bodies = [o.body for o in outcomes if o.acknowledged]
    now = Baseline.measure(conn)
    raw_by_ingest = dict(conn.execute(
        "SELECT ingest_id::text, count(*) FROM raw_scraped_profiles GROUP BY ingest_id").fetchall())
    pool_by_ingest = dict(conn.execute(
        "SELECT first_ingest_id::text, count(*) FROM global_usernames GROUP BY first_ingest_id").fetchall())
    recorded = {ingest_id: (raw, added) for ingest_id, raw, added in conn.execute(
        "SELECT id::text, inserted_raw, added_to_global FROM ingest_requests")}
    mismatches, lost = [], 0
    for body in bodies:
        ingest_id = body["ingest_id"]
        expected = (body["inserted_raw"], body["added_to_global"])
        found = (raw_by_ingest.get(ingest_id, 0), pool_by_ingest.get(ingest_id, 0))
        lost += max(0, expected[0] - found[0])
        if found != expected or recorded.get(ingest_id) != expected:
            mismatches.append(f"ingest {ingest_id}: answered {expected}, tables hold {found},"
                              f" ingest_requests {recorded.get(ingest_id)}")
        if body["received"] != body["inserted_raw"] + body["rejected"] or body["inserted_raw"] != (
                body["added_to_global"] + body["skipped_existing"] + body["duplicates_in_request"]):
            mismatches.append(f"ingest {ingest_id}: its counts do not add up: {body}")
    totals = {
        "sum_added_to_global": sum(b["added_to_global"] for b in bodies),
        "pool_rows_added": now.pool - baseline.pool,
        "sum_inserted_raw": sum(b["inserted_raw"] for b in bodies),
        "raw_rows_added": now.raw - baseline.raw,
        "ingests_acknowledged": len({b["ingest_id"] for b in bodies}),
        "ingests_recorded": now.ingests - baseline.ingests,
    }
    for reported, stored in (("sum_added_to_global", "pool_rows_added"), ("sum_inserted_raw", "raw_rows_added"),
                             ("ingests_acknowledged", "ingests_recorded")):
        if totals[reported] != totals[stored]:
            mismatches.insert(0, f"{reported} = {totals[reported]} but {stored} = {totals[stored]}")
    return {**totals, "rows_lost": lost,
            "mismatch_count": len(mismatches), "mismatches": mismatches[:MAX_LISTED]}


def percentile(values: list[float], pct: float) -> float | None:
    """The pct-th percentile (nearest rank) in milliseconds, None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return round(ordered[rank - 1] * 1000, 1)
