"""PostgREST's error answers: the HTTP status of each SQLSTATE, and the JSON body it sends.

Transcribed from PostgREST v12.2, src/PostgREST/Error.hs, `pgErrorStatus` and the `ToJSON`
instance of `SQL.ResultError` (the body always has code, message, details and hint).
"""

from __future__ import annotations

import httpx
import orjson
import psycopg

# pgErrorStatus's cases in its own order: the first code or code prefix that matches decides.
_STATUSES = [("08", 503), ("09", 500), ("0L", 403), ("0P", 403), ("23503", 409), ("23505", 409),
             ("25006", 405), ("25", 500), ("28", 403), ("2D", 500), ("38", 500), ("39", 500),
             ("3B", 500), ("40", 500), ("53400", 500), ("53", 503), ("54", 500), ("55", 500),
             ("57P01", 503), ("57", 500), ("58", 500), ("F0", 500), ("HV", 500), ("P0001", 400),
             ("P0", 500), ("XX", 500), ("42P01", 404), ("42P17", 500)]


def pg_error_status(code: str, message: str, authed: bool) -> int:
    """The HTTP status PostgREST answers a failed statement with (`pgErrorStatus`)."""
    if code == "21000":  # pg-safeupdate's refusal is the client's fault; any other is the server's
        return 400 if message.endswith("requires a WHERE clause") else 500
    status = next((status for prefix, status in _STATUSES if code.startswith(prefix)), None)
    if status is not None:
        return status
    if code == "42883":
        return 406 if message.startswith("function xmlagg(") else 404
    if code == "42501":
        return 403 if authed else 401
    if code.startswith("PT"):  # RAISE ... USING ERRCODE = 'PT409' answers 409
        return int(code[2:]) if code[2:].isdigit() and 100 <= int(code[2:]) <= 599 else 500
    return 400


def error_response(status: int, code: str, message: str, details: str | None = None,
                   hint: str | None = None) -> httpx.Response:
    """PostgREST's error body with `status`; 401 carries WWW-Authenticate as PostgREST sends it."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return httpx.Response(status, headers=headers, content=orjson.dumps(
        {"code": code, "details": details, "hint": hint, "message": message}))


def pg_error_response(exc: psycopg.Error, authed: bool) -> httpx.Response:
    """The answer to a statement that PostgreSQL refused."""
    code = exc.sqlstate or "XX000"
    message = exc.diag.message_primary or str(exc)
    return error_response(pg_error_status(code, message, authed), code, message,
                          exc.diag.message_detail, exc.diag.message_hint)
