"""Every route of the app, and a call to any of them with a valid body: for tests that walk them all."""

from __future__ import annotations

import re
from typing import Any

DAY = "2026-03-02"
IGNORED_METHODS = {"HEAD", "OPTIONS"}
# A valid body per write route, so a request that got past a check would change something.
BODIES: dict[tuple[str, str], Any] = {
    ("/api/ingest", "post"): {"profiles": [{"id": "sec-1", "username": "sec"}]},
    ("/api/targets", "post"): {"name": "security-target", "daily_quota": 1},
    ("/api/targets/{target_id}", "patch"): {"daily_quota": 2},
    ("/api/distribution/run", "post"): {"date": DAY},
    ("/api/distribution/status", "post"): {"updates": [{"profile_id": "p0", "status": "sent"}]},
    ("/api/distribution/release", "post"): {"older_than_days": 1},
    ("/api/admin/cleanup", "post"): {"max_batches": 1},
}


def app_routes(app) -> set[tuple[str, str]]:
    """(path in OpenAPI notation, method) for every rule the app serves, static files aside."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        routes |= {(path, method.lower()) for method in rule.methods - IGNORED_METHODS}
    return routes


def call(client, path: str, method: str, key: str | None, target: int):
    """Call a route (OpenAPI path) with `key`, target id `target`, date DAY and its valid body."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    url = path.format(target_id=target, day=DAY)
    return client.open(url, method=method.upper(), json=BODIES.get((path, method)), headers=headers)
