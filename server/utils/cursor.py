"""Opaque keyset cursors: base64url JSON signed with HMAC-SHA256, bound to the list they page."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

import orjson

from ..errors import BadRequest

_TAG_BYTES = 16
MAX_CURSOR_LENGTH = 1024


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _tag(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:_TAG_BYTES]


def encode_cursor(key: bytes, scope: dict[str, Any], position: list[Any]) -> str:
    """A cursor for `position` in the list described by `scope` (e.g. its date and target)."""
    payload = orjson.dumps({"s": scope, "p": position})
    return f"{_b64encode(payload)}.{_b64encode(_tag(key, payload))}"


def decode_cursor(key: bytes, token: str, scope: dict[str, Any]) -> list[Any]:
    """The position in a cursor we issued for this same `scope`; 400 invalid_cursor otherwise."""
    invalid = BadRequest("cursor is invalid: pass back next_cursor unchanged, with the same filters",
                         code="invalid_cursor")
    body, dot, tag = token.partition(".")
    if not dot or len(token) > MAX_CURSOR_LENGTH:
        raise invalid
    try:
        payload, received_tag = _b64decode(body), _b64decode(tag)
    except (binascii.Error, ValueError):
        raise invalid from None
    if not hmac.compare_digest(received_tag, _tag(key, payload)):
        raise invalid
    data = orjson.loads(payload)  # signed by us, so well-formed
    if data.get("s") != scope:
        raise invalid
    return data["p"]
