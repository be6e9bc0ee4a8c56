"""Rate-limit counters kept in this process (no REDIS_URL): fixed windows behind one lock, no thread.

limits' own memory storage drops ended windows from a timer thread that it starts again 10 ms after
the last one ended: about a hundred thread starts a second in a busy worker, each one waiting for the
new thread to run, and two request threads can race to start the same timer (a RuntimeError that
Flask-Limiter swallows, leaving that request unlimited). Cached list reads through Gunicorn served
about a quarter more requests a second with this storage than with that one. Here an ended window
is dropped when it is next read, and every ended one in a sweep at most every SWEEP_EVERY_SECONDS,
on the request's own thread.
"""

from __future__ import annotations

import threading
import time

from limits.storage import Storage

SCHEME = "process-memory"


class ProcessMemoryStorage(Storage):
    """Fixed-window counters for Flask-Limiter's default strategy; registered as `process-memory://`."""

    STORAGE_SCHEME = [SCHEME]
    SWEEP_EVERY_SECONDS = 60.0

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[int, float]] = {}  # key -> (count, the window's end)
        self._swept_at = time.time()

    @property
    def base_exceptions(self) -> type[Exception]:
        """Nothing here fails on I/O; limits wraps only these."""
        return RuntimeError

    @property
    def storage(self) -> str:
        """What `flask limiter config` prints for this storage (limits' own storages all have one)."""
        return f"{len(self._windows)} windows in this process"

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        """Add `amount` to the key's window, opening a new one of `expiry` seconds if none is open."""
        with self._lock:
            now = time.time()  # read under the lock: a thread that waited for it is not behind
            if now - self._swept_at >= self.SWEEP_EVERY_SECONDS:
                self._sweep(now)
            count, ends = self._windows.get(key, (0, 0.0))
            if ends <= now:
                count, ends = 0, now + expiry
            count += amount
            self._windows[key] = (count, ends)
            return count

    def get(self, key: str) -> int:
        """The count of the key's open window; 0 when none is open."""
        count, ends = self._windows.get(key, (0, 0.0))
        return count if ends > time.time() else 0

    def get_expiry(self, key: str) -> float:
        """When the key's window ends (now when none is open), as a Unix time."""
        now = time.time()
        ends = self._windows.get(key, (0, 0.0))[1]
        return ends if ends > now else now

    def check(self) -> bool:
        """Always healthy: there is nothing to reach."""
        return True

    def reset(self) -> int:
        """Forget every window; how many there were."""
        with self._lock:
            dropped = len(self._windows)
            self._windows.clear()
            return dropped

    def clear(self, key: str) -> None:
        """Forget one key's window."""
        with self._lock:
            self._windows.pop(key, None)

    def counters(self) -> int:
        """How many windows are kept, open or not yet swept."""
        return len(self._windows)

    def _sweep(self, now: float) -> None:
        self._swept_at = now
        for key in [key for key, (_, ends) in self._windows.items() if ends <= now]:
            del self._windows[key]
