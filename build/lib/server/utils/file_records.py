"""Read profiles from a JSON, NDJSON or CSV file (optionally gzip-compressed) one record at a time."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from pathlib import Path
from typing import IO, Any, Iterator

import ijson

from .request_body import ndjson_records

FORMATS = ("json", "ndjson", "csv")
_SUFFIXES = {".json": "json", ".ndjson": "ndjson", ".jsonl": "ndjson", ".csv": "csv"}
_READ_SIZE = 256 * 1024


class FileFormatError(ValueError):
    """The file cannot be read as the format it claims to be."""


def guess_format(path: Path) -> str:
    """json, ndjson or csv from the file name (a trailing .gz is looked through)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    raise FileFormatError(f"cannot tell the format of {path.name}: name it .json, .ndjson, .jsonl or .csv"
                          " (optionally .gz), or pass --format")


class CountingReader(io.RawIOBase):
    """Wrap the file on disk, counting (and hashing) the bytes read, compressed or not."""

    def __init__(self, raw: IO[bytes]):
        self._raw = raw
        self.bytes_read = 0
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self._raw.readinto(buffer)
        if count:
            self.bytes_read += count
            self.sha256.update(memoryview(buffer)[:count])
        return count

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_source(path: Path) -> tuple[CountingReader, IO[bytes]]:
    """Open `path`: the counting reader on the bytes on disk, and the (gunzipped) content stream."""
    counter = CountingReader(path.open("rb"))
    buffered = io.BufferedReader(counter, _READ_SIZE)
    if buffered.peek(2)[:2] == b"\x1f\x8b":  # the gzip magic number, whatever the file is called
        return counter, gzip.GzipFile(fileobj=buffered, mode="rb")
    return counter, buffered


def read_records(stream: IO[bytes], file_format: str, max_line: int) -> Iterator[Any]:
    """Yield the file's profiles in order; per-line problems come through as LineError values."""
    if file_format == "ndjson":
        return ndjson_records(iter(lambda: stream.read(_READ_SIZE), b""), max_line)
    if file_format == "csv":
        return csv_records(stream)
    return json_records(stream)


def json_records(stream: IO[bytes]) -> Iterator[Any]:
    """Profiles of a top-level array or of an object's "profiles" array, parsed incrementally."""
    buffered = stream if hasattr(stream, "peek") else io.BufferedReader(stream)
    head = buffered.peek(64).lstrip()[:1]
    if head not in (b"[", b"{"):
        raise FileFormatError('a JSON file must hold an array of profiles or {"profiles": [...]}')
    prefix = "item" if head == b"[" else "profiles.item"
    try:
        yield from ijson.items(buffered, prefix, use_float=True)
    except ijson.JSONError as exc:
        raise FileFormatError(f"malformed JSON: {exc}") from None


def json_document_source(stream: IO[bytes]) -> str | None:
    """The top-level "source" of a {"profiles": [...], "source": ...} file; one streaming pass."""
    try:
        for prefix, event, value in ijson.parse(stream):
            if prefix == "source" and event == "string":
                return value
    except ijson.JSONError as exc:
        raise FileFormatError(f"malformed JSON: {exc}") from None
    return None


def csv_records(stream: IO[bytes]) -> Iterator[dict[str, str]]:
    """One profile per row, keyed by the header row; empty cells are left out (CSV has no null)."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.DictReader(text)
    if reader.fieldnames is None:
        return
    if "id" not in reader.fieldnames or "username" not in reader.fieldnames:
        raise FileFormatError("a CSV file needs a header row with at least the columns id and username")
    for row in reader:
        yield {key: value for key, value in row.items() if key is not None and value not in ("", None)}
