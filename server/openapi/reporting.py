"""The OpenAPI description of GET /api/stats, the status report and /api/admin: listings and the clean-up."""

from __future__ import annotations

from typing import Any

from .common import (CURSOR, DATE, JSON_BODY_ERRORS, LIMIT_HEADERS, PAGING, closed, date_time, error, integers,
                     json_body, operation, query, ref, success)

ALL_STATUSES = ["assigned", "sent", "replied", "failed", "invalid", "released"]
BY_STATUS = {"type": "object", "propertyNames": {"enum": ALL_STATUSES},
             "additionalProperties": {"type": "integer", "minimum": 0},
             "description": "assignments of the date by status (released ones included)"}
RANGE = [query("from", DATE, "first day, in TIMEZONE (default: to, else today)"),
         query("to", DATE, "last day, inclusive (default: from)")]
INVALID_QUERY = error("A bad date, range, limit or cursor; `details.field` names a bad parameter",
                      "invalid_parameter", "to must not be before from")

STATS_EXAMPLE = {
    "pool": {"total": 1_000_000, "unused": 985_600, "used": 14_400},
    "ingested_per_day": [{"date": "2026-03-02", "requests": 40, "received": 120_000, "inserted_raw": 119_500,
                          "added_to_global": 80_000, "rejected": 500}],
    "distribution": {"date": "2026-03-02", "assigned": 400, "by_status": {"assigned": 350, "sent": 50},
                     "targets": [{"target": 1, "name": "outreach-1", "quota": 200, "assigned": 200,
                                  "by_status": {"assigned": 150, "sent": 50}}]},
}
RAW_EXAMPLE = {"created_at": "2026-03-02T09:15:00.512000+00:00",
               "ingest_id": "6f1c3c5e-8d0e-4d59-9a55-2f4d1f0c9b7a", "position": 0, "profile_id": "test1",
               "username": "user1", "full_name": "Test User 1",
               "source": "instagram", "scraped_at": None,
               "profile": {"id": "test1", "username": "user1", "full_name": "Test User 1"}}
POOL_EXAMPLE = {"first_seen_at": "2026-03-02T09:15:00.512000+00:00", "id": "test1", "username": "user1",
                "full_name": "Test User 1", "source": "instagram", "used": True,
                "used_at": "2026-03-03T06:00:01.100000+00:00"}
CLEANUP_EXAMPLE = {"raw_deleted": 5000, "ingests_deleted": 2, "keys_expired": 40, "batches": 2, "done": True,
                   "raw_before": "2025-12-02T03:00:00.000000+00:00",
                   "keys_before": "2026-02-28T03:00:00.000000+00:00"}


STATUS_EXAMPLE = {
    "date": "2026-03-02", "timezone": "UTC", "days": 30,
    "pool": {"total": 1_000_000, "unused": 985_600, "used": 14_400, "daily_quota": 14_400, "days_left": 68.4,
             "warning_days": 7, "low": False},
    "distribution": {"date": "2026-03-02", "run": {"done": True, "at": "2026-03-02T06:00:01.200000+00:00",
                                                  "top_ups": 0},
                     "assigned": 400, "shortfall": 0, "by_status": {"assigned": 350, "sent": 50},
                     "targets": [{"target": 1, "name": "outreach-1", "quota": 400, "assigned": 400, "shortfall": 0,
                                  "by_status": {"assigned": 350, "sent": 50}}]},
    "ingest": {"per_day": STATS_EXAMPLE["ingested_per_day"],
               "per_source": [{"source": "instagram", "received": 120_000, "inserted_raw": 119_500,
                               "rejected": 500}],
               "per_day_and_source": [{"date": "2026-03-02", "source": "instagram", "received": 120_000,
                                       "inserted_raw": 119_500, "rejected": 500}]},
    "recent_ingests": [{"ingest_id": "6f1c3c5e-8d0e-4d59-9a55-2f4d1f0c9b7a",
                        "created_at": "2026-03-02T09:15:00.512000+00:00", "key_id": "3e2677f1978f92f1",
                        "sources": ["instagram"], "received": 3000, "inserted_raw": 2998, "added_to_global": 2000,
                        "rejected": 2, "errors": [{"index": 17, "field": "username", "reason": "is required"}]}],
}
SOURCE = {"type": ["string", "null"], "description": "null: profiles that named no source"}
SOURCE_COUNTS = integers("received", "inserted_raw", "rejected")
DAYS_PARAMETERS = [query("date", DATE, "the date (default today in TIMEZONE)"),
                   query("days", {"type": "integer", "minimum": 1, "maximum": 366, "default": 30},
                         "days of ingest history up to the date")]


def _page(kind: str, item: str) -> dict[str, Any]:
    return closed({"from": DATE, "to": DATE, "list": {"const": kind},
                   "items": {"type": "array", "items": ref(item)}, "next_cursor": CURSOR})


SCHEMAS: dict[str, Any] = {
    "Stats": closed({
        "pool": closed(integers("total", "unused", "used")),
        "ingested_per_day": {"type": "array", "items": closed({
            "date": DATE,
            **integers("requests", "received", "inserted_raw", "added_to_global", "rejected")})},
        "distribution": closed({
            "date": DATE, "assigned": {"type": "integer", "minimum": 0}, "by_status": BY_STATUS,
            "targets": {"type": "array", "items": closed({
                "target": {"type": "integer"}, "name": {"type": "string"}, **integers("quota", "assigned"),
                "by_status": BY_STATUS})}}),
    }),
    "Status": closed({
        "date": DATE, "timezone": {"type": "string"}, "days": {"type": "integer", "minimum": 1},
        "pool": closed({**integers("total", "unused", "used", "daily_quota"),
                        "days_left": {"type": ["number", "null"],
                                      "description": "unused / daily_quota; null without active quotas"},
                        "warning_days": {"type": "integer", "minimum": 0, "description": "POOL_WARNING_DAYS"},
                        "low": {"type": "boolean", "description": "days_left is under warning_days"}}),
        "distribution": closed({
            "date": DATE, "run": closed({"done": {"type": "boolean"}, "at": date_time(nullable=True),
                                         "top_ups": {"type": "integer", "minimum": 0}}),
            **integers("assigned", "shortfall"), "by_status": BY_STATUS,
            "targets": {"type": "array", "items": closed({
                "target": {"type": "integer"}, "name": {"type": "string"},
                **integers("quota", "assigned", "shortfall"), "by_status": BY_STATUS})}}),
        "ingest": closed({
            "per_day": {"type": "array", "items": closed({
                "date": DATE, **integers("requests", "received", "inserted_raw", "added_to_global", "rejected")})},
            "per_source": {"type": "array", "items": closed({"source": SOURCE, **SOURCE_COUNTS})},
            "per_day_and_source": {"type": "array", "items": closed({"date": DATE, "source": SOURCE,
                                                                     **SOURCE_COUNTS})}}),
        "recent_ingests": {"type": "array", "items": closed({
            "ingest_id": {"type": "string", "format": "uuid"}, "created_at": date_time(),
            "key_id": {"type": "string"}, "sources": {"type": "array", "items": SOURCE},
            **integers("received", "inserted_raw", "added_to_global", "rejected"),
            "errors": {"type": "array", "maxItems": 3, "items": closed({
                "index": {"type": "integer"}, "field": {"type": ["string", "null"]},
                "reason": {"type": "string"}})}})},
    }),
    "RawProfile": closed({
        "created_at": date_time(), "ingest_id": {"type": "string", "format": "uuid"},
        "position": {"type": "integer", "minimum": 0}, "profile_id": {"type": "string"},
        "username": {"type": "string"}, "full_name": {"type": ["string", "null"]},
        "source": {"type": ["string", "null"]}, "scraped_at": date_time(nullable=True),
        "profile": {"type": "object", "description": "the profile as sent"},
    }),
    "RawPage": _page("raw", "RawProfile"),
    "PoolProfile": closed({
        "first_seen_at": date_time(), "id": {"type": "string"}, "username": {"type": "string"},
        "full_name": {"type": ["string", "null"]}, "source": {"type": ["string", "null"]},
        "used": {"type": "boolean"}, "used_at": date_time(nullable=True),
    }),
    "PoolPage": _page("global", "PoolProfile"),
    "CleanupOptions": {"type": "object", "additionalProperties": False, "properties": {
        "max_batches": {"type": "integer", "minimum": 1, "maximum": 10_000, "default": 100}}},
    "CleanupResult": closed({
        **integers("raw_deleted", "ingests_deleted", "keys_expired", "batches"),
        "done": {"type": "boolean", "description": "false: more is left for another call"},
        "raw_before": date_time(nullable=True), "keys_before": date_time()}),
}


def _listing(operation_id: str, summary: str, schema: str, example: dict[str, Any]) -> dict[str, Any]:
    return {"get": operation(operation_id, "admin", summary, scope="admin", group="admin",
                             parameters=RANGE + PAGING,
                             responses={"200": success("A page, oldest first", schema, example),
                                        "400": INVALID_QUERY})}


REPORTING = {
    "/api/stats": {"get": operation(
        "stats", "distribution", "Pool, ingest per day and one date's distribution", scope="reader",
        group="read", description="Cheap at any pool size: no scan of the pool.",
        parameters=[query("date", DATE, "the date (default today in TIMEZONE)"),
                    query("days", {"type": "integer", "minimum": 1, "maximum": 366, "default": 7},
                          "days of ingest history up to the date")],
        responses={"200": success("The statistics", "Stats", STATS_EXAMPLE),
                   "400": error("A bad date or days", "invalid_parameter",
                                "days must be an integer from 1 to 366")})},
    "/api/status": {"get": operation(
        "status", "admin", "What the status page shows: pool, today's run, ingest per day and source",
        scope="admin", group="admin",
        description=("The pool and how many days its unused part lasts at the active targets' quotas, the "
                     "distribution of the date per target, the ingest of the days up to it per day and per "
                     "source, and the 20 latest ingest requests with their first rejections. Cheap at any "
                     "pool size: no scan of the pool."),
        parameters=DAYS_PARAMETERS,
        responses={"200": success("The report", "Status", STATUS_EXAMPLE),
                   "400": error("A bad date or days", "invalid_parameter",
                                "days must be an integer from 1 to 366")})},
    "/api/status/panel": {"get": operation(
        "statusPanel", "admin", "The same report as the status page's HTML, charts drawn as SVG",
        scope="admin", group="admin", description="The /status page loads it with the key it was given.",
        parameters=DAYS_PARAMETERS,
        responses={"200": {"description": "An HTML fragment", "headers": LIMIT_HEADERS, "content": {
                       "text/html": {"schema": {"type": "string"}, "example": "<h2>Pool</h2>..."}}},
                   "400": error("A bad date or days", "invalid_parameter",
                                "days must be an integer from 1 to 366")})},
    "/api/admin/profiles/raw": _listing(
        "listRawProfiles", "Raw rows received in a date range", "RawPage",
        {"from": "2026-03-02", "to": "2026-03-02", "list": "raw", "items": [RAW_EXAMPLE],
         "next_cursor": None}),
    "/api/admin/profiles/global": _listing(
        "listPoolProfiles", "Pool profiles first seen in a date range", "PoolPage",
        {"from": "2026-03-02", "to": "2026-03-02", "list": "global", "items": [POOL_EXAMPLE],
         "next_cursor": None}),
    "/api/admin/cleanup": {"post": operation(
        "retentionCleanup", "admin", "Retention clean-up", scope="admin", group="admin",
        description=("Deletes raw rows and ingest records older than RAW_RETENTION_DAYS and forgets expired "
                     "Idempotency-Keys, in small batches; `done` is false when more is left."),
        body=json_body("CleanupOptions", {"max_batches": 100}, required=False),
        responses={"200": success("What was deleted", "CleanupResult", CLEANUP_EXAMPLE),
                   **JSON_BODY_ERRORS})},
}
