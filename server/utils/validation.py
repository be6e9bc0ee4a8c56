"""The profile validation rules: what a valid profile is, and how text is normalised and cleaned."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import datetime, timezone
from typing import Any

import orjson

MAX_ID_LENGTH = 128
MAX_USERNAME_LENGTH = 64
MAX_FULL_NAME_LENGTH = 256
MAX_SOURCE_LENGTH = 64
_USERNAME = re.compile(r"[\w.\-]+")  # \w is Unicode-aware: letters and digits of any script, and _
# A username the rules would keep as it is: trimmed, without '@', lower-case ASCII (the common case).
_PLAIN_USERNAME = re.compile(r"[a-z0-9_.\-]{1,%d}" % MAX_USERNAME_LENGTH)
_SURROGATES = re.compile(r"[\ud800-\udfff]")
# YYYY-MM-DDTHH:MM:SS[.ffffff] in UTC or without a zone, the shape nearly every scraper sends.
_UTC_TIMESTAMP = re.compile(r" *(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d{1,6})?(Z|[+-]00:00)?) *", re.ASCII)


class Rejected(ValueError):
    """A profile that cannot be kept; carries the field at fault and the reason."""

    def __init__(self, field: str | None, reason: str):
        super().__init__(reason)
        self.field = field
        self.reason = reason


def clean_text(value: str) -> str:
    """Drop NUL characters and replace lone surrogates with U+FFFD (PostgreSQL accepts neither)."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    if value.isascii():  # O(1) in CPython, and ASCII holds no surrogates: skip the regex scan
        return value
    return _SURROGATES.sub("\ufffd", value)


def clean_value(value: Any) -> Any:
    """clean_text applied to every string and key inside a JSON value."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(k): clean_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_value(v) for v in value]
    return value


def profile_json(profile: dict, max_bytes: int) -> str:
    """Serialise a profile for the jsonb column, cleaning it first only when it needs it."""
    try:
        data = orjson.dumps(profile)
        if b"\\" in data and b"\\u0000" in data:  # one byte's search first: most profiles hold no escape
            raise ValueError("NUL")
    except (TypeError, ValueError):  # lone surrogates make orjson raise; NUL we found ourselves
        try:
            data = _cleaned_json(profile)
        except RecursionError:  # orjson stops at 255 levels; Python's recursion a few hundred later
            raise Rejected(None, "profile is nested too deeply") from None
    if len(data) > max_bytes:
        raise Rejected(None, f"profile is larger than {max_bytes} bytes")
    return data.decode()


def _cleaned_json(profile: dict) -> bytes:
    """The profile as JSON after clean_value, by the slower encoder when orjson cannot."""
    cleaned = clean_value(profile)
    try:
        return orjson.dumps(cleaned)
    except TypeError:  # integers past 64 bits or deep nesting, which only the tolerant parser lets in
        try:
            return json.dumps(cleaned, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        except ValueError:
            raise Rejected(None, "holds NaN or Infinity, which JSON cannot store") from None


def normalise_id(value: Any) -> str:
    """Profile ids are strings or integers, stored as trimmed text of printable characters."""
    if value is None:
        raise Rejected("id", "is required")
    if isinstance(value, float) and value.is_integer() and abs(value) >= 2**64:
        # orjson reads integers past 64 bits as floats: the digits sent are already lost
        raise Rejected("id", "is an integer too large to read exactly; send it as a string")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise Rejected("id", "must be a string or an integer")
    text = str(value).strip()
    if not text:
        raise Rejected("id", "must not be empty")
    if len(text) > MAX_ID_LENGTH:
        raise Rejected("id", f"is longer than {MAX_ID_LENGTH} characters")
    if not text.isprintable():  # control characters, NUL and lone surrogates
        raise Rejected("id", "contains control characters or invalid Unicode")
    return text


def normalise_username(value: Any) -> str:
    """Usernames are trimmed, lose a leading '@', are lower-cased; letters (with their marks), digits, . _ -."""
    if value is None:
        raise Rejected("username", "is required")
    if not isinstance(value, str):
        raise Rejected("username", "must be a string")
    text = value.strip().removeprefix("@").lower()
    if not text:
        raise Rejected("username", "must not be empty")
    if len(text) > MAX_USERNAME_LENGTH:
        raise Rejected("username", f"is longer than {MAX_USERNAME_LENGTH} characters")
    if not _USERNAME.fullmatch(text):
        # \w lacks combining marks: the vowel signs of Indic and Thai names, the dot 'İ' lowers into
        text = unicodedata.normalize("NFC", text)
        if not all(unicodedata.category(char)[0] in "LMN" or char in "._-" for char in text):
            raise Rejected("username", "may contain only letters, digits, '.', '_' and '-'")
    return text


def optional_text(field: str, value: Any, limit: int) -> str | None:
    """An optional free-text field: cleaned and trimmed; empty becomes null."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise Rejected(field, "must be a string")
    text = clean_text(value).strip()
    if len(text) > limit:
        raise Rejected(field, f"is longer than {limit} characters")
    return text or None


def normalise_timestamp(value: Any) -> str | None:
    """scraped_at: an ISO 8601 timestamp; one without a zone is taken as UTC."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise Rejected("scraped_at", "must be an ISO 8601 string")
    utc = _UTC_TIMESTAMP.fullmatch(value)
    if utc is not None:  # the common shape, which PostgreSQL reads as it is: skip the re-formatting
        try:
            datetime.fromisoformat(utc[1])  # the calendar check: no 30 February, no hour 24
        except ValueError:
            raise Rejected("scraped_at", "is not an ISO 8601 timestamp") from None
        return utc[1] if utc[2] else utc[1] + "Z"
    if not value.isprintable():  # CPython's parser stops at a NUL and would read "…01\x00junk" as valid
        raise Rejected("scraped_at", "contains control characters or invalid Unicode")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Rejected("scraped_at", "is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:  # in UTC: PostgreSQL refuses offsets past 15:59 that Python takes (up to 23:59)
        return moment.astimezone(timezone.utc).isoformat()
    except OverflowError:  # year 1 or 9999 pushed off the calendar by its offset
        raise Rejected("scraped_at", "is out of range") from None


def validate_profile(profile: Any, default_source: str | None,
                     max_bytes: int) -> tuple[str, str, str | None, str | None, str | None, str]:
    """Check one profile; return (id, username, full_name, source, scraped_at, json) or raise Rejected."""
    if not isinstance(profile, dict):
        raise Rejected(None, "profile must be a JSON object")
    # Each field's common shape is accepted inline, as the full rule would return it unchanged; any
    # other value goes through the rule itself. The calls cost a third of validating (measured).
    get = profile.get
    profile_id = get("id")
    if not (type(profile_id) is str and 0 < len(profile_id) <= MAX_ID_LENGTH and profile_id.isprintable()
            and profile_id[0] != " " != profile_id[-1]):  # printable: the only whitespace left is " "
        profile_id = normalise_id(profile_id)
    username = get("username")
    if type(username) is not str or not _PLAIN_USERNAME.fullmatch(username):
        username = normalise_username(username)
    full_name = _plain_text(get("full_name"), MAX_FULL_NAME_LENGTH)
    if full_name is _NOT_PLAIN:
        full_name = optional_text("full_name", get("full_name"), MAX_FULL_NAME_LENGTH)
    source = _plain_text(get("source", default_source), MAX_SOURCE_LENGTH)
    if source is _NOT_PLAIN:
        source = optional_text("source", get("source", default_source), MAX_SOURCE_LENGTH)
    scraped_at = _plain_timestamp(get("scraped_at"))
    if scraped_at is _NOT_PLAIN:
        scraped_at = normalise_timestamp(get("scraped_at"))
    return profile_id, username, full_name, source, scraped_at, profile_json(profile, max_bytes)


_NOT_PLAIN = object()


def _plain_timestamp(value: Any) -> Any:
    """normalise_timestamp's answer for null and for YYYY-MM-DDTHH:MM:SSZ; else _NOT_PLAIN."""
    if value is None:
        return None
    if (type(value) is not str or len(value) != 20 or value[19] != "Z" or value[10] != "T"
            or not value[4] == value[7] == "-" or not value[13] == value[16] == ":"):
        return _NOT_PLAIN
    try:
        datetime.fromisoformat(value)  # digits only where digits belong, and a real date and time
    except ValueError:
        return _NOT_PLAIN
    return value


def _plain_text(value: Any, limit: int) -> Any:
    """optional_text's answer for null and for ASCII text without NUL within `limit`; else _NOT_PLAIN."""
    if value is None:
        return None
    if type(value) is not str or not value.isascii() or "\x00" in value:
        return _NOT_PLAIN
    value = value.strip()
    return (value or None) if len(value) <= limit else _NOT_PLAIN
