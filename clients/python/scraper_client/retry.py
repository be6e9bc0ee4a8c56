"""When to try a batch again and how long to wait first: Retry-After when given, else back-off."""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

import httpx

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


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
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
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
