"""One batch of profiles: encoded once, numbered, keyed, and sent as the same bytes on every try."""

from __future__ import annotations

import datetime
import gzip
import json
from dataclasses import dataclass, field
from typing import Any

from .totals import Rejection

# Past this many bytes a body goes as gzip-compressed NDJSON: the server streams NDJSON in constant
# memory, and profiles compress about 5 to 1. Below it, compressing costs more time than it saves.
GZIP_FROM_BYTES = 64 * 1024
MAX_RUN_ID = 200  # room for "-<batch number>" within the server's 255 characters per key


def _plain(value: Any) -> Any:
    """JSON for the types scraped items hold besides JSON's own: dates and times, sets."""
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"a profile field of type {type(value).__name__} cannot be sent as JSON")


def encode_profile(profile: Any) -> bytes:
    """One profile as a compact JSON line (no newline).

    Raises TypeError or ValueError for what JSON cannot carry (NaN, infinities, other objects), so
    the caller hears of it when adding the profile, not later as a whole batch refused with 400.
    """
    try:
        return json.dumps(profile, ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                          default=_plain).encode()
    except UnicodeEncodeError:  # a lone surrogate: escaped, it is valid JSON the server cleans up
        return json.dumps(profile, allow_nan=False, separators=(",", ":"), default=_plain).encode()


def batch_key(run_id: str, number: int) -> str:
    """The Idempotency-Key of batch `number` of a run: used for that batch's body and nothing else."""
    return f"{run_id}-{number:06d}"


def check_run_id(run_id: str) -> str:
    """Return `run_id` if it can start Idempotency-Keys, else raise ValueError saying why."""
    if not run_id or len(run_id) > MAX_RUN_ID or not run_id.isprintable() or run_id != run_id.strip():
        raise ValueError(f"run_id must be 1 to {MAX_RUN_ID} printable characters without surrounding spaces")
    return run_id


@dataclass
class Batch:
    """Profiles `first` to `first + len(lines) - 1` of a run (counted from 0), as encoded lines."""

    number: int
    key: str
    first: int
    lines: list[bytes] = field(default_factory=list)
    size: int = 0  # bytes of the lines plus their separators

    def add(self, line: bytes) -> None:
        """Append one encoded profile."""
        self.lines.append(line)
        self.size += len(line) + 1

    def body(self) -> tuple[bytes, dict[str, str]]:
        """The request body and its content headers; the same bytes every time it is called."""
        if self.size < GZIP_FROM_BYTES:
            return b"[" + b",".join(self.lines) + b"]", {"Content-Type": "application/json"}
        data = b"\n".join(self.lines) + b"\n"
        # mtime=0: the gzip header holds no time, so a retry sends the very same bytes.
        return gzip.compress(data, compresslevel=5, mtime=0), {
            "Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}

    def rejections(self, answer: dict[str, Any]) -> list[Rejection]:
        """The profiles an answer lists as rejected, placed in the run and named by their id."""
        return [Rejection(self.first + error["index"], self.number, error["index"], self.profile_id(error["index"]),
                          error.get("field"), error.get("reason", ""))
                for error in answer.get("errors") or () if isinstance(error.get("index"), int)]

    def profile_id(self, index: int) -> Any:
        """The `id` the profile at `index` was sent with (None if it had none), for error reports."""
        try:
            profile = json.loads(self.lines[index])
        except (IndexError, ValueError):
            return None
        return profile.get("id") if isinstance(profile, dict) else None
