"""Every route of the app, a call to any of them with a valid body, and the database state they may
change: for tests that walk them all."""

from __future__ import annotations

import re
from typing import Any

DAY = "2026-03-02"
IGNORED_METHODS = {"HEAD", "OPTIONS"}
TABLES = ("distribution_targets", "distribution_runs", "distribution_assignments", "raw_scraped_profiles",
          "global_usernames", "ingest_requests", "ingest_claims")
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


def db_state(db) -> dict[str, Any]:
    """Row counts of every table the routes write, and what they change in place."""
    state: dict[str, Any] = {table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES}
    state["targets"] = db.execute("SELECT array_agg((name, daily_quota, active) ORDER BY id)"
                                  " FROM distribution_targets").fetchone()[0]
    state["statuses"] = db.execute("SELECT array_agg(status ORDER BY id) FROM distribution_assignments").fetchone()[0]
    return state
