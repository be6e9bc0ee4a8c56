"""The OpenAPI description of /api/targets: who receives profiles each day, and how many."""

from __future__ import annotations

from typing import Any

from .common import (INT64_MAX, JSON_BODY_ERRORS, TARGET_NOT_FOUND, closed, date_time, error, json_body,
                     operation, path_id, query, ref, success)

NAME = {"type": "string", "minLength": 1, "maxLength": 100,
        "description": "1 to 100 printable characters once trimmed; unique"}
QUOTA = {"type": "integer", "minimum": 0, "maximum": 100_000,
         "description": "profiles a day; at most MAX_DAILY_QUOTA (100,000 unless configured)"}
SOURCES = {"type": ["array", "null"], "minItems": 1, "maxItems": 50,
           "items": {"type": "string", "minLength": 1, "maxLength": 64},
           "description": "only profiles of these sources; null = any source"}
ACTIVE = {"type": "boolean", "description": "inactive targets get no new assignments"}
FIELDS = {"name": NAME, "daily_quota": QUOTA, "sources": SOURCES, "active": ACTIVE}

TARGET_EXAMPLE = {"id": 1, "name": "outreach-1", "daily_quota": 200, "sources": ["instagram"],
                  "active": True, "created_at": "2026-03-02T08:00:00.123456+00:00",
                  "updated_at": "2026-03-02T08:00:00.123456+00:00"}

SCHEMAS: dict[str, Any] = {
    "Target": closed({
        "id": {"type": "integer", "minimum": 1, "maximum": INT64_MAX}, "name": {"type": "string"},
        "daily_quota": {"type": "integer", "minimum": 0},
        "sources": {"type": ["array", "null"], "items": {"type": "string"}},
        "active": {"type": "boolean"}, "created_at": date_time(), "updated_at": date_time(),
    }),
    "TargetList": closed({"items": {"type": "array", "items": ref("Target")}}),
    "NewTarget": {"type": "object", "required": ["name", "daily_quota"], "additionalProperties": False,
                  "properties": FIELDS},
    "TargetChanges": {"type": "object", "additionalProperties": False,
                      "description": "any of the fields; an empty object changes nothing",
                      "properties": FIELDS},
}

TARGET_ID = path_id("target_id", "the target's id")
NAME_TAKEN = error("Another target has this name", "target_exists",
                   "a target named 'outreach-1' exists already")


def _target_operation(operation_id: str, summary: str, *, group: str, status: str = "200",
                      answer: str = "The target", scope: str = "distribute", **extra: Any) -> dict[str, Any]:
    errors = extra.pop("errors", {})
    return operation(operation_id, "targets", summary, scope=scope, group=group,
                     responses={status: success(answer, "Target", TARGET_EXAMPLE), **errors}, **extra)


TARGETS = {
    "/api/targets": {
        "post": _target_operation(
            "createTarget", "Create a target", group="admin", status="201", answer="The new target",
            body=json_body("NewTarget", {"name": "outreach-1", "daily_quota": 200, "sources": ["instagram"]}),
            errors={**JSON_BODY_ERRORS, "409": NAME_TAKEN}),
        "get": operation(
            "listTargets", "targets", "List targets", scope="reader", group="read",
            parameters=[query("active", {"type": "boolean"},
                              "only active (true) or inactive (false) targets")],
            responses={"200": success("Every target, by id", "TargetList", {"items": [TARGET_EXAMPLE]}),
                       "400": error("`active` is not true or false", "invalid_parameter",
                                    "active must be true or false")}),
    },
    "/api/targets/{target_id}": {
        "get": _target_operation("getTarget", "Read a target", group="read", scope="reader", parameters=[TARGET_ID],
                                 errors={"404": TARGET_NOT_FOUND}),
        "patch": _target_operation(
            "updateTarget", "Change a target's name, quota, sources or active flag", group="admin",
            parameters=[TARGET_ID], answer="The target as changed",
            body=json_body("TargetChanges", {"daily_quota": 150, "sources": None}),
            errors={**JSON_BODY_ERRORS, "404": TARGET_NOT_FOUND, "409": NAME_TAKEN}),
        "delete": _target_operation(
            "deactivateTarget", "Deactivate a target", group="admin", parameters=[TARGET_ID],
            answer="The target, now inactive",
            description="No new assignments from the next run on; its past assignments stay.",
            errors={"404": TARGET_NOT_FOUND}),
    },
}
