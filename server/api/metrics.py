"""GET /metrics: Prometheus text for every worker of this instance; no key (restrict it at the proxy)."""

from __future__ import annotations

from flask import Blueprint, Response

from ..metrics import render
from ..ratelimit import limit_group

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
@limit_group("public")
def metrics():
    """Requests, latency, ingest outcomes and pool usage, in the Prometheus exposition format."""
    body, content_type = render()
    return Response(body, content_type=content_type)
