"""The exact REST requests of the distribution: one RPC per claim, page and status batch; targets as rows."""

from __future__ import annotations

import orjson
import pytest

from server.storage.supabase_distribution import TARGET_COLUMNS

from ..conftest import count
from ..distribution_helpers import add_pool, add_targets
from ..test_distribution_api import api  # noqa: F401 (the fixture)

DAY = "2026-03-02"
REST = "/rest/v1/"


def body(request):
    return orjson.loads(request.content)


def assert_rpc(request, function: str, arguments: dict) -> None:
    """A POST to /rest/v1/rpc/<function> with the arguments as a JSON body and nothing else."""
    assert (request.method, request.url.path) == ("POST", f"{REST}rpc/{function}")
    assert not request.url.params and "Prefer" not in request.headers
    assert body(request) == arguments


@pytest.mark.parametrize("top_up", [False, True], ids=["run", "top-up"])
def test_a_claim_is_one_rpc_with_the_date_in_the_body(api, fake, db, top_up):
    add_pool(db, 5)
    add_targets(db, [3])
    options = {"top_up": True} if top_up else {}
    summary = api.run(DAY, **options)
    assert summary["assigned"] == 3
    [claim] = fake.requests
    assert_rpc(claim, "distribution_run", {"p_date": DAY, "p_top_up": top_up})


def test_each_list_page_is_one_rpc_and_the_pages_walk_past_1000_rows(api, fake, db):
    add_pool(db, 2500)
    add_targets(db, [1200, 1300])
    api.run(DAY)
    before = len(fake.requests)
    pages = api.pages(DAY, limit=1000)
    listed = [item["profile_id"] for page in pages for item in page["items"]]
    expected = db.execute("SELECT target_id, id, profile_id FROM distribution_assignments"
                          " ORDER BY target_id, id").fetchall()
    assert listed == [profile for _, _, profile in expected]  # all 2500, each once, in order

    requests = fake.requests[before:]
    assert len(requests) == 3
    # One row more than the page: whether it exists decides next_cursor. The JSON array is one
    # value, so PostgREST's 1000-row cap does not cut the 1001 rows.
    after = [(0, 0), expected[999][:2], expected[1999][:2]]
    for request, (after_target, after_id) in zip(requests, after):
        assert_rpc(request, "distribution_list", {"p_date": DAY, "p_target": None,
                                                  "p_after_target": after_target, "p_after_id": after_id,
                                                  "p_limit": 1001})


def test_a_targets_list_pages_by_assignment_id_and_checks_the_target_only_when_empty(api, fake, db):
    add_pool(db, 1100)
    first, second = add_targets(db, [50, 1050])
    api.run(DAY)
    before = len(fake.requests)
    pages = api.pages(DAY, target=second, limit=1000)
    assert [len(page["items"]) for page in pages] == [1000, 50]
    requests = fake.requests[before:]
    assert [r.url.path.removeprefix(REST) for r in requests] == ["rpc/distribution_list"] * 2
    thousandth = db.execute("SELECT id FROM distribution_assignments WHERE target_id = %s"
                            " ORDER BY id OFFSET 999 LIMIT 1", [second]).fetchone()[0]
    assert body(requests[1]) == {"p_date": DAY, "p_target": second, "p_after_target": second,
                                 "p_after_id": thousandth, "p_limit": 1001}
    before = len(fake.requests)
    unknown = api.get(f"/api/distribution/{DAY}", target=first + second + 1000, limit=10)
    assert unknown.status_code == 404 and unknown.get_json()["error"]["code"] == "target_not_found"
    requests = fake.requests[before:]
    assert [r.url.path.removeprefix(REST) for r in requests] == ["rpc/distribution_list",
                                                                 "distribution_targets"]
    assert requests[1].url.params["id"] == f"eq.{first + second + 1000}"  # looked up only now


def test_status_updates_are_one_rpc_with_two_parallel_arrays(api, fake, db):
    add_pool(db, 3)
    add_targets(db, [3])
    api.run(DAY)
    before = len(fake.requests)
    updates = [{"profile_id": "p2", "status": "sent"}, {"profile_id": "p0", "status": "failed"},
               {"profile_id": "gone", "status": "replied"}]
    assert api.post("/api/distribution/status", {"updates": updates}).get_json() == {
        "received": 3, "updated": 2, "unknown": ["gone"]}
    [request] = fake.requests[before:]
    assert_rpc(request, "distribution_set_status", {"p_profile_ids": ["p2", "p0", "gone"],
                                                    "p_statuses": ["sent", "failed", "replied"]})


def test_target_crud_is_one_table_request_each(api, fake, db):
    created = api.target("outreach-1", 200, sources=["tiktok"])
    path = f"/api/targets/{created['id']}"
    api.get(path)
    api.client.patch(path, json={"daily_quota": 50}, headers=api.headers)
    deactivated = api.client.delete(path, headers=api.headers).get_json()
    insert, read, change, deactivate = fake.requests

    assert (insert.method, insert.url.path) == ("POST", f"{REST}distribution_targets")
    assert dict(insert.url.params) == {"columns": insert.url.params["columns"], "select": TARGET_COLUMNS}
    assert set(insert.url.params["columns"].replace('"', "").split(",")) == {
        "name", "daily_quota", "sources", "active"}
    assert insert.headers["Prefer"] == "return=representation"
    assert body(insert) == [{"name": "outreach-1", "daily_quota": 200, "sources": ["tiktok"], "active": True}]

    assert (read.method, dict(read.url.params)) == ("GET", {"select": TARGET_COLUMNS,
                                                            "id": f"eq.{created['id']}"})
    for request, fields in ((change, {"daily_quota": 50}), (deactivate, {"active": False})):
        assert (request.method, request.url.path) == ("PATCH", f"{REST}distribution_targets")
        assert dict(request.url.params) == {"id": f"eq.{created['id']}", "select": TARGET_COLUMNS}
        assert request.headers["Prefer"] == "return=representation"
        assert body(request) == {**fields, "updated_at": "now"}  # the database's clock stamps it
    assert (deactivated["daily_quota"], deactivated["active"]) == (50, False)
    assert deactivated["updated_at"] > deactivated["created_at"]
    assert count(db, "SELECT count(*) FROM distribution_targets WHERE updated_at > created_at") == 1


def test_listing_targets_pages_past_the_1000_row_cap(api, fake, db):
    db.execute("INSERT INTO distribution_targets (name, daily_quota, active)"
               " SELECT 'target-' || i, 1, i % 2 = 0 FROM generate_series(1, 2003) AS i")
    items = api.get("/api/targets").get_json()["items"]
    ids = [row[0] for row in db.execute("SELECT id FROM distribution_targets ORDER BY id")]
    assert [item["id"] for item in items] == ids
    pages = [dict(request.url.params) for request in fake.requests]
    assert [page.get("id") for page in pages] == [None, f"gt.{ids[999]}", f"gt.{ids[1999]}", f"gt.{ids[-1]}"]
    assert {(page["order"], page["limit"]) for page in pages} == {("id.asc", "1000")}

    before = len(fake.requests)
    active = api.get("/api/targets", active="true").get_json()["items"]
    assert len(active) == 1001 and all(item["active"] for item in active)
    assert all(r.url.params["active"] == "eq.true" for r in fake.requests[before:])


def test_a_taken_name_is_409_after_one_request_when_creating_or_renaming(api, fake, db):
    api.target("same", 1)
    other = api.target("other", 1)
    before = len(fake.requests)
    duplicate = api.post("/api/targets", {"name": "same", "daily_quota": 2})
    renamed = api.client.patch(f"/api/targets/{other['id']}", json={"name": "same"}, headers=api.headers)
    for response in (duplicate, renamed):
        assert response.status_code == 409 and response.get_json()["error"]["code"] == "target_exists"
    assert [r.method for r in fake.requests[before:]] == ["POST", "PATCH"]  # neither retried
    assert count(db, "SELECT count(*) FROM distribution_targets WHERE name = 'same'") == 1
