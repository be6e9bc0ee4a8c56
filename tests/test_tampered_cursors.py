"""Tampered cursors on every paged route: each is a 400 invalid_cursor, and the genuine cursor still
pages on. Cursors are signed and bound to their list, so none of these can move a reader elsewhere."""

from __future__ import annotations

import base64

import orjson
import pytest

from server import create_app

from .conftest import ALL_KEY, make_config, profiles
from .distribution_helpers import add_pool, add_targets, run

DAY = "2026-03-02"
HEADERS = {"Authorization": f"Bearer {ALL_KEY}"}
PAGED = {"list": (f"/api/distribution/{DAY}", {}), "raw": ("/api/admin/profiles/raw", {}),
         "global": ("/api/admin/profiles/global", {"from": "2026-01-01"})}


def b64(data: bytes) -> str:
    """base64url without padding, as cursors spell it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def tampered(cursor: str, other_list: str, other_key: str) -> dict[str, str]:
    """Ways to change a genuine cursor, by name."""
    body, _, tag = cursor.partition(".")
    payload = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    moved = {**payload, "p": [0] * len(payload["p"])}  # back to the start, or somewhere else
    return {
        "truncated": cursor[:-3],
        "tag-flipped": body + "." + ("A" if tag[0] != "A" else "B") + tag[1:],
        "position-edited": b64(orjson.dumps(moved)) + "." + tag,
        "scope-edited": b64(orjson.dumps({**payload, "s": {**payload["s"], "list": "other"}})) + "." + tag,
        "no-tag": body,
        "extra-dots": cursor + ".x.y",
        "not-base64": "!!!!." + tag,
        "empty-parts": ".",
        "oversized": cursor + "A" * 2048,
        "unicode": "é" * 10 + "." + tag,
        "of-another-list": other_list,
        "signed-with-another-key": other_key,
    }


def page(client, route: str, cursor: str | None = None):
    """One item of a paged route, after `cursor`."""
    path, params = PAGED[route]
    paging = {"cursor": cursor} if cursor is not None else {}
    return client.get(path, query_string={**params, "limit": 1, **paging}, headers=HEADERS)


def first_cursor(client, route: str) -> str:
    """The cursor after the first item of a paged route."""
    page_one = page(client, route).get_json()
    assert page_one["next_cursor"], page_one
    return page_one["next_cursor"]


@pytest.fixture
def cursors(client, db, database_url, tmp_path):
    """A genuine cursor of each paged route, and one each from an app signing with another SECRET_KEY."""
    add_pool(db, 3)
    add_targets(db, [3])
    run(db, DAY)
    assert client.post("/api/ingest", json=profiles(3), headers=HEADERS).status_code == 200
    genuine = {route: first_cursor(client, route) for route in PAGED}
    other = create_app(make_config(database_url, SECRET_KEY="another-secret", CACHE_DIR=str(tmp_path / "other")))
    try:
        foreign = {route: first_cursor(other.test_client(), route) for route in PAGED}
    finally:
        other.extensions["store"].close()
    return genuine, foreign


@pytest.mark.parametrize("route", PAGED)
def test_every_tampered_cursor_is_400_and_the_genuine_one_still_pages(client, cursors, route):
    genuine, foreign = cursors
    other_list = genuine["global" if route != "global" else "raw"]
    for name, cursor in tampered(genuine[route], other_list, foreign[route]).items():
        response = page(client, route, cursor)
        assert response.status_code == 400, (name, response.get_json())
        assert response.get_json()["error"]["code"] == "invalid_cursor", name
    following = page(client, route, genuine[route])
    assert following.status_code == 200 and len(following.get_json()["items"]) == 1
