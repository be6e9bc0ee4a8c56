"""Running totals of a run: the sums of the server's answers, and what was refused or lost."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

# The counts every ingest answer carries; a run's totals are exactly their sums.
ANSWER_COUNTS = ("received", "inserted_raw", "added_to_global", "skipped_existing",
                 "duplicates_in_request", "rejected")
MAX_LISTED = 1000  # rejections and failures kept for the report; the counts stay exact past it


@dataclass(frozen=True)
class Rejection:
    """A profile the server refused: its position in the run, batch, id, field and reason."""

    position: int
    batch: int
    index: int
    profile_id: Any
    field: str | None
    reason: str


@dataclass(frozen=True)
class BatchFailure:
    """A batch that was not stored: refused for good, or out of retries. Nothing of it was counted."""

    batch: int
    key: str
    first: int
    profiles: int
    status: int | None
    code: str
    message: str


@dataclass
class Totals:
    """Sums of every acknowledged answer, plus failed batches and the requests it took."""

    received: int = 0
    inserted_raw: int = 0
    added_to_global: int = 0
    skipped_existing: int = 0
    duplicates_in_request: int = 0
    rejected: int = 0
    batches: int = 0
    replayed_batches: int = 0
    failed_batches: int = 0
    failed_profiles: int = 0
    requests: int = 0
    retries: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    failures: list[BatchFailure] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add_answer(self, answer: dict[str, Any], replayed: bool = False,
                   rejections: list[Rejection] = ()) -> None:
        """Count one acknowledged batch."""
        with self._lock:
            for name in ANSWER_COUNTS:
                setattr(self, name, getattr(self, name) + int(answer.get(name, 0)))
            self.batches += 1
            self.replayed_batches += replayed
            self.rejections.extend(rejections[:MAX_LISTED - len(self.rejections)])

    def add_failure(self, failure: BatchFailure) -> None:
        """Count one batch that was not stored."""
        with self._lock:
            self.failed_batches += 1
            self.failed_profiles += failure.profiles
            if len(self.failures) < MAX_LISTED:
                self.failures.append(failure)

    def add_requests(self, requests: int) -> None:
        """Count the HTTP requests one batch took (every one past the first is a retry)."""
        with self._lock:
            self.requests += requests
            self.retries += max(0, requests - 1)

    def counts(self) -> dict[str, int]:
        """The numbers alone, e.g. for logs or Scrapy's stats."""
        with self._lock:
            return self._counts()

    def snapshot(self) -> "Totals":
        """A copy that no later batch changes."""
        with self._lock:
            return Totals(**self._counts(), rejections=list(self.rejections), failures=list(self.failures))

    def _counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNTS}


COUNTS = tuple(name for name, spec in Totals.__dataclass_fields__.items() if spec.type == "int")
