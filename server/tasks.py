"""The distribution jobs, shared by the HTTP endpoints and the CLI: run, statuses, release, clean-up.

Each runs inside an app context (a request, or a `flask --app server` command) and invalidates the
cached lists it changes, after the database has committed.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from typing import Any, Sequence
from zoneinfo import ZoneInfo

from flask import current_app

from . import list_cache
from .storage import get_store

logger = logging.getLogger("server.tasks")

SUMMARY_FIELDS = ("date", "assigned", "shortfall", "claimed", "top_up", "replayed", "targets")
TARGET_SUMMARY_FIELDS = ("target", "name", "quota", "assigned", "shortfall")


def today() -> date:
    """Today's date in TIMEZONE."""
    return datetime.now(ZoneInfo(current_app.config["TIMEZONE"])).date()


def run_distribution(day: date | None = None, top_up: bool = False) -> dict[str, Any]:
    """Claim the day's profiles for every active target (or return the existing run)."""
    day = day or today()
    summary = get_store().run_distribution(day, top_up)
    # A replay too: it may be the retry of a call whose run landed but whose answer was lost (a
    # REST retry, or the cron's own), and that run's new lists must not hide behind cached pages.
    list_cache.invalidate([day])
    logger.info("distribution %s: %d assigned, %d claimed now, %d short%s", day, summary["assigned"],
                summary["claimed"], summary["shortfall"], " (replayed)" if summary["replayed"] else "")
    summary = {field: summary[field] for field in SUMMARY_FIELDS}
    summary["targets"] = [{field: t[field] for field in TARGET_SUMMARY_FIELDS} for t in summary["targets"]]
    return summary


def update_statuses(updates: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Apply (profile id, status) pairs in one statement; report unknown ids."""
    result = get_store().update_statuses(updates)
    if "lists" in result:
        list_cache.invalidate_lists(result["lists"])
    else:  # a database whose schema predates the lists in this answer: drop the dates' pages
        list_cache.invalidate(result["dates"])
    return {"updated": result["updated"], "unknown": result["unknown"]}


def release_unsent(older_than_days: int | None = None) -> dict[str, Any]:
    """Return assignments still unsent after RELEASE_AFTER_DAYS days to the pool, batch by batch."""
    config = current_app.config
    days = config["RELEASE_AFTER_DAYS"] if older_than_days is None else older_than_days
    through = today() - timedelta(days=days)
    store, released, dates = get_store(), 0, set()
    while True:
        batch = store.release_unsent(through, config["CLEANUP_BATCH_SIZE"])
        released += batch["released"]
        dates.update(batch["dates"])
        list_cache.invalidate(batch["dates"])
        if batch["released"] < config["CLEANUP_BATCH_SIZE"]:
            break
    logger.info("released %d unsent assignments of dates up to %s", released, through)
    return {"released": released, "through": through.isoformat(), "dates": sorted(dates)}


def retention_cleanup(max_batches: int | None = None) -> dict[str, Any]:
    """Delete raw rows past RAW_RETENTION_DAYS and forget expired Idempotency-Keys, in small batches.

    Stops after `max_batches` batches (None: when done); `done` tells whether anything is left.
    """
    config = current_app.config
    now = datetime.now(timezone.utc)
    retention = config["RAW_RETENTION_DAYS"]
    raw_before = now - timedelta(days=retention) if retention else None
    keys_before = now - timedelta(hours=config["IDEMPOTENCY_TTL_HOURS"])
    limit = config["CLEANUP_BATCH_SIZE"]
    store = get_store()
    totals = {"raw_deleted": 0, "ingests_deleted": 0, "keys_expired": 0}
    batches, done = 0, False
    while not done and (max_batches is None or batches < max_batches):
        batch = store.retention_batch(raw_before, keys_before, limit)
        batches += 1
        for name in totals:
            totals[name] += batch[name]
        done = all(batch[name] < limit for name in totals)
    logger.info("retention clean-up: %s in %d batches%s", totals, batches, "" if done else ", more left")
    return {**totals, "batches": batches, "done": done,
            "raw_before": raw_before.isoformat() if raw_before else None,
            "keys_before": keys_before.isoformat()}
