"""Retries of the distribution over REST: a repeated claim assigns once; every repeat is safe."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest

from ..conftest import count
from ..distribution_helpers import add_pool, add_targets
from ..test_distribution_api import api  # noqa: F401 (the fixture)

DAY = "2026-03-02"
RUN, TARGETS = "rpc/distribution_run", "distribution_targets"
LIVE = "SELECT count(*) FROM distribution_assignments WHERE status <> 'released'"


@pytest.mark.parametrize("how", [
    {"status": 503, "code": "PGRST000"},            # PostgREST lost its database connection
    {"status": 502},                                # the gateway's HTML error page
    {"status": 500, "code": "40P01"},               # deadlock detected: rolled back
    {"exception": httpx.ConnectError},
], ids=["503", "502-page", "deadlock", "connect-error"])
def test_a_claim_that_failed_before_landing_is_repeated_and_assigns_once(api, fake, db, how):
    add_pool(db, 10)
    add_targets(db, [4, 4])
    fake.fail(RUN, **how)
    summary = api.run(DAY)
    assert fake.paths() == [RUN, RUN]
    assert (summary["assigned"], summary["claimed"], summary["replayed"]) == (8, 8, False)
    assert count(db, LIVE) == 8
    assert count(db, "SELECT count(*) FROM global_usernames WHERE used") == 8


@pytest.mark.parametrize("how", [
    {"exception": httpx.ReadTimeout},
    {"status": 503, "code": "PGRST000"},
], ids=["timeout", "503"])
def test_a_claim_whose_answer_was_lost_is_repeated_as_a_replay_and_its_lists_are_fresh(api, fake, db, how):
    add_pool(db, 10)
    add_targets(db, [4, 4])
    empty = api.get(f"/api/distribution/{DAY}").get_json()
    assert empty["items"] == []  # cached before the run
    fake.fail(RUN, landed=True, **how)
    summary = api.run(DAY)
    assert fake.paths().count(RUN) == 2
    # The first attempt's run, found by the second: every profile handed out once.
    assert (summary["assigned"], summary["claimed"], summary["replayed"]) == (8, 0, True)
    assert count(db, LIVE) == 8 and count(db, "SELECT count(*) FROM distribution_runs") == 1
    assert len(api.get(f"/api/distribution/{DAY}").get_json()["items"]) == 8  # not the cached page


def test_a_claim_failing_three_times_is_503_and_assigns_nothing(api, fake, db):
    add_pool(db, 10)
    add_targets(db, [4])
    fake.fail(RUN, times=3, status=503, code="PGRST000")
    response = api.post("/api/distribution/run", {"date": DAY})
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "storage_unavailable"
    assert fake.paths() == [RUN] * 3
    assert count(db, LIVE) == 0


def test_a_claim_hitting_the_statement_timeout_is_503_and_not_repeated(api, fake, db):
    add_targets(db, [4])
    fake.fail(RUN, status=500, code="57014")
    response = api.post("/api/distribution/run", {"date": DAY})
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "statement_timeout"
    assert fake.paths() == [RUN]


def test_a_top_up_repeated_after_a_lost_answer_never_passes_the_quota(api, fake, db):
    add_pool(db, 10)
    [target] = add_targets(db, [3])
    api.run(DAY)
    db.execute("UPDATE distribution_targets SET daily_quota = 6 WHERE id = %s", [target])
    fake.fail(RUN, landed=True, exception=httpx.ReadTimeout)
    summary = api.run(DAY, top_up=True)
    assert (summary["assigned"], summary["shortfall"], summary["claimed"]) == (6, 0, 0)
    assert count(db, LIVE) == 6


def test_status_updates_repeated_after_a_lost_answer_report_the_same(api, fake, db):
    add_pool(db, 3)
    add_targets(db, [3])
    api.run(DAY)
    fake.fail("rpc/distribution_set_status", landed=True, exception=httpx.ReadTimeout)
    reply = api.post("/api/distribution/status", {"updates": [
        {"profile_id": "p0", "status": "sent"}, {"profile_id": "nobody", "status": "sent"}]}).get_json()
    assert reply == {"received": 2, "updated": 1, "unknown": ["nobody"]}
    assert count(db, "SELECT count(*) FROM distribution_assignments WHERE status = 'sent'") == 1


def test_a_release_repeated_after_a_lost_answer_returns_each_profile_once(api, fake, db):
    add_pool(db, 6)
    add_targets(db, [3])
    today = date.today()  # runs are taken for dates near today only
    api.run((today - timedelta(days=20)).isoformat())
    api.run((today - timedelta(days=19)).isoformat())
    fake.fail("rpc/distribution_release", landed=True, exception=httpx.ReadTimeout)
    assert api.post("/api/distribution/release", None).status_code == 200
    assert count(db, "SELECT count(*) FROM distribution_assignments WHERE status = 'released'") == 6
    assert count(db, "SELECT count(*) FROM global_usernames WHERE NOT used") == 6
    assert count(db, "SELECT sum(used) FROM pool_count_deltas") == 0  # the counts moved once, too


def test_a_create_whose_answer_was_lost_returns_the_target_it_made(api, fake, db):
    fake.fail(TARGETS, landed=True, exception=httpx.ReadTimeout)
    response = api.post("/api/targets", {"name": "outreach-1", "daily_quota": 200})
    assert response.status_code == 201
    row = db.execute("SELECT id, daily_quota FROM distribution_targets").fetchall()
    assert [(response.get_json()["id"], 200)] == row
    assert [r.method for r in fake.requests] == ["POST", "POST", "GET"]  # insert, 409, read it back


def test_a_repeated_create_meeting_another_target_of_that_name_is_409(api, fake, db):
    add_targets(db, [5], prefix="same")  # named "same-0"
    fake.fail(TARGETS, status=503, code="PGRST000")
    response = api.post("/api/targets", {"name": "same-0", "daily_quota": 7})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "target_exists"
    assert count(db, "SELECT daily_quota FROM distribution_targets") == 5
