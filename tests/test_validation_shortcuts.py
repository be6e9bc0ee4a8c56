"""validate_profile accepts common values inline: it must answer exactly as the full rules do."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.utils.validation import (MAX_FULL_NAME_LENGTH, MAX_SOURCE_LENGTH, Rejected, normalise_id,
                                     normalise_timestamp, normalise_username, optional_text, profile_json,
                                     validate_profile)


def by_the_rules(profile: dict, default_source: str | None) -> tuple:
    """What validate_profile answered before its shortcuts: each field through its full rule."""
    return (normalise_id(profile.get("id")), normalise_username(profile.get("username")),
            optional_text("full_name", profile.get("full_name"), MAX_FULL_NAME_LENGTH),
            optional_text("source", profile.get("source", default_source), MAX_SOURCE_LENGTH),
            normalise_timestamp(profile.get("scraped_at")), profile_json(profile, 65536))


def outcome(function, *args):
    try:
        return function(*args)
    except Rejected as exc:
        return ("rejected", exc.field, exc.reason)


# Values at the edges of each shortcut: a wrong shortcut keeps one of them as sent.
IDS = ["abc", " abc", "abc ", "a b", "\u00a0abc", "abc\u2003", "a\tb", "x" * 128, "x" * 129, "", "  ",
       "\u0661\u0662", "a\ud800", 12, -3]
USERNAMES = ["user_1", "User_1", "@user", " user", "user ", "a.b-c", "ü", "x" * 64, "x" * 65, "", "a b", "İ"]
TEXTS = [None, "Person 1", " Person ", "", "   ", "a\x00b", "Zoë", "\ud800", "x" * 64, "x" * 65, "x" * 257,
         " " + "x" * 64, 5, "\x1fname\x1c"]
TIMES = [None, "2026-11-20T12:00:00Z", "2026-W47-5T12:00:00Z", "2026-02-30T12:00:00Z", "2026-11-20T24:00:00Z",
         "2026-11-20 12:00:00Z", "2026-11-20T12:00:00+00:00", "2026-11-20T12:00:00.5Z", "2026-11-20T12:00:00",
         "2026-11-20X12:00:00Z", "20261120T120000Z.....", "2026-11-20T12:00:00z", 20261120, "2026-11-20T12:00:0\x00Z",
         "2026-11-20T12-00:00Z"]


@pytest.mark.parametrize("profile_id", IDS)
@pytest.mark.parametrize("username", USERNAMES)
def test_ids_and_usernames_answer_as_the_full_rules(profile_id, username):
    profile = {"id": profile_id, "username": username}
    assert outcome(validate_profile, profile, None, 65536) == outcome(by_the_rules, profile, None)


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("scraped_at", TIMES)
def test_texts_and_times_answer_as_the_full_rules(text, scraped_at):
    for profile, default in (({"id": "1", "username": "u", "full_name": text, "scraped_at": scraped_at}, None),
                             ({"id": "1", "username": "u", "source": text}, "fallback"),
                             ({"id": "1", "username": "u"}, text)):
        assert outcome(validate_profile, profile, default, 65536) == outcome(by_the_rules, profile, default)


printable_or_not = st.text(st.characters(codec="utf-8"), max_size=70) | st.text(
    st.sampled_from("aZ09_.-@ \t\u00a0T:Z"), max_size=25)


@settings(max_examples=400, deadline=None)
@given(st.fixed_dictionaries({"id": printable_or_not | st.integers(), "username": printable_or_not},
                             optional={"full_name": printable_or_not, "source": printable_or_not,
                                       "scraped_at": printable_or_not | st.datetimes().map(
                                           lambda moment: moment.isoformat() + "Z")}),
       st.none() | printable_or_not)
def test_any_profile_answers_as_the_full_rules(profile, default_source):
    assert outcome(validate_profile, profile, default_source, 65536) == outcome(by_the_rules, profile, default_source)
