"""The HTTP side: POST /api/ingest with the API key, each batch retried under its Idempotency-Key."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

import httpx

from .batch import Batch, batch_key, encode_profile
from .retry import RETRY_ERRORS, RETRY_STATUSES, RetryPolicy, retry_after_seconds
from .totals import ANSWER_COUNTS

if TYPE_CHECKING:
    from .batcher import Batcher

logger = logging.getLogger("scraper_client")


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

    def __init__(self, url: str, api_key: str, *, timeout: float = 120.0,
                 retry: RetryPolicy = RetryPolicy(), transport: httpx.BaseTransport | None = None):
        self.url = url.rstrip("/")
        self.retry = retry
        # The read timeout covers a whole batch being written; connecting should never take long.
        self._http = httpx.Client(base_url=self.url, transport=transport,
                                  timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
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
        for attempt in range(1, self.retry.max_retries + 2):
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
        raise AssertionError("unreachable: the loop returns or raises")

    def batcher(self, **options: Any) -> "Batcher":
        """A Batcher sending through this client (see Batcher for the options)."""
        from .batcher import Batcher
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
