"""HTTP blueprints, one module per resource."""

from __future__ import annotations

from flask import Flask

from . import admin, distribution, docs, health, ingest, metrics, stats, status, targets


def register_blueprints(app: Flask) -> None:
    """Attach every blueprint to the app."""
    for module in (health, ingest, targets, distribution, stats, admin, metrics, docs, status):
        app.register_blueprint(module.bp)
