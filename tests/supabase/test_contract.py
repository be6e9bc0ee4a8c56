"""POST /api/ingest through create_app with STORAGE_BACKEND=supabase: the same contract as direct."""

from __future__ import annotations

from server import create_app

from ..conftest import API_KEYS, DATA_DIR, Ingest, count, profiles
from ..test_ingest_contract import (  # noqa: F401 (collected again here, against the Supabase app)
    test_a_bare_array_body_is_accepted,
    test_a_profile_source_overrides_the_request_source,
    test_an_id_repeated_in_one_request_counts_once_for_the_pool_first_one_wins,
    test_gzip_json,
    test_ingest_is_recorded_with_its_reply,
    test_invalid_profiles_are_counted_listed_and_do_not_fail_the_request,
    test_ndjson_broken_lines_are_rejected_per_line,
    test_ndjson_gives_the_same_counts_as_json,
    test_readme_example_gives_the_documented_answer,
    test_second_ingest_of_the_same_ids_is_kept_raw_but_skipped_in_the_pool,
    test_values_are_normalised_and_the_whole_profile_is_kept,
)
from .fake_postgrest import SERVICE_KEY, SUPABASE_URL


def test_the_contract_tests_here_really_go_through_supabase(ingest, fake, db):
    ingest.json(profiles(2))
    assert "rpc/ingest_chunk" in fake.paths()


def test_supabase_url_and_service_key_alone_choose_the_rest_backend(fake, db, monkeypatch):
    for name in ("STORAGE_BACKEND", "DATABASE_URL"):
        monkeypatch.setenv(name, "")  # and let no .env choose for us
    app = create_app({"TESTING": True, "API_KEYS": API_KEYS, "DATA_DIR": str(DATA_DIR),
                      "SUPABASE_URL": SUPABASE_URL, "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY})
    try:
        assert app.config["STORAGE_BACKEND"] == "supabase"
        body = Ingest(app.test_client()).ndjson(profiles(1200), gzip_body=True).get_json()
    finally:
        app.extensions["store"].close()
    assert (body["inserted_raw"], body["added_to_global"]) == (1200, 1200)
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 1200
