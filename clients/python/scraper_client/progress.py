"""The push's progress bar: share of the file read, profiles sent, rate and time left, on stderr.

Twenty lines of the standard library rather than a dependency: the client installs with httpx alone.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """Redrawn in place on a terminal (at most 5 times a second); a plain line every 10 s elsewhere."""

    WIDTH = 30

    def __init__(self, total_bytes: int, stream: TextIO | None = None):
        self.total_bytes = max(1, total_bytes)
        self.stream = stream or sys.stderr
        self.terminal = self.stream.isatty()
        self.started = self._drawn = time.monotonic()

    def show(self, done_bytes: int, profiles: int, final: bool = False) -> None:
        """Draw the bar if it is time to (always when `final`)."""
        now = time.monotonic()
        if not final and now - self._drawn < (0.2 if self.terminal else 10.0):
            return
        self._drawn = now
        share = min(1.0, done_bytes / self.total_bytes)
        elapsed = now - self.started
        left = elapsed / share - elapsed if share > 0 else 0.0
        bar = "=" * int(share * self.WIDTH)
        line = (f"[{bar:<{self.WIDTH}}] {share:4.0%}  {profiles:,} profiles  "
                f"{profiles / elapsed if elapsed else 0:,.0f}/s  {'done in' if final else 'left'} "
                f"{int(elapsed if final else left) // 60}:{int(elapsed if final else left) % 60:02d}")
        self.stream.write(("\r" + line + "\033[K" + ("\n" if final else "")) if self.terminal else line + "\n")
        self.stream.flush()
