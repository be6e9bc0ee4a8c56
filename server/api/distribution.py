"""/api/distribution: the daily run, the cached daily lists, bulk status updates and the release."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request

from .. import list_cache, tasks
from ..auth import require_scope
from ..errors import NotFound, Unprocessable
from ..ratelimit import limit_group
from ..storage import get_store
from ..utils.validation import Rejected, normalise_id
from .params import (body_int, invalid, json_object, next_cursor, only_fields, page_limit, parse_date,
                     query_int, read_cursor)

bp = Blueprint("distribution", __name__)

STATUSES = ("assigned", "sent", "replied", "failed", "invalid")
MAX_ERRORS_LISTED = 100
ITEM_FIELDS = ("profile_id", "username", "full_name", "source", "target", "status", "assigned_at",
               "status_at")
MAX_TARGET_ID = 2**63 - 1


@bp.post("/api/distribution/run")
@limit_group("run")
@require_scope("distribute")
def run():
    """Run the day's distribution: {"date"?: "YYYY-MM-DD", "top_up"?: bool}; the same run again."""
    body = only_fields(json_object(optional=True), ("date", "top_up"), "a run option")
    day = parse_date(body["date"], "date") if body.get("date") is not None else None
    if day is not None:
        # A far date would claim the pool into assignments no release reaches for years.
        window = current_app.config["RUN_DATE_WINDOW_DAYS"]
        if abs((day - tasks.today()).days) > window:
            raise invalid("date", f"must be within {window} days of today (RUN_DATE_WINDOW_DAYS)")
    top_up = body.get("top_up", False)
    if not isinstance(top_up, bool):
        raise invalid("top_up", "must be true or false")
    return jsonify(tasks.run_distribution(day, top_up))


# Ten characters only, so /api/distribution/run, /status and /release are not dates that GET answers 400
# for, but routes without GET (405).
@bp.get("/api/distribution/<string(length=10):day>")
@limit_group("read")
@require_scope("reader")
def daily_list(day: str):
    """One page of a date's list, every target's or one (?target=), by keyset cursor."""
    day = parse_date(day, "date")
    target = query_int("target", None, 1, MAX_TARGET_ID)
    limit = page_limit()
    scope = {"list": "distribution", "date": day.isoformat(), "target": target}
    after = read_cursor(scope) or [0, 0]  # checked before the cache: a bad cursor is always a 400

    def load() -> dict[str, Any]:
        store = get_store()
        rows = store.list_assignments(day, target, (after[0], after[1]), limit + 1)
        # Only an empty page can belong to an unknown target: look it up then, not on every page.
        if not rows and target is not None and store.get_target(target) is None:
            raise NotFound(f"no target with id {target}", code="target_not_found")
        return {"date": day.isoformat(), "target": target,
                "items": [{field: row[field] for field in ITEM_FIELDS} for row in rows[:limit]],
                "next_cursor": next_cursor(scope, rows, limit,
                                           lambda row: [row["target"], row["assignment_id"]])}

    page = list_cache.cached_page(day, target, request.args.get("cursor"), limit, load)
    return current_app.response_class(page, mimetype="application/json")


def _status_updates(body: dict[str, Any]) -> list[tuple[str, str]]:
    updates, largest = body.get("updates"), current_app.config["MAX_STATUS_UPDATES"]
    if not isinstance(updates, list) or not 1 <= len(updates) <= largest:
        raise invalid("updates", f"must be a list of 1 to {largest} "
                                 '{"profile_id": ..., "status": ...} objects')
    pairs, errors = [], []
    for index, update in enumerate(updates):
        try:
            if not isinstance(update, dict):
                raise Rejected(None, "must be an object")
            profile_id = normalise_id(update.get("profile_id"))
            status = update.get("status")
            if status not in STATUSES:
                raise Rejected("status", f"must be one of {', '.join(STATUSES)}")
        except Rejected as exc:
            errors.append({"index": index, "field": "profile_id" if exc.field == "id" else exc.field,
                           "reason": exc.reason})
            continue
        pairs.append((profile_id, status))
    if errors:
        raise Unprocessable(f"{len(errors)} of {len(updates)} updates are invalid; nothing was changed",
                            code="invalid_updates", details=errors[:MAX_ERRORS_LISTED])
    return pairs


@bp.post("/api/distribution/status")
@limit_group("ingest")
@require_scope("reader")
def update_statuses():
    """Set statuses in bulk, one statement: {"updates": [{"profile_id", "status"}, ...]}."""
    pairs = _status_updates(only_fields(json_object(), ("updates",), "a status request field"))
    return jsonify({"received": len(pairs), **tasks.update_statuses(pairs)})


@bp.post("/api/distribution/release")
@limit_group("run")
@require_scope("distribute")
def release():
    """Give assignments unsent after RELEASE_AFTER_DAYS (or {"older_than_days"}) back to the pool."""
    body = only_fields(json_object(optional=True), ("older_than_days",), "a release option")
    days = body.get("older_than_days")
    return jsonify(tasks.release_unsent(None if days is None else body_int(days, "older_than_days", 1, 365)))
