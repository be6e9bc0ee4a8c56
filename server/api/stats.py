"""GET /api/stats: the pool, profiles ingested per day, and one date's distribution (scope `distribute`)."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, current_app, jsonify, request

from .. import tasks
from ..auth import require_scope
from ..ratelimit import limit_group
from ..storage import get_store
from .params import parse_date, query_int

bp = Blueprint("stats", __name__)

MAX_DAYS = 366
POOL_FIELDS = ("total", "unused", "used")
DAY_FIELDS = ("date", "requests", "received", "inserted_raw", "added_to_global", "rejected")
DISTRIBUTION_FIELDS = ("date", "assigned", "by_status", "targets")
TARGET_FIELDS = ("target", "name", "quota", "assigned", "by_status")


def _pick(data: dict, fields: tuple[str, ...]) -> dict:
    """The fields in a fixed order (jsonb does not keep the order they were built in)."""
    return {field: data[field] for field in fields}


@bp.get("/api/stats")
@limit_group("read")
@require_scope("reader")
def stats():
    """?date=YYYY-MM-DD (default today) and ?days=N of ingest history up to it (default 7)."""
    raw_date = request.args.get("date")
    day = parse_date(raw_date, "date") if raw_date is not None else tasks.today()
    # The history cannot reach before year 1: PostgreSQL would answer BC dates no client can parse.
    days = min(query_int("days", 7, 1, MAX_DAYS), (day - date.min).days + 1)
    result = get_store().distribution_stats(day, days, current_app.config["TIMEZONE"])
    distribution = _pick(result["distribution"], DISTRIBUTION_FIELDS)
    distribution["targets"] = [_pick(t, TARGET_FIELDS) for t in distribution["targets"]]
    return jsonify({"pool": _pick(result["pool"], POOL_FIELDS),
                    "ingested_per_day": [_pick(d, DAY_FIELDS) for d in result["ingested_per_day"]],
                    "distribution": distribution})
