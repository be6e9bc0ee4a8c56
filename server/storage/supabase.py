"""Supabase storage over its REST API (supabase-py): 1000-row chunk writes, each safe to repeat."""

from __future__ import annotations

import contextvars
import logging
import os
import threading
import time
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

import httpx
import orjson
from postgrest.exceptions import APIError
from supabase import Client

from ..errors import Conflict, StorageUnavailable
from ..metrics import get_metrics, observe_batch
from .base import IngestTotals, StagedProfile, StoredReply, new_ingest_id
from .supabase_client import (PAGE_SIZE, SCHEMA_MISSING_CODES, RetryPolicy, StatementTimeout,
                              TransientResponse, fetch_all, make_client, make_http_client, post_rpc,
                              worst_case_seconds)
from .supabase_distribution import SupabaseDistribution

logger = logging.getLogger("server.batch_processor")

T = TypeVar("T")

# PostgREST takes 1000 rows per request comfortably, and Supabase's row cap is 1000 by default.
MAX_CHUNK = 1000
# Chunk requests of one ingest under way at once: two keep the database busy during a round trip.
IN_FLIGHT = 2
_PROBE_INGEST = "00000000-0000-7000-8000-000000000000"  # a UUIDv7 of 1970: writes nothing


class SupabaseIngest:
    """One ingest request as a series of REST writes: ONE request per chunk, each safe to repeat.

    There is no transaction around the request: each chunk is one call of ingest_chunk, which
    writes the chunk's raw rows and its new pool ids in one transaction, so a chunk lands whole or
    not at all. Raw rows are keyed by (ingest_id, position) and the pool remembers which ingest
    added an id, so repeating a chunk (a retry after a timeout, or a request resumed under its
    Idempotency-Key) neither doubles rows nor miscounts. With a key, every chunk also renews the
    claim and checks that this attempt (`holder`) still holds it, in the same transaction.
    """

    def __init__(self, store: SupabaseStore, ingest_id: str, api_key_id: str, key: str | None,
                 holder: str, previous: StoredReply | None):
        self.store = store
        self.ingest_id = ingest_id
        self.api_key_id = api_key_id
        self.key = key
        self.holder = holder
        self.previous = previous
        self.totals = IngestTotals(0, 0, 0)
        self._batches = 0
        self._writer: ThreadPoolExecutor | None = None
        self._in_flight: deque[Future[None]] = deque()
        self._counting = threading.Lock()  # the writer threads add up the totals

    def write_chunk(self, rows: Sequence[StagedProfile]) -> None:
        """Send one chunk, in requests of at most 1000 profiles, from this ingest's writer threads.

        Up to IN_FLIGHT requests are under way while the caller validates the next chunk, so the
        request thread's Python, the network's round trips and the database's work overlap. The
        chunks of one request are independent (their positions, and which rows bring an id first,
        are fixed before they are sent), so their order of landing does not change what lands or
        the counts. A failure is raised by a later call (or by finish()).
        """
        for start in range(0, len(rows), self.store.chunk_size):
            piece = rows[start:start + self.store.chunk_size]
            body = self._chunk_body(piece)  # encoded while earlier requests are in flight
            while len(self._in_flight) >= IN_FLIGHT:
                self._in_flight.popleft().result()
            if self._writer is None:
                self._writer = ThreadPoolExecutor(IN_FLIGHT, thread_name_prefix="supabase-ingest")
            # The copied context keeps the request id on the writer's log lines.
            self._in_flight.append(self._writer.submit(contextvars.copy_context().run, self._write_counted,
                                                       piece, body))

    def _write_counted(self, rows: Sequence[StagedProfile], body: bytes) -> None:
        """_write, counting a chunk that failed for good once (its halves are not chunks of their own)."""
        try:
            self._write(rows, body)
        except Exception:
            get_metrics().supabase_failed_chunks.inc()
            raise

    def _write(self, rows: Sequence[StagedProfile], body: bytes | None = None) -> None:
        body = body or self._chunk_body(rows)
        started = time.perf_counter()
        try:
            counts = self.store.run(lambda client: post_rpc(client, "ingest_chunk", body))
        except StatementTimeout:
            if len(rows) <= self.store.min_chunk_size:
                raise
            half = len(rows) // 2
            logger.warning("Statement timeout on a batch of %d records; writing it as %d + %d",
                           len(rows), half, len(rows) - half)
            self._write(rows[:half])
            self._write(rows[half:])
            return
        observe_batch("chunk", started)
        with self._counting:
            self._batches += 1
            number = self._batches
            self.totals.inserted_raw += counts["inserted_raw"]
            self.totals.added_to_global += counts["added_to_global"]
            self.totals.distinct_ids += counts["distinct_ids"]
        logger.info("✓ Inserted batch %d (%d records into raw_scraped_profiles; %d new in"
                    " global_usernames, %d already there)", number, counts["inserted_raw"],
                    counts["added_to_global"], counts["distinct_ids"] - counts["added_to_global"])

    def _chunk_body(self, rows: Sequence[StagedProfile]) -> bytes:
        # Each profile goes in as the JSON text it was validated into, not parsed and re-encoded.
        body = [{"position": row.position, "profile_id": row.profile_id, "username": row.username,
                 "full_name": row.full_name, "source": row.source, "scraped_at": row.scraped_at,
                 "profile": orjson.Fragment(row.profile_json), "first": row.first} for row in rows]
        return orjson.dumps({**self._claim_params(), "p_ingest_id": self.ingest_id,
                             "p_lease_seconds": self.store.lease_seconds, "p_rows": body})

    def _claim_params(self) -> dict[str, Any]:
        return {"p_api_key_id": self.api_key_id, "p_idempotency_key": self.key, "p_holder": self.holder}

    def finish(self) -> IngestTotals:
        """Wait for the chunks in flight; return the exact counts."""
        while self._in_flight:
            self._in_flight.popleft().result()
        logger.info("✓ Inserted %d records into raw_scraped_profiles", self.totals.inserted_raw)
        return self.totals

    def record(self, body_sha256: str, response: dict[str, Any],
               by_source: dict[str, dict[str, int]] | None = None) -> None:
        """Store the reply in ingest_requests so a retry with the same Idempotency-Key replays it,
        with the counts per source."""
        recorded = self.store.rpc("record_ingest", {
            **self._claim_params(), "p_ingest_id": self.ingest_id, "p_body_sha256": body_sha256,
            "p_response": response, "p_by_source": by_source})
        if not recorded:
            logger.info("ingest %s was recorded already (a repeated call)", self.ingest_id)

    def close(self) -> None:
        """Let the chunk in flight end (whatever its outcome) and stop the writer thread."""
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
            self._in_flight.clear()

    def release(self) -> None:
        """After a failure, end the claim's lease at once so a retry can resume without waiting."""
        self.close()  # first: a chunk still in flight would renew the lease
        if self.key is not None and self.previous is None:
            self.store.release_claim_quietly(self._claim_params())


class SupabaseStore(SupabaseDistribution):
    """Reach Supabase through one supabase-py client per worker process, made on first use."""

    backend = "supabase"

    def __init__(self, config: Mapping[str, Any]):
        self.config = config
        self.chunk_size = min(config["BATCH_CHUNK_SIZE"], MAX_CHUNK)
        self.min_chunk_size = config["SUPABASE_MIN_CHUNK_SIZE"]
        self.lease_seconds = max(config["SUPABASE_CLAIM_LEASE_SECONDS"], worst_case_seconds(config))
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
        (ingest_id, _), holder, previous = new_ingest_id(), str(uuid.uuid4()), None
        if idempotency_key is not None:
            claim_params = {"p_api_key_id": api_key_id, "p_idempotency_key": idempotency_key, "p_holder": holder}
            try:
                claim = self.rpc("claim_ingest", {**claim_params, "p_ingest_id": ingest_id,
                                                  "p_lease_seconds": self.lease_seconds})
            except StorageUnavailable:  # the claim may have landed with every answer lost: free it
                self.release_claim_quietly(claim_params)
                raise
            if claim["state"] == "busy":
                raise Conflict("a request with this Idempotency-Key is still being processed",
                               code="idempotency_in_progress")
            if claim["state"] == "done":
                previous = StoredReply(claim["body_sha256"], claim["response"])
            elif claim["state"] == "resumed":
                logger.info("Resuming ingest %s: an earlier attempt with this Idempotency-Key failed",
                            claim["ingest_id"])
            ingest_id = claim["ingest_id"]
        txn = SupabaseIngest(self, ingest_id, api_key_id, idempotency_key, holder, previous)
        try:
            yield txn
        except Conflict:  # another attempt holds the claim now: there is nothing of ours to release
            raise
        except Exception:
            txn.release()
            raise
        finally:
            txn.close()

    def release_claim_quietly(self, claim_params: dict[str, Any]) -> None:
        """End a claim's lease (holder given in claim_params) if Supabase lets us; never raises."""
        try:
            self.rpc("release_ingest_claim", claim_params)
        except Exception:  # Supabase may be what failed; the lease then simply runs out
            logger.warning("could not release an Idempotency-Key claim after a failed claim call")

    def readiness(self) -> dict[str, Any]:
        """One request, no retries: does Supabase answer, and is the set-up SQL applied?"""
        try:
            self.client.rpc("ingest_chunk", {"p_ingest_id": _PROBE_INGEST, "p_api_key_id": "readiness",
                                             "p_idempotency_key": None, "p_holder": None,
                                             "p_lease_seconds": 0, "p_rows": []}).execute()
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
