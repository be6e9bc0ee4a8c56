"""Bad profiles among good ones, through HTTP: each is rejected on its own (or kept verbatim when it is
only odd), the others land, and the counts say so. Whole-request failures: tests/test_bad_requests.py."""

from __future__ import annotations

import pytest

from .conftest import ALL_KEY, count

MB = "x" * (1 << 20)
INJECTIONS = ["1'; DROP TABLE global_usernames;--", "\"; DELETE FROM raw_scraped_profiles; --",
              "' OR '1'='1", "$$; TRUNCATE ingest_requests; $$", "\\'; SELECT pg_sleep(10);--"]


def ingest_text(ingest, text: bytes, content_type: str = "application/json") -> dict:
    """Post a body written by hand; return the 200 reply."""
    response = ingest.raw(text, content_type)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def ingest_json(ingest, items: list) -> dict:
    """Post profiles as JSON; return the 200 reply."""
    response = ingest.json(items)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def rejected_fields(reply: dict) -> list[tuple[int, str | None]]:
    """(index, field) of every listed rejection."""
    return [(error["index"], error["field"]) for error in reply["errors"]]


@pytest.mark.parametrize("profile, field", [
    ({"id": {"n": 1}, "username": "a"}, "id"),
    ({"id": ["1"], "username": "a"}, "id"),
    ({"id": "1", "username": ["a"]}, "username"),
    ({"id": "1", "username": True}, "username"),
    ({"id": "1", "username": "a", "full_name": {"first": "A"}}, "full_name"),
    ({"id": "1", "username": "a", "source": 3}, "source"),
    ({"id": "1", "username": "a", "scraped_at": 1.5}, "scraped_at"),
    ({"username": "a"}, "id"),
    ({"id": "1"}, "username"),
    ({"id": MB, "username": "a"}, "id"),
    ({"id": "1", "username": MB}, "username"),
    ({"id": "1", "username": "a", "full_name": MB}, "full_name"),
    ({"id": "1", "username": "a", "source": MB}, "source"),
    ({"id": "1", "username": "a", "bio": MB}, None),
    ({"id": "1", "username": "a", "scraped_at": MB}, "scraped_at"),
    (None, None),
    (17, None),
    ([{"id": "1", "username": "a"}], None),
], ids=["id-object", "id-list", "username-list", "username-bool", "full-name-object", "source-number",
        "scraped-at-number", "no-id", "no-username", "id-1mb", "username-1mb", "full-name-1mb", "source-1mb",
        "extra-1mb", "scraped-at-1mb", "null", "number", "nested-list"])
def test_a_bad_profile_is_rejected_naming_its_field_and_its_neighbours_land(ingest, db, profile, field):
    reply = ingest_json(ingest, [{"id": "before", "username": "before"}, profile,
                                 {"id": "after", "username": "after"}])
    assert (reply["received"], reply["inserted_raw"], reply["rejected"]) == (3, 2, 1)
    assert rejected_fields(reply) == [(1, field)] and reply["errors"][0]["reason"]
    assert sorted(r[0] for r in db.execute("SELECT id FROM global_usernames")) == ["after", "before"]


def test_nul_and_lone_surrogates_in_source_scraped_at_and_the_request_source_are_cleaned_or_rejected(ingest, db):
    body = (b'{"source": "ig\\u0000\\ud800", "profiles": ['
            b'{"id": "a", "username": "a"},'
            b'{"id": "b", "username": "b", "source": "t\\u0000k\\udfff"},'
            b'{"id": "c", "username": "c", "scraped_at": "2026-01-01T00:00:00\\u0000"},'
            b'{"id": "d", "username": "d", "tags": ["\\u0000", {"\\ud800": "\\u0000x"}]}]}')
    reply = ingest_text(ingest, body)
    assert rejected_fields(reply) == [(2, "scraped_at")]
    rows = db.execute("SELECT profile_id, source, profile FROM raw_scraped_profiles ORDER BY profile_id").fetchall()
    assert [(r[0], r[1]) for r in rows] == [("a", "ig\ufffd"), ("b", "tk\ufffd"), ("d", "ig\ufffd")]
    assert rows[2][2]["tags"] == ["", {"\ufffd": "x"}]


def test_nul_and_lone_surrogates_in_ndjson_lines_are_cleaned_or_rejected(ingest, db):
    body = (b'{"id": "a", "username": "a", "full_name": "A\\u0000n\\ud800", "x\\u0000": "\\udc00"}\n'
            b'{"id": "b\\u0000", "username": "b"}\n'
            b'{"id": "c", "username": "c\\ud800"}\n')
    reply = ingest_text(ingest, body, "application/x-ndjson")
    assert rejected_fields(reply) == [(1, "id"), (2, "username")]
    row = db.execute("SELECT full_name, profile FROM raw_scraped_profiles").fetchone()
    assert row == ("An\ufffd", {"id": "a", "username": "a", "full_name": "An\ufffd", "x": "\ufffd"})


def test_ndjson_lines_broken_in_other_ways_are_rejected_one_by_one(ingest, db):
    body = (b'{"id": "a", "username": "a"}\r\n'  # CRLF endings are fine
            b'{"id": "b", "username": "\xff\xfe"}\n'  # not UTF-8
            b'{"id": "c", "username": "raw\x00nul"}\n'  # a raw NUL byte is not JSON
            b'{"id": "d", "username": "d", "bio": "' + b"y" * 70_000 + b'"}\n'  # over MAX_PROFILE_BYTES
            b'"just a string"\n'
            b'{"id": "e", "username": "e"}')  # no final newline
    reply = ingest_text(ingest, body, "application/x-ndjson")
    assert (reply["received"], reply["inserted_raw"]) == (6, 2)
    assert rejected_fields(reply) == [(1, None), (2, None), (3, None), (4, None)]
    assert "longer than 65536 bytes" in reply["errors"][2]["reason"]


def test_profiles_nested_past_what_json_columns_hold_are_rejected_and_moderate_nesting_is_kept(ingest, db):
    deep, moderate = b"[" * 600 + b"]" * 600, b'{"a":' * 100 + b"1" + b"}" * 100
    body = (b'[{"id": "deep", "username": "d", "x": ' + deep + b"},"
            b'{"id": "moderate", "username": "m", "x": ' + moderate + b"}]")
    reply = ingest_text(ingest, body)
    assert rejected_fields(reply) == [(0, None)] and "nested too deeply" in reply["errors"][0]["reason"]
    kept = db.execute("SELECT profile #>> '{x,a,a,a}' IS NOT NULL FROM raw_scraped_profiles").fetchone()[0]
    assert kept is True


@pytest.mark.parametrize("injection", INJECTIONS)
def test_sql_injection_strings_are_stored_verbatim_and_drop_nothing(ingest, client, db, injection):
    reply = ingest_json(ingest, [{"id": injection, "username": "safe", "full_name": injection,
                                  "source": injection[:64], injection: injection},
                                 {"id": "u", "username": injection}])
    assert (reply["inserted_raw"], rejected_fields(reply)) == (1, [(1, "username")])
    row = db.execute("SELECT profile_id, full_name, source, profile FROM raw_scraped_profiles").fetchone()
    assert row[:3] == (injection, injection, injection[:64]) and row[3][injection] == injection
    created = client.post("/api/targets", json={"name": injection, "daily_quota": 1, "sources": [injection]},
                          headers={"Authorization": f"Bearer {ALL_KEY}"})
    assert created.status_code == 201 and created.get_json()["name"] == injection
    listed = client.get("/api/targets", headers={"Authorization": f"Bearer {ALL_KEY}"}).get_json()["items"]
    assert [t["sources"] for t in listed] == [[injection]]
    assert count(db, "SELECT count(*) FROM global_usernames") == 1


@pytest.mark.parametrize("username, stored", [
    ("Ünïcødé_名前", "ünïcødé_名前"), ("Пользователь", "пользователь"), ("مستخدم", "مستخدم"),
    ("हिन्दी.नाम", "हिन्दी.नाम"), ("ภาษาไทย", "ภาษาไทย"), ("İstanbul", "i̇stanbul"),
    ("jose\u0301", "jos\u00e9"), ("١٢٣", "١٢٣"), ("@ΣΟΦΙΑ", "σοφια"),
], ids=["latin", "cyrillic", "arabic", "devanagari-marks", "thai-marks", "dotted-i", "decomposed", "arabic-digits",
        "greek"])
def test_unicode_usernames_of_any_script_are_kept_lower_cased_and_composed(ingest, db, username, stored):
    reply = ingest_json(ingest, [{"id": "1", "username": username}])
    assert reply["inserted_raw"] == 1, reply["errors"]
    assert db.execute("SELECT username FROM global_usernames").fetchone()[0] == stored


@pytest.mark.parametrize("username", ["a b", "smile😀", "zero\u200bwidth", "tab\there", "right\u202eleft"],
                         ids=["space", "emoji", "zero-width", "tab", "bidi-override"])
def test_usernames_with_symbols_spaces_or_invisible_characters_are_rejected(ingest, username):
    reply = ingest_json(ingest, [{"id": "1", "username": username}])
    assert rejected_fields(reply) == [(0, "username")]


def test_huge_numbers_are_rejected_when_they_cannot_be_kept_exactly(ingest, db):
    body = (b'[{"id": 123456789012345678901234567890, "username": "a"},'
            b'{"id": "123456789012345678901234567890", "username": "b"},'
            b'{"id": 18446744073709551615, "username": "c"},'
            b'{"id": -9223372036854775808, "username": "d"},'
            b'{"id": "big-extra", "username": "e", "n": 1e300, "m": -0.0}]')
    reply = ingest_text(ingest, body)
    assert rejected_fields(reply) == [(0, "id")] and "as a string" in reply["errors"][0]["reason"]
    ids = sorted(r[0] for r in db.execute("SELECT id FROM global_usernames"))
    assert ids == ["-9223372036854775808", "123456789012345678901234567890", "18446744073709551615", "big-extra"]
    extra = db.execute("SELECT (profile->>'n')::float8, (profile->>'m')::float8 FROM raw_scraped_profiles"
                       " WHERE profile_id = 'big-extra'")
    assert extra.fetchone() == (1e300, 0.0)


def test_duplicate_keys_take_the_last_value_like_every_mainstream_json_parser(ingest, client, db):
    # RFC 8259 leaves duplicate names to the parser; ours (orjson, and json in the fallback) keep the last.
    body = (b'{"profiles": [{"id": "first", "username": "x"}], "source": "one",'
            b' "profiles": [{"id": "a", "id": "b", "username": "u", "username": "v"}], "source": "two"}')
    reply = ingest_text(ingest, body)
    assert reply["received"] == 1
    row = db.execute("SELECT profile_id, username, source, profile FROM raw_scraped_profiles").fetchone()
    assert row == ("b", "v", "two", {"id": "b", "username": "v"})
    created = client.post("/api/targets", data=b'{"name": "a", "daily_quota": 1, "name": "b"}',
                          headers={"Authorization": f"Bearer {ALL_KEY}", "Content-Type": "application/json"})
    assert created.get_json()["name"] == "b"
