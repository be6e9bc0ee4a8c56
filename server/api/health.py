"""Liveness and readiness probes; no key needed, no secrets shown."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from ..errors import error_body, storage_error
from ..storage import get_store

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is up and answering."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """The database answers and the schema is applied; 503 otherwise."""
    try:
        store = get_store()
        checks = store.readiness()
    except Exception as exc:  # any failure means "not ready"; the reason is logged, not shown
        mapped = storage_error(exc)
        if mapped is None:
            raise
        body = error_body("not_ready", "database is unreachable", {"database": "unreachable"})
        return jsonify(body), 503, {"Retry-After": str(current_app.config["RETRY_AFTER_SECONDS"])}
    ready = all(value == "ok" for value in checks.values())
    status = 200 if ready else 503
    return jsonify({"status": "ready" if ready else "not_ready", "backend": store.backend, **checks}), status
