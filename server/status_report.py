"""The status report: what an operator checks first, from one status_report call of the store.

The pool and how many days it lasts at the active targets' quotas, the ingest of the last days per
day and per source, the day's distribution per target with whether its run happened, and the latest
ingest requests. GET /api/status answers it as JSON, the status page shows it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app

from .storage import get_store

RECENT_INGESTS = 20
ERRORS_SHOWN = 3  # the first rejections of a recent ingest (status_report keeps three)
SOURCE_COUNTS = ("received", "inserted_raw", "rejected")


def build_report(day: date, days: int) -> dict[str, Any]:
    """The report of `day` with `days` days of ingest history, in TIMEZONE."""
    config = current_app.config
    raw = get_store().status_report(day, days, config["TIMEZONE"], RECENT_INGESTS)
    zone = ZoneInfo(config["TIMEZONE"])
    return {"date": day.isoformat(), "timezone": config["TIMEZONE"], "days": days,
            "pool": _pool(raw["outlook"], config["POOL_WARNING_DAYS"]),
            "distribution": _distribution(raw, zone),
            "ingest": _ingest(raw),
            "recent_ingests": [_recent(item, zone) for item in raw["recent"]]}


def _local(timestamp: str, zone: ZoneInfo) -> str:
    """A timestamp of the database's JSON in TIMEZONE, as the page shows days and times in it."""
    return datetime.fromisoformat(timestamp).astimezone(zone).isoformat()


def _pool(outlook: dict[str, Any], warning_days: int) -> dict[str, Any]:
    quota = outlook["daily_quota"]
    days_left = round(outlook["unused"] / quota, 1) if quota else None
    return {"total": outlook["total"], "unused": outlook["unused"], "used": outlook["used"],
            "daily_quota": quota, "days_left": days_left, "warning_days": warning_days,
            "low": days_left is not None and days_left < warning_days}


def _distribution(raw: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    stats, summary, run = raw["stats"]["distribution"], raw["summary"], raw["run"]
    shortfall = {target["target"]: target["shortfall"] for target in summary["targets"]}
    return {"date": stats["date"],
            "run": {"done": run is not None, "at": _local(run["created_at"], zone) if run else None,
                    "top_ups": run["top_ups"] if run else 0},
            "assigned": stats["assigned"], "shortfall": summary["shortfall"], "by_status": stats["by_status"],
            "targets": [{"target": t["target"], "name": t["name"], "quota": t["quota"], "assigned": t["assigned"],
                         "shortfall": shortfall.get(t["target"], 0), "by_status": t["by_status"]}
                        for t in stats["targets"]]}


def _source(name: str) -> str | None:
    return name or None  # "" is how the record keeps "no source"


def _ingest(raw: dict[str, Any]) -> dict[str, Any]:
    per_day_and_source = [{"date": row["date"], "source": _source(row["source"]),
                           **{field: row[field] for field in SOURCE_COUNTS}} for row in raw["sources"]]
    totals: dict[str | None, dict[str, int]] = {}
    for row in per_day_and_source:
        counts = totals.setdefault(row["source"], dict.fromkeys(SOURCE_COUNTS, 0))
        for field in SOURCE_COUNTS:
            counts[field] += row[field]
    per_source = sorted(({"source": source, **counts} for source, counts in totals.items()),
                        key=lambda item: (-item["received"], item["source"] or ""))
    per_day = [{field: row[field] for field in ("date", "requests", "received", "inserted_raw",
                                                 "added_to_global", "rejected")}
               for row in raw["stats"]["ingested_per_day"]]
    return {"per_day": per_day, "per_source": per_source, "per_day_and_source": per_day_and_source}


def _recent(item: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    return {"ingest_id": item["ingest_id"], "created_at": _local(item["created_at"], zone), "key_id": item["key_id"],
            "sources": [_source(name) for name in item["sources"]],
            **{field: item[field] for field in ("received", "inserted_raw", "added_to_global", "rejected")},
            "errors": [{field: error.get(field) for field in ("index", "field", "reason")}
                       for error in item["errors"][:ERRORS_SHOWN]]}
