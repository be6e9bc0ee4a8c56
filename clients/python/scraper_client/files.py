"""Read profiles from a JSON, NDJSON or CSV file (gzip too) one at a time, in constant memory."""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterator

FORMATS = ("json", "ndjson", "csv")
_SUFFIXES = {".json": "json", ".ndjson": "ndjson", ".jsonl": "ndjson", ".csv": "csv"}
_CHUNK = 256 * 1024
# A single JSON value this large that still does not parse is malformed, not merely unfinished.
_MAX_VALUE = 16 << 20


class FileFormatError(ValueError):
    """The file cannot be read as the format it claims to be."""


def _not_json(constant: str) -> Any:
    """Refuse NaN and Infinity: Python's parser takes them, JSON (and so the server) does not."""
    raise ValueError(f"{constant} is not JSON")


@dataclass(frozen=True)
class Unreadable:
    """An NDJSON line that is not JSON: skipped, and reported with its line number."""

    line: int
    reason: str


def guess_format(path: Path) -> str:
    """json, ndjson or csv from the file name; a trailing .gz is looked through."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    raise FileFormatError(f"cannot tell the format of {path.name}: name it .json, .ndjson, .jsonl or .csv "
                          "(optionally .gz), or pass --format")


class CountingFile(io.RawIOBase):
    """The file on disk, counting the bytes read (compressed ones for a .gz): the progress of a push."""

    def __init__(self, path: Path):
        self._file = path.open("rb")
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._file.readinto(buffer)
        self.bytes_read += count or 0
        return count

    def close(self) -> None:
        self._file.close()
        super().close()


def open_content(path: Path) -> tuple[CountingFile, IO[bytes]]:
    """The counting file and its content, gunzipped when it starts with gzip's magic number."""
    counter = CountingFile(path)
    buffered = io.BufferedReader(counter, _CHUNK)
    if buffered.peek(2)[:2] == b"\x1f\x8b":
        return counter, gzip.GzipFile(fileobj=buffered, mode="rb")
    return counter, buffered


def read_profiles(stream: IO[bytes], file_format: str) -> Iterator[Any]:
    """The file's profiles in order; an NDJSON line that is not JSON comes through as Unreadable."""
    if file_format == "ndjson":
        return ndjson_profiles(stream)
    if file_format == "csv":
        return csv_profiles(stream)
    return _JsonText(stream).profiles()


def ndjson_profiles(stream: IO[bytes]) -> Iterator[Any]:
    """One JSON value per non-blank line."""
    for number, line in enumerate(stream, 1):
        if line.strip():
            try:
                yield json.loads(line, parse_constant=_not_json)
            except ValueError as exc:
                yield Unreadable(number, str(exc))


def csv_profiles(stream: IO[bytes]) -> Iterator[dict[str, str]]:
    """One profile per row, keyed by the header row; empty cells are left out (CSV has no null)."""
    reader = csv.DictReader(io.TextIOWrapper(stream, encoding="utf-8-sig", newline=""))
    if reader.fieldnames is None:
        return
    if "id" not in reader.fieldnames or "username" not in reader.fieldnames:
        raise FileFormatError("a CSV file needs a header row with at least the columns id and username")
    for row in reader:
        yield {key: value for key, value in row.items() if key is not None and value not in ("", None)}


def json_document_source(stream: IO[bytes]) -> str | None:
    """The top-level "source" of a {"profiles": [...], "source": ...} file (one pass over it)."""
    return _JsonText(stream).source()


class _JsonText:
    """A JSON document read a value at a time with the standard decoder: a top-level array of
    profiles, or an object whose "profiles" member is one."""

    def __init__(self, stream: IO[bytes]):
        self._text = io.TextIOWrapper(stream, encoding="utf-8-sig")
        self._decoder = json.JSONDecoder(parse_constant=_not_json)
        self._buffer, self._pos, self._eof = "", 0, False

    def profiles(self) -> Iterator[Any]:
        """Yield each profile of the document."""
        start = self._next_char()
        if start == "[":
            yield from self._array()
            return
        if start != "{":
            raise FileFormatError('a JSON file must hold an array of profiles or {"profiles": [...]}')
        for key in self._members():
            if key == "profiles":
                if self._next_char() != "[":
                    raise FileFormatError('"profiles" must be an array')
                yield from self._array()
            else:
                self._value()

    def source(self) -> str | None:
        """The object's "source" member, if it is a string; the profiles are read past, not kept."""
        if self._next_char() != "{":
            return None
        found = None
        for key in self._members():
            value = self._value()
            if key == "source" and isinstance(value, str):
                found = value
        return found

    def _members(self) -> Iterator[str]:
        """After "{": yield each key, positioned at its value (which the caller must consume)."""
        if self._after_opening("}"):
            return
        while True:
            key = self._value()
            if not isinstance(key, str) or self._next_char() != ":":
                raise FileFormatError("malformed JSON: an object member without a key and ':'")
            self._pos += 1
            yield key
            if self._separator("}"):
                return

    def _array(self) -> Iterator[Any]:
        """After "[": yield each item up to the closing bracket."""
        if self._after_opening("]"):
            return
        while True:
            yield self._value()
            if self._separator("]"):
                return

    def _after_opening(self, closing: str) -> bool:
        """Step over "[" or "{"; True (and step over it too) if `closing` follows at once."""
        self._pos += 1
        empty = self._next_char() == closing
        self._pos += empty
        return empty

    def _separator(self, closing: str) -> bool:
        """Step over the "," or `closing` after a value; True at the closing one."""
        found = self._next_char()
        if found not in (",", closing):
            raise FileFormatError(f"malformed JSON: expected ',' or '{closing}', found {found!r}")
        self._pos += 1
        return found == closing

    def _next_char(self) -> str:
        """The next character that is not white space, without consuming it."""
        while True:
            while self._pos < len(self._buffer) and self._buffer[self._pos] in " \t\r\n":
                self._pos += 1
            if self._pos < len(self._buffer):
                return self._buffer[self._pos]
            if not self._fill():
                raise FileFormatError("malformed JSON: the file ends too early")

    def _value(self) -> Any:
        self._next_char()  # raw_decode wants the value itself at the position, not white space
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buffer, self._pos)
            except json.JSONDecodeError as exc:
                if self._eof or len(self._buffer) - self._pos > _MAX_VALUE:
                    raise FileFormatError(f"malformed JSON: {exc.msg}") from None
                self._fill()
                continue
            except ValueError as exc:  # NaN or Infinity
                raise FileFormatError(f"malformed JSON: {exc}") from None
            if end == len(self._buffer) and not self._eof and self._fill():
                continue  # a number cut by the read may go on in the next chunk: parse it whole
            self._pos = end
            return value

    def _fill(self) -> bool:
        data = self._text.read(_CHUNK)
        if not data:
            self._eof = True
            return False
        self._buffer, self._pos = self._buffer[self._pos:] + data, 0
        return True
