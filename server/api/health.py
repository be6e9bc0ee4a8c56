"""Liveness and readiness probes; no key needed, no secrets shown."""

from __future__ import annotations

import logging
import threading
import time

from flask import Blueprint, current_app, jsonify

from ..errors import error_body
from ..ratelimit import limit_group
from ..storage import get_store

bp = Blueprint("health", __name__)
logger = logging.getLogger("server.health")


@bp.get("/healthz")
@limit_group("public")
def healthz():
    """The process is up and answering."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
@limit_group("public")
def readyz():
    """The database answers and the schema is applied; 503 with Retry-After otherwise.

    The check runs at most once per READYZ_CACHE_SECONDS in each worker: an anonymous caller
    polling this route must not cost a database round trip (or a Supabase request) per call.
    """
    checks = _recent_checks()
    if checks is None:
        return _not_ready("database is unreachable", {"database": "unreachable"})
    if not all(value == "ok" for value in checks.values()):
        return _not_ready("database schema is not applied; run `flask --app server init-db`", checks)
    return jsonify({"status": "ready", "backend": get_store().backend, **checks})


def _recent_checks() -> dict | None:
    """The store's readiness, reused for READYZ_CACHE_SECONDS; None when the check failed."""
    recent = current_app.extensions.setdefault("readiness", {"lock": threading.Lock(), "at": None})
    with recent["lock"]:  # one thread checks, the others wait for its answer
        now = time.monotonic()
        if recent["at"] is None or now - recent["at"] >= current_app.config["READYZ_CACHE_SECONDS"]:
            try:
                recent["checks"] = get_store().readiness()
            except Exception:  # any failure means "not ready"; the reason goes to the log, never to the client
                logger.warning("readiness check failed", exc_info=True)
                recent["checks"] = None
            recent["at"] = now
        return recent["checks"]


def _not_ready(message: str, checks: dict):
    retry_after = str(current_app.config["RETRY_AFTER_SECONDS"])
    return jsonify(error_body("not_ready", message, checks)), 503, {"Retry-After": retry_after}
