"""HTTP blueprints, one module per resource."""

from __future__ import annotations

from flask import Flask

from . import admin, distribution, docs, health, ingest, metrics, params, stats, targets


def register_blueprints(app: Flask) -> None:
    """Attach every blueprint to the app."""
    app.url_map.converters["date"] = params.DateSegment
    for module in (health, ingest, targets, distribution, stats, admin, metrics, docs):
        app.register_blueprint(module.bp)
