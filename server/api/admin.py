"""/api/admin: date-range listing of raw and pool profiles, and the retention clean-up (scope `admin`)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from .. import tasks
from ..auth import require_scope
from ..ratelimit import limit_group
from ..storage import get_store
from .params import (body_int, day_bounds, invalid, json_object, next_cursor, only_fields, page_limit,
                     parse_date, read_cursor)

bp = Blueprint("admin", __name__)

RAW_FIELDS = ("created_at", "ingest_id", "position", "profile_id", "username", "full_name", "source",
              "scraped_at", "profile")
GLOBAL_FIELDS = ("first_seen_at", "id", "username", "full_name", "source", "used", "used_at")
MAX_BATCHES = 10_000


def _date_range() -> tuple[dict, tuple]:
    """?from= and ?to= (inclusive days in TIMEZONE; one given names a single day, none today) as a
    scope and datetime bounds."""
    last = parse_date(request.args.get("to"), "to") if "to" in request.args else None
    first = parse_date(request.args.get("from"), "from") if "from" in request.args else last or tasks.today()
    last = last or first
    if last < first:
        raise invalid("to", "must not be before from")
    return {"from": first.isoformat(), "to": last.isoformat()}, day_bounds(first, last)


def _listing(kind: str, fields: tuple[str, ...], fetch, position):
    """One page of a date-range listing: `fetch(start, end, after, limit)` reads the rows and
    `position(row)` is the keyset position a cursor after that row holds."""
    scope, (start, end) = _date_range()
    scope["list"] = kind
    limit = page_limit()
    after = read_cursor(scope)
    rows = fetch(start, end, tuple(after) if after else None, limit + 1)
    return jsonify({**scope, "items": [{f: row[f] for f in fields} for row in rows[:limit]],
                    "next_cursor": next_cursor(scope, rows, limit, position)})


@bp.get("/api/admin/profiles/raw")
@limit_group("admin")
@require_scope("admin")
def raw_profiles():
    """Raw rows received between ?from= and ?to=, oldest first, by keyset cursor."""
    return _listing("raw", RAW_FIELDS, get_store().list_raw_profiles,
                    lambda row: [row["created_at"], row["ingest_id"], row["position"]])


@bp.get("/api/admin/profiles/global")
@limit_group("admin")
@require_scope("admin")
def global_profiles():
    """Pool profiles first seen between ?from= and ?to=, oldest first, by keyset cursor."""
    return _listing("global", GLOBAL_FIELDS, get_store().list_global_profiles,
                    lambda row: [row["first_seen_at"], row["id"]])


@bp.post("/api/admin/cleanup")
@limit_group("admin")
@require_scope("admin")
def cleanup():
    """Retention clean-up in batches; {"max_batches": n} bounds one call (`done` says if more is left)."""
    body = only_fields(json_object(optional=True), ("max_batches",), "a clean-up option")
    max_batches = body_int(body.get("max_batches", 100), "max_batches", 1, MAX_BATCHES)
    return jsonify(tasks.retention_cleanup(max_batches))
