"""The storage interface every backend implements, and the rows that cross it."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, Sequence


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

    def record(self, body_sha256: str, response: dict[str, Any]) -> None:
        """Keep the response (and the Idempotency-Key, if any) with the ingest."""


class Store(Protocol):
    """A way to reach the database; one instance per worker process."""

    backend: str

    def begin_ingest(self, api_key_id: str,
                     idempotency_key: str | None) -> AbstractContextManager[IngestTransaction]:
        """Open an ingest; raise Conflict while another holds the same Idempotency-Key."""

    def readiness(self) -> dict[str, Any]:
        """Report whether the database answers and the schema is applied."""

    def close(self) -> None:
        """Release connections; called at process exit."""
