"""The SQL functions the Supabase adapter calls, and the set-up script, on the real PostgreSQL."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest
from psycopg.types.json import Jsonb

from server.storage.supabase_setup import setup_sql

from ..conftest import count, fresh_database

SETUP_DB = "supabase_setup_test"
API_ROLES = ("anon", "authenticated", "service_role")


def claim(conn, ingest_id, key="key-1", lease=60):
    return conn.execute("SELECT claim_ingest('api-1', %s, %s, %s)", [key, ingest_id, lease]).fetchone()[0]


def test_existing_profile_ids_tells_others_ids_from_this_ingests_own(db):
    mine, other = uuid.uuid4(), uuid.uuid4()
    db.execute("INSERT INTO global_usernames (id, username, first_ingest_id) VALUES"
               " ('a', 'a', %s), ('b', 'b', %s), ('c', 'c', NULL)", [mine, other])
    found = db.execute("SELECT existing_profile_ids(%s, %s)", [mine, ["a", "b", "c", "zz"]]).fetchone()[0]
    assert sorted(found["existing"]) == ["b", "c"] and found["ours"] == ["a"]
    empty = db.execute("SELECT existing_profile_ids(%s, '{}')", [mine]).fetchone()[0]
    assert empty == {"existing": [], "ours": []}


def test_a_claim_is_new_then_busy_then_resumed_once_its_lease_ends(db):
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    assert claim(db, first) == {"state": "new", "ingest_id": first}
    assert claim(db, first) == {"state": "new", "ingest_id": first}  # a repeated call answers the same
    assert claim(db, second) == {"state": "busy", "ingest_id": first}
    assert db.execute("SELECT renew_ingest_claim('api-1', 'key-1', %s, 0)", [first]).fetchone()[0] is True
    assert claim(db, second) == {"state": "resumed", "ingest_id": first}
    assert claim(db, str(uuid.uuid4())) == {"state": "busy", "ingest_id": first}  # the resumer holds it now


def test_renewing_a_claim_someone_else_holds_changes_nothing(db):
    holder = str(uuid.uuid4())
    claim(db, holder)
    renewed = db.execute("SELECT renew_ingest_claim('api-1', 'key-1', %s, 0)", [uuid.uuid4()])
    assert renewed.fetchone()[0] is None
    assert count(db, "SELECT count(*) FROM ingest_claims WHERE lease_until > now()") == 1


def test_a_recorded_ingest_answers_done_with_its_reply_and_is_recorded_once(db):
    ingest_id = str(uuid.uuid4())
    claim(db, ingest_id)
    reply = {"success": True, "received": 3, "inserted_raw": 2, "added_to_global": 1, "rejected": 1}
    record = "SELECT record_ingest(%s, 'api-1', 'key-1', 'sha', %s)"
    assert db.execute(record, [ingest_id, Jsonb(reply)]).fetchone()[0] is True
    assert db.execute(record, [ingest_id, Jsonb(reply)]).fetchone()[0] is None
    counts = db.execute("SELECT received, inserted_raw, added_to_global, rejected FROM ingest_requests")
    assert counts.fetchone() == (3, 2, 1, 1)
    assert claim(db, str(uuid.uuid4())) == {"state": "done", "ingest_id": ingest_id,
                                            "body_sha256": "sha", "response": reply}


def test_two_claims_of_one_new_key_at_once_give_exactly_one_owner(db, database_url):
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    answers = {}
    with psycopg.connect(database_url) as holder:  # not autocommit: holds its claim uncommitted
        answers["first"] = claim(holder, first)
        waiter = threading.Thread(target=lambda: answers.update(second=claim(db, second)))
        waiter.start()  # blocks on the first claim's row until it commits
        holder.commit()
        waiter.join()
    assert answers == {"first": {"state": "new", "ingest_id": first},
                       "second": {"state": "busy", "ingest_id": first}}


@pytest.fixture(scope="module")
def supabase_like_db(database_url) -> str:
    """A fresh database with Supabase's API roles and default grants, and the set-up script run twice."""
    url = fresh_database(SETUP_DB, schema=False)
    with psycopg.connect(url, autocommit=True) as conn:
        for role in API_ROLES:  # roles belong to the whole server: made once, kept
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
                conn.execute(f"CREATE ROLE {role} NOLOGIN" + (" BYPASSRLS" if role == "service_role" else ""))
        # What every Supabase project grants the API roles before the user runs anything.
        conn.execute("GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role")
        for kind in ("TABLES", "FUNCTIONS", "SEQUENCES"):
            conn.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON {kind}"
                         " TO anon, authenticated, service_role")
        conn.execute(setup_sql())
        conn.execute(setup_sql())  # safe to paste again
        conn.execute("INSERT INTO global_usernames (id, username) VALUES ('secret', 'secret')")
    return url


def test_the_setup_script_enables_rls_on_every_table_without_policies(supabase_like_db):
    with psycopg.connect(supabase_like_db) as conn:
        tables = conn.execute("SELECT c.relname, c.relrowsecurity FROM pg_class c"
                              " WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'").fetchall()
        names = {table for table, _ in tables}
        assert {"global_usernames", "raw_scraped_profiles", "ingest_requests", "ingest_claims",
                "distribution_targets", "distribution_runs", "distribution_assignments",
                "pool_count_deltas"} <= names
        assert all(rls for _, rls in tables), tables
        assert conn.execute("SELECT count(*) FROM pg_policies").fetchone()[0] == 0


def test_the_setup_script_creates_every_index_and_function_of_the_schema_files(supabase_like_db,
                                                                               database_url):
    catalog = ("SELECT array_agg(name ORDER BY name) FROM (SELECT indexname AS name FROM pg_indexes"
               " WHERE schemaname = 'public' UNION ALL SELECT proname FROM pg_proc"
               " WHERE pronamespace = 'public'::regnamespace) AS objects")
    with psycopg.connect(supabase_like_db) as setup, psycopg.connect(database_url) as direct:
        assert setup.execute(catalog).fetchone()[0] == direct.execute(catalog).fetchone()[0]


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_the_public_api_roles_hold_no_privilege_on_any_table_sequence_or_function(supabase_like_db, role):
    privileges = """
        SELECT c.relname, c.relkind FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND (
            (c.relkind = 'r' AND has_table_privilege(%(role)s, c.oid,
                'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER'))
            OR (c.relkind = 'S' AND has_sequence_privilege(%(role)s, c.oid, 'USAGE, SELECT, UPDATE')))
        UNION ALL
        SELECT p.proname, 'f' FROM pg_proc p
        WHERE p.pronamespace = 'public'::regnamespace AND has_function_privilege(%(role)s, p.oid, 'EXECUTE')
    """
    with psycopg.connect(supabase_like_db) as conn:
        assert conn.execute(privileges, {"role": role}).fetchall() == []
        sequences = conn.execute("SELECT count(*) FROM pg_class WHERE relkind = 'S'"
                                 " AND relnamespace = 'public'::regnamespace").fetchone()[0]
        assert sequences == 2  # distribution_targets' and distribution_assignments' identities


@pytest.mark.parametrize("statement", [
    "SELECT count(*) FROM global_usernames",
    "INSERT INTO ingest_claims VALUES ('a', 'b', gen_random_uuid(), now())",
    "SELECT existing_profile_ids(gen_random_uuid(), '{secret}')",
    "SELECT count(*) FROM distribution_assignments",
    "INSERT INTO distribution_targets (name, daily_quota) VALUES ('mine', 1)",
    "SELECT distribution_run(current_date, false)",
    "SELECT distribution_stats(current_date, 1, 'UTC')",
])
@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_the_public_api_roles_can_neither_read_write_nor_call(supabase_like_db, role, statement):
    with psycopg.connect(supabase_like_db) as conn:
        conn.execute(f"SET ROLE {role}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)


def test_the_service_role_reads_and_calls(supabase_like_db):
    with psycopg.connect(supabase_like_db) as conn:
        conn.execute("SET ROLE service_role")
        assert conn.execute("SELECT count(*) FROM global_usernames").fetchone()[0] == 1
        found = conn.execute("SELECT existing_profile_ids(gen_random_uuid(), '{secret}')").fetchone()[0]
        assert found["existing"] == ["secret"]


def test_the_service_role_runs_the_distribution(supabase_like_db):
    with psycopg.connect(supabase_like_db) as conn:  # rolled back at the end: the module shares it
        conn.execute("SET ROLE service_role")
        conn.execute("INSERT INTO distribution_targets (name, daily_quota) VALUES ('t', 5)")
        summary = conn.execute("SELECT distribution_run('2026-03-02', false)").fetchone()[0]
        assert (summary["assigned"], summary["shortfall"]) == (1, 4)
        stats = conn.execute("SELECT distribution_stats('2026-03-02', 1, 'UTC')").fetchone()[0]
        assert stats["pool"] == {"total": 1, "unused": 0, "used": 1}
        conn.rollback()
