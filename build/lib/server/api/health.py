"""Liveness and readiness probes; no key needed, no secrets shown."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify

from ..errors import error_body
from ..storage import get_store

bp = Blueprint("health", __name__)
logger = logging.getLogger("server.health")


@bp.get("/healthz")
def healthz():
    """The process is up and answering."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """The database answers and the schema is applied; 503 with Retry-After otherwise."""
    try:
        store = get_store()
        checks = store.readiness()
    except Exception:  # any failure means "not ready"; the reason goes to the log, never to the client
        logger.warning("readiness check failed", exc_info=True)
        return _not_ready("database is unreachable", {"database": "unreachable"})
    if not all(value == "ok" for value in checks.values()):
        return _not_ready("database schema is not applied; run `flask --app server init-db`", checks)
    return jsonify({"status": "ready", "backend": store.backend, **checks})


def _not_ready(message: str, checks: dict):
    retry_after = str(current_app.config["RETRY_AFTER_SECONDS"])
    return jsonify(error_body("not_ready", message, checks)), 503, {"Retry-After": retry_after}
