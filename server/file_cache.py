"""The list cache's file backend: Flask-Caching's FileSystemCache without a per-write file count."""

from __future__ import annotations

import os
import struct
import time
from typing import Any

from flask_caching.backends.filesystemcache import FileSystemCache

from .cache_values import CacheValues

PRUNE_EVERY_SECONDS = 60.0


class PrunedFileCache(FileSystemCache):
    """FileSystemCache that prunes in bulk, at most once a minute per process.

    The stock one keeps its file count in a file of its own, rewritten on every write: half the
    cost of storing a page. Past its threshold it also re-reads the whole folder on every write,
    because it removes files only until it is back at the threshold. Here the count is off
    (threshold 0) and a write now and then removes the expired files and, past `max_files`, the
    ones closest to expiring, down to 80% of it.
    """

    serializer = CacheValues()  # never pickle: see cache_values

    def __init__(self, cache_dir: str, max_files: int, **kwargs: Any):
        super().__init__(cache_dir, threshold=0, **kwargs)
        self.max_files = max_files
        self._next_prune = 0.0

    @classmethod
    def factory(cls, app, config, args, kwargs) -> "PrunedFileCache":
        """Build from Flask-Caching's settings: CACHE_DIR, CACHE_THRESHOLD (the file cap)."""
        return cls(config["CACHE_DIR"], config["CACHE_THRESHOLD"], *args,
                   hash_method=config["CACHE_FILE_HASH_METHOD"], **kwargs)

    def set(self, key: str, value: Any, timeout: Any = None, mgmt_element: bool = False) -> bool:
        """Store one value; every PRUNE_EVERY_SECONDS, prune the folder first."""
        if time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
            self.prune()
        return super().set(key, value, timeout, mgmt_element)

    def prune(self) -> None:
        """Remove expired files; past max_files, also those closest to expiring, down to 80% of it."""
        now, live = time.time(), []
        for path in self._list_dir():  # one pass, reading each file's expiry once
            try:
                with open(path, "rb") as f:  # cachelib's file layout: 4-byte expiry time, then the value
                    expires = struct.unpack("I", f.read(4))[0]
                if expires != 0 and expires < now:
                    os.remove(path)
                else:
                    live.append((expires or float("inf"), path))
            except (FileNotFoundError, struct.error):  # another worker pruned it first, or it is half-written
                continue
        if len(live) <= self.max_files:
            return
        live.sort()
        for _, path in live[:len(live) - int(self.max_files * 0.8)]:
            try:
                os.remove(path)
            except FileNotFoundError:
                continue
