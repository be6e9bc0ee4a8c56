"""`flask --app server ingest-file`: JSON, NDJSON and CSV files (optionally gzip) through the batch processor."""

from __future__ import annotations

import gzip
import io

import orjson
import pytest

from server.progress import Progress, format_duration, progress_line

from .conftest import count, profiles


def write(path, data: bytes, compress: bool = False):
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def ndjson(items) -> bytes:
    return b"".join(orjson.dumps(item) + b"\n" for item in items)


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=["ingest-file", *map(str, args)])


def summary(result) -> dict[str, str]:
    """The `name: value` lines the command prints at the end."""
    return dict(line.split(": ", 1) for line in result.output.splitlines() if ": " in line
                and not line.startswith("rejected index"))


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gz"])
def test_ndjson_file_prints_the_endpoint_counts(run, tmp_path, db, compress):
    path = write(tmp_path / ("p.ndjson.gz" if compress else "p.ndjson"), ndjson(profiles(250) + profiles(5)), compress)
    result = run(path)
    assert result.exit_code == 0, result.output
    counts = summary(result)
    assert {k: counts[k] for k in ("received", "inserted_raw", "added_to_global", "duplicates_in_request",
                                   "rejected")} == {"received": "255", "inserted_raw": "255",
                                                    "added_to_global": "250", "duplicates_in_request": "5",
                                                    "rejected": "0"}
    assert count(db, "SELECT count(*) FROM global_usernames") == 250
    assert count(db, "SELECT count(*) FROM ingest_requests WHERE api_key_id = 'cli'") == 1


def test_json_object_file_uses_its_source_even_when_it_comes_after_the_profiles(run, tmp_path, db):
    path = write(tmp_path / "p.json", orjson.dumps({"profiles": profiles(3), "source": "tiktok"}))
    assert run(path).exit_code == 0
    assert db.execute("SELECT DISTINCT source FROM raw_scraped_profiles").fetchall() == [("tiktok",)]


def test_source_option_fills_profiles_that_name_none_and_overrides_a_json_files_own(run, tmp_path, db):
    items = [{"id": "a", "username": "a", "source": "instagram"}, {"id": "b", "username": "b"}]
    assert run(write(tmp_path / "p.ndjson", ndjson(items)), "--source", "tiktok").exit_code == 0
    document = {"source": "twitter", "profiles": [{"id": "c", "username": "c"}]}
    assert run(write(tmp_path / "p.json", orjson.dumps(document)), "--source", "tiktok").exit_code == 0
    expected = [("a", "instagram"), ("b", "tiktok"), ("c", "tiktok")]
    assert db.execute("SELECT profile_id, source FROM raw_scraped_profiles ORDER BY 1").fetchall() == expected
    assert db.execute("SELECT id, source FROM global_usernames ORDER BY 1").fetchall() == expected


def test_gzipped_json_array_file(run, tmp_path, db):
    path = write(tmp_path / "p.json.gz", orjson.dumps(profiles(40) + [{"id": "x", "score": 1.5}]), compress=True)
    result = run(path, "--json")
    body = orjson.loads(result.output.strip().splitlines()[-1])
    assert (body["received"], body["inserted_raw"], body["rejected"]) == (41, 40, 1)
    assert body["errors"] == [{"index": 40, "field": "username", "reason": "is required"}]


def test_csv_file_with_empty_cells_and_extra_columns(run, tmp_path, db):
    path = write(tmp_path / "p.csv", "id,username,full_name,followers\r\n1,Ana,,120\r\n2,bo,Bo B,\r\n,nobody,,\r\n"
                 .encode())
    result = run(path)
    assert summary(result)["inserted_raw"] == "2" and summary(result)["rejected"] == "1"
    rows = db.execute("SELECT profile_id, username, full_name, profile FROM raw_scraped_profiles"
                      " ORDER BY profile_id").fetchall()
    assert rows == [("1", "ana", None, {"id": "1", "username": "Ana", "followers": "120"}),
                    ("2", "bo", "Bo B", {"id": "2", "username": "bo", "full_name": "Bo B"})]
    assert "rejected index 2: id is required" in result.output


def test_large_files_are_committed_in_parts_with_exact_totals(run, tmp_path, db):
    items = profiles(25) + profiles(5) + [{"id": "bad"}]  # ids 0-4 again, in a later part
    result = run(write(tmp_path / "p.jsonl", ndjson(items)), "--rows-per-transaction", "10", "--json")
    body = orjson.loads(result.output.strip().splitlines()[-1])
    assert len(body["ingest_ids"]) == 4
    assert (body["received"], body["inserted_raw"], body["added_to_global"], body["skipped_existing"],
            body["rejected"]) == (31, 30, 25, 5, 1)
    assert body["errors"][0]["index"] == 30  # counted from the start of the file, not of the part
    assert count(db, "SELECT count(*) FROM ingest_requests") == 4


def test_a_malformed_file_fails_and_keeps_nothing_of_the_part(run, tmp_path, db):
    result = run(write(tmp_path / "p.json", b'{"profiles": [{"id": "a", "username": "a"}, {"id": '))
    assert result.exit_code != 0
    assert "malformed JSON" in result.output
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 0


def test_an_unknown_extension_needs_format(run, tmp_path, db):
    path = write(tmp_path / "profiles.txt", ndjson(profiles(2)))
    assert "pass --format" in run(path).output
    assert run(path, "--format", "ndjson").exit_code == 0


def test_an_empty_file_is_an_error(run, tmp_path, db):
    result = run(write(tmp_path / "p.ndjson", b"\n\n"))
    assert result.exit_code != 0 and "holds no profiles" in result.output


def test_progress_line_shows_rows_rate_percent_and_eta():
    line = progress_line(rows=5000, done_bytes=250, total_bytes=1000, elapsed=2.0)
    assert "25%" in line and "5,000 rows" in line and "2,500 rows/s" in line and "ETA 0:00:06" in line
    assert line.startswith("[######" + "." * 18 + "]")


def test_progress_line_without_a_known_size_has_no_eta():
    assert progress_line(10, 0, None, 1.0).endswith("ETA --:--:--")
    assert format_duration(3725) == "1:02:05"


def test_progress_off_a_terminal_prints_whole_lines():
    stream = io.StringIO()
    progress = Progress(total_bytes=100, stream=stream, interval=0)
    progress.update(10, 50)
    progress.finish()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in stream.getvalue()
    assert "10 rows" in lines[0] and lines[1].endswith("done")
