"""The file cache behind the lists: no per-write count file, bulk pruning of expired and surplus files."""

from __future__ import annotations

import os
import time

from server import file_cache
from server.file_cache import PrunedFileCache


def test_values_round_trip_and_no_count_file_is_written(tmp_path):
    cache = PrunedFileCache(str(tmp_path), max_files=100)
    cache.set("page", b"{}")
    assert cache.get("page") == b"{}"
    assert len(os.listdir(tmp_path)) == 1  # the stock cache keeps a second file, its count


def test_prune_removes_expired_files_and_caps_the_rest_at_80_percent(tmp_path, monkeypatch):
    cache = PrunedFileCache(str(tmp_path), max_files=10)
    monkeypatch.setattr(file_cache, "PRUNE_EVERY_SECONDS", 3600)
    cache.set("soon-gone", b"x", timeout=1)
    for n in range(15):
        cache.set(f"kept-{n}", b"x", timeout=100 + n)
    assert len(os.listdir(tmp_path)) == 16  # pruned only on the first write, before any file existed
    time.sleep(2.1)  # expiry times have whole-second resolution
    cache.prune()
    assert cache.get("soon-gone") is None
    assert len(os.listdir(tmp_path)) == 8
    assert [cache.get(f"kept-{n}") for n in range(15)] == [None] * 7 + [b"x"] * 8  # latest expiries stay


def test_a_write_prunes_at_most_once_per_interval(tmp_path, monkeypatch):
    cache = PrunedFileCache(str(tmp_path), max_files=2)
    calls = []
    monkeypatch.setattr(cache, "prune", lambda: calls.append(1))
    for n in range(5):
        cache.set(f"k{n}", b"x")
    assert calls == [1]
    cache._next_prune = 0.0  # the interval has passed
    cache.set("k5", b"x")
    assert calls == [1, 1]
