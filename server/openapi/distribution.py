"""The OpenAPI description of /api/distribution: the daily run, the lists, statuses and the release."""

from __future__ import annotations

from typing import Any

from .common import (CURSOR, DATE, INT64_MAX, JSON_BODY_ERRORS, PAGING, closed, date_time,
                     error, integers, json_body, operation, query, ref, success)

STATUSES = ["assigned", "sent", "replied", "failed", "invalid"]
INVALID_QUERY = error("A bad date, target, limit or cursor; `details.field` names a bad parameter",
                      "invalid_cursor",
                      "cursor is invalid: pass back next_cursor unchanged, with the same filters")

RUN_EXAMPLE = {"date": "2026-03-02", "assigned": 400, "shortfall": 0, "claimed": 400, "top_up": False,
               "replayed": False, "targets": [
                   {"target": 1, "name": "outreach-1", "quota": 200, "assigned": 200, "shortfall": 0},
                   {"target": 2, "name": "outreach-2", "quota": 200, "assigned": 200, "shortfall": 0}]}
ITEM_EXAMPLE = {"profile_id": "17841400000000001", "username": "user1", "full_name": "Test User 1",
                "source": "instagram", "target": 1, "status": "assigned",
                "assigned_at": "2026-03-02T06:00:01.482913+00:00", "status_at": None}

SCHEMAS: dict[str, Any] = {
    "RunOptions": {"type": "object", "additionalProperties": False, "properties": {
        "date": {"type": ["string", "null"], "format": "date",
                 "description": "default: today in TIMEZONE; at most RUN_DATE_WINDOW_DAYS (7) days away"},
        "top_up": {"type": "boolean", "description": "fill targets still below quota in an existing run"}}},
    "RunSummary": closed({
        "date": DATE, **integers("assigned", "shortfall", "claimed"),
        "top_up": {"type": "boolean"},
        "replayed": {"type": "boolean", "description": "true: the date's run existed; nothing was claimed"},
        "targets": {"type": "array", "items": closed({
            "target": {"type": "integer"}, "name": {"type": "string"},
            **integers("quota", "assigned", "shortfall")})},
    }, "claimed: profiles claimed by this call; assigned and shortfall: the date's totals"),
    "Assignment": closed({
        "profile_id": {"type": "string"}, "username": {"type": "string"},
        "full_name": {"type": ["string", "null"]}, "source": {"type": ["string", "null"]},
        "target": {"type": "integer"}, "status": {"enum": STATUSES},
        "assigned_at": date_time(), "status_at": date_time(nullable=True),
    }),
    "AssignmentPage": closed({
        "date": DATE, "target": {"type": ["integer", "null"]},
        "items": {"type": "array", "items": ref("Assignment")}, "next_cursor": CURSOR,
    }),
    "StatusUpdates": {"type": "object", "required": ["updates"], "additionalProperties": False,
                      "properties": {
        "updates": {"type": "array", "minItems": 1, "maxItems": 50_000, "items": {
            "type": "object", "required": ["profile_id", "status"], "properties": {
                "profile_id": {"description": "1 to 128 printable characters",
                               "anyOf": [{"type": "string", "minLength": 1, "maxLength": 128},
                                         {"type": "integer"}]},
                "status": {"enum": STATUSES}}}}}},
    "StatusResult": closed({**integers("received", "updated"), "unknown": {
        "type": "array", "items": {"type": "string"}, "description": "ids without a live assignment"}}),
    "ReleaseOptions": {"type": "object", "additionalProperties": False, "properties": {
        "older_than_days": {"type": ["integer", "null"], "minimum": 1, "maximum": 365,
                            "description": "default: RELEASE_AFTER_DAYS"}}},
    "ReleaseResult": closed({"released": {"type": "integer", "minimum": 0},
                             "through": {**DATE, "description": "dates up to this one were looked at"},
                             "dates": {"type": "array", "items": DATE}}),
}

DISTRIBUTION = {
    "/api/distribution/run": {"post": operation(
        "runDistribution", "distribution", "Run the day's distribution", scope="distribute", group="run",
        description=("Claims, for every active target, up to its quota of unused profiles, oldest first, in "
                     "one transaction. One run per date: calling again returns it (`replayed`); with "
                     "`top_up` it fills targets still below quota. The body may be empty."),
        body=json_body("RunOptions", {"date": "2026-03-02"}, required=False),
        responses={"200": success("The run's summary", "RunSummary", RUN_EXAMPLE), **JSON_BODY_ERRORS})},
    "/api/distribution/{day}": {"get": operation(
        "listDistribution", "distribution", "Read one page of a date's list", scope="reader",
        group="read",
        description="Every target's assignments of the date, or one target's; keyset-paged and cached.",
        parameters=[
            {"name": "day", "in": "path", "required": True, "description": "YYYY-MM-DD",
             "schema": {**DATE, "minLength": 10, "maxLength": 10}},
            query("target", {"type": "integer", "minimum": 1, "maximum": INT64_MAX},
                  "only this target's list"),
            *PAGING,
        ],
        responses={"200": success("A page of the list", "AssignmentPage", {
                       "date": "2026-03-02", "target": 1, "items": [ITEM_EXAMPLE], "next_cursor": None}),
                   "400": INVALID_QUERY,
                   "404": error("No such target, or a path that is not a date", "target_not_found",
                                "no target with id 42")})},
    "/api/distribution/status": {"post": operation(
        "updateStatuses", "distribution", "Report statuses in bulk", scope="reader", group="ingest",
        description=("Up to 50,000 updates in one statement; the last update of a profile wins. Any invalid "
                     "update rejects the whole request (422, every problem listed)."),
        body=json_body("StatusUpdates", {"updates": [{"profile_id": "17841400000000001", "status": "sent"},
                                                     {"profile_id": "nobody", "status": "replied"}]}),
        responses={"200": success("What changed", "StatusResult",
                                  {"received": 2, "updated": 1, "unknown": ["nobody"]}),
                   **JSON_BODY_ERRORS,
                   "422": error("Some updates are invalid; `details` lists them; nothing changed",
                                "invalid_updates", "1 of 2 updates are invalid; nothing was changed")})},
    "/api/distribution/release": {"post": operation(
        "releaseUnsent", "distribution", "Give unsent assignments back to the pool", scope="distribute",
        group="run",
        description=("Assignments still `assigned` after RELEASE_AFTER_DAYS days (or `older_than_days`) are "
                     "marked released and their profiles return to the pool. The body may be empty."),
        body=json_body("ReleaseOptions", {"older_than_days": 7}, required=False),
        responses={"200": success("What was released", "ReleaseResult",
                                  {"released": 12, "through": "2026-02-23", "dates": ["2026-02-20"]}),
                   **JSON_BODY_ERRORS})},
}
