"""HTTP blueprints, one module per resource."""

from __future__ import annotations

from flask import Flask

from . import docs, health, ingest, metrics


def register_blueprints(app: Flask) -> None:
    """Attach every blueprint to the app."""
    for module in (health, ingest, metrics, docs):
        app.register_blueprint(module.bp)
