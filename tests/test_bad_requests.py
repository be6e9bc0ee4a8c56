"""Bad input that fails a whole request, on every route: one table, each row a clear JSON 4xx that
changes nothing, followed by a valid request to the same route that still works.

Cases tests/test_ingest_errors.py already holds for the ingest route are not repeated here; the
per-record rejections (a bad profile among good ones) are in tests/test_bad_records.py.
"""

from __future__ import annotations

import gzip
import uuid
from typing import Any, NamedTuple

import orjson
import pytest

from .conftest import ALL_KEY
from .distribution_helpers import add_pool, add_targets, run
from .routes import db_state

DAY = "2026-03-02"
JSON = "application/json"
MB = "x" * (1 << 20)
DEEP = b"[" * 5000 + b"]" * 5000
INJECTION = "1'; DROP TABLE global_usernames;--"


class Bad(NamedTuple):
    """One bad request: which route's valid request follows it, and the 4xx it must get."""

    route: str
    method: str
    path: str
    body: bytes | None
    status: int
    code: str
    content_type: str | None = JSON
    headers: dict[str, str] | None = None
    query: dict[str, str] | None = None


def js(value: Any) -> bytes:
    """JSON bytes of a value."""
    return orjson.dumps(value)


def post(route: str, path: str, body: bytes, status: int, code: str, **extra: Any) -> Bad:
    """A bad POST."""
    return Bad(route, "POST", path, body, status, code, **extra)


def get(route: str, path: str, query: dict[str, str], status: int = 400,
        code: str = "invalid_parameter") -> Bad:
    """A bad GET by its query string."""
    return Bad(route, "GET", path, None, status, code, content_type=None, query=query)


TARGETS, TARGET = "/api/targets", "/api/targets/{target}"
RUN, STATUS, RELEASE = "/api/distribution/run", "/api/distribution/status", "/api/distribution/release"
LIST, RAW, CLEANUP = f"/api/distribution/{DAY}", "/api/admin/profiles/raw", "/api/admin/cleanup"
OK_TARGET = {"name": "t", "daily_quota": 1}
UPDATE = {"profile_id": "p0", "status": "sent"}

CASES = {
    # malformed and truncated JSON
    "targets-malformed": post("targets", TARGETS, b'{"name": }', 400, "malformed_json"),
    "target-truncated": Bad("target", "PATCH", TARGET, b'{"daily_quota": 1', 400, "malformed_json"),
    "run-truncated": post("run", RUN, b'{"date": "2026-03-0', 400, "malformed_json"),
    "status-truncated": post("status", STATUS, b'{"updates": [{"profile_id": "p0", "sta', 400, "malformed_json"),
    "release-garbage": post("release", RELEASE, b"older_than_days=3", 400, "malformed_json"),
    "cleanup-truncated": post("cleanup", CLEANUP, b'{"max_batches": ', 400, "malformed_json"),
    "ingest-null": post("ingest", "/api/ingest", b"null", 400, "invalid_shape"),
    "ingest-number": post("ingest", "/api/ingest", b"42", 400, "invalid_shape"),
    # wrong types, field by field
    "ingest-profiles-string": post("ingest", "/api/ingest", js({"profiles": "p0"}), 400, "invalid_shape"),
    "targets-body-array": post("targets", TARGETS, js([OK_TARGET]), 400, "invalid_body"),
    "targets-name-number": post("targets", TARGETS, js({"name": 5, "daily_quota": 1}), 400, "invalid_parameter"),
    "targets-quota-float": post("targets", TARGETS, js({"name": "t", "daily_quota": 1.5}), 400, "invalid_parameter"),
    "targets-sources-numbers": post("targets", TARGETS, js({**OK_TARGET, "sources": [1]}), 400, "invalid_parameter"),
    "target-active-string": Bad("target", "PATCH", TARGET, js({"active": "yes"}), 400, "invalid_parameter"),
    "run-date-number": post("run", RUN, js({"date": 20260302}), 400, "invalid_parameter"),
    "run-body-string": post("run", RUN, js("2026-03-02"), 400, "invalid_body"),
    "status-updates-object": post("status", STATUS, js({"updates": UPDATE}), 400, "invalid_parameter"),
    "status-update-string": post("status", STATUS, js({"updates": ["p0"]}), 422, "invalid_updates"),
    "status-id-list": post("status", STATUS, js({"updates": [{**UPDATE, "profile_id": ["p0"]}]}), 422,
                           "invalid_updates"),
    "status-id-bool": post("status", STATUS, js({"updates": [{**UPDATE, "profile_id": True}]}), 422,
                           "invalid_updates"),
    "status-status-number": post("status", STATUS, js({"updates": [{**UPDATE, "status": 2}]}), 422, "invalid_updates"),
    "release-days-string": post("release", RELEASE, js({"older_than_days": "7"}), 400, "invalid_parameter"),
    "release-days-bool": post("release", RELEASE, js({"older_than_days": True}), 400, "invalid_parameter"),
    "cleanup-batches-null": post("cleanup", CLEANUP, js({"max_batches": None}), 400, "invalid_parameter"),
    "list-target-word": get("list", LIST, {"target": "first"}),
    "targets-active-word": get("targets-list", TARGETS, {"active": "maybe"}),
    "stats-days-word": get("stats", "/api/stats", {"days": "week"}),
    "raw-from-compact": get("raw", RAW, {"from": "20260101"}),
    # missing fields and empty arrays
    "targets-empty-object": post("targets", TARGETS, b"{}", 400, "invalid_parameter"),
    "status-no-updates": post("status", STATUS, b"{}", 400, "invalid_parameter"),
    "status-update-no-status": post("status", STATUS, js({"updates": [{"profile_id": "p0"}]}), 422, "invalid_updates"),
    "status-updates-empty": post("status", STATUS, js({"updates": []}), 400, "invalid_parameter"),
    "ingest-bare-empty-array": post("ingest", "/api/ingest", b"[]", 422, "empty_batch"),
    "ingest-ndjson-blank-lines": post("ingest", "/api/ingest", b"\n \n\n", 422, "empty_batch",
                                      content_type="application/x-ndjson"),
    # 1 MB strings
    "targets-name-1mb": post("targets", TARGETS, js({"name": MB, "daily_quota": 1}), 400, "invalid_parameter"),
    "targets-source-1mb": post("targets", TARGETS, js({**OK_TARGET, "sources": [MB]}), 400, "invalid_parameter"),
    "run-date-1mb": post("run", RUN, js({"date": MB}), 400, "invalid_parameter"),
    "status-id-1mb": post("status", STATUS, js({"updates": [{**UPDATE, "profile_id": MB}]}), 422, "invalid_updates"),
    "status-status-1mb": post("status", STATUS, js({"updates": [{**UPDATE, "status": MB}]}), 422, "invalid_updates"),
    "ingest-idempotency-key-1mb": post("ingest", "/api/ingest", js([{"id": "a", "username": "a"}]), 400,
                                       "invalid_idempotency_key", headers={"Idempotency-Key": MB}),
    "list-target-1mb": get("list", LIST, {"target": "9" * (1 << 20)}),
    "list-date-1mb": Bad("list", "GET", f"/api/distribution/{MB}", None, 404, "not_found", None),
    "stats-date-1mb": get("stats", "/api/stats", {"date": MB}),
    # deeply nested JSON
    "targets-deep": post("targets", TARGETS, b'{"name": ' + DEEP + b"}", 400, "malformed_json"),
    "status-deep": post("status", STATUS, b'{"updates": ' + DEEP + b"}", 400, "malformed_json"),
    "cleanup-deep": post("cleanup", CLEANUP, DEEP, 400, "malformed_json"),
    # NUL bytes and lone surrogates in text fields and extra fields
    "targets-name-nul": post("targets", TARGETS, b'{"name": "a\\u0000b", "daily_quota": 1}', 400,
                             "invalid_parameter"),
    "targets-source-nul": post("targets", TARGETS, b'{"name": "t", "daily_quota": 1, "sources": ["ig\\u0000"]}',
                               400, "invalid_parameter"),
    "targets-name-surrogate": post("targets", TARGETS, b'{"name": "a\\ud800", "daily_quota": 1}', 400,
                                   "malformed_json"),
    "targets-extra-nul-key": post("targets", TARGETS, b'{"name": "t", "daily_quota": 1, "x\\u0000": 1}',
                                  400, "invalid_parameter"),
    "target-name-nul": Bad("target", "PATCH", TARGET, b'{"name": "\\u0000"}', 400, "invalid_parameter"),
    "run-date-nul": post("run", RUN, b'{"date": "2026-03-02\\u0000"}', 400, "invalid_parameter"),
    "run-extra-surrogate": post("run", RUN, b'{"date": "2026-03-02", "\\udc00": 1}', 400, "malformed_json"),
    "status-id-nul": post("status", STATUS, b'{"updates": [{"profile_id": "p\\u0000", "status": "sent"}]}',
                          422, "invalid_updates"),
    "status-status-surrogate": post("status", STATUS, b'{"updates": [{"profile_id": "p0", "status": "\\ud83d"}]}',
                                    400, "malformed_json"),
    "ingest-idempotency-key-control": post("ingest", "/api/ingest", js([{"id": "a", "username": "a"}]), 400,
                                           "invalid_idempotency_key", headers={"Idempotency-Key": "k\x7fey"}),
    "list-cursor-nul": get("list", LIST, {"cursor": "a\x00.b"}, 400, "invalid_cursor"),
    "list-target-nul": get("list", LIST, {"target": "1\x00"}),
    "raw-to-nul": get("raw", RAW, {"to": "2026-01-01\x00"}),
    "stats-days-nul": get("stats", "/api/stats", {"days": "\x00"}),
    # SQL injection where it can only be a bad value (stored verbatim elsewhere: test_bad_records.py)
    "list-target-injection": get("list", LIST, {"target": "1 OR 1=1"}),
    "list-date-injection": Bad("list", "GET", "/api/distribution/2026-03-02' OR '1'='1", None, 404,
                               "not_found", None),
    "list-date-impossible": Bad("list", "GET", "/api/distribution/2026-02-30", None, 400, "invalid_parameter",
                                None),
    "list-is-not-run": Bad("list", "GET", "/api/distribution/run", None, 405, "method_not_allowed", None),
    "target-id-injection": Bad("target", "PATCH", "/api/targets/1 OR 1=1", js({"active": True}), 404, "not_found"),
    "raw-from-injection": get("raw", RAW, {"from": INJECTION}),
    # huge numbers
    "targets-quota-huge": post("targets", TARGETS, js({"name": "t", "daily_quota": 10**18}), 400,
                               "invalid_parameter"),
    "targets-quota-infinite": post("targets", TARGETS, b'{"name": "t", "daily_quota": 1e400}', 400,
                                   "malformed_json"),
    "target-id-huge": Bad("target", "PATCH", f"/api/targets/{10**30}", js({"active": True}), 404,
                          "target_not_found"),
    "release-days-huge": post("release", RELEASE, js({"older_than_days": 10**18}), 400, "invalid_parameter"),
    "cleanup-batches-huge": post("cleanup", CLEANUP, b'{"max_batches": 1' + b"0" * 40 + b"}", 400,
                                 "invalid_parameter"),
    "ingest-infinity": post("ingest", "/api/ingest", b'[{"id": "a", "username": "a", "n": 1e400}]', 400,
                            "malformed_json"),
    "ingest-nan": post("ingest", "/api/ingest", b'[{"id": "a", "username": "a", "bio": "\\ud800", "n": NaN}]', 400,
                       "malformed_json"),
    # dates spelt any other way than YYYY-MM-DD
    "stats-date-week": get("stats", "/api/stats", {"date": "2026-W10-1"}),
    "raw-to-arabic-digits": get("raw", RAW, {"to": "٢٠٢٦-٠١-٠١"}),
    "run-date-ordinal": post("run", RUN, js({"date": "2026-061"}), 400, "invalid_parameter"),
    # negative or huge page sizes
    "list-limit-negative": get("list", LIST, {"limit": "-1"}),
    "list-limit-huge": get("list", LIST, {"limit": str(10**30)}),
    "list-limit-float": get("list", LIST, {"limit": "1e3"}),
    "raw-limit-negative": get("raw", RAW, {"limit": "-100"}),
    "global-limit-huge": get("global", "/api/admin/profiles/global", {"limit": "1001"}),
    "stats-days-negative": get("stats", "/api/stats", {"days": "-7"}),
    # wrong Content-Type and Content-Encoding
    "targets-text-plain": post("targets", TARGETS, js(OK_TARGET), 415, "unsupported_media_type",
                               content_type="text/plain"),
    "target-form": Bad("target", "PATCH", TARGET, b"active=false", 415, "unsupported_media_type",
                       "application/x-www-form-urlencoded"),
    "run-ndjson": post("run", RUN, js({"date": DAY}), 415, "unsupported_media_type",
                       content_type="application/x-ndjson"),
    "status-no-type": post("status", STATUS, js({"updates": [UPDATE]}), 415, "unsupported_media_type",
                           content_type=None),
    "cleanup-xml": post("cleanup", CLEANUP, b"<max_batches>1</max_batches>", 415, "unsupported_media_type",
                        content_type="application/xml"),
    "ingest-multipart": post("ingest", "/api/ingest", b"--x\r\n\r\n--x--", 415, "unsupported_media_type",
                             content_type="multipart/form-data; boundary=x"),
    "ingest-deflate": post("ingest", "/api/ingest", js([{"id": "a", "username": "a"}]), 415, "unsupported_media_type",
                           headers={"Content-Encoding": "deflate"}),
    "targets-gzip": post("targets", TARGETS, gzip.compress(js(OK_TARGET)), 415, "unsupported_media_type",
                         headers={"Content-Encoding": "gzip"}),
    # corrupt gzip on the streamed path (the JSON path is in test_ingest_errors.py)
    "ingest-ndjson-corrupt-gzip": post("ingest", "/api/ingest", b"\x1f\x8b\x08\x00" + b"\xff" * 64, 400,
                                       "invalid_gzip", content_type="application/x-ndjson",
                                       headers={"Content-Encoding": "gzip"}),
}


def follow_up(route: str, target: int) -> tuple[str, str, Any, int]:
    """The valid request that must still work after a bad one on `route`: method, path, JSON body, status."""
    unique = uuid.uuid4().hex[:12]
    return {
        "ingest": ("POST", "/api/ingest", {"profiles": [{"id": unique, "username": "ok"}]}, 200),
        "targets": ("POST", TARGETS, {"name": f"ok-{unique}", "daily_quota": 1}, 201),
        "targets-list": ("GET", TARGETS, None, 200),
        "target": ("PATCH", TARGET.format(target=target), {"daily_quota": 3}, 200),
        "run": ("POST", RUN, {"date": DAY}, 200),
        "list": ("GET", LIST, None, 200),
        "status": ("POST", STATUS, {"updates": [UPDATE]}, 200),
        "release": ("POST", RELEASE, {"older_than_days": 30}, 200),
        "stats": ("GET", "/api/stats", None, 200),
        "raw": ("GET", RAW, None, 200),
        "global": ("GET", "/api/admin/profiles/global", None, 200),
        "cleanup": ("POST", CLEANUP, {"max_batches": 1}, 200),
    }[route]


@pytest.fixture
def target(db) -> int:
    """A pool of three, one target of two, and DAY's run: something for every route to refuse to change."""
    add_pool(db, 3)
    [target_id] = add_targets(db, [2])
    run(db, DAY)
    return target_id


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_bad_request_gets_a_json_4xx_changes_nothing_and_the_route_still_works(client, db, target, case):
    headers = {"Authorization": f"Bearer {ALL_KEY}", **(case.headers or {})}
    if case.content_type:
        headers["Content-Type"] = case.content_type
    before = db_state(db)
    response = client.open(case.path.format(target=target), method=case.method, data=case.body,
                           headers=headers, query_string=case.query)
    assert (response.status_code, response.is_json) == (case.status, True), response.data[:300]
    error = response.get_json()["error"]
    assert error["code"] == case.code and error["message"], error
    assert db_state(db) == before

    method, path, body, status = follow_up(case.route, target)
    valid = client.open(path, method=method, json=body, headers={"Authorization": f"Bearer {ALL_KEY}"})
    assert valid.status_code == status, valid.get_json()
