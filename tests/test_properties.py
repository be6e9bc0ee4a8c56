"""Properties of the validator and the batch processor, over generated input."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.storage import IngestTotals
from server.utils.batch_processor import IngestLimits, process
from server.utils.validation import Rejected, validate_profile

from .conftest import count

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)
ids = st.one_of(st.integers(-10**6, 10**6), st.text(max_size=12), st.none(), st.booleans())
usernames = st.one_of(st.from_regex(r"@?[A-Za-z0-9_.\-]{1,10}", fullmatch=True), st.text(max_size=12), st.none())
profiles = st.one_of(
    st.fixed_dictionaries({"id": ids, "username": usernames},
                          optional={"full_name": st.one_of(st.none(), st.text(max_size=20)),
                                    "extra": json_values}),
    json_values)


class Recorder:
    """An IngestTransaction that keeps what it is given (the processor's contract, no database)."""

    ingest_id = "recorder"
    previous = None

    def __init__(self):
        self.rows = []

    def write_chunk(self, rows):
        assert 0 < len(rows) <= 7
        self.rows.extend(rows)

    def finish(self):
        distinct = sum(row.first for row in self.rows)
        return IngestTotals(len(self.rows), distinct, distinct)


@given(st.lists(profiles, min_size=1, max_size=40))
def test_accepted_plus_rejected_is_received(batch):
    txn = Recorder()
    reply = process(batch, txn, IngestLimits(chunk_size=7, max_errors_listed=5))
    assert reply["received"] == len(batch)
    assert reply["inserted_raw"] + reply["rejected"] == len(batch)
    assert reply["inserted_raw"] == reply["added_to_global"] + reply["duplicates_in_request"]
    assert len(reply["errors"]) == min(5, reply["rejected"])
    assert len({row.profile_id for row in txn.rows}) == reply["added_to_global"]


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
