"""Structured logs: one JSON object per line, each carrying the request id; access lines per request."""

from __future__ import annotations

import logging
import re
import time
import uuid
from datetime import datetime, timezone

import orjson
from flask import Flask, g, has_request_context, request

access_logger = logging.getLogger("server.access")

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is kept only if it is short and plain, so it cannot forge log lines or headers.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged too.
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}


def current_request_id() -> str | None:
    """The id of the request being served, or None outside a request."""
    if has_request_context():
        return g.get("request_id")
    return None


class RequestIdFilter(logging.Filter):
    """Put `request_id` on every record (`-` outside a request) for the text format."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON line: time, level, logger, message, request id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        request_id = getattr(record, "request_id", None) or current_request_id()
        if request_id and request_id != "-":
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


# Line breaks and terminal controls, as C0, DEL, C1 and Unicode's own line separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class TextFormatter(logging.Formatter):
    """One line per record for people reading a terminal; control characters shown escaped.

    A path or header may carry `%0A` or an escape sequence: unescaped, it would forge a log line
    or drive the reader's terminal. (JSON lines escape them by themselves.) A traceback, which
    the server writes, still follows on lines of its own.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        return _CONTROL.sub(_escaped, super().formatMessage(record))


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def make_formatter(log_format: str) -> logging.Formatter:
    """The formatter for LOG_FORMAT: json, or text for people reading a terminal."""
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure_logging(app: Flask) -> None:
    """Send the project's loggers to stderr at LOG_LEVEL in LOG_FORMAT (Gunicorn collects stderr)."""
    root = logging.getLogger("server")
    root.setLevel(app.config["LOG_LEVEL"].upper())
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
        root.propagate = False
    for handler in root.handlers:
        handler.setFormatter(make_formatter(app.config["LOG_FORMAT"]))


def init_request_logging(app: Flask) -> None:
    """Give every request an id (kept from X-Request-ID when sane), echo it, log one access line."""
    app.before_request(_start_request)
    app.after_request(_finish_request)


def _start_request() -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _VALID_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def _finish_request(response):
    request_id = g.get("request_id") or uuid.uuid4().hex  # a request refused before before_request
    response.headers[REQUEST_ID_HEADER] = request_id
    started = g.get("request_started")
    duration_ms = round((time.perf_counter() - started) * 1000, 1) if started is not None else None
    api_key = g.get("api_key")
    access_logger.info(
        "%s %s %s", request.method, request.path, response.status_code,
        extra={"request_id": request_id, "method": request.method, "path": request.path,
               "route": request.url_rule.rule if request.url_rule else None,
               "status": response.status_code, "duration_ms": duration_ms,
               "bytes": response.content_length, "key_id": api_key.key_id if api_key else None,
               "remote": request.remote_addr})
    return response
