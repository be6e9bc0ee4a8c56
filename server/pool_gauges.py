"""The pool, quota, last-run and storage gauges of /metrics, read from the database by the scrape.

One read (pool_outlook: the pool's counts, never a count of the pool) at most every REFRESH_SECONDS
per worker, in a thread of its own: a scrape waits WAIT_SECONDS for it at most and otherwise
answers with the last values, so /metrics keeps answering, with storage_up 0, while the database
is away.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import date, datetime, time as clock
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app

from . import tasks
from .metrics import get_metrics
from .storage import get_store

logger = logging.getLogger("server.pool_gauges")

REFRESH_SECONDS = 10.0
WAIT_SECONDS = 2.0


def refresh_pool_gauges() -> None:
    """Start a read when the last one is older than REFRESH_SECONDS; wait WAIT_SECONDS for it at most."""
    app = current_app._get_current_object()
    state = app.extensions.setdefault("pool_gauges", {"lock": threading.Lock(), "thread": None,
                                                      "started": float("-inf")})
    with state["lock"]:  # one read at a time per worker, however many scrapes arrive together
        thread = state["thread"]
        idle = thread is None or not thread.is_alive()
        if idle and time.monotonic() - state["started"] >= REFRESH_SECONDS:
            thread = threading.Thread(target=_read, args=(app,), name="pool-gauges", daemon=True)
            state["thread"], state["started"] = thread, time.monotonic()
            thread.start()
    if thread is not None:
        thread.join(WAIT_SECONDS)


def _read(app: Flask) -> None:
    metrics = get_metrics()
    with app.app_context():
        try:
            outlook = get_store().pool_outlook(tasks.today())
        except Exception:  # noqa: BLE001 (any failure means "storage down"; the scrape goes on)
            logger.warning("pool gauges: the database did not answer", exc_info=True)
            metrics.storage_up.set(0)
            return
        zone = ZoneInfo(app.config["TIMEZONE"])
    publish(outlook, zone)


def publish(outlook: dict[str, Any], zone: ZoneInfo) -> None:
    """Set the gauges from one pool_outlook answer."""
    metrics = get_metrics()
    for state in ("total", "unused", "used"):
        metrics.pool_profiles.labels(state).set(outlook[state])
    metrics.daily_quota.set(outlook["daily_quota"])
    last = outlook["last_run_date"]
    # No run yet reads as 1970: the no-run alert fires as soon as targets have quotas.
    metrics.last_run_date.set(day_start(date.fromisoformat(last), zone) if last else 0)
    metrics.storage_up.set(1)


def day_start(day: date, zone: ZoneInfo) -> float:
    """The Unix time at which `day` begins in `zone`."""
    return datetime.combine(day, clock.min, zone).timestamp()
