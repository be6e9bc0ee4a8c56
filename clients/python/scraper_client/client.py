"""The HTTP side: POST /api/ingest with the API key; each batch retried, under its Idempotency-Key,
after Retry-After or a jittered back-off."""

from __future__ import annotations

import email.utils
import logging
import random
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

import httpx

from .batch import Batch, batch_key, encode_profile
from .totals import ANSWER_COUNTS

if TYPE_CHECKING:
    from .batcher import Batcher

logger = logging.getLogger("scraper_client")

# 408 the upload was too slow, 409 the same key is still being processed, 429 rate limited,
# 502/504 a proxy in front lost the app, 503 the database is down or busy. Every batch carries its
# Idempotency-Key, so sending it again can never store it twice.
RETRY_STATUSES = frozenset({408, 409, 429, 502, 503, 504})
# No answer came: the connection failed, was cut or timed out. Other transport errors (a wrong URL
# scheme, a proxy refusing us) would fail the same way again.
RETRY_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class RetryPolicy:
    """Up to `max_retries` more tries per batch, waiting Retry-After (capped at `max_wait`) or an
    exponential back-off from `base` seconds, each with jitter so a fleet does not retry in step."""

    max_retries: int = 10
    base: float = 0.5
    max_wait: float = 60.0

    def delay(self, retry: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number `retry` (1 for the first); never under `base / 2`,
        so neither a "Retry-After: 0" nor a server that is down turns into a tight loop."""
        if retry_after is not None:
            return max(self.base / 2, min(self.max_wait, retry_after) * random.uniform(1.0, 1.2))
        step = min(self.max_wait, self.base * 2 ** (retry - 1))
        return step / 2 + random.uniform(0, step / 2)


def retry_after_seconds(value: str | None) -> float | None:
    """The wait a Retry-After header asks for (seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class IngestError(Exception):
    """A batch the server did not store: refused for good (`status`, `code` say why) or out of retries."""

    def __init__(self, message: str, *, code: str, status: int | None = None, details: Any = None,
                 attempts: int = 1):
        super().__init__(message)
        self.message, self.code, self.status, self.details, self.attempts = message, code, status, details, attempts


@dataclass(frozen=True)
class Delivery:
    """The server's answer to a batch, whether it was a replay of an earlier try, and the tries it took."""

    answer: dict[str, Any]
    replayed: bool
    attempts: int


class Client:
    """A connection to one backend. Thread-safe: a Batcher's sender and the caller may share it."""

    def __init__(self, url: str, api_key: str, *, timeout: float = 120.0, retry: RetryPolicy = RetryPolicy()):
        self.url = url.rstrip("/")
        self.retry = retry
        # The read timeout covers a whole batch being written; connecting should never take long.
        self._http = httpx.Client(base_url=self.url, timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                                  headers={"Authorization": f"Bearer {api_key}"})

    def ingest(self, profiles: Iterable[Any], *, key: str | None = None) -> dict[str, Any]:
        """Send `profiles` as one batch and return the server's answer; raise IngestError if not stored.

        Without `key` a fresh one is made, so this call's own retries are safe; pass your own to
        make a later call (another process, after a crash) a retry of this one: same key, same body.
        """
        batch = Batch(1, key or batch_key(uuid.uuid4().hex, 1), 0)
        for profile in profiles:
            batch.add(encode_profile(profile))
        return self.send(batch).answer

    def send(self, batch: Batch) -> Delivery:
        """POST `batch` until it is acknowledged, refused for good, or the retries run out."""
        body, headers = batch.body()
        headers["Idempotency-Key"] = batch.key
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.post("/api/ingest", content=body, headers=headers)
            except RETRY_ERRORS as exc:
                problem, status, wait = f"{type(exc).__name__}: {exc}", None, None
            else:
                if response.is_success:
                    return Delivery(_answer(response, attempt), response.headers.get("Idempotent-Replayed") == "true",
                                    attempt)
                error = _error(response, attempt)
                if response.status_code not in RETRY_STATUSES:
                    raise error
                problem, status = f"{error.status} {error.code}", error.status
                wait = retry_after_seconds(response.headers.get("Retry-After"))
            if attempt > self.retry.max_retries:
                raise IngestError(f"gave up after {attempt} tries; last: {problem}", code="retries_exhausted",
                                  status=status, attempts=attempt)
            delay = self.retry.delay(attempt, wait)
            logger.info("batch %s: %s; try %d in %.1f s", batch.number, problem, attempt + 1, delay)
            time.sleep(delay)

    def batcher(self, **options: Any) -> "Batcher":
        """A Batcher sending through this client (see Batcher for the options)."""
        from .batcher import Batcher  # here: the batcher module imports this one
        return Batcher(self, **options)

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def _answer(response: httpx.Response, attempts: int) -> dict[str, Any]:
    """The JSON answer of a 2xx, checked to hold every count (a proxy's own page would not)."""
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or not all(isinstance(answer.get(n), int) for n in ANSWER_COUNTS):
        raise IngestError(f"a {response.status_code} answer without the ingest counts: {response.text[:200]!r}",
                          code="invalid_answer", status=response.status_code, attempts=attempts)
    return answer


def _error(response: httpx.Response, attempts: int) -> IngestError:
    """The server's JSON error ({"error": {"code", "message", "details"}}) as an IngestError."""
    try:
        error = response.json()["error"]
        code, message, details = str(error["code"]), str(error["message"]), error.get("details")
    except (ValueError, KeyError, TypeError):
        code, message, details = f"http_{response.status_code}", response.text[:200], None
    return IngestError(message, code=code, status=response.status_code, details=details, attempts=attempts)
