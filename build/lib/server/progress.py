"""A progress line for long imports: rows, rows/s, percent of the file and ETA, redrawn in place."""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR_WIDTH = 24


def format_duration(seconds: float) -> str:
    """H:MM:SS, the way people read an ETA."""
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def progress_line(rows: int, done_bytes: int, total_bytes: int | None, elapsed: float,
                  note: str = "") -> str:
    """One line: bar, percent, rows, rows/s and ETA (estimated from the share of the file read)."""
    rate = rows / elapsed if elapsed > 0 else 0.0
    parts = []
    if total_bytes:
        fraction = min(1.0, done_bytes / total_bytes)
        filled = int(fraction * BAR_WIDTH)
        parts.append(f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {fraction * 100:3.0f}%")
        eta = elapsed * (1 - fraction) / fraction if fraction > 0 else None
    else:
        eta = None
    parts.append(f"{rows:,} rows")
    parts.append(f"{rate:,.0f} rows/s")
    parts.append(f"ETA {format_duration(eta)}" if eta is not None else "ETA --:--:--")
    if note:
        parts.append(note)
    return "  ".join(parts)


class Progress:
    """Redraw the progress line at most every `interval` seconds; on a terminal in place, else as lines."""

    def __init__(self, total_bytes: int | None, stream: TextIO | None = None, interval: float | None = None):
        self.stream = stream or sys.stderr
        self.total_bytes = total_bytes
        self.in_place = self.stream.isatty()
        # A log file gets a line every few seconds rather than hundreds of carriage returns.
        self.interval = interval if interval is not None else (0.2 if self.in_place else 5.0)
        self.started = time.monotonic()
        self._next_draw = self.started + self.interval  # the first figures would be noise
        self._width = 0
        self.rows = 0
        self.done_bytes = 0

    def update(self, rows: int, done_bytes: int, note: str = "", force: bool = False) -> None:
        """Record the position; draw when the interval has passed (or when forced)."""
        self.rows, self.done_bytes = rows, done_bytes
        now = time.monotonic()
        if force or now >= self._next_draw:
            self._next_draw = now + self.interval
            self._draw(progress_line(rows, done_bytes, self.total_bytes, now - self.started, note))

    def finish(self) -> float:
        """Draw the final line, end it, and return the seconds elapsed."""
        elapsed = time.monotonic() - self.started
        self._draw(progress_line(self.rows, self.done_bytes, self.total_bytes, elapsed, "done"))
        if self.in_place:
            self.stream.write("\n")
        self.stream.flush()
        return elapsed

    def _draw(self, line: str) -> None:
        if self.in_place:
            self.stream.write("\r" + line.ljust(self._width))
            self._width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
