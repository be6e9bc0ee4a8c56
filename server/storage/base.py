"""The storage interface every backend implements, and the rows that cross it."""

from __future__ import annotations

import secrets
import time
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Mapping, NamedTuple, Protocol, Sequence


def new_ingest_id() -> tuple[str, datetime]:
    """A UUIDv7 for a new ingest (RFC 9562: 48 bits of Unix milliseconds, version, variant, random
    bits) and the time it carries, which is its raw rows' created_at: the SQL's ingest_time()."""
    millis = time.time_ns() // 1_000_000
    value = (millis << 80 | 0x7 << 76 | secrets.randbits(12) << 64 | 0b10 << 62 | secrets.randbits(62))
    return str(uuid.UUID(int=value)), datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=millis)


class StagedProfile(NamedTuple):
    """One validated profile, ready to write. `first` marks its id's first time in the request."""

    position: int
    profile_id: str
    username: str
    full_name: str | None
    source: str | None
    scraped_at: str | None
    profile_json: str
    first: bool


@dataclass
class IngestTotals:
    """What one ingest wrote: raw rows, ids new to the pool, and distinct ids it carried."""

    inserted_raw: int
    added_to_global: int
    distinct_ids: int

    @property
    def skipped_existing(self) -> int:
        """Distinct ids of the request that the pool already held."""
        return self.distinct_ids - self.added_to_global


@dataclass(frozen=True)
class StoredReply:
    """The first answer given for an Idempotency-Key, with the hash of the body it answered."""

    body_sha256: str
    response: dict[str, Any]


class IngestTransaction(Protocol):
    """One ingest request's writes. Direct PostgreSQL: one transaction, all or nothing. Supabase
    REST: chunk by chunk, each safe to repeat, so a retry of the same ingest never double-counts."""

    ingest_id: str
    previous: StoredReply | None

    def write_chunk(self, rows: Sequence[StagedProfile]) -> None:
        """Stage one chunk of validated profiles."""

    def finish(self) -> IngestTotals:
        """Write everything staged into the raw table and the pool; return exact counts."""

    def record(self, body_sha256: str, response: dict[str, Any],
               by_source: dict[str, dict[str, int]] | None = None) -> None:
        """Keep the response (and the Idempotency-Key, if any) with the ingest, and its counts per
        source ({source or "": {"received", "inserted_raw", "rejected"}})."""


class DistributionStore(Protocol):
    """Targets, the daily distribution, statistics and retention; see docs/distribution.md.

    Every value crossing this interface is plain JSON data: dicts and lists of str, int, bool and
    None, timestamps as ISO 8601 strings; arguments are `datetime.date` / aware `datetime`. All
    but the target methods are one call of the SQL function of the same purpose in schema.sql
    (named in each docstring), so both backends share the logic: psycopg runs `SELECT fn(...)`,
    supabase-py calls `.rpc("fn", {param: value})` with the parameter names given.
    """

    def create_target(self, name: str, daily_quota: int, sources: list[str] | None,
                      active: bool = True) -> dict[str, Any]:
        """Insert a target and return it (keys: id, name, daily_quota, sources, active, created_at,
        updated_at); raise errors.Conflict when the name is taken."""

    def list_targets(self, active: bool | None = None) -> list[dict[str, Any]]:
        """Every target (only active or only inactive ones if `active` is given), by id."""

    def get_target(self, target_id: int) -> dict[str, Any] | None:
        """One target, or None."""

    def update_target(self, target_id: int, changes: Mapping[str, Any]) -> dict[str, Any] | None:
        """Apply `changes` (any of name, daily_quota, sources, active), set updated_at, return the
        target; None when there is no such target; errors.Conflict when the new name is taken."""

    def run_distribution(self, day: date, top_up: bool = False) -> dict[str, Any]:
        """distribution_run(p_date, p_top_up): claim the day's profiles (or replay the run).
        Returns date, assigned, shortfall, claimed, top_up, replayed and targets (a list of target,
        name, quota, assigned, shortfall)."""

    def list_assignments(self, day: date, target_id: int | None, after: tuple[int, int],
                         limit: int) -> list[dict[str, Any]]:
        """distribution_list(p_date, p_target, p_after_target, p_after_id, p_limit): up to `limit`
        live assignments of `day` after keyset position `after` = (target id, assignment id),
        (0, 0) for the first page; items carry assignment_id, profile_id, username, full_name,
        source, target, status, assigned_at, status_at."""

    def update_statuses(self, updates: Sequence[tuple[str, str]]) -> dict[str, Any]:
        """distribution_set_status(p_profile_ids, p_statuses), one statement for all (profile id,
        status) pairs. Returns updated (count), unknown (ids with no live assignment), dates
        (ISO dates whose lists changed) and lists ([ISO date, target id] pairs that changed)."""

    def release_unsent(self, through: date, limit: int) -> dict[str, Any]:
        """distribution_release(p_through, p_limit): one batch of at most `limit` assignments of
        dates up to `through` still unsent, back to the pool. Returns released, returned, dates."""

    def distribution_stats(self, day: date, days: int, timezone: str) -> dict[str, Any]:
        """distribution_stats(p_date, p_days, p_timezone): pool (total, unused, used),
        ingested_per_day for the `days` days up to `day`, and the distribution of `day`."""

    def pool_outlook(self, today: date) -> dict[str, Any]:
        """pool_outlook(p_today): pool total, unused and used, the active targets' daily_quota added
        up, and last_run_date (the latest run of a date up to `today`, or None). One attempt only:
        /metrics calls it, and its next scrape is the retry."""

    def status_report(self, day: date, days: int, timezone: str, recent: int) -> dict[str, Any]:
        """status_report(p_date, p_days, p_timezone, p_recent): what the status page shows (stats,
        summary, outlook, run, sources, recent; see schema.sql)."""

    def retention_batch(self, raw_before: datetime | None, keys_before: datetime,
                        limit: int) -> dict[str, Any]:
        """retention_batch(p_raw_before, p_keys_before, p_limit): one batch of the clean-up.
        Returns raw_deleted, ingests_deleted, keys_expired."""

    def list_raw_profiles(self, start: datetime, end: datetime, after: tuple[str, str, int] | None,
                          limit: int) -> list[dict[str, Any]]:
        """list_raw_profiles(p_from, p_to, p_after_at, p_after_ingest, p_after_position, p_limit):
        raw rows received in [start, end) after (created_at, ingest_id, position)."""

    def list_global_profiles(self, start: datetime, end: datetime, after: tuple[str, str] | None,
                             limit: int) -> list[dict[str, Any]]:
        """list_global_profiles(p_from, p_to, p_after_at, p_after_id, p_limit): pool rows first
        seen in [start, end) after (first_seen_at, id)."""


class Store(DistributionStore, Protocol):
    """A way to reach the database; one instance per worker process."""

    backend: str

    def begin_ingest(self, api_key_id: str,
                     idempotency_key: str | None) -> AbstractContextManager[IngestTransaction]:
        """Open an ingest; raise Conflict while another holds the same Idempotency-Key."""

    def readiness(self) -> dict[str, Any]:
        """Report whether the database answers and the schema is applied."""

    def close(self) -> None:
        """Release connections; called at process exit."""
