"""Cached pages of the daily lists, shared by every worker, invalidated per date by a version token.

Each date has a version token in the cache, and the token is part of the key of every page of that
date. A write (run, top-up, status update, release) commits first and then replaces the token, so
no reader can find a page from before the write: a page loaded before the commit is stored under
the old token, which nobody asks for any more. Replacing a token is one `set`, atomic in Redis and
in the file cache (write, then rename), so several workers and machines need no lock. Should the
cache fail, reads go to the database and a missed invalidation lasts at most CACHE_DEFAULT_TIMEOUT.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import date
from typing import Any, Callable, Iterable

import orjson

from .extensions import cache

logger = logging.getLogger("server.list_cache")


def _version_key(day: date | str) -> str:
    return f"distribution:version:{day}"


def _version(day: date) -> str:
    """The date's current token; a new one if it expired or was evicted (old pages become unreachable)."""
    token = cache.get(_version_key(day))
    if token is None:
        token = uuid.uuid4().hex
        if not cache.add(_version_key(day), token, timeout=0):
            token = cache.get(_version_key(day)) or token
    return token


def cached_page(day: date, target: int | None, cursor: str | None, limit: int,
                load: Callable[[], dict[str, Any]]) -> bytes:
    """The page for (date, target, cursor, limit) as JSON bytes, from the cache or `load()`-ed.

    Pages are kept serialised: a hit is then one cache read, with no encoding work at all.
    """
    try:
        cursor_digest = hashlib.sha256((cursor or "").encode()).hexdigest()[:32]
        key = f"distribution:list:{day}:{_version(day)}:{target or 'all'}:{limit}:{cursor_digest}"
        page = cache.get(key)
    except Exception:  # a cache outage must not take the lists down with it
        logger.warning("cache unavailable; reading the list from the database", exc_info=True)
        return orjson.dumps(load())
    if page is None:
        page = orjson.dumps(load())
        try:
            cache.set(key, page)
        except Exception:
            logger.warning("cache unavailable; list page not stored", exc_info=True)
    return page


def invalidate(days: Iterable[date | str]) -> None:
    """Give each date a new version token, so its cached pages are never read again."""
    for day in set(map(str, days)):
        try:
            cache.set(_version_key(day), uuid.uuid4().hex, timeout=0)
        except Exception:
            logger.error("cache unavailable; lists of %s may be stale for up to CACHE_DEFAULT_TIMEOUT",
                         day, exc_info=True)
