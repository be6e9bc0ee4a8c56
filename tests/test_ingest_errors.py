"""Every error status of the ingest route, each as the one JSON error shape."""

from __future__ import annotations

import gzip

import orjson
import pytest

from server import create_app

from .conftest import DISTRIBUTE_KEY, Ingest, count, make_config, profiles


def error_of(response) -> dict:
    assert response.is_json, response.data[:200]
    return response.get_json()["error"]


@pytest.mark.parametrize("body, code", [
    (b'{"profiles": [', "malformed_json"),
    (b"not json at all", "malformed_json"),
    (b'{"profiles": {"id": 1}}', "invalid_shape"),
    (b'{"items": []}', "invalid_shape"),
    (b'"just a string"', "invalid_shape"),
    (b'{"profiles": [], "source": 5}', "invalid_shape"),
    (b"[" * 5000 + b"]" * 5000, "malformed_json"),
], ids=["truncated", "garbage", "profiles-object", "no-profiles", "string", "bad-source", "deep"])
def test_unreadable_json_is_400(ingest, db, body, code):
    response = ingest.raw(body, "application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == code
    assert count(db, "SELECT count(*) FROM ingest_requests") == 0


def test_empty_profile_list_is_422(ingest):
    response = ingest.json([])
    assert response.status_code == 422 and error_of(response)["code"] == "empty_batch"


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", ""], ids=["text", "xml", "none"])
def test_wrong_content_type_is_415(ingest, content_type):
    response = ingest.raw(orjson.dumps({"profiles": profiles(1)}), content_type)
    assert response.status_code == 415 and error_of(response)["code"] == "unsupported_media_type"


def test_unknown_content_encoding_is_415(ingest):
    response = ingest.raw(b"{}", "application/json", **{"Content-Encoding": "br"})
    assert response.status_code == 415


def test_corrupt_and_truncated_gzip_are_400(ingest, db):
    packed = gzip.compress(orjson.dumps({"profiles": profiles(50)}))
    for data in (b"\x1f\x8b\x08\x00garbage-garbage", packed[: len(packed) // 2]):
        response = ingest.raw(data, "application/json", **{"Content-Encoding": "gzip"})
        assert response.status_code == 400 and error_of(response)["code"] == "invalid_gzip"
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 0


@pytest.fixture
def small_app(database_url, db):
    app = create_app(make_config(database_url, MAX_CONTENT_LENGTH=20_000, MAX_JSON_BYTES=10_000,
                                 MAX_PROFILES_PER_REQUEST=40, BATCH_CHUNK_SIZE=10))
    yield app
    app.extensions["store"].close()


def test_body_over_the_limit_is_413_naming_it(small_app):
    response = Ingest(small_app.test_client()).ndjson(profiles(400))
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "payload_too_large" and "20000" in error["message"]


def test_json_over_its_own_limit_is_413_naming_it(small_app):
    response = Ingest(small_app.test_client()).json(profiles(200))
    assert response.status_code == 413 and "MAX_JSON_BYTES" in error_of(response)["message"]


def test_gzip_bomb_is_413_without_expanding_it(small_app):
    bomb = gzip.compress(b'{"profiles": [' + b" " * 5_000_000 + b"]}")
    assert len(bomb) < 20_000  # under MAX_CONTENT_LENGTH as sent
    response = Ingest(small_app.test_client()).raw(bomb, "application/json", gzip_body=False,
                                                   **{"Content-Encoding": "gzip"})
    assert response.status_code == 413 and error_of(response)["details"]["limit_bytes"] == 10_000


def test_too_many_profiles_is_413_and_nothing_lands(small_app, db):
    # 41 profiles with chunks of 10: four chunks are staged before the limit trips.
    response = Ingest(small_app.test_client()).ndjson(profiles(41))
    assert response.status_code == 413 and error_of(response)["details"] == {"limit_profiles": 40}
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 0
    assert count(db, "SELECT count(*) FROM global_usernames") == 0


def test_a_json_document_with_too_many_profiles_is_refused_before_anything_is_written(small_app, server_log):
    # 41 profiles (under MAX_JSON_BYTES) parse fine; their count is known, so no chunk is even staged.
    response = Ingest(small_app.test_client()).json(profiles(41))
    assert response.status_code == 413 and error_of(response)["details"] == {"limit_profiles": 40}
    assert "BULK insert" not in server_log.getvalue() and "batch" not in server_log.getvalue()


@pytest.mark.parametrize("header, status, code", [
    (None, 401, "unauthorized"),
    ("Bearer", 401, "unauthorized"),
    ("Basic abc", 401, "unauthorized"),
    ("Bearer not-a-known-key", 401, "unauthorized"),
    (f"Bearer {DISTRIBUTE_KEY}", 403, "forbidden"),
], ids=["none", "empty", "basic", "unknown", "wrong-scope"])
def test_keys_and_scopes(client, db, header, status, code):
    headers = {"Content-Type": "application/json"}
    if header:
        headers["Authorization"] = header
    response = client.post("/api/ingest", data=orjson.dumps({"profiles": profiles(1)}), headers=headers)
    assert response.status_code == status and error_of(response)["code"] == code
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 0


def test_unknown_route_and_wrong_method_are_json(client):
    assert error_of(client.get("/nope"))["code"] == "not_found"
    response = client.get("/api/ingest")
    assert response.status_code == 405 and error_of(response)["code"] == "method_not_allowed"


def test_unreachable_database_is_503_with_retry_after(tmp_path):
    dead = f"postgresql://postgres@/postgres?host={tmp_path}"  # no server listens there
    app = create_app(make_config(dead, DB_POOL_TIMEOUT=1, RETRY_AFTER_SECONDS=7))
    try:
        response = Ingest(app.test_client()).json(profiles(2))
        ready = app.test_client().get("/readyz")
    finally:
        app.extensions["store"].close()
    assert response.status_code == 503 and response.headers["Retry-After"] == "7"
    assert error_of(response)["code"] == "storage_unavailable"
    assert "postgres" not in response.get_data(as_text=True).lower()  # no connection details leak
    assert ready.status_code == 503 and ready.headers["Retry-After"] == "7"
