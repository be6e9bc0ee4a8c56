"""`scraper-client push` against the real app: formats, and an interrupted push run again."""

from __future__ import annotations

import csv
import gzip
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from scraper_client.push import main

from ..conftest import INGEST_KEY
from ..held_upload import wait_for
from .conftest import stored
from .fault_proxy import HOLD, PASS, FaultProxy

pytestmark = pytest.mark.slow


def write_ndjson_gz(path: Path, records: int) -> dict[str, int]:
    """`records` lines (ids repeat, every 100th has no username) plus a blank and a broken line;
    return what one import of it must count."""
    lines, valid_ids = [], set()
    for n in range(records):
        item = {"id": f"f{n % (records * 9 // 10)}", "username": f"u{n}"}
        if n % 100 == 99:
            del item["username"]
        else:
            valid_ids.add(item["id"])
        lines.append(json.dumps(item))
    lines[10:10] = ["", "{not json"]
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return {"received": records, "rejected": records // 100, "inserted_raw": records - records // 100,
            "added_to_global": len(valid_ids)}


def push_command(path: Path, url: str, *extra: str) -> list[str]:
    """The command line a user types, in batches of 200."""
    return [sys.executable, "-m", "scraper_client", "push", str(path), "--url", url, "--batch-size", "200",
            "--json", *extra]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "killed"])
def test_push_stopped_half_way_and_run_again_counts_one_import(backend, db, tmp_path, stop):
    path = tmp_path / "profiles.ndjson.gz"
    expected = write_ndjson_gz(path, 3000)  # 15 batches of 200
    env = {**os.environ, "SCRAPER_BACKEND_API_KEY": INGEST_KEY}
    with FaultProxy(backend.url, *[PASS] * 5, HOLD) as proxy:
        first = subprocess.Popen(push_command(path, proxy.url, "--quiet"), env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        wait_for(proxy.holding.is_set, "batch 6 to be stored and its answer held back")
        first.send_signal(stop)
        _, errors = first.communicate(timeout=30)
        assert first.returncode == (130 if stop == signal.SIGINT else -signal.SIGKILL), errors
        # Batches 1-5 were answered and noted in the journal; batch 6 is stored, unanswered.
        assert stored(db)["batches"] == 6
        journal = [json.loads(line) for line in path.with_name(path.name + ".push-journal").read_text().splitlines()]
        assert [entry["batch"] for entry in journal[1:]] == [1, 2, 3, 4, 5]

        again = subprocess.run(push_command(path, proxy.url), env=env, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr
        totals = json.loads(again.stdout)
        assert {name: totals[name] for name in expected} == expected
        assert (totals["unreadable"], totals["batches"], totals["replayed_batches"], totals["requests"]) == (
            1, 15, 1, 10)  # batch 6 answered from the first try; 7-15 new
        assert "100%" in again.stderr  # the progress bar's last line
        assert stored(db) == {**expected, "batches": 15}

        third = subprocess.run(push_command(path, proxy.url), env=env, capture_output=True, text=True, timeout=60)
        assert third.returncode == 0 and "already pushed" in third.stderr
        assert {name: json.loads(third.stdout)[name] for name in expected} == expected
        assert len(proxy.seen) == 6 + 10  # the third run sent nothing
    assert stored(db)["batches"] == 15


def test_push_reads_json_csv_and_gzip(backend, db, tmp_path, capsys):
    document = tmp_path / "profiles.json"
    document.write_text(json.dumps({"profiles": [{"id": "j1", "username": "j1", "n": [1.5, None]},
                                                 {"id": "j2", "username": "j2"}], "source": "from-file"}))
    table = tmp_path / "profiles.csv.gz"
    with gzip.open(table, "wt", newline="") as file:
        writer = csv.writer(file)
        writer.writerows([["id", "username", "full_name"], ["c1", "c1", "Cee One"], ["c2", "c2", ""]])
    for path in (document, table):
        assert main(["push", str(path), "--url", backend.url, "--api-key", INGEST_KEY, "--json", "--quiet"]) == 0
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert (first["received"], first["added_to_global"], second["received"], second["added_to_global"]) == (2, 2, 2, 2)
    rows = db.execute("SELECT profile_id, source, full_name, profile->>'n' FROM raw_scraped_profiles"
                      " ORDER BY profile_id").fetchall()
    assert rows == [("c1", None, "Cee One", None), ("c2", None, None, None),
                    ("j1", "from-file", None, "[1.5, null]"), ("j2", "from-file", None, None)]


def test_push_will_not_resume_a_changed_file(backend, db, tmp_path, capsys):
    path = tmp_path / "profiles.ndjson"
    path.write_text('{"id": "a1", "username": "a1"}\n')
    journal = path.with_name(path.name + ".push-journal")
    journal.write_text(json.dumps({"run": {"url": backend.url, "file": str(path.resolve()), "size": 1,
                                           "run_id": "earlier"}}) + "\n")
    assert main(["push", str(path), "--url", backend.url, "--api-key", INGEST_KEY, "--quiet"]) == 2
    assert "another size, mtime_ns" in capsys.readouterr().err
    assert stored(db)["batches"] == 0
