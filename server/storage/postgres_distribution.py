"""The distribution half of PostgresStore: targets in plain SQL, the rest one SQL function call each."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Mapping, Sequence

import orjson
import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from .target_rules import check_changes, name_taken

# Seconds /metrics waits for a pooled connection: a scrape must answer while the database is away.
OUTLOOK_CONNECTION_TIMEOUT = 2.0
_TARGET_COLUMNS = sql.SQL("id, name, daily_quota, sources, active, created_at, updated_at")


def _target(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """A target row as plain JSON data (timestamps as ISO 8601 strings)."""
    if row is None:
        return None
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in row.items()}


class PostgresDistribution:
    """Mixed into PostgresStore; needs only its connection pool."""

    pool: ConnectionPool

    def _call(self, query: str, params: Sequence[Any]) -> Any:
        """Run `SELECT fn(...)` in its own transaction and return the one value."""
        with self.pool.connection() as conn:
            return conn.execute(query, params).fetchone()[0]

    def create_target(self, name: str, daily_quota: int, sources: list[str] | None,
                      active: bool = True) -> dict[str, Any]:
        """Insert a target; Conflict when the name is taken."""
        query = sql.SQL("INSERT INTO distribution_targets (name, daily_quota, sources, active)"
                        " VALUES (%s, %s, %s, %s) RETURNING {}").format(_TARGET_COLUMNS)
        try:
            with self.pool.connection() as conn:
                row = conn.cursor(row_factory=dict_row).execute(
                    query, [name, daily_quota, sources, active]).fetchone()
        except psycopg.errors.UniqueViolation:
            raise name_taken(name) from None
        return _target(row)

    def list_targets(self, active: bool | None = None) -> list[dict[str, Any]]:
        """Every target by id, optionally only active or inactive ones."""
        query = sql.SQL("SELECT {} FROM distribution_targets WHERE %(active)s::boolean IS NULL"
                        " OR active = %(active)s ORDER BY id").format(_TARGET_COLUMNS)
        with self.pool.connection() as conn:
            rows = conn.cursor(row_factory=dict_row).execute(query, {"active": active}).fetchall()
        return [_target(row) for row in rows]

    def get_target(self, target_id: int) -> dict[str, Any] | None:
        """One target, or None."""
        query = sql.SQL("SELECT {} FROM distribution_targets WHERE id = %s").format(_TARGET_COLUMNS)
        with self.pool.connection() as conn:
            return _target(conn.cursor(row_factory=dict_row).execute(query, [target_id]).fetchone())

    def update_target(self, target_id: int, changes: Mapping[str, Any]) -> dict[str, Any] | None:
        """Change some of name, daily_quota, sources, active; None when there is no such target."""
        check_changes(changes)
        assignments = [sql.SQL("{} = %s").format(sql.Identifier(field)) for field in changes]
        query = sql.SQL("UPDATE distribution_targets SET {}, updated_at = now() WHERE id = %s"
                        " RETURNING {}").format(sql.SQL(", ").join(assignments), _TARGET_COLUMNS)
        try:
            with self.pool.connection() as conn:
                row = conn.cursor(row_factory=dict_row).execute(
                    query, [*changes.values(), target_id]).fetchone()
        except psycopg.errors.UniqueViolation:
            raise name_taken(changes.get("name")) from None
        return _target(row)

    def run_distribution(self, day: date, top_up: bool = False) -> dict[str, Any]:
        """distribution_run: claim the day's profiles, or replay the run."""
        return self._call("SELECT distribution_run(%s, %s)", [day, top_up])

    def list_assignments(self, day: date, target_id: int | None, after: tuple[int, int],
                         limit: int) -> list[dict[str, Any]]:
        """distribution_list: one page of a date's assignments after a keyset position."""
        # As text, parsed by orjson: several times faster than psycopg's json loader (the stdlib's),
        # and a page holds no integers past 64 bits (its ids are bigint).
        return orjson.loads(self._call("SELECT distribution_list(%s, %s, %s, %s, %s)::text",
                                       [day, target_id, after[0], after[1], limit]))

    def update_statuses(self, updates: Sequence[tuple[str, str]]) -> dict[str, Any]:
        """distribution_set_status: every update in one statement."""
        return self._call("SELECT distribution_set_status(%s::text[], %s::text[])",
                          [[u[0] for u in updates], [u[1] for u in updates]])

    def release_unsent(self, through: date, limit: int) -> dict[str, Any]:
        """distribution_release: one batch of unsent assignments back to the pool."""
        return self._call("SELECT distribution_release(%s, %s)", [through, limit])

    def distribution_stats(self, day: date, days: int, timezone: str) -> dict[str, Any]:
        """distribution_stats: pool counts, ingest per day, the day's distribution."""
        return self._call("SELECT distribution_stats(%s, %s, %s)", [day, days, timezone])

    def pool_outlook(self, today: date) -> dict[str, Any]:
        """pool_outlook: pool counts, active quotas, latest run; a short wait for a connection."""
        with self.pool.connection(timeout=OUTLOOK_CONNECTION_TIMEOUT) as conn:
            return conn.execute("SELECT pool_outlook(%s)", [today]).fetchone()[0]

    def status_report(self, day: date, days: int, timezone: str, recent: int) -> dict[str, Any]:
        """status_report: everything the status page shows, in one statement."""
        return self._call("SELECT status_report(%s, %s, %s, %s)", [day, days, timezone, recent])

    def retention_batch(self, raw_before: datetime | None, keys_before: datetime,
                        limit: int) -> dict[str, Any]:
        """retention_batch: one batch of the clean-up."""
        return self._call("SELECT retention_batch(%s::timestamptz, %s::timestamptz, %s)",
                          [raw_before, keys_before, limit])

    def list_raw_profiles(self, start: datetime, end: datetime, after: tuple[str, str, int] | None,
                          limit: int) -> list[dict[str, Any]]:
        """list_raw_profiles: raw rows received in [start, end) after a keyset position."""
        at, ingest_id, position = after or (None, None, None)
        return self._call("SELECT list_raw_profiles(%s, %s, %s::timestamptz, %s::uuid, %s::integer, %s)",
                          [start, end, at, ingest_id, position, limit])

    def list_global_profiles(self, start: datetime, end: datetime, after: tuple[str, str] | None,
                             limit: int) -> list[dict[str, Any]]:
        """list_global_profiles: pool rows first seen in [start, end) after a keyset position."""
        at, profile_id = after or (None, None)
        return self._call("SELECT list_global_profiles(%s, %s, %s::timestamptz, %s::text, %s)",
                          [start, end, at, profile_id, limit])
