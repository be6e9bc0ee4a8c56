"""Reading small JSON bodies and query parameters, with one 400 shape for every mistake."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from flask import current_app, request

from ..errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from ..utils.cursor import decode_cursor, encode_cursor

DEFAULT_PAGE = 100
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_BODY_BYTES = 16 << 20  # ample for 50,000 status updates; these bodies are parsed in memory


def json_object(*, optional: bool = False) -> dict[str, Any]:
    """The request body as a JSON object (at most MAX_BODY_BYTES); an empty body is {} when `optional`."""
    data = request.stream.read(MAX_BODY_BYTES + 1)
    if len(data) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request body is over the limit of {MAX_BODY_BYTES} bytes for this route",
                              details={"limit_bytes": MAX_BODY_BYTES})
    if not data.strip() and optional:
        return {}
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("send Content-Type: application/json")
    if request.headers.get("Content-Encoding", "identity").strip().lower() != "identity":
        raise UnsupportedMediaType("send this body uncompressed (Content-Encoding: gzip is for /api/ingest)")
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc}", code="malformed_json") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_body")
    return body


def only_fields(body: dict[str, Any], allowed: tuple[str, ...], what: str) -> dict[str, Any]:
    """`body` itself when it holds no key but `allowed`; else a 400 naming the first unknown key,
    so a misspelt option is refused instead of silently falling back to its default."""
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise invalid(unknown[0], f"is not {what} (use {', '.join(allowed)})")
    return body


def invalid(field: str, message: str) -> BadRequest:
    """A 400 naming the parameter or field at fault."""
    return BadRequest(f"{field} {message}", code="invalid_parameter", details={"field": field})


def body_int(value: Any, field: str, low: int, high: int) -> int:
    """A whole number within [low, high] from a JSON body: 3 or 3.0 (JSON has one number type), not true."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(field, f"must be an integer from {low} to {high}")
    return value


def parse_date(value: Any, field: str) -> date:
    """A YYYY-MM-DD date."""
    # Only that spelling: date.fromisoformat also takes week dates (2026-W01-1) and non-ASCII digits.
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise invalid(field, "must be a date as YYYY-MM-DD")


def query_int(name: str, default: int | None, low: int, high: int) -> int | None:
    """An integer query parameter within [low, high]."""
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise invalid(name, f"must be an integer from {low} to {high}")
    return value


def query_bool(name: str) -> bool | None:
    """true/false query parameter, None when absent."""
    raw = request.args.get(name)
    if raw is None:
        return None
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise invalid(name, "must be true or false")


def page_limit() -> int:
    """?limit=, 1 to MAX_PAGE_SIZE, default 100 (or MAX_PAGE_SIZE when that is smaller)."""
    largest = current_app.config["MAX_PAGE_SIZE"]
    return query_int("limit", min(DEFAULT_PAGE, largest), 1, largest)


def day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """[start of `first`, start of the day after `last`) in TIMEZONE, as aware datetimes."""
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    if last == date.max:  # the day after it does not exist in Python; end at its last microsecond
        end = datetime.combine(last, time.max, zone)
    else:
        end = datetime.combine(last + timedelta(days=1), time(), zone)
    return datetime.combine(first, time(), zone), end


def _cursor_key() -> bytes:
    return current_app.extensions["cursor_key"]  # made from SECRET_KEY or API_KEYS at start-up


def read_cursor(scope: dict[str, Any]) -> list[Any] | None:
    """The position of ?cursor= for this list, or None on the first page."""
    token = request.args.get("cursor")
    return None if not token else decode_cursor(_cursor_key(), token, scope)


def next_cursor(scope: dict[str, Any], rows: list[Any], limit: int, position) -> str | None:
    """A cursor after the last of `limit` rows when a further row was fetched; else None."""
    if len(rows) <= limit:
        return None
    return encode_cursor(_cursor_key(), scope, position(rows[limit - 1]))
