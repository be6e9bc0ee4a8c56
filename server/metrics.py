"""Prometheus metrics: requests, latency, ingest outcomes and pool usage, summed over Gunicorn workers.

Under Gunicorn, gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR before any worker imports
prometheus_client; every worker then writes its samples to files there and `/metrics`, whichever
worker answers it, adds up the files of all workers. Without that variable (tests, `flask run`) the
samples live in this process. prometheus_client is imported lazily for that reason.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Mapping

from flask import Flask, current_app, g, request

# Seconds; ingest of a large job takes minutes, a list read milliseconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
# Method labels come from this set only: Gunicorn accepts any 3-20 letter token as a method, and a
# label taken as sent would let anyone add series without bound.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
INGEST_OUTCOMES = ("received", "inserted_raw", "added_to_global", "skipped_existing",
                   "duplicates_in_request", "rejected")


class Metrics:
    """This process's metric objects, registered in a registry of their own."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("http_requests_total", "HTTP requests by route template, method and status",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("http_request_duration_seconds", "Time to answer a request, by route",
                                 ["route", "method"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.profiles = Counter("ingest_profiles_total", "Profiles seen by POST /api/ingest, by outcome",
                                ["outcome"], registry=self.registry)
        for outcome in INGEST_OUTCOMES:  # every series exists from the start, at 0
            self.profiles.labels(outcome)
        # livesum: the value of workers that are still alive, added up (child_exit drops dead ones).
        self.pool = Gauge("db_pool_connections", "Database pool connections of live workers, by state",
                          ["state"], multiprocess_mode="livesum", registry=self.registry)


_metrics: Metrics | None = None
_metrics_lock = threading.Lock()


def get_metrics() -> Metrics:
    """The metric objects of this process, made on first use (metrics may exist once per process)."""
    global _metrics
    if _metrics is None:
        with _metrics_lock:
            if _metrics is None:
                _metrics = Metrics()
    return _metrics


def multiprocess_dir() -> str | None:
    """The shared sample directory when running under Gunicorn's multiprocess set-up."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def render() -> tuple[bytes, str]:
    """The Prometheus text exposition (and its content type) of every worker, or of this process."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    update_pool_usage()
    if multiprocess_dir():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(get_metrics().registry), CONTENT_TYPE_LATEST


def record_ingest(result: Mapping[str, Any]) -> None:
    """Count one ingest response's profiles by outcome."""
    profiles = get_metrics().profiles
    for outcome in INGEST_OUTCOMES:
        if result.get(outcome):
            profiles.labels(outcome).inc(result[outcome])


def update_pool_usage() -> None:
    """Publish this worker's pool sizes; a worker that has not opened its store yet has none."""
    holder = current_app.extensions.get("store")
    store = holder.existing() if holder is not None else None
    pool = getattr(store, "pool", None)
    if pool is None:
        return
    stats = pool.get_stats()
    size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
    gauge = get_metrics().pool
    gauge.labels("open").set(size)
    gauge.labels("idle").set(idle)
    gauge.labels("in_use").set(size - idle)
    gauge.labels("waiting").set(stats.get("requests_waiting", 0))
    gauge.labels("max").set(stats.get("pool_max", 0))


def init_request_metrics(app: Flask) -> None:
    """Time and count every request by its route template (bounded labels, no raw paths)."""
    app.before_request(_start_timer)
    app.after_request(_observe)


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _observe(response):
    started = g.get("metrics_started")
    route = request.url_rule.rule if request.url_rule else "unmatched"
    method = request.method if request.method in METHODS else "other"
    metrics = get_metrics()
    metrics.requests.labels(route, method, str(response.status_code)).inc()
    if started is not None:
        metrics.latency.labels(route, method).observe(time.perf_counter() - started)
    update_pool_usage()
    return response
