"""The profile validation rules, record by record, and the NUL / surrogate policy."""

from __future__ import annotations

from datetime import datetime, timezone

import orjson
import pytest

from server.utils.validation import Rejected, validate_profile

from .conftest import count


def check(profile, source=None):
    return validate_profile(profile, source, 65536)


@pytest.mark.parametrize("profile, field, reason", [
    ({"username": "a"}, "id", "is required"),
    ({"id": None, "username": "a"}, "id", "is required"),
    ({"id": True, "username": "a"}, "id", "must be a string or an integer"),
    ({"id": 1.5, "username": "a"}, "id", "must be a string or an integer"),
    ({"id": ["x"], "username": "a"}, "id", "must be a string or an integer"),
    ({"id": "   ", "username": "a"}, "id", "must not be empty"),
    ({"id": "x" * 129, "username": "a"}, "id", "is longer than 128 characters"),
    ({"id": "a\x00b", "username": "a"}, "id", "contains control characters or invalid Unicode"),
    ({"id": "a\ud800", "username": "a"}, "id", "contains control characters or invalid Unicode"),
    ({"id": "1"}, "username", "is required"),
    ({"id": "1", "username": 5}, "username", "must be a string"),
    ({"id": "1", "username": " @ "}, "username", "must not be empty"),
    ({"id": "1", "username": "u" * 65}, "username", "is longer than 64 characters"),
    ({"id": "1", "username": "a b"}, "username", "may contain only letters, digits, '.', '_' and '-'"),
    ({"id": "1", "username": "x'; DROP TABLE global_usernames;--"}, "username",
     "may contain only letters, digits, '.', '_' and '-'"),
    ({"id": "1", "username": "a\x00"}, "username", "may contain only letters, digits, '.', '_' and '-'"),
    ({"id": "1", "username": "a", "full_name": 7}, "full_name", "must be a string"),
    ({"id": "1", "username": "a", "full_name": "n" * 257}, "full_name", "is longer than 256 characters"),
    ({"id": "1", "username": "a", "source": "s" * 65}, "source", "is longer than 64 characters"),
    ({"id": "1", "username": "a", "scraped_at": "yesterday"}, "scraped_at", "is not an ISO 8601 timestamp"),
    ({"id": "1", "username": "a", "scraped_at": 1700000000}, "scraped_at", "must be an ISO 8601 string"),
    ({"id": "1", "username": "a", "scraped_at": "0001-01-01T00:00:00+05:00"}, "scraped_at",
     "is out of range"),
    ({"id": "1", "username": "a", "bio": "b" * 70000}, None, "profile is larger than 65536 bytes"),
    ("a string", None, "profile must be a JSON object"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 30 else None)
def test_rejections(profile, field, reason):
    with pytest.raises(Rejected) as caught:
        check(profile)
    assert (caught.value.field, caught.value.reason) == (field, reason)


@pytest.mark.parametrize("profile, expected", [
    ({"id": 42, "username": "Bob"}, ("42", "bob", None, None, None)),
    ({"id": " x1 ", "username": " @Ana_B.", "full_name": "  "}, ("x1", "ana_b.", None, None, None)),
    ({"id": "1", "username": "Ünïcødé_名前"}, ("1", "ünïcødé_名前", None, None, None)),
    ({"id": "1", "username": "a", "source": "tiktok"}, ("1", "a", None, "tiktok", None)),
    ({"id": "1", "username": "a", "scraped_at": "2026-01-02T03:04:05Z"},
     ("1", "a", None, None, "2026-01-02T03:04:05Z")),
    ({"id": "1", "username": "a", "scraped_at": "2026-01-02T20:16:05+17:12"},  # PostgreSQL's limit is 15:59
     ("1", "a", None, None, "2026-01-02T03:04:05+00:00")),
    ({"id": 10**30, "username": "a"}, ("1" + "0" * 30, "a", None, None, None)),
], ids=["int-id", "trim", "unicode", "source", "timestamp", "offset-past-15h", "big-int"])
def test_normalisation(profile, expected):
    assert check(profile)[:5] == expected


STAMPS = ["2026-01-02T03:04:05Z", "2026-01-02 03:04:05", " 2026-01-02T03:04:05.5-00:00 ",
          "2026-01-02T03:04:05.123456+00:00", "2026-01-02T03:04:05.1234567Z", "2026-01-02T04:34:05+01:30",
          "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999+00:00", "20260102T030405Z"]


def test_timestamps_land_as_the_instant_they_name(ingest, db):
    # UTC stamps pass through as sent and PostgreSQL reads them; others are re-written in UTC first.
    profiles = [{"id": str(n), "username": "a", "scraped_at": stamp} for n, stamp in enumerate(STAMPS)]
    assert ingest.json(profiles).get_json()["inserted_raw"] == len(STAMPS)
    stored = dict(db.execute("SELECT position, scraped_at FROM raw_scraped_profiles").fetchall())
    for n, stamp in enumerate(STAMPS):
        moment = datetime.fromisoformat(stamp.strip())
        moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        assert stored[n] == moment, stamp


@pytest.mark.parametrize("stamp", ["2026-02-30T00:00:00Z", "2026-01-02T24:00:00Z", "2026-01-02T03:04:60Z"])
def test_utc_timestamps_off_the_calendar_are_rejected(stamp):
    with pytest.raises(Rejected, match="ISO 8601"):
        check({"id": "1", "username": "a", "scraped_at": stamp})


def test_request_source_is_the_default():
    assert check({"id": "1", "username": "a"}, "instagram")[3] == "instagram"


def test_nul_and_lone_surrogates_outside_identity_fields_are_cleaned():
    profile = {"id": "1", "username": "a", "full_name": "An\x00a\ud800", "bio": ["x\x00", {"k\ud83d": 1}]}
    _, _, full_name, _, _, data = check(profile)
    assert full_name == "Ana\ufffd"
    assert orjson.loads(data) == {"id": "1", "username": "a", "full_name": "Ana\ufffd",
                                  "bio": ["x", {"k\ufffd": 1}]}


def test_nul_and_surrogates_through_http_keep_the_other_profiles(ingest, db):
    # Written by hand: \\u0000 and a lone \\ud800 as JSON escapes, as a buggy scraper would send them.
    body = (b'{"profiles": ['
            b'{"id": "good", "username": "good", "full_name": "Zo\\u0000e \\ud800", "x\\u0000": "\\ud800"},'
            b'{"id": "bad\\u0000", "username": "bad"},'
            b'{"id": "worse", "username": "wor\\udc00se"},'
            b'{"id": "fine", "username": "fine"}]}')
    reply = ingest.raw(body, "application/json").get_json()
    assert (reply["inserted_raw"], reply["rejected"]) == (2, 2)
    assert [(e["index"], e["field"]) for e in reply["errors"]] == [(1, "id"), (2, "username")]
    row = db.execute("SELECT full_name, profile FROM raw_scraped_profiles WHERE profile_id = 'good'").fetchone()
    assert row == ("Zoe \ufffd", {"id": "good", "username": "good", "full_name": "Zoe \ufffd", "x": "\ufffd"})
    assert count(db, "SELECT count(*) FROM global_usernames") == 2


def test_huge_integers_from_the_tolerant_parser_are_kept_and_nan_is_rejected():
    assert orjson.loads(check({"id": "1", "username": "a", "n": 10**30})[5])["n"] == float(10**30)
    with pytest.raises(Rejected, match="NaN"):
        check({"id": "1", "username": "a", "n": 10**30, "m": float("nan")})
