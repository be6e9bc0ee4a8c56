"""The client through a real proxy that refuses, cuts and loses requests: every profile lands once."""

from __future__ import annotations

import pytest

from scraper_client import Client

from ..conftest import INGEST_KEY
from .conftest import stored, totals_as_stored
from .fault_proxy import CUT_BODY, LOSE_ANSWER, PASS, FaultProxy, Refuse

pytestmark = pytest.mark.slow

BATCHES, BATCH_SIZE = 10, 300


def test_outages_cut_bodies_and_lost_answers_store_every_profile_once(backend, db):
    plan = (Refuse(503, seconds=1.5), PASS, CUT_BODY, PASS, Refuse(429, seconds=1.0), PASS, LOSE_ANSWER,
            Refuse(409, seconds=0))
    items = [{"id": f"t{n}", "username": f"t{n}", "bio": "b" * 200} for n in range(BATCHES * BATCH_SIZE)]
    with FaultProxy(backend.url, *plan) as proxy, Client(proxy.url, INGEST_KEY) as client:
        with client.batcher(batch_size=BATCH_SIZE) as batcher:  # 60 kB+ batches: gzip NDJSON
            for item in items:
                batcher.add(item)
    totals, seen = batcher.totals, proxy.seen

    assert stored(db) == totals_as_stored(totals)
    assert (totals.received, totals.added_to_global, totals.batches, totals.failed_batches) == (
        3000, 3000, BATCHES, 0)
    # The batch whose answer was lost was stored then; its retry got that first answer back.
    assert totals.replayed_batches == 1
    lost = next(n for n, s in enumerate(seen) if s.action == LOSE_ANSWER)
    assert seen[lost + 1].key == seen[lost].key
    # Every try of a batch carries that batch's key, and only a batch's own tries do.
    assert sorted({s.key for s in seen}) == [f"{batcher.run_id}-{n:06d}" for n in range(1, BATCHES + 1)]

    # No retry storm: each refusal was waited out (Retry-After: 1, jittered up), so a window of
    # 1.5 s or 1 s saw at most two tries; one retry each for the cut, the loss and the 409.
    refused = {status: [s for s in seen if s.action == status] for status in ("503", "429", "409")}
    assert 1 <= len(refused["503"]) <= 2 and 1 <= len(refused["429"]) <= 2 and len(refused["409"]) == 1
    retries = len(refused["503"]) + len(refused["429"]) + 3
    assert len(seen) == totals.requests == BATCHES + retries
    assert totals.retries == retries
    for before, after in zip(seen, seen[1:]):
        if before.action in ("503", "429") and after.key == before.key:
            assert after.at - before.at >= 1.0, "a retry came before Retry-After said"
