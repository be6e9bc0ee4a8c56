"""What `init-db`, `release` and the `targets` commands do to the database, and what they print."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson
import psycopg
import pytest

from server.storage.supabase_setup import schema_objects

from .conftest import count, flask_command, fresh_database, make_config
from .distribution_helpers import add_pool, add_targets, run

TABLES, FUNCTIONS = schema_objects()


@pytest.fixture
def command(app):
    """command(*args) -> (exit code, output) of `flask --app server ARGS` on the test database."""
    runner = app.test_cli_runner()

    def invoke(*args: str) -> tuple[int, str]:
        result = runner.invoke(args=[str(arg) for arg in args])
        return result.exit_code, result.output

    return invoke


def printed(answer: tuple[int, str]):
    """The JSON a command that succeeded printed."""
    exit_code, output = answer
    assert exit_code == 0, output
    return orjson.loads(output)


def test_init_db_creates_the_schema_on_an_empty_database_and_keeps_the_data_when_run_again():
    url = fresh_database("cli_init_db", schema=False)
    first = flask_command(make_config(url), "init-db")
    assert first.exit_code == 0 and "schema applied (postgres backend)" in first.output, first.output
    with psycopg.connect(url, autocommit=True) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        functions = {r[0] for r in conn.execute(
            "SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace")}
        assert set(TABLES) <= tables and set(FUNCTIONS) <= functions
        assert count(conn, "SELECT count(*) FROM schema_version") == 1
        conn.execute("INSERT INTO distribution_targets (name, daily_quota) VALUES ('kept', 3)")
        assert flask_command(make_config(url), "init-db").exit_code == 0
        assert conn.execute("SELECT name, daily_quota FROM distribution_targets").fetchall() == [("kept", 3)]


def test_init_db_on_the_supabase_backend_points_to_the_sql_to_paste(database_url):
    config = make_config(database_url, STORAGE_BACKEND="supabase", SUPABASE_URL="https://x.supabase.co",
                         SUPABASE_SERVICE_ROLE_KEY="key")
    result = flask_command(config, "init-db")
    assert result.exit_code == 1 and "flask --app server supabase-sql" in result.output


def test_release_gives_unsent_assignments_older_than_the_days_back_to_the_pool(command, db):
    today = datetime.now(timezone.utc).date()  # TIMEZONE is UTC here
    old, recent = today - timedelta(days=10), today - timedelta(days=2)
    add_pool(db, 8)
    add_targets(db, [4])
    run(db, old.isoformat())  # p0-p3
    run(db, recent.isoformat())  # p4-p7
    db.execute("UPDATE distribution_assignments SET status = 'sent' WHERE profile_id IN ('p0', 'p4')")

    assert printed(command("release", "--older-than-days", 7)) == {
        "released": 3, "through": (today - timedelta(days=7)).isoformat(), "dates": [old.isoformat()]}
    statuses = dict(db.execute("SELECT profile_id, status FROM distribution_assignments"))
    assert statuses == {"p0": "sent", "p1": "released", "p2": "released", "p3": "released",
                        "p4": "sent", "p5": "assigned", "p6": "assigned", "p7": "assigned"}
    assert [r[0] for r in db.execute("SELECT id FROM global_usernames WHERE NOT used ORDER BY id")] == \
        ["p1", "p2", "p3"]
    assert printed(command("release"))["released"] == 0  # RELEASE_AFTER_DAYS (7): nothing left that old
    assert printed(command("release", "--older-than-days", 1))["dates"] == [recent.isoformat()]


def targets_in(db) -> list[tuple]:
    return db.execute("SELECT id, name, daily_quota, sources, active FROM distribution_targets ORDER BY id").fetchall()


def test_targets_commands_add_list_change_and_deactivate(command, db):
    first = printed(command("targets", "add", "outreach-1", "--quota", 5, "--source", "instagram",
                            "--source", "tiktok"))
    second = printed(command("targets", "add", "outreach-2", "--quota", 2))
    assert (first["name"], first["daily_quota"], first["sources"], first["active"]) == (
        "outreach-1", 5, ["instagram", "tiktok"], True)
    assert targets_in(db) == [(first["id"], "outreach-1", 5, ["instagram", "tiktok"], True),
                              (second["id"], "outreach-2", 2, None, True)]
    assert printed(command("targets", "list")) == [first, second]

    changed = printed(command("targets", "set", first["id"], "--quota", 7, "--inactive", "--source", "x"))
    assert (changed["daily_quota"], changed["active"], changed["sources"]) == (7, False, ["x"])
    printed(command("targets", "set", first["id"], "--any-source", "--name", "renamed", "--active"))
    assert printed(command("targets", "set", first["id"])) == printed(command("targets", "list"))[0]
    assert printed(command("targets", "deactivate", second["id"]))["active"] is False
    assert targets_in(db) == [(first["id"], "renamed", 7, None, True), (second["id"], "outreach-2", 2, None, False)]


@pytest.mark.parametrize("args, message", [
    (["targets", "set", 999, "--quota", 1], "no target with id 999"),
    (["targets", "deactivate", 999], "no target with id 999"),
    (["targets", "add", "huge", "--quota", 100_001], "daily_quota must be an integer from 0 to 100000"),
    (["targets", "add", "taken", "--quota", 1], "already"),
    (["targets", "set", "{taken}", "--source", ""], "sources"),
], ids=["set-unknown", "deactivate-unknown", "quota-over-max", "name-taken", "empty-source"])
def test_targets_commands_refuse_what_the_api_refuses_and_change_nothing(command, db, args, message):
    [taken] = add_targets(db, [1], prefix="taken")
    db.execute("UPDATE distribution_targets SET name = 'taken'")
    before = targets_in(db)
    exit_code, output = command(*[str(taken) if arg == "{taken}" else arg for arg in args])
    assert exit_code == 1 and message in output, output
    assert targets_in(db) == before
