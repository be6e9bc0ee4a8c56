"""The OpenAPI 3.1 description of every route, served at /openapi.json (tests hold it to app.url_map)."""

from __future__ import annotations

from typing import Any

from . import distribution, ingest, reporting, targets
from .common import ERROR_SCHEMA

__all__ = ["build_spec"]

DESCRIPTION = ("Bulk profile ingest and daily distribution for fleets of social-media scrapers. "
               "Every error is `{\"error\": {\"code\", \"message\", \"details\"?}}`. Each operation needing "
               "a key names its scope (`x-scope`) and rate-limit group (`x-rate-limit-group`).")
TAGS = [{"name": "ingest", "description": "Profiles in"},
        {"name": "targets", "description": "Who receives profiles each day, and how many"},
        {"name": "distribution", "description": "The daily run, the lists, statuses and statistics"},
        {"name": "admin", "description": "Date-range listings and the retention clean-up"},
        {"name": "operations", "description": "Probes, metrics and this description (no key)"}]


def build_spec() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Scraper backend", "version": "0.1.0", "description": DESCRIPTION},
        "tags": TAGS,
        "paths": {"/api/ingest": ingest.INGEST, **targets.TARGETS, **distribution.DISTRIBUTION,
                  **reporting.REPORTING, **ingest.PROBES},
        "components": {
            "schemas": {"Error": ERROR_SCHEMA, **ingest.SCHEMAS, **targets.SCHEMAS, **distribution.SCHEMAS,
                        **reporting.SCHEMAS},
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer",
                                           "description": "an API key from API_KEYS"}},
            "headers": {"Retry-After": {"description": "seconds to wait before retrying",
                                        "schema": {"type": "integer"}}},
        },
    }
