"""A scraper as fleets run one: batches with an Idempotency-Key, retried until the service answers."""

from __future__ import annotations

import gzip
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx
import orjson

from .conftest import INGEST_KEY

RETRYABLE = {409, 429, 503}  # busy key, rate limited, storage down: the same request may be sent again


@dataclass
class Attempt:
    """One try of a request: its status (None when no answer came) and how long it took."""

    status: int | None
    seconds: float
    error_code: str | None = None
    retry_after: str | None = None
    transport_error: str | None = None


@dataclass
class Outcome:
    """Every try of one logical request, and the final answer's body when it was a 2xx."""

    key: str
    attempts: list[Attempt] = field(default_factory=list)
    body: dict[str, Any] | None = None

    @property
    def acknowledged(self) -> bool:
        """The service answered 2xx: the batch is stored (or was, and this is its replay)."""
        return self.body is not None


def overlapping_batch(rng: random.Random, size: int, id_space: int, prefix: str = "L") -> list[dict]:
    """`size` profiles from a random window of a shared id space, with a few repeated inside the batch.

    Concurrent clients draw windows from the same space, so their batches overlap each other and
    earlier ones: the pool must count each id once whoever brings it first.
    """
    start = rng.randrange(id_space)
    ids = [(start + offset) % id_space for offset in range(size - size // 50)]
    ids += rng.choices(ids, k=size - len(ids))  # 2% duplicates inside the request
    return [{"id": f"{prefix}{n}", "username": f"user_{prefix}{n}", "full_name": f"User {n}",
             "followers": n % 10_000} for n in ids]


def encode(items: list[dict], kind: str) -> tuple[bytes, dict[str, str]]:
    """A body and its headers: "json" (a document) or "ndjson.gz" (streamed lines, gzipped)."""
    if kind == "json":
        return orjson.dumps({"profiles": items}), {"Content-Type": "application/json"}
    lines = b"".join(orjson.dumps(item) + b"\n" for item in items)
    return gzip.compress(lines, compresslevel=1), {"Content-Type": "application/x-ndjson",
                                                   "Content-Encoding": "gzip"}


def timed(send: Callable[[], httpx.Response]) -> tuple[Attempt, httpx.Response | None]:
    """Make one request and describe the try as an Attempt (None for the response when none came)."""
    started = time.monotonic()
    try:
        response = send()
    except httpx.TransportError as exc:
        return Attempt(None, time.monotonic() - started, transport_error=type(exc).__name__), None
    return Attempt(response.status_code, time.monotonic() - started, _error_code(response),
                   response.headers.get("Retry-After")), response


def timed_get(client: httpx.Client, url: str, **params) -> tuple[Attempt, httpx.Response | None]:
    """GET `url` as one timed try."""
    return timed(lambda: client.get(url, params=params))


def _error_code(response: httpx.Response) -> str | None:
    """The `error.code` of a JSON error answer; None for a success or a body that is not our JSON."""
    if response.status_code < 300:
        return None
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


class Scraper:
    """Posts batches to /api/ingest over one keep-alive connection, retrying like a careful client.

    A retry reuses the Idempotency-Key, so a batch that landed before its answer was lost is
    replayed instead of written twice. Retries are bounded in number and in time.
    """

    def __init__(self, base_url: str, *, api_key: str = INGEST_KEY, timeout: float = 60.0,
                 max_attempts: int = 30, give_up_after: float = 120.0, max_wait: float = 2.0):
        self.base_url = base_url
        self.api_key = api_key
        self.max_attempts = max_attempts
        self.give_up_after = give_up_after
        self.max_wait = max_wait
        self.http = httpx.Client(timeout=timeout)

    def post(self, body: bytes, headers: dict[str, str], key: str) -> Outcome:
        """Send one batch until it is acknowledged, refused for good, or the bounds run out."""
        outcome = Outcome(key)
        deadline = time.monotonic() + self.give_up_after
        all_headers = {"Authorization": f"Bearer {self.api_key}", "Idempotency-Key": key, **headers}
        while len(outcome.attempts) < self.max_attempts and time.monotonic() < deadline:
            attempt, response = timed(lambda: self.http.post(f"{self.base_url}/api/ingest", content=body,
                                                             headers=all_headers))
            outcome.attempts.append(attempt)
            if attempt.status is not None and attempt.status < 300:
                outcome.body = response.json()
                break
            if attempt.status is not None and attempt.status not in RETRYABLE and attempt.status < 500:
                break  # the request itself is wrong: sending it again cannot help
            time.sleep(self._wait(attempt))
        return outcome

    def _wait(self, attempt: Attempt) -> float:
        if attempt.retry_after and attempt.retry_after.isdigit():
            return min(float(attempt.retry_after), self.max_wait)
        return min(0.2, self.max_wait)

    def close(self) -> None:
        """Close the connection."""
        self.http.close()
