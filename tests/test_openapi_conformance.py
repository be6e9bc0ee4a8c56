"""Every route answers what /openapi.json says: real calls, validated against the spec's own schemas."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from jsonschema import Draft202012Validator

from .conftest import ALL_KEY, DISTRIBUTE_KEY, INGEST_KEY, profiles
from .spec_check import SpecCheck, schema_errors

OLD_DAY = (datetime.now(timezone.utc).date() - timedelta(days=10)).isoformat()
DAY = {"day": "2026-03-02"}


@pytest.fixture
def api(client, db) -> SpecCheck:
    return SpecCheck(client, ALL_KEY)


def test_the_checks_are_strict_enough_to_fail(api):
    target = api.spec["components"]["schemas"]["Target"]
    good = {"id": 1, "name": "a", "daily_quota": 1, "sources": None, "active": True,
            "created_at": "2026-03-02T08:00:00+00:00", "updated_at": "2026-03-02T08:00:00+00:00"}
    assert schema_errors(api.spec, target, good) == []
    assert schema_errors(api.spec, target, {**good, "extra": 1})  # an undescribed field
    assert schema_errors(api.spec, target, {**good, "created_at": "yesterday"})  # formats are checked
    assert {"date", "date-time", "uuid"} <= set(Draft202012Validator.FORMAT_CHECKER.checkers)


def test_every_example_matches_its_schema(api):
    for path, operations in api.spec["paths"].items():
        for method, operation in operations.items():
            bodies = [("request", operation.get("requestBody", {}))]
            bodies += [(status, response) for status, response in operation["responses"].items()]
            for name, part in bodies:
                for media_type, media in part.get("content", {}).items():
                    if "schema" in media and "example" in media and media_type != "application/x-ndjson":
                        errors = schema_errors(api.spec, media["schema"], media["example"])
                        assert errors == [], (method, path, name, errors)


def test_every_operation_answers_as_described(api):
    """One representative call of every operation, then errors of each kind the routes raise."""
    ingest = api.call("post", "/api/ingest", json={"source": "instagram", "profiles": [
        *profiles(6), {"id": "no-username"}]}).get_json()
    assert (ingest["added_to_global"], ingest["rejected"]) == (6, 1)

    first = api.call("post", "/api/targets", json={"name": "outreach-1", "daily_quota": 2}).get_json()
    second = api.call("post", "/api/targets", json={"name": "outreach-2", "daily_quota": 2,
                                                    "sources": ["instagram"]}).get_json()
    by_id = {"target_id": first["id"]}
    listed = api.call("get", "/api/targets", query_string={"active": "true"}).get_json()
    assert listed["items"] == [first, second]
    assert api.call("get", "/api/targets/{target_id}", path_params=by_id).get_json() == first
    assert api.call("patch", "/api/targets/{target_id}", path_params=by_id,
                    json={"daily_quota": 3, "sources": None}).get_json()["daily_quota"] == 3

    old_run = api.call("post", "/api/distribution/run", json={"date": OLD_DAY}).get_json()
    assert (old_run["assigned"], old_run["shortfall"], old_run["replayed"]) == (5, 0, False)
    top_up = api.call("post", "/api/distribution/run", json={"date": OLD_DAY, "top_up": True}).get_json()
    assert top_up["top_up"] and top_up["claimed"] == 0
    page = api.call("get", "/api/distribution/{day}", path_params={"day": OLD_DAY},
                    query_string={"limit": 3}).get_json()
    assert len(page["items"]) == 3 and page["next_cursor"]
    rest = api.call("get", "/api/distribution/{day}", path_params={"day": OLD_DAY},
                    query_string={"limit": 3, "cursor": page["next_cursor"]}).get_json()
    assert len(rest["items"]) == 2 and rest["next_cursor"] is None
    sent = page["items"][0]["profile_id"]
    reported = api.call("post", "/api/distribution/status", json={"updates": [
        {"profile_id": sent, "status": "sent"}, {"profile_id": "nobody", "status": "failed"}]})
    assert reported.get_json() == {"received": 2, "updated": 1, "unknown": ["nobody"]}
    one_target = api.call("get", "/api/distribution/{day}", path_params={"day": OLD_DAY},
                          query_string={"target": first["id"]}).get_json()
    assert one_target["target"] == first["id"] and one_target["items"][0]["status_at"] is not None

    released = api.call("post", "/api/distribution/release", json={"older_than_days": 7}).get_json()
    assert (released["released"], released["dates"]) == (4, [OLD_DAY])
    # Read at the call, not at import: a run collected before midnight and run after it failed here.
    expected_day = datetime.now(timezone.utc).date().isoformat()  # the test app's TIMEZONE is UTC
    today = api.call("post", "/api/distribution/run").get_json()  # no body: today
    assert (today["date"], today["claimed"]) == (expected_day, 5)
    old_stats = api.call("get", "/api/stats", query_string={"date": OLD_DAY, "days": 2}).get_json()
    assert old_stats["distribution"]["by_status"] == {"sent": 1, "released": 4}
    stats = api.call("get", "/api/stats").get_json()  # today, and a week of ingest
    assert stats["distribution"]["by_status"] == {"assigned": 5}
    assert stats["ingested_per_day"][-1]["received"] == 7 and stats["pool"]["used"] == 6

    raw = api.call("get", "/api/admin/profiles/raw", query_string={"limit": 4}).get_json()
    assert len(raw["items"]) == 4 and raw["next_cursor"]
    pool = api.call("get", "/api/admin/profiles/global").get_json()
    assert sum(item["used"] for item in pool["items"]) == 6
    assert api.call("post", "/api/admin/cleanup", json={"max_batches": 2}).get_json()["done"] is True
    status = api.call("get", "/api/status", query_string={"days": 2}).get_json()
    assert status["pool"]["used"] == 6 and status["ingest"]["per_source"][0]["source"] == "instagram"
    assert "<svg" in api.call("get", "/api/status/panel").get_data(as_text=True)
    assert api.call("delete", "/api/targets/{target_id}", path_params=by_id).get_json()["active"] is False

    for probe in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/status"):
        api.call("get", probe, key=None)
    assert api.succeeded() == api.operations()


@pytest.mark.parametrize(("method", "path", "request_args", "status"), [
    ("get", "/api/targets/{target_id}", {"path_params": {"target_id": 999999}}, 404),
    ("patch", "/api/targets/{target_id}", {"path_params": {"target_id": 2**70}, "json": {}}, 404),
    ("post", "/api/targets", {"json": {"name": "x", "daily_quota": 1, "sources": ["a\u0000"]}}, 400),
    ("post", "/api/targets", {"data": "name=x", "content_type": "application/x-www-form-urlencoded"}, 415),
    ("post", "/api/targets", {"data": "{", "content_type": "application/json"}, 400),
    ("get", "/api/targets", {"query_string": {"active": "maybe"}}, 400),
    ("post", "/api/distribution/run", {"json": {"date": "2026-W01-1"}}, 400),
    ("post", "/api/distribution/run", {"json": {"dates": "2026-03-02"}}, 400),
    ("get", "/api/distribution/{day}", {"path_params": DAY, "query_string": {"cursor": "x.y"}}, 400),
    ("get", "/api/distribution/{day}", {"path_params": DAY, "query_string": {"target": 5}}, 404),
    ("post", "/api/distribution/status", {"json": {"updates": [{"profile_id": "a", "status": "lost"}]}}, 422),
    ("post", "/api/distribution/release", {"json": {"older_than_days": 0}}, 400),
    ("get", "/api/stats", {"query_string": {"days": 0}}, 400),
    ("get", "/api/admin/profiles/raw", {"query_string": {"from": "2026-03-02", "to": "2026-03-01"}}, 400),
    ("get", "/api/admin/profiles/global", {"query_string": {"from": "9999-12-31"}}, 200),
    ("get", "/api/stats", {"query_string": {"date": "0001-01-01", "days": 366}}, 200),
    ("post", "/api/admin/cleanup", {"json": {"max_batches": True}}, 400),
    ("post", "/api/admin/cleanup", {"json": {"max_batches": 2.5}}, 400),
    ("post", "/api/distribution/release", {"json": {"older_than_days": 30.0}}, 200),
    ("get", "/api/distribution/{day}", {"path_params": {"day": "2026-13-01"}}, 400),
    ("get", "/api/distribution/{day}", {"path_params": {"day": "tomorrow"}}, 404),
], ids=["target-404", "target-past-int64", "nul-source", "form-body", "bad-json", "bad-active", "week-date",
        "unknown-run-option", "bad-cursor", "list-unknown-target", "bad-status", "bad-release-days",
        "bad-days", "backwards-range", "last-representable-day", "first-representable-day", "bool-batches",
        "fractional-batches", "whole-float-days", "month-13", "not-a-date-path"])
def test_errors_and_edge_dates_answer_as_described(api, method, path, request_args, status):
    assert api.call(method, path, **request_args).status_code == status


def test_missing_and_wrong_keys_answer_as_described(api):
    for method, path in sorted(api.operations()):
        operation = api.spec["paths"][path][method]
        if "security" not in operation:
            continue
        params = {"target_id": 1, "day": "2026-03-02"}
        assert api.call(method, path, key=None, path_params=params).status_code == 401
        wrong = INGEST_KEY if operation["x-scope"] != "ingest" else DISTRIBUTE_KEY
        assert api.call(method, path, key=wrong, path_params=params).status_code == 403
