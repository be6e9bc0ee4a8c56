"""Domain exceptions and the one JSON error shape every failure is answered with."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app, jsonify
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from .error_reports import report_unexpected

logger = logging.getLogger("server.errors")


class ApiError(Exception):
    """An error the client should see: HTTP status, stable code, human message."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None, headers: dict | None = None,
                 code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}
        if code:
            self.code = code
        if status:
            self.status = status


class BadRequest(ApiError):
    """The body cannot be read: malformed JSON, broken gzip, wrong shape."""


class Unauthorized(ApiError):
    """No API key, or one we do not know."""

    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    """A known key without the scope this route needs."""

    status, code = 403, "forbidden"


class NotFound(ApiError):
    """The thing asked for does not exist."""

    status, code = 404, "not_found"


class Conflict(ApiError):
    """The request collides with work in progress (e.g. the same Idempotency-Key)."""

    status, code = 409, "conflict"


class PayloadTooLarge(ApiError):
    """The body, or what it expands to, is over a configured limit."""

    status, code = 413, "payload_too_large"


class RequestTimeout(ApiError):
    """408: the request body stalled or arrived too slowly."""

    status, code = 408, "request_timeout"


class UnsupportedMediaType(ApiError):
    """A Content-Type or Content-Encoding we do not read."""

    status, code = 415, "unsupported_media_type"


class Unprocessable(ApiError):
    """Well-formed but unusable input."""

    status, code = 422, "unprocessable"


class StorageUnavailable(ApiError):
    """The database cannot be reached right now; the client should retry later."""

    status, code = 503, "storage_unavailable"


def error_body(code: str, message: str, details: Any = None) -> dict:
    """Build the one error shape: {"error": {"code", "message", "details"?}}."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


def _http_code(exc: HTTPException) -> str:
    return (exc.name or "error").lower().replace(" ", "_").replace("'", "")


def register_error_handlers(app: Flask) -> None:
    """Answer every error, ours or Werkzeug's, as JSON; never HTML, never a traceback."""

    @app.errorhandler(ApiError)
    def handle_api_error(exc: ApiError):
        if exc.status == 500:  # ours, but a fault all the same (Supabase refusing the set-up's SQL)
            report_unexpected(exc)
        if isinstance(exc, StorageUnavailable):
            exc.headers.setdefault("Retry-After", str(current_app.config["RETRY_AFTER_SECONDS"]))
        response = jsonify(error_body(exc.code, exc.message, exc.details))
        response.status_code = exc.status
        response.headers.update(exc.headers)
        return response

    @app.errorhandler(RequestEntityTooLarge)
    def handle_too_large(exc: RequestEntityTooLarge):
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        return handle_api_error(PayloadTooLarge(
            f"request body is over the limit of {limit} bytes (MAX_CONTENT_LENGTH)",
            details={"limit_bytes": limit}))

    @app.errorhandler(HTTPException)
    def handle_http(exc: HTTPException):
        response = jsonify(error_body(_http_code(exc), exc.description or exc.name))
        response.status_code = exc.code or 500
        for key, value in exc.get_headers():
            if key.lower() != "content-type":
                response.headers[key] = value
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        mapped = storage_error(exc)
        if mapped is not None:
            return handle_api_error(mapped)
        logger.exception("unhandled error")
        report_unexpected(exc)
        return jsonify(error_body("internal_error", "internal server error")), 500


def storage_error(exc: BaseException) -> ApiError | None:
    """Map a database driver failure to 503 when it means 'unreachable', else None."""
    import psycopg
    import psycopg_pool

    if isinstance(exc, psycopg_pool.PoolTimeout):
        return StorageUnavailable("database is busy or unreachable; retry later")
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return StorageUnavailable("database statement timed out; retry later", code="statement_timeout")
    if isinstance(exc, (psycopg.OperationalError, psycopg.errors.AdminShutdown)):
        return StorageUnavailable("database is unreachable; retry later")
    return None
