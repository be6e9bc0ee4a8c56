"""Arranging pools and targets for the distribution tests, and calling its API like the cron does."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import psycopg

from .conftest import DISTRIBUTE_KEY

BASE_TIME = datetime(2026, 1, 1, tzinfo=timezone.utc)


def add_pool(conn: psycopg.Connection, count: int, *, start: int = 0, prefix: str = "p",
             source: str | None = None, base: datetime = BASE_TIME) -> list[str]:
    """Add `count` unused profiles prefix{start}..., each one second younger than the one before."""
    conn.execute(
        "INSERT INTO global_usernames (id, username, full_name, source, first_seen_at)"
        " SELECT %(prefix)s || i, 'user_' || %(prefix)s || i, 'User ' || i, %(source)s,"
        "        %(base)s + make_interval(secs => i)"
        " FROM generate_series(%(start)s::int, %(end)s::int) AS i",
        {"prefix": prefix, "source": source, "base": base, "start": start, "end": start + count - 1})
    return [f"{prefix}{i}" for i in range(start, start + count)]


def add_targets(conn: psycopg.Connection, quotas: list[int], *, sources: list[str] | None = None,
                prefix: str = "target") -> list[int]:
    """Create one active target per quota; return their ids in order."""
    ids = []
    for number, quota in enumerate(quotas):
        ids.append(conn.execute(
            "INSERT INTO distribution_targets (name, daily_quota, sources) VALUES (%s, %s, %s) RETURNING id",
            [f"{prefix}-{number}", quota, sources]).fetchone()[0])
    return ids


def run(conn: psycopg.Connection, day: str, top_up: bool = False) -> dict[str, Any]:
    """Call the shared SQL entry point, as both backends do."""
    return conn.execute("SELECT distribution_run(%s, %s)", [day, top_up]).fetchone()[0]


def assigned(conn: psycopg.Connection, day: str | None = None) -> dict[int, list[str]]:
    """Live assignments of a date (all dates if None): target id -> profile ids in claim order."""
    rows = conn.execute(
        "SELECT target_id, profile_id FROM distribution_assignments"
        " WHERE status <> 'released' AND (%s::date IS NULL OR run_date = %s::date) ORDER BY id",
        [day, day]).fetchall()
    result: dict[int, list[str]] = {}
    for target_id, profile_id in rows:
        result.setdefault(target_id, []).append(profile_id)
    return result


def assert_no_profile_twice(conn: psycopg.Connection) -> None:
    """No profile has two assignments, and every profile marked used has exactly one."""
    assignments, distinct, used = conn.execute(
        "SELECT count(*), count(DISTINCT profile_id), (SELECT count(*) FROM global_usernames WHERE used)"
        " FROM distribution_assignments").fetchone()
    assert assignments == distinct == used, (assignments, distinct, used)


class DistributionApi:
    """The distribution endpoints, called with a key holding the `distribute` scope."""

    def __init__(self, client, key: str = DISTRIBUTE_KEY):
        self.client = client
        self.headers = {"Authorization": f"Bearer {key}"}

    def post(self, path: str, body: Any = None):
        return self.client.post(path, json=body, headers=self.headers)

    def get(self, path: str, **params: Any):
        return self.client.get(path, query_string=params, headers=self.headers)

    def target(self, name: str, quota: int, **fields: Any) -> dict[str, Any]:
        response = self.post("/api/targets", {"name": name, "daily_quota": quota, **fields})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def run(self, day: str, **options: Any) -> dict[str, Any]:
        response = self.post("/api/distribution/run", {"date": day, **options})
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def pages(self, day: str, **params: Any) -> list[dict[str, Any]]:
        """Every page of a list, following next_cursor."""
        pages, cursor = [], None
        while True:
            paging = {"cursor": cursor} if cursor else {}
            response = self.get(f"/api/distribution/{day}", **params, **paging)
            assert response.status_code == 200, response.get_json()
            pages.append(response.get_json())
            cursor = pages[-1]["next_cursor"]
            if cursor is None:
                return pages
