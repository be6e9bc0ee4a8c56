"""A push's journal: its run id and every batch the server acknowledged, so a stopped push resumes.

One JSON object a line: the run's description first, then one line per acknowledged batch, then
"done". Each line is flushed to disk before the next batch counts on it; a line cut short by a crash
is ignored, and its batch is sent again under the same Idempotency-Key, which the server answers
with the first reply (within its IDEMPOTENCY_TTL_HOURS, 48 h by default).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .batch import Batch
from .client import Delivery, IngestError
from .totals import ANSWER_COUNTS, Rejection, Totals

# What must be the same for a resumed push to cut the same batches and send them to the same place.
RUN_FIELDS = ("url", "file", "size", "mtime_ns", "format", "source", "batch_size", "max_batch_bytes")


class JournalMismatch(Exception):
    """The journal belongs to another push (other file contents, settings or server)."""


class Journal:
    """Open with `Journal.open`; `record` is called from the Batcher's sender thread."""

    def __init__(self, path: Path, run: dict[str, Any], acknowledged: dict[int, dict[str, Any]], done: bool):
        self.path, self.run, self.acknowledged, self.done = path, run, acknowledged, done

    @property
    def run_id(self) -> str:
        """The id every batch key of this push starts with."""
        return self.run["run_id"]

    @classmethod
    def open(cls, path: Path, run: dict[str, Any], restart: bool = False) -> "Journal":
        """Resume the push `path` records, or start a new one (always with `restart`)."""
        if path.exists() and not restart:
            entries = _entries(path)
            if entries and entries[0].get("run"):
                first = entries[0]["run"]
                changed = [name for name in RUN_FIELDS if first.get(name) != run.get(name)]
                if changed:
                    raise JournalMismatch(f"{path} records a push with another {', '.join(changed)}; pass --restart "
                                          "to push anew (profiles already sent are then stored again as raw rows)")
                acknowledged = {e["batch"]: e for e in entries if "batch" in e}
                return cls(path, first, acknowledged, any(e.get("done") for e in entries))
        journal = cls(path, {**run, "run_id": uuid.uuid4().hex}, {}, False)
        with path.open("w", encoding="utf-8") as file:
            _write(file, {"run": journal.run})
        return journal

    def record(self, batch: Batch, outcome: Delivery | IngestError) -> None:
        """Note an acknowledged batch with its counts and rejected profiles (a Batcher's `on_batch`);
        a failed batch is not noted, so a resumed push sends it again."""
        if not isinstance(outcome, Delivery):
            return
        entry = {"batch": batch.number, "first": batch.first, "replayed": outcome.replayed,
                 "answer": {name: outcome.answer[name] for name in ANSWER_COUNTS},
                 "rejections": [asdict(r) for r in batch.rejections(outcome.answer)]}
        self._append(entry)
        self.acknowledged[batch.number] = entry

    def finish(self) -> None:
        """Mark the push complete: running it again sends nothing."""
        self._append({"done": True})
        self.done = True

    def add_to(self, totals: Totals) -> None:
        """Count the batches acknowledged before this session into `totals`."""
        for entry in self.acknowledged.values():
            totals.add_answer(entry["answer"], entry["replayed"],
                              [Rejection(**r) for r in entry["rejections"]])

    def _append(self, entry: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as file:
            _write(file, entry)


def _write(file: Any, entry: dict[str, Any]) -> None:
    file.write(json.dumps(entry) + "\n")
    file.flush()
    os.fsync(file.fileno())


def _entries(path: Path) -> list[dict[str, Any]]:
    """The journal's complete lines; a last line cut short by a crash is left out."""
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return entries
