"""Generated profiles for the benchmarks: one fixed set of rows every contender receives."""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from pathlib import Path

import orjson

@dataclass
class Dataset:
    """A job of `size` profiles, the ids pre-seeded in the pool, and the valid rows for peers."""

    size: int
    profiles: list[dict]
    preseeded_ids: list[str]

    @property
    def valid(self) -> list[dict]:
        """Profiles a correct ingest keeps (what the peers, which do not validate, receive)."""
        return [p for p in self.profiles if "username" in p]

    def json_body(self) -> bytes:
        return orjson.dumps({"profiles": self.profiles, "source": "bench"})

    def ndjson_gzip_body(self) -> bytes:
        return gzip.compress(b"".join(orjson.dumps(p) + b"\n" for p in self.profiles), compresslevel=1)

    def json_chunks(self, size: int = 1000) -> list[bytes]:
        return [orjson.dumps({"profiles": self.profiles[i:i + size], "source": "bench"})
                for i in range(0, self.size, size)]

    def write_stage_csv(self, path: Path) -> Path:
        """The valid rows as CSV in the staging table's column order (the floor's input)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for position, p in enumerate(self.valid):
            writer.writerow([position, p["id"], p["username"], p["full_name"], "bench", p["scraped_at"],
                             orjson.dumps(p).decode(), "t"])
        path.write_text(buffer.getvalue())
        return path


def make_dataset(size: int, seed_tag: str = "b") -> Dataset:
    """`size` profiles: every 50th lacks a username (invalid), ids of every 5th are pre-seeded."""
    profiles, preseeded = [], []
    for i in range(size):
        profile_id = f"{seed_tag}{i:08d}"
        profile = {"id": profile_id, "username": f"user_{i}", "full_name": f"Person {i}",
                   "followers": i * 7 % 100_000, "bio": "scraped bio text, nothing special here",
                   "scraped_at": "2026-11-20T12:00:00Z"}
        if i % 50 == 49:
            del profile["username"]
        elif i % 5 == 0:
            preseeded.append(profile_id)
        profiles.append(profile)
    return Dataset(size, profiles, preseeded)
