"""The peers our ingest is measured against, on the same rows and the same tables."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson
import psycopg

from .dataset import Dataset

_BENCH_INGEST = "00000000-0000-0000-0000-00000000beef"
# The floor: the same rows as CSV, \copy-ed into a staging table, then two set-based INSERTs.
_FLOOR_SQL = f"""
BEGIN;
CREATE TEMP TABLE stage (position integer, profile_id text, username text, full_name text,
    source text, scraped_at timestamptz, profile jsonb, is_first boolean) ON COMMIT DROP;
\\copy stage FROM '{{csv}}' WITH (FORMAT csv, NULL '')
INSERT INTO raw_scraped_profiles
    (ingest_id, position, profile_id, username, full_name, source, scraped_at, profile)
SELECT '{_BENCH_INGEST}', position, profile_id, username, full_name, source, scraped_at, profile
FROM stage;
INSERT INTO global_usernames (id, username, full_name, source, first_ingest_id)
SELECT profile_id, username, full_name, source, '{_BENCH_INGEST}' FROM stage WHERE is_first
ORDER BY profile_id ON CONFLICT (id) DO NOTHING;
COMMIT;
"""


# The limit of the machine: what PostgreSQL itself takes for the same job on a lean schema that
# still does it (every raw profile kept with its whole payload, each id once in a pool that can be
# claimed oldest-first), so our own schema's costs count against us.
_LEAN_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS lean;
CREATE TABLE IF NOT EXISTS lean.raw (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, profile_id text NOT NULL,
    username text NOT NULL, full_name text, source text, scraped_at timestamptz,
    payload jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX IF NOT EXISTS lean_raw_created_at ON lean.raw (created_at);
CREATE TABLE IF NOT EXISTS lean.pool (
    id text PRIMARY KEY, username text NOT NULL, full_name text, source text,
    first_seen_at timestamptz NOT NULL DEFAULT now(), used boolean NOT NULL DEFAULT false);
CREATE INDEX IF NOT EXISTS lean_pool_unused ON lean.pool (first_seen_at) WHERE NOT used;
"""
_LIMIT_SQL = """
BEGIN;
CREATE TEMP TABLE stage (position integer, profile_id text, username text, full_name text,
    source text, scraped_at timestamptz, payload jsonb, is_first boolean) ON COMMIT DROP;
\\copy stage FROM '{csv}' WITH (FORMAT csv, NULL '')
INSERT INTO lean.raw (profile_id, username, full_name, source, scraped_at, payload)
SELECT profile_id, username, full_name, source, scraped_at, payload FROM stage;
INSERT INTO lean.pool (id, username, full_name, source)
SELECT profile_id, username, full_name, source FROM stage ORDER BY profile_id ON CONFLICT (id) DO NOTHING;
COMMIT;
"""


def reset(url: str, data: Dataset) -> None:
    """Empty the tables and put the job's pre-seeded ids in the pool, as before every contender."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(_LEAN_SCHEMA)
        conn.execute("TRUNCATE raw_scraped_profiles, global_usernames, ingest_requests, lean.raw, lean.pool CASCADE")
        for table in ("global_usernames", "lean.pool"):
            with conn.cursor().copy(f"COPY {table} (id, username) FROM STDIN") as copy:
                for profile_id in data.preseeded_ids:
                    copy.write_row((profile_id, "seeded"))
            conn.execute(f"VACUUM ANALYZE {table}")


def limit(url: str, psql: Path, csv_path: Path) -> None:
    """psql \\copy of the same CSV into a staging table, then into the lean raw table and pool."""
    _psql(url, psql, _LIMIT_SQL.replace("{csv}", str(csv_path)))


def _psql(url: str, psql: Path, script: str) -> None:
    subprocess.run([str(psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", url], input=script.encode(),
                   check=True, capture_output=True)


def floor(url: str, psql: Path, csv_path: Path) -> None:
    """psql \\copy of a CSV into the staging table + the same set-based INSERTs: no HTTP, no Python."""
    _psql(url, psql, _FLOOR_SQL.replace("{csv}", str(csv_path)))


def sqlalchemy_executemany(url: str, data: Dataset) -> None:
    """SQLAlchemy 2 Core: executemany in 1000-row chunks with ON CONFLICT DO NOTHING."""
    from sqlalchemy import MetaData, create_engine
    from sqlalchemy.dialects.postgresql import insert

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    meta = MetaData()
    meta.reflect(engine, only=["raw_scraped_profiles", "global_usernames"])
    raw, pool = meta.tables["raw_scraped_profiles"], meta.tables["global_usernames"]
    rows = data.valid
    with engine.begin() as conn:
        for start in range(0, len(rows), 1000):
            chunk = rows[start:start + 1000]
            conn.execute(insert(raw), [
                {"ingest_id": _BENCH_INGEST, "position": start + n, "profile_id": p["id"],
                 "username": p["username"], "full_name": p["full_name"], "source": "bench",
                 "scraped_at": p["scraped_at"], "profile": p} for n, p in enumerate(chunk)])
            conn.execute(insert(pool).on_conflict_do_nothing(index_elements=["id"]), [
                {"id": p["id"], "username": p["username"], "full_name": p["full_name"], "source": "bench"}
                for p in chunk])
    engine.dispose()


def seed_shape(url: str, data: Dataset) -> None:
    """Seed 000's shape: per 1000 rows one IN look-up, then executemany of raw and of new pool rows."""
    rows = data.valid
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        for start in range(0, len(rows), 1000):
            chunk = rows[start:start + 1000]
            existing = {r[0] for r in cur.execute("SELECT id FROM global_usernames WHERE id = ANY(%s)",
                                                  [[p["id"] for p in chunk]])}
            cur.executemany(
                "INSERT INTO raw_scraped_profiles (ingest_id, position, profile_id, username, full_name,"
                " source, scraped_at, profile) VALUES (%s, %s, %s, %s, %s, 'bench', %s, %s)",
                [(_BENCH_INGEST, start + n, p["id"], p["username"], p["full_name"], p["scraped_at"],
                  orjson.dumps(p).decode())
                 for n, p in enumerate(chunk)])
            cur.executemany(
                "INSERT INTO global_usernames (id, username, full_name, source) VALUES (%s, %s, %s, 'bench')",
                [(p["id"], p["username"], p["full_name"]) for p in chunk if p["id"] not in existing])


def per_row(url: str, data: Dataset) -> None:
    """The original N+1 shape: one SELECT and one or two INSERTs per profile, each committed."""
    with psycopg.connect(url, autocommit=True) as conn:
        for position, p in enumerate(data.valid):
            found = conn.execute("SELECT 1 FROM global_usernames WHERE id = %s", [p["id"]]).fetchone()
            conn.execute("INSERT INTO raw_scraped_profiles (ingest_id, position, profile_id, username,"
                         " full_name, source, profile) VALUES (%s, %s, %s, %s, %s, 'bench', %s)",
                         [_BENCH_INGEST, position, p["id"], p["username"], p["full_name"],
                          orjson.dumps(p).decode()])
            if not found:
                conn.execute("INSERT INTO global_usernames (id, username, full_name, source)"
                             " VALUES (%s, %s, %s, 'bench')", [p["id"], p["username"], p["full_name"]])
