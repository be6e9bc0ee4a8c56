"""The one SQL script a Supabase user pastes into the SQL editor, and the lock-down every set-up runs.

The script is schema.sql and database_indexes.sql as they are (the same SQL `init-db` applies),
followed by a lock-down block: Row Level Security on every table with no policy, and no table,
sequence or function privileges for `anon` and `authenticated`, so only the service-role key reads
or writes. `init-db` runs the same lock-down wherever those roles exist (Supabase's own
PostgreSQL), because Supabase's default privileges grant every new table and function in `public`
to them. Print the script with `python -m server.storage.supabase_setup` or
`flask --app server supabase-sql`.
"""

from __future__ import annotations

import re
from typing import Iterable

from .migrate import schema_files

# Supabase's roles for its API keys: the anon and signed-in keys, and the server's service key.
PUBLIC_API_ROLES = ("anon", "authenticated")
SERVICE_ROLE = "service_role"

_TABLE = re.compile(r"^CREATE TABLE IF NOT EXISTS (\w+)", re.MULTILINE | re.IGNORECASE)
_FUNCTION = re.compile(r"^CREATE OR REPLACE FUNCTION (\w+)", re.MULTILINE | re.IGNORECASE)

_HEADER = """\
-- Scraper backend: set-up for Supabase. Paste into the dashboard's SQL editor and run it.
-- Safe to run again (after an upgrade, too): every statement is idempotent.
"""

_SEQUENCES = """\
-- The identity columns' sequences, which Supabase's default privileges grant to the API roles too.
DO $$
DECLARE
    v_sequence text;
BEGIN
    FOR v_sequence IN
        SELECT pg_get_serial_sequence(a.attrelid::regclass::text, a.attname) FROM pg_attribute a
        WHERE a.attrelid = ANY (ARRAY[{tables}]::regclass[]) AND a.attnum > 0 AND NOT a.attisdropped
    LOOP
        IF v_sequence IS NOT NULL THEN
            EXECUTE format('REVOKE ALL ON SEQUENCE %s FROM {roles}', v_sequence);
        END IF;
    END LOOP;
END
$$;"""


def _names(pattern: re.Pattern[str], sql: str) -> list[str]:
    return list(dict.fromkeys(pattern.findall(sql)))  # in order of appearance, once each


def schema_objects() -> tuple[list[str], list[str]]:
    """The tables and the functions the schema files create, in order of appearance."""
    schema = "\n".join(path.read_text() for path in schema_files())
    return _names(_TABLE, schema), _names(_FUNCTION, schema)


def lockdown_sql(public_roles: Iterable[str] = PUBLIC_API_ROLES, service_role: bool = True) -> str:
    """RLS on every table, and no access for `public_roles` to tables, sequences or functions."""
    tables, functions = schema_objects()
    roles = ", ".join(public_roles)
    lines = ["-- Lock-down: Row Level Security on every table and no policy for anon or authenticated,",
             "-- so the anon key (which ships in browsers) reads and writes nothing; the service-role key",
             "-- bypasses RLS and is what the server uses."]
    for table in tables:
        lines += [f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;",
                  f"REVOKE ALL ON TABLE {table} FROM {roles};"]
        lines += [f"GRANT ALL ON TABLE {table} TO {SERVICE_ROLE};"] if service_role else []
    for function in functions:
        lines += [f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC, {roles};"]
        lines += [f"GRANT EXECUTE ON FUNCTION {function} TO {SERVICE_ROLE};"] if service_role else []
    lines.append(_SEQUENCES.format(tables=", ".join(f"'{table}'" for table in tables), roles=roles))
    lines += ["-- Let the REST API see new tables and functions right away.",
              "NOTIFY pgrst, 'reload schema';"]
    return "\n".join(lines) + "\n"


def setup_sql() -> str:
    """The complete Supabase set-up script: tables, functions, indexes, then the lock-down."""
    parts = [_HEADER]
    parts += [f"-- ===== {path.name} =====\n{path.read_text().rstrip()}\n" for path in schema_files()]
    parts.append(lockdown_sql())
    return "\n".join(parts)


if __name__ == "__main__":
    print(setup_sql(), end="")
