"""Properties of the validator and the batch processor, over generated input."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server import create_app
from server.utils.validation import Rejected, validate_profile

from .conftest import Ingest, count, make_config

json_scalars = (st.none() | st.booleans() | st.integers() | st.text()
                | st.floats(allow_nan=False, allow_infinity=False))  # JSON has neither
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)
ids = st.one_of(st.integers(-10**6, 10**6), st.text(max_size=12), st.none(), st.booleans())
usernames = st.one_of(st.from_regex(r"@?[A-Za-z0-9_.\-]{1,10}", fullmatch=True), st.text(max_size=12), st.none())
profiles = st.one_of(
    st.fixed_dictionaries({"id": ids, "username": usernames},
                          optional={"full_name": st.one_of(st.none(), st.text(max_size=20)),
                                    "extra": json_values}),
    json_values)


# Mostly valid profiles from a small id range, so batches span several chunks and repeat ids within
# themselves and across examples, mixed in any order with anything at all.
known_profiles = st.fixed_dictionaries({"id": st.integers(0, 60), "username": st.just("u")})
mixed_batches = st.tuples(st.lists(known_profiles, min_size=1, max_size=30), st.lists(profiles, max_size=10)) \
    .flatmap(lambda parts: st.permutations(parts[0] + parts[1]))


@pytest.fixture
def small_chunks(database_url, db, tmp_path):
    """An app writing chunks of 7 rows and listing 5 errors, so small batches cross every boundary."""
    app = create_app(make_config(database_url, CACHE_DIR=str(tmp_path / "cache"), BATCH_CHUNK_SIZE=7,
                                 MAX_ERRORS_LISTED=5))
    yield Ingest(app.test_client())
    app.extensions["store"].close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mixed_batches)
def test_the_counts_add_up_and_match_what_the_database_holds(small_chunks, db, batch):
    """Checked on the real database, which the examples fill as they go: later batches meet ids
    that earlier ones added (skipped_existing)."""
    # The standard encoder: orjson refuses integers past 64 bits and lone surrogates, which a client may send.
    reply = small_chunks.raw(json.dumps({"profiles": batch}).encode(), "application/json").get_json()
    assert reply["received"] == len(batch)
    assert reply["inserted_raw"] + reply["rejected"] == len(batch)
    assert reply["inserted_raw"] == (reply["added_to_global"] + reply["skipped_existing"]
                                     + reply["duplicates_in_request"])
    assert len(reply["errors"]) == min(5, reply["rejected"])
    ingest_id = reply["ingest_id"]
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles WHERE ingest_id = %s", ingest_id) == \
        reply["inserted_raw"]
    assert count(db, "SELECT count(*) FROM global_usernames WHERE first_ingest_id = %s", ingest_id) == \
        reply["added_to_global"]
    assert count(db, "SELECT count(DISTINCT profile_id) FROM raw_scraped_profiles WHERE ingest_id = %s",
                 ingest_id) == reply["added_to_global"] + reply["skipped_existing"]


@given(profiles)
def test_validation_accepts_or_rejects_and_output_is_storable(profile):
    try:
        profile_id, username, full_name, _, _, data = validate_profile(profile, None, 65536)
    except Rejected as exc:
        assert exc.reason
        return
    for text in (profile_id, username, full_name or "", data):
        assert "\x00" not in text
        text.encode("utf-8")  # no lone surrogates: PostgreSQL would refuse them
    assert orjson.loads(data) is not None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.fixed_dictionaries({"id": st.integers(0, 30), "username": st.just("u")}),
                min_size=1, max_size=30))
def test_reingesting_never_adds_to_the_pool(ingest, db, batch):
    first = ingest.json(batch).get_json()
    pool = count(db, "SELECT count(*) FROM global_usernames")
    again = ingest.json(batch).get_json()
    assert again["added_to_global"] == 0
    assert again["skipped_existing"] == first["added_to_global"] + first["skipped_existing"]
    assert count(db, "SELECT count(*) FROM global_usernames") == pool
