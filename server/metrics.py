"""Prometheus metrics: requests, latency, ingest outcomes and pool usage, summed over Gunicorn workers.

Under Gunicorn, gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR before any worker imports
prometheus_client; every worker then writes its samples to files there and `/metrics`, whichever
worker answers it, adds up the files of all workers. Without that variable (tests, `flask run`) the
samples live in this process. prometheus_client is imported lazily for that reason.
"""

from __future__ import annotations

import os
import re
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
# One batch: a COPY of raw rows or a pool insert of up to BATCH_CHUNK_SIZE ids, or one Supabase chunk.
BATCH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
LIST_CACHE_RESULTS = ("hit", "miss", "error")
# Sources are the clients' own words: each process gives its first MAX_SOURCE_LABELS plain ones a
# series of their own and counts the rest as "other", so no client can add series without bound.
MAX_SOURCE_LABELS = 20
_PLAIN_SOURCE = re.compile(r"[A-Za-z0-9_.:-]{1,40}")


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
        self.source_profiles = Counter("ingest_source_profiles_total",
                                       "Profiles of POST /api/ingest by source and outcome (received, rejected)",
                                       ["source", "outcome"], registry=self.registry)
        self.source_labels: set[str] = set()
        self.batches = Histogram("ingest_batch_duration_seconds",
                                 "Time to write one batch of an ingest, by step: raw (a COPY of raw rows), "
                                 "pool (new ids into the pool), chunk (one Supabase request with its retries)",
                                 ["step"], buckets=BATCH_BUCKETS, registry=self.registry)
        self.list_cache = Counter("list_cache_requests_total", "Daily list pages asked of the cache, by result",
                                  ["result"], registry=self.registry)
        for result in LIST_CACHE_RESULTS:
            self.list_cache.labels(result)
        self.supabase_retries = Counter("supabase_retries_total",
                                        "Supabase REST calls repeated after a transient failure",
                                        registry=self.registry)
        self.supabase_failed_chunks = Counter("supabase_failed_chunks_total",
                                              "Ingest chunks Supabase did not take, every attempt spent",
                                              registry=self.registry)
        self.worker_starts = Counter("worker_starts_total", "Gunicorn workers started", registry=self.registry)
        self.worker_recycles = Counter("worker_recycles_total",
                                       "Gunicorn workers that exited after GUNICORN_MAX_REQUESTS requests",
                                       registry=self.registry)
        # Read from the database by the scrape (pool_gauges.py); the latest reading of a live worker wins.
        outlook = {"multiprocess_mode": "livemostrecent", "registry": self.registry}
        self.pool_profiles = Gauge("pool_profiles", "Profiles in the pool, by state (total, unused, used)",
                                   ["state"], **outlook)
        self.daily_quota = Gauge("distribution_daily_quota", "The active targets' daily quotas added up",
                                 **outlook)
        self.last_run_date = Gauge("distribution_last_run_date_seconds",
                                   "Start of the latest date distributed, up to today, in TIMEZONE (Unix time)",
                                   **outlook)
        self.storage_up = Gauge("storage_up", "1 when the database answered the last scrape's read, else 0",
                                **outlook)


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

    from .pool_gauges import refresh_pool_gauges

    refresh_pool_gauges()  # first: it may open this worker's store, whose pool sizes follow
    update_pool_usage()
    if multiprocess_dir():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(get_metrics().registry), CONTENT_TYPE_LATEST


def record_ingest(result: Mapping[str, Any], by_source: Mapping[str, Mapping[str, int]]) -> None:
    """Count one ingest response's profiles by outcome, and by source."""
    metrics = get_metrics()
    for outcome in INGEST_OUTCOMES:
        if result.get(outcome):
            metrics.profiles.labels(outcome).inc(result[outcome])
    for source, counts in by_source.items():
        label = source_label(metrics, source)
        for outcome in ("received", "rejected"):
            metrics.source_profiles.labels(label, outcome).inc(counts[outcome])


def source_label(metrics: Metrics, source: str) -> str:
    """The series a source counts under: its own name, "none", or "other" (see MAX_SOURCE_LABELS)."""
    label = source or "none"
    if label not in metrics.source_labels:
        if len(metrics.source_labels) >= MAX_SOURCE_LABELS or not _PLAIN_SOURCE.fullmatch(label):
            return "other"
        metrics.source_labels.add(label)
    return label


def observe_batch(step: str, started: float) -> None:
    """Record one ingest batch of `step` that began at time.perf_counter() value `started`."""
    get_metrics().batches.labels(step).observe(time.perf_counter() - started)


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
