"""The POST /api/ingest contract: the response fields and what lands in which table."""

from __future__ import annotations

import orjson
import pytest

from .conftest import count, profiles

SEED_EXAMPLE = [
    {"id": "test1", "username": "user1", "full_name": "Test User 1"},
    {"id": "test2", "username": "user2", "full_name": "Test User 2"},
]


def test_readme_example_gives_the_documented_answer(ingest, db):
    response = ingest.json(SEED_EXAMPLE)
    assert response.status_code == 200
    body = response.get_json()
    assert {k: body[k] for k in ("success", "inserted_raw", "added_to_global", "skipped_existing")} == {
        "success": True, "inserted_raw": 2, "added_to_global": 2, "skipped_existing": 0}
    assert body["rejected"] == 0 and body["errors"] == []
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 2
    rows = db.execute("SELECT id, username, full_name, used FROM global_usernames ORDER BY id").fetchall()
    assert rows == [("test1", "user1", "Test User 1", False), ("test2", "user2", "Test User 2", False)]


def test_second_ingest_of_the_same_ids_is_kept_raw_but_skipped_in_the_pool(ingest, db):
    ingest.json(profiles(5))
    body = ingest.json(profiles(8)).get_json()  # 5 known, 3 new
    assert (body["inserted_raw"], body["added_to_global"], body["skipped_existing"]) == (8, 3, 5)
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 13
    assert count(db, "SELECT count(*) FROM global_usernames") == 8


def test_an_id_repeated_in_one_request_counts_once_for_the_pool_first_one_wins(ingest, db):
    items = [{"id": "dup", "username": "first"}, {"id": "x", "username": "x"},
             {"id": "dup", "username": "second"}]
    body = ingest.json(items).get_json()
    assert (body["inserted_raw"], body["added_to_global"], body["skipped_existing"],
            body["duplicates_in_request"]) == (3, 2, 0, 1)
    assert db.execute("SELECT username FROM global_usernames WHERE id = 'dup'").fetchone() == ("first",)
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles WHERE profile_id = 'dup'") == 2


def test_invalid_profiles_are_counted_listed_and_do_not_fail_the_request(ingest, db):
    items = [{"id": "ok1", "username": "fine"}, {"username": "no_id"}, {"id": "no_name"},
             "not an object", {"id": "ok2", "username": "also.fine"}]
    body = ingest.json(items).get_json()
    assert body["success"] is True
    assert (body["received"], body["inserted_raw"], body["rejected"]) == (5, 2, 3)
    assert body["errors"] == [
        {"index": 1, "field": "id", "reason": "is required"},
        {"index": 2, "field": "username", "reason": "is required"},
        {"index": 3, "field": None, "reason": "profile must be a JSON object"},
    ]
    assert count(db, "SELECT count(*) FROM global_usernames") == 2


def test_error_list_is_capped_but_the_count_stays_exact(client, database_url, db):
    from server import create_app

    from .conftest import Ingest, make_config
    app = create_app(make_config(database_url, MAX_ERRORS_LISTED=3))
    try:
        body = Ingest(app.test_client()).json([{"id": str(i)} for i in range(10)] + profiles(1)).get_json()
    finally:
        app.extensions["store"].close()
    assert body["rejected"] == 10 and len(body["errors"]) == 3 and body["errors_truncated"] is True
    assert body["inserted_raw"] == 1


def test_values_are_normalised_and_the_whole_profile_is_kept(ingest, db):
    item = {"id": 12345, "username": "  @Some.User ", "full_name": "  Ana  ", "followers": 10,
            "bio": {"text": "hi"}, "scraped_at": "2026-11-01T10:00:00"}
    assert ingest.json([item], source="instagram").status_code == 200
    row = db.execute("SELECT profile_id, username, full_name, source, scraped_at::text, profile"
                     " FROM raw_scraped_profiles").fetchone()
    assert row[:4] == ("12345", "some.user", "Ana", "instagram")
    assert row[4].startswith("2026-11-01 10:00:00")
    assert row[5] == item  # the profile as received, extra fields included
    assert db.execute("SELECT source FROM global_usernames").fetchone() == ("instagram",)


def test_a_profile_source_overrides_the_request_source(ingest, db):
    ingest.json([{"id": "a", "username": "a", "source": "tiktok"}, {"id": "b", "username": "b"}],
                source="instagram")
    rows = db.execute("SELECT profile_id, source FROM raw_scraped_profiles ORDER BY profile_id").fetchall()
    assert rows == [("a", "tiktok"), ("b", "instagram")]


def test_a_bare_array_body_is_accepted(ingest):
    response = ingest.raw(orjson.dumps(profiles(3)), "application/json")
    assert response.get_json()["inserted_raw"] == 3


@pytest.mark.parametrize("gzip_body", [False, True], ids=["plain", "gzip"])
def test_ndjson_gives_the_same_counts_as_json(ingest, db, gzip_body):
    ingest.json(profiles(3))
    body = ingest.ndjson(profiles(5) + [{"id": "p0", "username": "again"}], gzip_body=gzip_body).get_json()
    assert (body["received"], body["inserted_raw"], body["added_to_global"],
            body["skipped_existing"], body["duplicates_in_request"]) == (6, 6, 2, 3, 1)


def test_gzip_json(ingest, db):
    body = ingest.json(profiles(100), gzip_body=True).get_json()
    assert body["added_to_global"] == 100


def test_ndjson_broken_lines_are_rejected_per_line(ingest, db):
    data = b'{"id": "a", "username": "a"}\n{"id": "b", "user\n\n  \n{"id": "c", "username": "c"}\n[1,2]'
    body = ingest.raw(data, "application/x-ndjson").get_json()
    assert (body["received"], body["inserted_raw"], body["rejected"]) == (4, 2, 2)
    assert [e["index"] for e in body["errors"]] == [1, 3]
    assert body["errors"][0]["reason"].startswith("invalid JSON")


def test_ingest_is_recorded_with_its_reply(ingest, db):
    body = ingest.json(profiles(4)).get_json()
    row = db.execute("SELECT received, inserted_raw, added_to_global, response FROM ingest_requests"
                     " WHERE id = %s", [body["ingest_id"]]).fetchone()
    assert row[:3] == (4, 4, 4) and row[3] == body
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles WHERE ingest_id = %s", body["ingest_id"]) == 4
