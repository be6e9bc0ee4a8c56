-- Tables and constraints of the scraper backend. Idempotent: safe to run again.
-- Performance indexes live in database_indexes.sql at the top of the repository.

-- One row per ingest request: its counts, its reply, and the Idempotency-Key that may replay it.
CREATE TABLE IF NOT EXISTS ingest_requests (
    id               uuid PRIMARY KEY,
    api_key_id       text NOT NULL,
    idempotency_key  text,
    body_sha256      text NOT NULL,
    received         integer NOT NULL,
    inserted_raw     integer NOT NULL,
    added_to_global  integer NOT NULL,
    rejected         integer NOT NULL,
    response         jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ingest_requests_idempotency_key UNIQUE (api_key_id, idempotency_key)
);

-- Every valid profile ever received, append-only. (ingest_id, position) makes a retried write
-- of the same request a no-op instead of a second copy.
CREATE TABLE IF NOT EXISTS raw_scraped_profiles (
    ingest_id   uuid NOT NULL,
    position    integer NOT NULL,
    profile_id  text NOT NULL,
    username    text NOT NULL,
    full_name   text,
    source      text,
    scraped_at  timestamptz,
    profile     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ingest_id, position)
);

-- The global pool: one row per profile id; the first ingest to bring an id wins.
CREATE TABLE IF NOT EXISTS global_usernames (
    id               text PRIMARY KEY,
    username         text NOT NULL,
    full_name        text,
    source           text,
    first_seen_at    timestamptz NOT NULL DEFAULT now(),
    first_ingest_id  uuid,
    used             boolean NOT NULL DEFAULT false,
    used_at          timestamptz
);
