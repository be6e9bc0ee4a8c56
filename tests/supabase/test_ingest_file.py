"""`flask --app server ingest-file` with STORAGE_BACKEND=supabase: the same counts, parts, sources and
failures (reading the formats is the same code whatever the backend, tested once in the parent folder)."""

from __future__ import annotations

from ..conftest import profiles
from ..test_ingest_file import (  # noqa: F401 (collected again here, against the Supabase app)
    ndjson,
    run,
    test_a_malformed_file_fails_and_keeps_nothing_of_the_part,
    test_large_files_are_committed_in_parts_with_exact_totals,
    test_ndjson_file_prints_the_endpoint_counts,
    test_source_option_fills_profiles_that_name_none_and_overrides_a_json_files_own,
    write,
)


def test_the_file_goes_through_the_rest_api(run, fake, tmp_path, db):
    assert run(write(tmp_path / "p.ndjson", ndjson(profiles(3)))).exit_code == 0
    assert "rpc/ingest_chunk" in fake.paths()
