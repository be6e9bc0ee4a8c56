"""Cached pages of the daily lists, shared by every worker, invalidated by version tokens.

Each date has a version token in the cache, and so has each of its lists (one target's, or every
target's); both tokens are part of the key of every page. A write (run, top-up, status update,
release) commits first and then replaces tokens: a run or a release the date's, a status update
those of the lists it touched. No reader can then find a page from before the write: a page loaded
before the commit is stored under an old token, which nobody asks for any more. Replacing a token is
one `set`, atomic in Redis and in the file cache (write, then rename), so several workers and
machines need no lock. Should the cache fail, reads go to the database and a missed invalidation
lasts at most CACHE_DEFAULT_TIMEOUT.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import date
from typing import Any, Callable, Iterable, Sequence

import orjson
from flask import current_app

from .extensions import cache
from .metrics import get_metrics

logger = logging.getLogger("server.list_cache")
TOKEN_LIFETIMES = 12  # a version token lives 12 x CACHE_DEFAULT_TIMEOUT (an hour by default)


def _version_key(day: date | str, scope: int | str | None = None) -> str:
    """The token of a date (scope None), or of one of its lists: a target id, or 'all'."""
    return f"distribution:version:{day}" if scope is None else f"distribution:version:{day}:{scope}"


def _versions(*keys: str) -> list[str]:
    """The current tokens; a new one where a token expired or was evicted (its pages become unreachable)."""
    tokens = cache.get_many(*keys)
    return [token if token is not None else _new_version(key) for key, token in zip(keys, tokens)]


def _token_timeout() -> int:
    """Tokens outlive the pages keyed by them many times over, and still expire: one made for a date
    or target nobody reads again must not stay for good. A token made anew only makes pages unreachable."""
    return TOKEN_LIFETIMES * current_app.config["CACHE_DEFAULT_TIMEOUT"]


def _new_version(key: str) -> str:
    token = uuid.uuid4().hex
    if not cache.add(key, token, timeout=_token_timeout()):
        token = cache.get(key) or token
    return token


def cached_page(day: date, target: int | None, cursor: str | None, limit: int,
                load: Callable[[], dict[str, Any]]) -> bytes:
    """The page for (date, target, cursor, limit) as JSON bytes, from the cache or `load()`-ed.

    Pages are kept serialised: a hit is then one cache read, with no encoding work at all.
    """
    try:
        cursor_digest = hashlib.sha256((cursor or "").encode()).hexdigest()[:32]
        scope = target or "all"
        day_token, list_token = _versions(_version_key(day), _version_key(day, scope))
        key = f"distribution:list:{day}:{day_token}:{list_token}:{scope}:{limit}:{cursor_digest}"
        page = cache.get(key)
    except Exception:  # a cache outage must not take the lists down with it
        logger.warning("cache unavailable; reading the list from the database", exc_info=True)
        get_metrics().list_cache.labels("error").inc()
        return orjson.dumps(load())
    get_metrics().list_cache.labels("miss" if page is None else "hit").inc()
    if page is None:
        page = orjson.dumps(load())
        try:
            cache.set(key, page)
        except Exception:
            logger.warning("cache unavailable; list page not stored", exc_info=True)
    return page


def invalidate(days: Iterable[date | str]) -> None:
    """Give each date a new version token, so none of its cached pages is read again."""
    _replace({_version_key(day) for day in days})  # a date and its ISO string name the same key


def invalidate_lists(lists: Iterable[Sequence[Any]]) -> None:
    """New tokens for each (date, target) list and for its date's all-targets list."""
    keys = set()
    for day, target in lists:
        keys |= {_version_key(day, target), _version_key(day, "all")}
    _replace(keys)


def _replace(keys: set[str]) -> None:
    if not keys:
        return
    try:
        missing = keys - set(cache.set_many({key: uuid.uuid4().hex for key in keys}, timeout=_token_timeout()))
    except Exception:
        logger.error("cache unavailable; lists may be stale for up to CACHE_DEFAULT_TIMEOUT (%s)",
                     ", ".join(sorted(keys)), exc_info=True)
        return
    if missing:  # the file cache reports a failed write by leaving the key out, not by raising
        logger.error("cache refused a write; lists may be stale for up to CACHE_DEFAULT_TIMEOUT (%s)",
                     ", ".join(sorted(missing)))
