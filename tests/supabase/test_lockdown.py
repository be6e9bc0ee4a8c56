"""No open tables: after either set-up path, Supabase's public keys read, write and call nothing.

Both paths run on a database made as Supabase makes every project (supabase_db.py): the printed
script pasted into the SQL editor, and `flask --app server init-db` on the database's own
connection string, which the Procfile's release step runs.
"""

from __future__ import annotations

import httpx
import psycopg
import pytest

from server.storage.supabase_setup import schema_objects

from .fake_postgrest import ANON_KEY, SERVICE_KEY, SUPABASE_URL, FakePostgrest
from .supabase_db import init_db, printed_setup_sql, supabase_database

TABLES, FUNCTIONS = schema_objects()


@pytest.fixture(scope="module", params=["script", "init-db"])
def setup_db(request) -> str:
    """A Supabase-like database set up by one path, twice (both are safe to run again)."""
    url = supabase_database(f"supabase_{request.param.replace('-', '_')}_test", setup=request.param)
    with psycopg.connect(url, autocommit=True) as conn:
        if request.param == "script":
            conn.execute(printed_setup_sql())
        else:
            init_db(url)
        conn.execute("INSERT INTO global_usernames (id, username) VALUES ('secret', 'secret')")
    return url


@pytest.fixture(scope="module")
def rest(setup_db):
    """Send REST requests with a given key through the strict gateway on that database."""
    gateway = FakePostgrest(setup_db)
    with gateway.router, httpx.Client(base_url=SUPABASE_URL + "/rest/v1") as http:
        yield lambda key, method, path, **kw: http.request(method, path, headers={"apikey": key}, **kw)
    gateway.close()


def test_every_table_has_rls_and_no_policy_schema_version_included(setup_db):
    with psycopg.connect(setup_db) as conn:
        tables = dict(conn.execute("SELECT c.relname, c.relrowsecurity FROM pg_class c"
                                   " WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')"))
        assert "schema_version" in tables and set(TABLES) == set(tables)
        assert all(tables.values()), tables
        assert conn.execute("SELECT count(*) FROM pg_policies").fetchone()[0] == 0


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_the_public_api_roles_hold_no_privilege_on_any_table_sequence_or_function(setup_db, role):
    privileges = """
        SELECT c.relname, c.relkind FROM pg_class c
        WHERE c.relnamespace IN ('public'::regnamespace, 'raw_partitions'::regnamespace) AND (
            (c.relkind IN ('r', 'p') AND has_table_privilege(%(role)s, c.oid,
                'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER'))
            OR (c.relkind = 'S' AND has_sequence_privilege(%(role)s, c.oid, 'USAGE, SELECT, UPDATE')))
        UNION ALL
        SELECT p.proname, 'f' FROM pg_proc p
        WHERE p.pronamespace = 'public'::regnamespace AND has_function_privilege(%(role)s, p.oid, 'EXECUTE')
    """
    with psycopg.connect(setup_db) as conn:
        assert conn.execute(privileges, {"role": role}).fetchall() == []
        sequences = conn.execute("SELECT count(*) FROM pg_class WHERE relkind = 'S'"
                                 " AND relnamespace = 'public'::regnamespace").fetchone()[0]
        assert sequences == 2  # distribution_targets' and distribution_assignments' identities
        # The months' partitions of raw rows: in a schema the role may not even look into.
        assert conn.execute("SELECT has_schema_privilege(%s, 'raw_partitions', 'USAGE')", [role]).fetchone()[0] is False
        assert conn.execute("SELECT count(*) FROM pg_class WHERE relnamespace = 'raw_partitions'::regnamespace"
                            " AND relkind = 'r'").fetchone()[0] >= 4  # this month, two ahead, the default


@pytest.mark.parametrize("table", TABLES)
def test_the_anon_key_reads_and_writes_no_table_over_rest(rest, setup_db, table):
    read = rest(ANON_KEY, "GET", f"/{table}", params={"select": "*"})
    assert read.status_code == 401 and read.json()["code"] == "42501"  # Error.hs: anon is not authed
    with psycopg.connect(setup_db) as conn:
        column = conn.execute("SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass"
                              " AND attnum > 0 AND attidentity = '' ORDER BY attnum LIMIT 1", [table]).fetchone()[0]
    write = rest(ANON_KEY, "POST", f"/{table}", params={"columns": column}, json=[{}])
    assert write.status_code == 401 and write.json()["code"] == "42501"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_anon_key_calls_no_function_over_rest(rest, setup_db, function):
    with psycopg.connect(setup_db) as conn:
        names, returns = conn.execute("SELECT coalesce(proargnames, '{}'), prorettype::regtype::text"
                                      " FROM pg_proc WHERE proname = %s", [function]).fetchone()
    called = rest(ANON_KEY, "POST", f"/rpc/{function}", json={name: None for name in names})
    if returns == "trigger":  # not in PostgREST's schema cache at all
        assert called.status_code == 404 and called.json()["code"] == "PGRST202"
    else:
        assert called.status_code == 401 and called.json()["code"] == "42501", called.json()


def test_the_service_key_reads_and_calls(rest):
    assert rest(SERVICE_KEY, "GET", "/global_usernames", params={"select": "id"}).json() == [{"id": "secret"}]
    summary = rest(SERVICE_KEY, "POST", "/rpc/distribution_summary", json={"p_date": "2026-03-02"})
    assert summary.status_code == 200


def test_both_set_up_paths_create_the_same_objects(setup_db):
    catalog = ("SELECT array_agg(name ORDER BY name) FROM (SELECT indexname AS name FROM pg_indexes"
               " WHERE schemaname = 'public' UNION ALL SELECT proname FROM pg_proc"
               " WHERE pronamespace = 'public'::regnamespace) AS objects")
    other = supabase_database("supabase_other_path_test",
                              setup="init-db" if "script" in setup_db else "script")
    with psycopg.connect(setup_db) as mine, psycopg.connect(other) as theirs:
        assert mine.execute(catalog).fetchone()[0] == theirs.execute(catalog).fetchone()[0]


def test_the_service_role_runs_the_distribution(setup_db):
    with psycopg.connect(setup_db) as conn:  # rolled back at the end: the module shares it
        conn.execute("SET ROLE service_role")
        conn.execute("INSERT INTO distribution_targets (name, daily_quota) VALUES ('t', 5)")
        summary = conn.execute("SELECT distribution_run('2026-03-02', false)").fetchone()[0]
        assert (summary["assigned"], summary["shortfall"]) == (1, 4)
        stats = conn.execute("SELECT distribution_stats('2026-03-02', 1, 'UTC')").fetchone()[0]
        assert stats["pool"] == {"total": 1, "unused": 0, "used": 1}
        conn.rollback()
