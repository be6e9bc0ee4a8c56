"""The cache never unpickles: a value planted in its files or in Redis cannot run code in a worker."""

from __future__ import annotations

import pickle
import struct
import time

import pytest

from server.cache_values import CacheValues, SafeRedisCache
from server.file_cache import PrunedFileCache

from .servers import redis_url  # noqa: F401 (fixture)


class Planted:
    """A pickle that, once loaded, creates the file `path`: what an attacker's payload would do."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_text_and_bytes_round_trip_and_nothing_else_is_stored():
    values = CacheValues()
    assert values.loads(values.dumps("token")) == "token"
    assert values.loads(values.dumps(b'{"items":[]}')) == b'{"items":[]}'
    with pytest.raises(TypeError):
        values.dumps({"a": 1})


def test_a_pickle_planted_in_the_file_cache_is_a_miss_and_never_runs(tmp_path):
    cache = PrunedFileCache(str(tmp_path / "cache"), max_files=100)
    cache.set("page", b"{}")
    marker = tmp_path / "pwned"
    # cachelib's file layout: a 4-byte expiry time, then the value (stock: pickled)
    with open(cache._get_filename("page"), "wb") as f:
        f.write(struct.pack("I", int(time.time()) + 300) + pickle.dumps(Planted(marker)))
    assert cache.get("page") is None
    assert not marker.exists()


def test_a_pickle_planted_in_redis_is_a_miss_and_never_runs(tmp_path, redis_url):
    from redis import from_url

    cache = SafeRedisCache(host=from_url(redis_url), key_prefix="test-cache-values:")
    marker = tmp_path / "pwned"
    try:
        cache.set("page", b"{}")
        assert cache.get("page") == b"{}"
        for stored in (b"!" + pickle.dumps(Planted(marker)), pickle.dumps(Planted(marker))):
            cache._write_client.set("test-cache-values:page", stored)  # stock cachelib's pickle form
            assert cache.get("page") is None
        assert not marker.exists()
    finally:
        cache.clear()
