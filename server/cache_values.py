"""What the cache stores: text and bytes only, tagged, never pickled.

cachelib's serializers pickle every value, so whoever can write to Redis or to DATA_DIR/cache
could have a worker unpickle, and so run, code of their choosing. Our cache holds only version
tokens (text) and list pages (JSON bytes), so nothing else is accepted, and a stored value that is
not one of ours reads as a miss.
"""

from __future__ import annotations

import logging
from typing import IO, Any

from flask_caching.backends.rediscache import RedisCache

logger = logging.getLogger("server.cache")

_TEXT, _BYTES = b"s", b"b"


class CacheValues:
    """A cachelib serializer for str and bytes: one tag byte, then the value's bytes."""

    def dumps(self, value: Any) -> bytes:
        """The stored form of `value`; TypeError for anything but str and bytes."""
        if isinstance(value, bytes):
            return _BYTES + value
        if isinstance(value, str):
            return _TEXT + value.encode()
        raise TypeError(f"the cache stores str and bytes only, not {type(value).__name__}")

    def loads(self, stored: bytes | None) -> str | bytes | None:
        """The value `stored` holds; None (a miss) for what this serializer did not write."""
        if not stored:
            return None
        tag, data = stored[:1], stored[1:]
        if tag == _BYTES:
            return data
        if tag == _TEXT:
            return data.decode()
        logger.warning("ignoring a cache value this server did not write")
        return None

    def dump(self, value: Any, f: IO[bytes]) -> None:
        """Write `value` to a cache file (the file cache's interface)."""
        f.write(self.dumps(value))

    def load(self, f: IO[bytes]) -> str | bytes | None:
        """Read a cache file's value."""
        return self.loads(f.read())


class SafeRedisCache(RedisCache):
    """Flask-Caching's Redis backend with CacheValues in place of pickle."""

    serializer = CacheValues()
