"""Supabase storage over its REST API (supabase-py): 1000-row chunk writes, each safe to repeat."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

import httpx
import orjson
from postgrest.exceptions import APIError
from postgrest.types import ReturnMethod
from supabase import Client

from ..errors import Conflict, StorageUnavailable
from .base import IngestTotals, StagedProfile, StoredReply
from .supabase_client import (PAGE_SIZE, SCHEMA_MISSING_CODES, RetryPolicy, StatementTimeout,
                              TransientResponse, fetch_all, make_client, make_http_client)
from .supabase_distribution import SupabaseDistribution

logger = logging.getLogger("server.batch_processor")

T = TypeVar("T")

# PostgREST takes 1000 rows per request comfortably, and Supabase's row cap is 1000 by default.
MAX_CHUNK = 1000
_PROBE_INGEST = "00000000-0000-0000-0000-000000000000"


class SupabaseIngest:
    """One ingest request as a series of REST writes, each of which may be repeated safely.

    There is no transaction around the request: every chunk is written when it arrives. Raw rows
    are keyed by (ingest_id, position) and inserted ignoring duplicates, and the pool look-up
    reports ids this ingest added before, so repeating a chunk (a retry after a timeout, or a
    request resumed under its Idempotency-Key) neither doubles rows nor miscounts.
    """

    def __init__(self, store: SupabaseStore, ingest_id: str, api_key_id: str, key: str | None,
                 previous: StoredReply | None):
        self.store = store
        self.ingest_id = ingest_id
        self.api_key_id = api_key_id
        self.key = key
        self.previous = previous
        self.totals = IngestTotals(0, 0, 0)
        self._batches = 0
        self._renewed_at = time.monotonic()

    def write_chunk(self, rows: Sequence[StagedProfile]) -> None:
        """Write one chunk now, in requests of at most 1000 profiles."""
        for start in range(0, len(rows), self.store.chunk_size):
            self._write(rows[start:start + self.store.chunk_size])
        self._renew_claim_if_due()

    def _write(self, rows: Sequence[StagedProfile]) -> None:
        try:
            self.store.run(lambda client: self._insert_raw(client, rows))
            added, distinct = self.store.run(lambda client: self._add_to_pool(client, rows))
        except StatementTimeout:
            if len(rows) <= self.store.min_chunk_size:
                raise
            half = len(rows) // 2
            logger.warning("Statement timeout on a batch of %d records; writing it as %d + %d",
                           len(rows), half, len(rows) - half)
            self._write(rows[:half])
            self._write(rows[half:])
            return
        self._batches += 1
        self.totals.inserted_raw += len(rows)
        self.totals.added_to_global += added
        self.totals.distinct_ids += distinct
        logger.info("✓ Inserted batch %d (%d records into raw_scraped_profiles; %d new in"
                    " global_usernames, %d already there)", self._batches, len(rows), added, distinct - added)

    def _insert_raw(self, client: Client, rows: Sequence[StagedProfile]) -> None:
        body = [{"ingest_id": self.ingest_id, "position": row.position, "profile_id": row.profile_id,
                 "username": row.username, "full_name": row.full_name, "source": row.source,
                 "scraped_at": row.scraped_at, "profile": orjson.loads(row.profile_json)}
                for row in rows]
        client.table("raw_scraped_profiles").upsert(
            body, on_conflict="ingest_id,position", ignore_duplicates=True,
            returning=ReturnMethod.minimal, default_to_null=False).execute()

    def _add_to_pool(self, client: Client, rows: Sequence[StagedProfile]) -> tuple[int, int]:
        """Look up which first-seen ids the pool holds, insert the rest; return (added, distinct).

        Repeated as one unit: after a timed-out insert, the repeated look-up finds the ids that
        insert did add under this ingest_id ("ours") and counts them as added.
        """
        first = [row for row in rows if row.first]
        if not first:
            return 0, 0
        found = client.rpc("existing_profile_ids", {
            "p_ingest_id": self.ingest_id, "p_ids": [row.profile_id for row in first]}).execute().data
        known = set(found["existing"]) | set(found["ours"])
        # Ascending id order, as the direct backend: concurrent ingests lock pool rows in one order.
        new = sorted((row for row in first if row.profile_id not in known), key=lambda row: row.profile_id)
        inserted: list[Any] = []
        if new:
            inserted = client.table("global_usernames").upsert(
                [{"id": row.profile_id, "username": row.username, "full_name": row.full_name,
                  "source": row.source, "first_ingest_id": self.ingest_id} for row in new],
                on_conflict="id", ignore_duplicates=True, default_to_null=False,
            ).select("id").execute().data  # only the rows this insert added come back
        return len(found["ours"]) + len(inserted), len(first)

    def _renew_claim_if_due(self) -> None:
        lease = self.store.lease_seconds
        if self.key is None or time.monotonic() - self._renewed_at < lease / 3:
            return
        self.store.rpc("renew_ingest_claim", self._claim_params(lease))
        self._renewed_at = time.monotonic()

    def _claim_params(self, lease_seconds: int) -> dict[str, Any]:
        return {"p_api_key_id": self.api_key_id, "p_idempotency_key": self.key,
                "p_ingest_id": self.ingest_id, "p_lease_seconds": lease_seconds}

    def finish(self) -> IngestTotals:
        """Every chunk is written already; return the exact counts."""
        logger.info("✓ Inserted %d records into raw_scraped_profiles", self.totals.inserted_raw)
        return self.totals

    def record(self, body_sha256: str, response: dict[str, Any]) -> None:
        """Store the reply in ingest_requests so a retry with the same Idempotency-Key replays it."""
        recorded = self.store.rpc("record_ingest", {
            "p_ingest_id": self.ingest_id, "p_api_key_id": self.api_key_id,
            "p_idempotency_key": self.key, "p_body_sha256": body_sha256, "p_response": response})
        if not recorded:
            logger.info("ingest %s was recorded already (a concurrent retry finished first)", self.ingest_id)

    def release(self) -> None:
        """After a failure, end the claim's lease at once so a retry can resume without waiting."""
        if self.key is None or self.previous is not None:
            return
        try:
            self.store.rpc("renew_ingest_claim", self._claim_params(0))
        except Exception:  # Supabase may be what failed; the lease then simply runs out
            logger.warning("could not release the Idempotency-Key claim of ingest %s", self.ingest_id)


class SupabaseStore(SupabaseDistribution):
    """Reach Supabase through one supabase-py client per worker process, made on first use."""

    backend = "supabase"

    def __init__(self, config: Mapping[str, Any]):
        self.config = config
        self.chunk_size = min(config["BATCH_CHUNK_SIZE"], MAX_CHUNK)
        self.min_chunk_size = config["SUPABASE_MIN_CHUNK_SIZE"]
        self.lease_seconds = config["SUPABASE_CLAIM_LEASE_SECONDS"]
        self.policy = RetryPolicy(config["SUPABASE_RETRY_BACKOFF_MS"])
        self._lock = threading.Lock()
        self._client: Client | None = None
        self._http: httpx.Client | None = None
        self._pid: int | None = None

    @property
    def client(self) -> Client:
        """This process's client; a process forked from the one that made it makes its own."""
        pid = os.getpid()
        if self._pid != pid:
            with self._lock:  # the threads of one worker race to the first request
                if self._pid != pid:
                    # An inherited client shares sockets with the parent: leave it, never close it.
                    self._http = make_http_client(self.config)
                    self._client = make_client(self.config, self._http)
                    self._pid = pid
        return self._client

    def run(self, work: Callable[[Client], T]) -> T:
        """Run work(client) under the retry policy; `work` must be safe to repeat as a whole."""
        return self.policy.run(lambda: work(self.client))

    def rpc(self, function: str, params: dict[str, Any]) -> Any:
        """Call a SQL function of schema.sql with retries; return its JSON result."""
        return self.run(lambda client: client.rpc(function, params).execute().data)

    def fetch_all(self, query: Callable[[Client], Any], *, key: str,
                  page_size: int = PAGE_SIZE) -> list[dict[str, Any]]:
        """Every row of a select, paged past PostgREST's row cap (see supabase_client.fetch_all)."""
        return fetch_all(self.run, query, key=key, page_size=page_size)

    @contextmanager
    def begin_ingest(self, api_key_id: str, idempotency_key: str | None) -> Iterator[SupabaseIngest]:
        """Start an ingest; with an Idempotency-Key, claim it first (Conflict while another holds it)."""
        ingest_id, previous = str(uuid.uuid4()), None
        if idempotency_key is not None:
            claim = self.rpc("claim_ingest", {
                "p_api_key_id": api_key_id, "p_idempotency_key": idempotency_key,
                "p_ingest_id": ingest_id, "p_lease_seconds": self.lease_seconds})
            if claim["state"] == "busy":
                raise Conflict("a request with this Idempotency-Key is still being processed",
                               code="idempotency_in_progress")
            if claim["state"] == "done":
                previous = StoredReply(claim["body_sha256"], claim["response"])
            elif claim["state"] == "resumed":
                logger.info("Resuming ingest %s: an earlier attempt with this Idempotency-Key failed",
                            claim["ingest_id"])
            ingest_id = claim["ingest_id"]
        txn = SupabaseIngest(self, ingest_id, api_key_id, idempotency_key, previous)
        try:
            yield txn
        except Exception:
            txn.release()
            raise

    def readiness(self) -> dict[str, Any]:
        """One request, no retries: does Supabase answer, and is the set-up SQL applied?"""
        try:
            self.client.rpc("existing_profile_ids", {"p_ingest_id": _PROBE_INGEST, "p_ids": []}).execute()
            # A project set up before the distribution existed lacks this one: not ready either.
            self.client.rpc("distribution_summary", {"p_date": "2000-01-01"}).execute()
        except (TransientResponse, StorageUnavailable, httpx.TransportError) as exc:
            logger.warning("readiness: Supabase unreachable: %s", exc)
            return {"database": "unreachable"}
        except APIError as exc:
            if exc.code in SCHEMA_MISSING_CODES:
                return {"database": "ok", "schema": "missing"}
            logger.warning("readiness: Supabase refused the probe: %s %s", exc.code, exc.message)
            return {"database": "refused"}
        return {"database": "ok", "schema": "ok"}

    def close(self) -> None:
        """Close this process's HTTP connections (a client inherited through fork is left alone)."""
        if self._http is not None and self._pid == os.getpid():
            self._http.close()
            self._http, self._client, self._pid = None, None, None
