"""A PostgreSQL database set up the way every Supabase project is, before its owner runs anything.

Supabase's init scripts make the API roles (`anon`, `authenticated`, `service_role`, all NOLOGIN,
`service_role` with BYPASSRLS), the `authenticator` role PostgREST logs in as (NOINHERIT, a member
of the three), their statement timeouts, and default privileges that grant every table, function
and sequence later created in `public` to all three API roles, with RLS off. A set-up path of ours
that leaves a table open shows here as it would on Supabase.
"""

from __future__ import annotations

import psycopg

from ..conftest import flask_command, fresh_database, make_config

API_ROLES = ("anon", "authenticated", "service_role")
# Supabase's defaults: the authenticator's timeout covers service_role, which sets none itself.
STATEMENT_TIMEOUTS = {"authenticator": "8s", "anon": "3s", "authenticated": "8s"}


def create_supabase_roles(conn: psycopg.Connection) -> None:
    """Make Supabase's roles on the server once (roles belong to the whole cluster)."""
    for role in (*API_ROLES, "authenticator"):
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
            continue
        options = {"service_role": "NOLOGIN BYPASSRLS", "authenticator": "LOGIN NOINHERIT"}
        conn.execute(f"CREATE ROLE {role} {options.get(role, 'NOLOGIN')}")
    conn.execute("GRANT anon, authenticated, service_role TO authenticator")
    for role, timeout in STATEMENT_TIMEOUTS.items():
        conn.execute(f"ALTER ROLE {role} SET statement_timeout = '{timeout}'")


def supabase_database(name: str, setup: str = "script") -> str:
    """A fresh database `name` with Supabase's roles and grants, set up by `setup`; its URL.

    `setup` is how the user applied our schema: "script" pastes what `flask --app server
    supabase-sql` prints into the SQL editor, "init-db" runs `flask --app server init-db` on the database's own connection
    string, "none" leaves it empty.
    """
    url = fresh_database(name, schema=False)
    with psycopg.connect(url, autocommit=True) as conn:
        create_supabase_roles(conn)
        conn.execute("GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role")
        for kind in ("TABLES", "FUNCTIONS", "SEQUENCES"):
            conn.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON {kind}"
                         " TO anon, authenticated, service_role")
        if setup == "script":
            conn.execute(printed_setup_sql())
    if setup == "init-db":
        init_db(url)
    return url


def run_command(url: str, *args: str) -> str:
    """Run `flask --app server ARGS` with DATABASE_URL pointing at `url`; return what it printed."""
    result = flask_command(make_config(url), *args)
    assert result.exit_code == 0, result.output
    return result.output


def init_db(url: str) -> None:
    """Run `flask --app server init-db` on `url`, as the Procfile's release step does."""
    run_command(url, "init-db")


def printed_setup_sql() -> str:
    """What `flask --app server supabase-sql` prints (it connects to nothing)."""
    return run_command("postgresql://unused/", "supabase-sql")
