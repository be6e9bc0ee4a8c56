"""The distribution half of SupabaseStore: targets as REST table requests, the rest one .rpc() each.

Every SQL function here is safe to repeat, so each call goes through the store's retry policy:
distribution_run takes a per-date lock and records the run, so a repeated call replays it (or tops
up to quota, never past it); status updates set the same values again; release and retention
batches take whatever is still left to do; the rest only read. Targets are table requests, and the
one write that is not naturally repeatable, creating a target, resolves its own repeat (see
create_target). Results have the shapes of the direct backend's (PostgresDistribution).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Callable, Mapping, Sequence, TypeVar

from postgrest.exceptions import APIError
from supabase import Client

from .target_rules import check_changes, name_taken

T = TypeVar("T")

TARGETS = "distribution_targets"
TARGET_COLUMNS = "id,name,daily_quota,sources,active,created_at,updated_at"
_TIMESTAMPS = ("created_at", "updated_at")
# PostgREST answers a unique violation with HTTP 409 and the SQLSTATE as its code.
UNIQUE_VIOLATION = "23505"


def _target(row: dict[str, Any]) -> dict[str, Any]:
    """A target as the direct backend gives it: its columns in order, timestamps spelt by Python.

    PostgreSQL's JSON drops trailing zeros of the fraction (`...:05.12+00:00`); Python's isoformat,
    which the direct backend uses, keeps six digits or none.
    """
    return {key: datetime.fromisoformat(row[key]).isoformat() if key in _TIMESTAMPS else row[key]
            for key in TARGET_COLUMNS.split(",")}


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


class SupabaseDistribution:
    """Mixed into SupabaseStore; needs its run(), rpc() and fetch_all()."""

    client: Client
    run: Callable[[Callable[[Client], T]], T]
    rpc: Callable[[str, dict[str, Any]], Any]
    fetch_all: Callable[..., list[dict[str, Any]]]

    def create_target(self, name: str, daily_quota: int, sources: list[str] | None,
                      active: bool = True) -> dict[str, Any]:
        """Insert a target; Conflict when the name is taken.

        An insert is not repeatable: when an attempt lands but its answer is lost, the retry finds
        the name taken by the target it created itself. So a repeated attempt that meets a taken
        name reads that target, and when it holds exactly the fields asked for, returns it as the
        one created; anything else is the 409 it would be on the first attempt.
        """
        fields = {"name": name, "daily_quota": daily_quota, "sources": sources, "active": active}
        attempts = 0

        def insert(client: Client) -> dict[str, Any]:
            nonlocal attempts
            attempts += 1
            try:
                return client.table(TARGETS).insert([fields]).select(TARGET_COLUMNS).execute().data[0]
            except APIError as exc:
                if exc.code != UNIQUE_VIOLATION:
                    raise
            if attempts > 1:
                rows = client.table(TARGETS).select(TARGET_COLUMNS).eq("name", name).execute().data
                if rows and all(rows[0][key] == value for key, value in fields.items()):
                    return rows[0]
            raise name_taken(name)

        return _target(self.run(insert))

    def list_targets(self, active: bool | None = None) -> list[dict[str, Any]]:
        """Every target by id, optionally only active or inactive ones; paged past the row cap."""
        def query(client: Client) -> Any:
            select = client.table(TARGETS).select(TARGET_COLUMNS)
            return select if active is None else select.eq("active", active)

        return [_target(row) for row in self.fetch_all(query, key="id")]

    def get_target(self, target_id: int) -> dict[str, Any] | None:
        """One target, or None."""
        rows = self.run(lambda client: client.table(TARGETS).select(TARGET_COLUMNS)
                        .eq("id", target_id).execute().data)
        return _target(rows[0]) if rows else None

    def update_target(self, target_id: int, changes: Mapping[str, Any]) -> dict[str, Any] | None:
        """Change some of name, daily_quota, sources, active; None when there is no such target."""
        check_changes(changes)
        # "now" is PostgreSQL's special input for the transaction's start: the database's clock
        # stamps updated_at, as now() does in the direct backend. Setting the same values again is
        # harmless, so a repeated attempt needs no care.
        body = {**changes, "updated_at": "now"}

        def update(client: Client) -> list[dict[str, Any]]:
            try:
                return client.table(TARGETS).update(body).eq("id", target_id).select(
                    TARGET_COLUMNS).execute().data
            except APIError as exc:
                if exc.code == UNIQUE_VIOLATION:
                    raise name_taken(changes.get("name")) from None
                raise

        rows = self.run(update)
        return _target(rows[0]) if rows else None

    def run_distribution(self, day: date, top_up: bool = False) -> dict[str, Any]:
        """distribution_run: claim the day's profiles, or replay the run.

        A repeat after a lost answer replays the run the first attempt made ("replayed": true,
        "claimed": 0); the assignments are made once either way.
        """
        return self.rpc("distribution_run", {"p_date": day.isoformat(), "p_top_up": top_up})

    def list_assignments(self, day: date, target_id: int | None, after: tuple[int, int],
                         limit: int) -> list[dict[str, Any]]:
        """distribution_list: one page (one JSON array, whatever the row cap) after a keyset position."""
        return self.rpc("distribution_list", {"p_date": day.isoformat(), "p_target": target_id,
                                              "p_after_target": after[0], "p_after_id": after[1],
                                              "p_limit": limit})

    def update_statuses(self, updates: Sequence[tuple[str, str]]) -> dict[str, Any]:
        """distribution_set_status: every update in one request, one statement."""
        return self.rpc("distribution_set_status", {"p_profile_ids": [u[0] for u in updates],
                                                    "p_statuses": [u[1] for u in updates]})

    def release_unsent(self, through: date, limit: int) -> dict[str, Any]:
        """distribution_release: one batch of unsent assignments back to the pool."""
        return self.rpc("distribution_release", {"p_through": through.isoformat(), "p_limit": limit})

    def distribution_stats(self, day: date, days: int, timezone: str) -> dict[str, Any]:
        """distribution_stats: pool counts, ingest per day, the day's distribution."""
        return self.rpc("distribution_stats", {"p_date": day.isoformat(), "p_days": days,
                                               "p_timezone": timezone})

    def pool_outlook(self, today: date) -> dict[str, Any]:
        """pool_outlook in one request without retries (the next scrape is the retry)."""
        return self.client.rpc("pool_outlook", {"p_today": today.isoformat()}).execute().data

    def status_report(self, day: date, days: int, timezone: str, recent: int) -> dict[str, Any]:
        """status_report: everything the status page shows, in one request."""
        return self.rpc("status_report", {"p_date": day.isoformat(), "p_days": days, "p_timezone": timezone,
                                          "p_recent": recent})

    def retention_batch(self, raw_before: datetime | None, keys_before: datetime,
                        limit: int) -> dict[str, Any]:
        """retention_batch: one batch of the clean-up."""
        return self.rpc("retention_batch", {"p_raw_before": _iso(raw_before),
                                            "p_keys_before": _iso(keys_before), "p_limit": limit})

    def list_raw_profiles(self, start: datetime, end: datetime, after: tuple[str, str, int] | None,
                          limit: int) -> list[dict[str, Any]]:
        """list_raw_profiles: raw rows received in [start, end) after a keyset position."""
        at, ingest_id, position = after or (None, None, None)
        return self.rpc("list_raw_profiles", {
            "p_from": _iso(start), "p_to": _iso(end), "p_after_at": at, "p_after_ingest": ingest_id,
            "p_after_position": position, "p_limit": limit})

    def list_global_profiles(self, start: datetime, end: datetime, after: tuple[str, str] | None,
                             limit: int) -> list[dict[str, Any]]:
        """list_global_profiles: pool rows first seen in [start, end) after a keyset position."""
        at, profile_id = after or (None, None)
        return self.rpc("list_global_profiles", {
            "p_from": _iso(start), "p_to": _iso(end), "p_after_at": at, "p_after_id": profile_id,
            "p_limit": limit})
