"""Read ingest bodies: gzip with a size cap, a JSON document, or NDJSON streamed line by line."""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from typing import IO, Any, Iterator

import orjson

from ..errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

JSON_TYPES = frozenset({"application/json"})
NDJSON_TYPES = frozenset({"application/x-ndjson", "application/ndjson", "application/jsonl",
                          "application/x-jsonlines"})
_READ_SIZE = 256 * 1024


class LineError(ValueError):
    """One NDJSON line that is not a JSON value."""


def body_kind(content_type: str | None) -> str:
    """'json' or 'ndjson' from a Content-Type header; 415 for anything else."""
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime in JSON_TYPES:
        return "json"
    if mime in NDJSON_TYPES:
        return "ndjson"
    raise UnsupportedMediaType(
        f"Content-Type must be application/json or application/x-ndjson, not {mime or 'missing'!r}")


def body_chunks(stream: IO[bytes], encoding: str | None, limit: int, limit_name: str) -> Iterator[bytes]:
    """Yield the body's bytes, gunzipped if so encoded; 413 once more than `limit` bytes come out."""
    encoding = (encoding or "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip"):
        raise UnsupportedMediaType(f"Content-Encoding must be gzip or identity, not {encoding!r}")
    inflater = zlib.decompressobj(wbits=31) if encoding != "identity" else None
    total = 0
    while True:
        raw = stream.read(_READ_SIZE)
        if not raw:
            break
        if inflater is None:
            pieces = [raw]
        else:
            pieces = []
            try:
                # Cap each step's output so a gzip bomb never expands in memory past one read.
                data = inflater.decompress(raw, _READ_SIZE)
                while data:
                    pieces.append(data)
                    data = inflater.decompress(inflater.unconsumed_tail, _READ_SIZE)
            except zlib.error:
                raise BadRequest("body is not valid gzip", code="invalid_gzip") from None
        for piece in pieces:
            total += len(piece)
            if total > limit:
                raise PayloadTooLarge(f"request body expands past the limit of {limit} bytes ({limit_name})",
                                      details={"limit_bytes": limit, "setting": limit_name})
            yield piece
    if inflater is not None and not inflater.eof:
        raise BadRequest("gzip body is truncated", code="invalid_gzip")


class HashingReader:
    """Wrap a chunk iterator, keeping a SHA-256 of everything passed through."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = chunks
        self._sha = hashlib.sha256()

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self._sha.update(chunk)
            yield chunk

    def hexdigest(self) -> str:
        """Drain what is left unread, then return the digest of the whole body."""
        for _ in self:
            pass
        return self._sha.hexdigest()


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e400: orjson refuses it, so must the fallback (it would be stored as null)
        raise ValueError("number is infinity when parsed as double")
    return value


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")  # NaN and Infinity: Python extensions that orjson refuses


def loads(data: bytes) -> Any:
    """Parse JSON fast; fall back to the tolerant parser for lone surrogates, which we clean later."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as fast_error:
        try:
            return json.loads(data, parse_float=_finite, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            raise fast_error from None


def parse_json_document(data: bytes) -> tuple[list, str | None]:
    """Return (profiles, default source) from a `{"profiles": [...], "source": ...}` body."""
    try:
        document = loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc}", code="malformed_json") from None
    if isinstance(document, list):
        document = {"profiles": document}
    if not isinstance(document, dict) or not isinstance(document.get("profiles"), list):
        raise BadRequest('body must be an object with a "profiles" array', code="invalid_shape")
    source = document.get("source")
    if source is not None and not isinstance(source, str):
        raise BadRequest('"source" must be a string', code="invalid_shape")
    return document["profiles"], source


def ndjson_records(chunks: Iterator[bytes], max_line: int) -> Iterator[Any]:
    """Yield one parsed value per non-blank line; a LineError for a line that is not JSON or too long."""
    pending, overlong = b"", False
    for chunk in chunks:
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            if overlong:  # the tail of a line already reported
                overlong = False
                yield LineError(f"line is longer than {max_line} bytes")
            elif line.strip():
                yield _parse_line(line, max_line)
        if len(pending) > max_line:  # stop buffering a line we will reject anyway
            pending, overlong = b"", True
    if overlong:
        yield LineError(f"line is longer than {max_line} bytes")
    elif pending.strip():
        yield _parse_line(pending, max_line)


def _parse_line(line: bytes, max_line: int) -> Any:
    if len(line) > max_line:
        return LineError(f"line is longer than {max_line} bytes")
    try:
        return loads(line)
    except orjson.JSONDecodeError as exc:
        return LineError(f"invalid JSON: {exc}")
