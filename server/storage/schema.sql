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
-- The request's counts per source: {"<source>": {"received", "inserted_raw", "rejected"}}, "" for
-- profiles without one; NULL for requests recorded before it existed. The status page charts it.
ALTER TABLE ingest_requests ADD COLUMN IF NOT EXISTS by_source jsonb;

-- Every valid profile ever received, append-only. created_at is the time in the ingest's id (a
-- UUIDv7, see ingest_time), the same for every row of an ingest and every retry of it, so the key
-- makes a retried write of the same request a no-op instead of a second copy. Keyed by time
-- first, it is also the order of date-range listing and retention: one index, written at its end.
-- Partitioned by month (UTC), so the clean-up drops a month instead of deleting its rows one by
-- one (see ensure_raw_partitions and retention_batch).
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
    PRIMARY KEY (created_at, ingest_id, position)
) PARTITION BY RANGE (created_at);

-- Earlier versions keyed raw rows by (ingest_id, position), a random place in the index for each
-- ingest, and kept a second index on (created_at, ingest_id, position) for listing: every raw row
-- paid for two index entries. Re-keying builds the new index once (minutes at tens of millions).
DO $$
BEGIN
    IF (SELECT array_agg(a.attname::text ORDER BY k.ord)
        FROM pg_constraint c CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
        WHERE c.conrelid = 'raw_scraped_profiles'::regclass AND c.contype = 'p') = ARRAY['ingest_id', 'position'] THEN
        ALTER TABLE raw_scraped_profiles DROP CONSTRAINT raw_scraped_profiles_pkey,
            ADD PRIMARY KEY (created_at, ingest_id, position);
    END IF;
END
$$;

-- The months' partitions live in a schema of their own, which the REST API does not expose and
-- nobody but its owner may use: rows are reached through raw_scraped_profiles only.
CREATE SCHEMA IF NOT EXISTS raw_partitions;
REVOKE ALL ON SCHEMA raw_partitions FROM PUBLIC;

-- Earlier versions kept raw rows in one plain table: it becomes the default partition, where its
-- rows stay until the clean-up deletes them as before; months from now on get partitions of their
-- own. The default partition also takes rows of any month that has none (the clean-up makes them
-- ahead, so it stays empty).
DO $$
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = 'raw_scraped_profiles'::regclass) = 'r' THEN
        DROP INDEX IF EXISTS idx_raw_scraped_profiles_created_keyset;  -- the key serves it now
        ALTER TABLE raw_scraped_profiles RENAME TO raw_scraped_profiles_default;
        ALTER TABLE raw_scraped_profiles_default SET SCHEMA raw_partitions;
        ALTER INDEX raw_partitions.raw_scraped_profiles_pkey RENAME TO raw_scraped_profiles_default_pkey;
        CREATE TABLE raw_scraped_profiles (
            LIKE raw_partitions.raw_scraped_profiles_default INCLUDING DEFAULTS,
            PRIMARY KEY (created_at, ingest_id, position)) PARTITION BY RANGE (created_at);
        ALTER TABLE raw_scraped_profiles ATTACH PARTITION raw_partitions.raw_scraped_profiles_default DEFAULT;
    ELSIF to_regclass('raw_partitions.raw_scraped_profiles_default') IS NULL THEN
        CREATE TABLE raw_partitions.raw_scraped_profiles_default PARTITION OF raw_scraped_profiles DEFAULT;
    END IF;
    REVOKE ALL ON TABLE raw_partitions.raw_scraped_profiles_default FROM PUBLIC;
END
$$;

-- Monthly partitions of raw rows (UTC months) from p_from's month, for p_months months, where
-- missing; answers how many it made. Each is made as a table and then attached, which waits for
-- no running ingest (inserts do not conflict with ATTACH's lock). A month some of whose rows sit
-- in the default partition already is left there: the clean-up deletes those rows in batches.
-- SECURITY DEFINER: over REST the clean-up runs as service_role, which may not create tables.
CREATE OR REPLACE FUNCTION ensure_raw_partitions(p_from timestamptz, p_months integer)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = public SET timezone = 'UTC' AS $$
DECLARE
    v_start timestamptz := date_trunc('month', p_from);
    v_name text;
    v_made integer := 0;
BEGIN
    FOR i IN 1 .. p_months LOOP
        v_name := 'raw_scraped_profiles_' || to_char(v_start, 'YYYYMM');
        IF to_regclass('raw_partitions.' || v_name) IS NULL AND NOT EXISTS (
            SELECT 1 FROM raw_partitions.raw_scraped_profiles_default
            WHERE created_at >= v_start AND created_at < v_start + interval '1 month') THEN
            EXECUTE format('CREATE TABLE raw_partitions.%I (LIKE raw_scraped_profiles INCLUDING DEFAULTS)', v_name);
            EXECUTE format('REVOKE ALL ON TABLE raw_partitions.%I FROM PUBLIC', v_name);
            EXECUTE format('ALTER TABLE raw_scraped_profiles ATTACH PARTITION raw_partitions.%I'
                           ' FOR VALUES FROM (%L) TO (%L)', v_name, v_start, v_start + interval '1 month');
            v_made := v_made + 1;
        END IF;
        v_start := v_start + interval '1 month';
    END LOOP;
    RETURN v_made;
END
$$;
-- This month and the next two, from the first set-up on; the daily clean-up keeps it so.
SELECT ensure_raw_partitions(now(), 3);

-- The time an ingest id carries: the first 48 bits of a UUIDv7 are milliseconds since 1970.
-- NULL for ids of other versions (ingests begun by earlier versions).
CREATE OR REPLACE FUNCTION ingest_time(p_ingest_id uuid) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = public AS $$
    SELECT CASE WHEN substr(p_ingest_id::text, 15, 1) = '7' THEN
        to_timestamp(ms / 1000) + (ms % 1000) * interval '1 millisecond' END
    FROM (SELECT ('x' || lpad(substr(replace(p_ingest_id::text, '-', ''), 1, 12), 16, '0'))::bit(64)::bigint AS ms) t
$$;

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

-- The version of these files that the database has applied (init-db and start-up record it).
CREATE TABLE IF NOT EXISTS schema_version (
    version     text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------------------------------------
-- Supabase REST backend. Over REST every request is its own transaction, so each chunk of an
-- ingest is written by ONE call of ingest_chunk (raw rows and new pool ids together, all or
-- nothing) and the steps that must be exact live here, called with .rpc(). Every function pins
-- search_path so a caller cannot redirect the table names it uses.

-- Idempotency-Keys being worked on over REST. No transaction spans a whole request there, so a
-- key is claimed with a lease; `holder` names the one request attempt that may write under it.
-- Every chunk written renews the lease and checks the holder in the same transaction, so a
-- writer that lost its claim finds out before it writes, never after. A retry after a failure
-- takes the expired claim over and continues the same ingest (same ingest_id, nothing doubles).
-- A finished ingest's claim is deleted: its key answers from ingest_requests from then on.
CREATE TABLE IF NOT EXISTS ingest_claims (
    api_key_id       text NOT NULL,
    idempotency_key  text NOT NULL,
    ingest_id        uuid NOT NULL,
    holder           uuid,
    lease_until      timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (api_key_id, idempotency_key)
);
ALTER TABLE ingest_claims ADD COLUMN IF NOT EXISTS holder uuid;

-- Earlier versions of the REST ingest: three requests per chunk and a claim without a holder.
DROP FUNCTION IF EXISTS existing_profile_ids(uuid, text[]);
DROP FUNCTION IF EXISTS claim_ingest(text, text, uuid, integer);
DROP FUNCTION IF EXISTS renew_ingest_claim(text, text, uuid, integer);
DROP FUNCTION IF EXISTS record_ingest(uuid, text, text, text, jsonb);
-- Before the counts per source: a function of six parameters (callers of it still work: the seventh
-- has a default).
DROP FUNCTION IF EXISTS record_ingest(uuid, text, text, uuid, text, jsonb);

-- Claim an Idempotency-Key for one request attempt (p_holder). Answers {"state": ...}:
--   new      the key was free (or past its TTL); write as p_ingest_id
--   done     an ingest with this key finished; its body hash and reply are returned for replay
--   busy     another attempt holds a live lease on the key (answer 409)
--   resumed  an earlier attempt died; continue its ingest_id, whose chunks may have landed already
-- Calling it again with the same p_holder answers the same, so the call itself is retry-safe.
CREATE OR REPLACE FUNCTION claim_ingest(p_api_key_id text, p_idempotency_key text, p_ingest_id uuid,
                                        p_holder uuid, p_lease_seconds integer)
RETURNS jsonb LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
    claim ingest_claims;
    done ingest_requests;
BEGIN
    LOOP
        INSERT INTO ingest_claims (api_key_id, idempotency_key, ingest_id, holder, lease_until)
        VALUES (p_api_key_id, p_idempotency_key, p_ingest_id, p_holder,
                now() + make_interval(secs => p_lease_seconds))
        ON CONFLICT (api_key_id, idempotency_key) DO NOTHING;
        -- Claimers of one key queue on this row lock, so only one of them can take an expired lease.
        SELECT * INTO claim FROM ingest_claims
        WHERE api_key_id = p_api_key_id AND idempotency_key = p_idempotency_key
        FOR UPDATE;
        EXIT WHEN FOUND;  -- else the claim was deleted (its ingest finished) while we waited
    END LOOP;
    SELECT * INTO done FROM ingest_requests
    WHERE api_key_id = p_api_key_id AND idempotency_key = p_idempotency_key;
    IF FOUND THEN
        DELETE FROM ingest_claims WHERE api_key_id = p_api_key_id AND idempotency_key = p_idempotency_key;
        RETURN jsonb_build_object('state', 'done', 'ingest_id', done.id,
                                  'body_sha256', done.body_sha256, 'response', done.response);
    END IF;
    IF claim.holder = p_holder THEN  -- this attempt's own call again: its answer was lost
        RETURN jsonb_build_object('state', CASE WHEN claim.ingest_id = p_ingest_id THEN 'new' ELSE 'resumed' END,
                                  'ingest_id', claim.ingest_id);
    END IF;
    IF claim.lease_until > now() THEN
        RETURN jsonb_build_object('state', 'busy', 'ingest_id', claim.ingest_id);
    END IF;
    IF EXISTS (SELECT 1 FROM ingest_requests WHERE id = claim.ingest_id)
       OR ingest_time(claim.ingest_id) IS NULL THEN
        -- Its ingest finished and retention has forgotten the key since: a new ingest, as on
        -- direct PostgreSQL; resuming would write new rows under the old ingest's positions.
        -- So is an ingest an earlier version began (its id has no time): its chunks stay, under
        -- their own ingest_id, as a failed ingest's do without a key.
        UPDATE ingest_claims SET ingest_id = p_ingest_id, holder = p_holder, created_at = now(),
                                 lease_until = now() + make_interval(secs => p_lease_seconds)
        WHERE api_key_id = p_api_key_id AND idempotency_key = p_idempotency_key;
        RETURN jsonb_build_object('state', 'new', 'ingest_id', p_ingest_id);
    END IF;
    UPDATE ingest_claims SET holder = p_holder, lease_until = now() + make_interval(secs => p_lease_seconds)
    WHERE api_key_id = p_api_key_id AND idempotency_key = p_idempotency_key;
    RETURN jsonb_build_object('state', 'resumed', 'ingest_id', claim.ingest_id);
END
$$;

-- Renew the lease of the claim p_holder holds for p_ingest_id; false when another attempt took it.
-- Takes the claim's row lock, so it also keeps two holders from ever writing at the same moment.
CREATE OR REPLACE FUNCTION hold_ingest_claim(p_api_key_id text, p_idempotency_key text, p_ingest_id uuid,
                                             p_holder uuid, p_lease_seconds integer)
RETURNS boolean LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
    UPDATE ingest_claims SET lease_until = now() + make_interval(secs => p_lease_seconds)
    WHERE api_key_id = p_api_key_id AND idempotency_key = p_idempotency_key
      AND ingest_id = p_ingest_id AND holder = p_holder;
    RETURN FOUND;
END
$$;

-- Write one chunk of an ingest in one transaction: its raw rows, and the ids the pool lacks
-- (rows with "first": true, each id's first row in the request). With an Idempotency-Key the
-- caller must hold the claim (else SQLSTATE PT409, which PostgREST answers as HTTP 409); the
-- lease is renewed with every chunk. Repeating a chunk that landed changes nothing and answers
-- the same counts: its raw rows are keyed by (ingest time, id, position), and the ids this ingest added
-- are counted by first_ingest_id. The answer is one jsonb value, which PostgREST's row cap never
-- truncates.
CREATE OR REPLACE FUNCTION ingest_chunk(p_ingest_id uuid, p_api_key_id text, p_idempotency_key text,
                                        p_holder uuid, p_lease_seconds integer, p_rows json)
RETURNS jsonb LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
    v_at timestamptz;
    v_rows integer;
    v_new_raw integer;
    v_first integer;
    v_added integer;
BEGIN
    IF p_idempotency_key IS NOT NULL
       AND NOT hold_ingest_claim(p_api_key_id, p_idempotency_key, p_ingest_id, p_holder, p_lease_seconds) THEN
        RAISE EXCEPTION 'another request attempt holds this Idempotency-Key now'
            USING ERRCODE = 'PT409', HINT = 'ingest_claim_lost';
    END IF;
    v_at := ingest_time(p_ingest_id);
    IF v_at IS NULL THEN
        RAISE EXCEPTION 'an ingest id must be a UUIDv7' USING ERRCODE = '22023';
    END IF;
    WITH input AS MATERIALIZED (
        SELECT * FROM json_to_recordset(p_rows) AS r(position integer, profile_id text, username text,
            full_name text, source text, scraped_at timestamptz, profile jsonb, first boolean)
    ), raw AS (
        INSERT INTO raw_scraped_profiles (created_at, ingest_id, position, profile_id, username, full_name,
                                          source, scraped_at, profile)
        SELECT v_at, p_ingest_id, position, profile_id, username, full_name, source, scraped_at, profile
        FROM input
        ON CONFLICT (created_at, ingest_id, position) DO NOTHING
        RETURNING 1
    ), pool AS (
        -- Ascending id order, as the direct backend: concurrent ingests lock pool rows in one order.
        INSERT INTO global_usernames (id, username, full_name, source, first_ingest_id)
        SELECT profile_id, username, full_name, source, p_ingest_id FROM input WHERE first
        ORDER BY profile_id
        ON CONFLICT (id) DO NOTHING
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM input), (SELECT count(*) FROM raw),
           (SELECT count(*) FROM input WHERE first), (SELECT count(*) FROM pool)
    INTO v_rows, v_new_raw, v_first, v_added;
    IF v_new_raw < v_rows THEN
        -- An earlier attempt wrote these positions. It must have sent the same rows: a retry under
        -- the same Idempotency-Key with another body would mix two bodies into one ingest.
        IF EXISTS (
            SELECT 1 FROM json_to_recordset(p_rows) AS r(position integer, profile_id text, profile jsonb)
            JOIN raw_scraped_profiles s
                ON s.created_at = v_at AND s.ingest_id = p_ingest_id AND s.position = r.position
            WHERE s.profile_id <> r.profile_id OR s.profile <> r.profile) THEN
            RAISE EXCEPTION 'this ingest was started with another body'
                USING ERRCODE = 'PT422', HINT = 'idempotency_key_reused';
        END IF;
        -- That attempt landed (its answer was lost): count what it added too.
        SELECT count(*) INTO v_added FROM global_usernames
        WHERE first_ingest_id = p_ingest_id AND id IN (
            SELECT r.profile_id FROM json_to_recordset(p_rows) AS r(profile_id text, first boolean)
            WHERE r.first);
    END IF;
    RETURN jsonb_build_object('inserted_raw', v_rows, 'added_to_global', v_added, 'distinct_ids', v_first);
END
$$;

-- Keep a finished ingest's counts and reply (what the direct backend inserts in its transaction)
-- and delete its claim. NULL instead of true when the ingest was recorded already, so a retried
-- call changes nothing; PT409 when another attempt took the claim over.
CREATE OR REPLACE FUNCTION record_ingest(p_ingest_id uuid, p_api_key_id text, p_idempotency_key text,
                                         p_holder uuid, p_body_sha256 text, p_response jsonb,
                                         p_by_source jsonb DEFAULT NULL)
RETURNS boolean LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
    IF p_idempotency_key IS NOT NULL
       AND NOT hold_ingest_claim(p_api_key_id, p_idempotency_key, p_ingest_id, p_holder, 0) THEN
        IF EXISTS (SELECT 1 FROM ingest_requests WHERE id = p_ingest_id) THEN
            RETURN NULL;  -- an earlier call of ours recorded it and deleted the claim
        END IF;
        RAISE EXCEPTION 'another request attempt holds this Idempotency-Key now'
            USING ERRCODE = 'PT409', HINT = 'ingest_claim_lost';
    END IF;
    INSERT INTO ingest_requests (id, api_key_id, idempotency_key, body_sha256, received,
                                 inserted_raw, added_to_global, rejected, response, by_source)
    VALUES (p_ingest_id, p_api_key_id, p_idempotency_key, p_body_sha256,
            (p_response->>'received')::integer, (p_response->>'inserted_raw')::integer,
            (p_response->>'added_to_global')::integer, (p_response->>'rejected')::integer, p_response,
            p_by_source)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    DELETE FROM ingest_claims
    WHERE api_key_id = p_api_key_id AND idempotency_key = p_idempotency_key AND holder = p_holder;
    RETURN true;
END
$$;

-- After a failed attempt, end its lease at once so a retry can resume without waiting.
CREATE OR REPLACE FUNCTION release_ingest_claim(p_api_key_id text, p_idempotency_key text, p_holder uuid)
RETURNS boolean LANGUAGE sql SET search_path = public AS $$
    UPDATE ingest_claims SET lease_until = now()
    WHERE api_key_id = p_api_key_id AND idempotency_key = p_idempotency_key AND holder = p_holder
    RETURNING true
$$;

-- ---------------------------------------------------------------------------------------------
-- Daily distribution: targets, one run per date, and the assignments it hands out.
-- ---------------------------------------------------------------------------------------------

-- Claims mark pool rows used. `used` and `used_at` are indexed, so those updates can never be HOT:
-- each claim leaves a dead row version and dead entries in every index, and the oldest-first claim
-- walks past them. Vacuum early (1% of the pool instead of 20%) so the next day's claim and the
-- index-only counts of the stats stay fast; vacuum after big ingests too, which sets the
-- visibility map those counts rely on. A lower fillfactor would buy nothing (HOT is impossible
-- here) and would leave 10%+ of a multi-million-row heap empty, so it stays at 100.
ALTER TABLE global_usernames SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 10000,
    autovacuum_vacuum_insert_scale_factor = 0.05,
    autovacuum_analyze_scale_factor = 0.02
);

-- Who receives profiles: an outreach account or a worker, with a daily quota and optionally the
-- only sources it may receive (NULL = any source). Targets are deactivated, never deleted, so
-- past assignments keep their target.
CREATE TABLE IF NOT EXISTS distribution_targets (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    daily_quota  integer NOT NULL CHECK (daily_quota >= 0),
    sources      text[] CHECK (cardinality(sources) > 0),
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- One row per distributed date: its existence makes the run idempotent, its summary is what a
-- repeated call returns.
CREATE TABLE IF NOT EXISTS distribution_runs (
    run_date    date PRIMARY KEY,
    summary     jsonb NOT NULL,
    top_ups     integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A profile handed to a target for a date. Released rows stay as history; the profile is back in
-- the pool and may be assigned again later.
CREATE TABLE IF NOT EXISTS distribution_assignments (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_date     date NOT NULL,
    target_id    bigint NOT NULL REFERENCES distribution_targets (id),
    profile_id   text NOT NULL REFERENCES global_usernames (id),
    status       text NOT NULL DEFAULT 'assigned'
                 CHECK (status IN ('assigned', 'sent', 'replied', 'failed', 'invalid', 'released')),
    assigned_at  timestamptz NOT NULL DEFAULT now(),
    status_at    timestamptz
);

-- The guarantee behind "never assigned twice", whatever the code above it does: a profile has at
-- most one assignment that is not released. It is a constraint, hence here and not with the
-- performance indexes; status updates find a profile's live assignment through it.
CREATE UNIQUE INDEX IF NOT EXISTS distribution_assignments_live_profile
    ON distribution_assignments (profile_id) WHERE status <> 'released';

-- The daily claim for one group of targets sharing a source filter. Targets come in round-robin
-- order with what each still needs. The oldest unused profiles (first_seen_at, id) are locked with
-- SKIP LOCKED, so a concurrent claim (another date, another machine) takes other rows instead of
-- waiting; they are marked used and dealt out one per target in turn, so when the pool is short
-- every target gets an equal share (a target that needs less gets what it needs).
--
-- The plan is pinned to the indexes and the TID scan (enable_seqscan off for this function only):
-- a claim touches a small slice of the pool, and stale statistics after a bulk load must never
-- turn it into a scan of millions of rows.
CREATE OR REPLACE FUNCTION distribution_claim_group(
    p_date date, p_targets bigint[], p_needs integer[], p_sources text[], p_total integer)
RETURNS integer LANGUAGE plpgsql SET enable_seqscan = off SET search_path = public AS $$
DECLARE
    v_rows tid[];
    v_claimed integer;
BEGIN
    -- Both read the unused profiles in age order (idx_global_usernames_unused); a target limited
    -- to sources skips the others' rows. The rows come back by ctid: they are locked by us now, so
    -- their ctid is stable, and the update below finds them with a TID scan however large the pool is.
    IF p_sources IS NULL THEN
        SELECT array_agg(ctid) INTO v_rows FROM (
            SELECT ctid FROM global_usernames WHERE NOT used
            ORDER BY first_seen_at, id LIMIT p_total FOR UPDATE SKIP LOCKED) c;
    ELSE
        SELECT array_agg(ctid) INTO v_rows FROM (
            SELECT ctid FROM global_usernames WHERE NOT used AND source = ANY (p_sources)
            ORDER BY first_seen_at, id LIMIT p_total FOR UPDATE SKIP LOCKED) c;
    END IF;
    WITH picked AS (
        UPDATE global_usernames SET used = true, used_at = now()
        WHERE ctid = ANY (v_rows) AND NOT used
        RETURNING id, first_seen_at
    ), dealt AS (
        SELECT id, row_number() OVER (ORDER BY first_seen_at, id) AS slot FROM picked
    ), slots AS (
        SELECT t.target_id, row_number() OVER (ORDER BY turn, t.ord) AS slot
        FROM unnest(p_targets, p_needs) WITH ORDINALITY AS t (target_id, need, ord)
        CROSS JOIN LATERAL generate_series(1, t.need) AS turn
    ), inserted AS (
        INSERT INTO distribution_assignments (run_date, target_id, profile_id)
        SELECT p_date, s.target_id, d.id FROM dealt d JOIN slots s USING (slot)
        RETURNING 1
    )
    SELECT count(*) INTO v_claimed FROM inserted;
    RETURN v_claimed;
END;
$$;

-- What a date's distribution looks like now: per target its quota, live assignments and shortfall.
CREATE OR REPLACE FUNCTION distribution_summary(p_date date)
RETURNS jsonb LANGUAGE sql STABLE SET search_path = public AS $$
    WITH counts AS (
        SELECT target_id, count(*) AS assigned FROM distribution_assignments
        WHERE run_date = p_date AND status <> 'released' GROUP BY target_id
    ), per_target AS (
        SELECT t.id, t.name, t.daily_quota, coalesce(c.assigned, 0) AS assigned,
               CASE WHEN t.active THEN greatest(t.daily_quota - coalesce(c.assigned, 0), 0) ELSE 0 END
                   AS shortfall
        FROM distribution_targets t LEFT JOIN counts c ON c.target_id = t.id
        WHERE t.active OR c.assigned IS NOT NULL
    )
    SELECT jsonb_build_object(
        'date', p_date,
        'assigned', coalesce(sum(assigned), 0),
        'shortfall', coalesce(sum(shortfall), 0),
        'targets', coalesce(jsonb_agg(jsonb_build_object(
            'target', id, 'name', name, 'quota', daily_quota, 'assigned', assigned,
            'shortfall', shortfall) ORDER BY id), '[]'::jsonb))
    FROM per_target;
$$;

-- The daily run, the one entry point both backends call (psycopg directly, supabase-py via .rpc()).
-- The first call for a date claims every active target's quota; later calls return that run
-- unchanged, unless p_top_up asks to fill targets still below quota. Atomic: one transaction.
CREATE OR REPLACE FUNCTION distribution_run(p_date date, p_top_up boolean DEFAULT false)
RETURNS jsonb LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
    v_existing jsonb;
    v_group record;
    v_claimed integer := 0;
    v_summary jsonb;
BEGIN
    -- Serialise runs of one date across every session (workers, machines, cron): a concurrent
    -- second caller waits here, then finds the first one's committed run below. The two-integer
    -- key space is separate from the bigint locks used elsewhere.
    PERFORM pg_advisory_xact_lock(4, p_date - date '2000-01-01');
    SELECT summary INTO v_existing FROM distribution_runs WHERE run_date = p_date;
    IF FOUND AND NOT p_top_up THEN
        RETURN v_existing || jsonb_build_object('claimed', 0, 'top_up', false, 'replayed', true);
    END IF;
    -- Targets with the most specific source filter go first, so a target that takes any source
    -- does not use up the profiles a narrower target could take.
    FOR v_group IN
        WITH held AS (
            SELECT target_id, count(*) AS n FROM distribution_assignments
            WHERE run_date = p_date AND status <> 'released' GROUP BY target_id
        ), needs AS (
            SELECT t.id, t.sources, t.daily_quota - coalesce(h.n, 0) AS need
            FROM distribution_targets t LEFT JOIN held h ON h.target_id = t.id
            WHERE t.active
        )
        SELECT sources, array_agg(id ORDER BY id) AS targets, array_agg(need::integer ORDER BY id) AS needs,
               sum(need)::integer AS total
        FROM needs WHERE need > 0
        GROUP BY sources
        ORDER BY sources IS NULL, cardinality(sources), sources
    LOOP
        v_claimed := v_claimed + distribution_claim_group(
            p_date, v_group.targets, v_group.needs, v_group.sources, v_group.total);
    END LOOP;
    PERFORM pool_counts_compact();
    v_summary := distribution_summary(p_date);
    INSERT INTO distribution_runs (run_date, summary) VALUES (p_date, v_summary)
    ON CONFLICT (run_date) DO UPDATE
        SET summary = EXCLUDED.summary, top_ups = distribution_runs.top_ups + 1, updated_at = now();
    RETURN v_summary || jsonb_build_object('claimed', v_claimed, 'top_up', p_top_up, 'replayed', false);
END;
$$;

-- One page of a date's list, in (target, assignment id) order, after the given keyset position.
-- Returns one JSON array, so a REST caller is not cut at PostgREST's row cap. json, not jsonb:
-- the page is only passed on, and converting it to jsonb and back to text took a third of the
-- call. Earlier versions returned jsonb, and a result type cannot be replaced in place: drop that
-- one only, so re-applying the schema keeps the function's grants (Supabase's lock-down).
DO $$
BEGIN
    IF (SELECT prorettype FROM pg_proc
        WHERE oid = to_regprocedure('distribution_list(date, bigint, bigint, bigint, integer)'))
       = 'jsonb'::regtype THEN
        DROP FUNCTION distribution_list(date, bigint, bigint, bigint, integer);
    END IF;
END;
$$;
CREATE OR REPLACE FUNCTION distribution_list(
    p_date date, p_target bigint, p_after_target bigint, p_after_id bigint, p_limit integer)
RETURNS json LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
    v_page bigint[];
    v_items json;
BEGIN
    -- Two spellings so each is a plain range scan of (run_date, target_id, id); an
    -- `p_target IS NULL OR ...` would stop the index from bounding the scan.
    IF p_target IS NULL THEN
        SELECT array_agg(id) INTO v_page FROM (
            SELECT id FROM distribution_assignments
            WHERE run_date = p_date AND status <> 'released'
              AND (target_id, id) > (p_after_target, p_after_id)
            ORDER BY target_id, id LIMIT p_limit) page;
    ELSE
        SELECT array_agg(id) INTO v_page FROM (
            SELECT id FROM distribution_assignments
            WHERE run_date = p_date AND target_id = p_target AND status <> 'released' AND id > p_after_id
            ORDER BY id LIMIT p_limit) page;
    END IF;
    SELECT json_agg(json_build_object(
               'assignment_id', a.id, 'profile_id', a.profile_id, 'username', g.username,
               'full_name', g.full_name, 'source', g.source, 'target', a.target_id,
               'status', a.status, 'assigned_at', a.assigned_at, 'status_at', a.status_at)
           ORDER BY a.target_id, a.id)
    INTO v_items
    FROM distribution_assignments a JOIN global_usernames g ON g.id = a.profile_id
    WHERE a.id = ANY (v_page);
    RETURN coalesce(v_items, '[]'::json);
END;
$$;

-- Bulk status updates in one statement; the last update of a profile in the list wins. Reports
-- how many changed, the profile ids with no live assignment, the dates touched, and the lists
-- touched as [date, target] pairs (whose cached pages must go).
CREATE OR REPLACE FUNCTION distribution_set_status(p_profile_ids text[], p_statuses text[])
RETURNS jsonb LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
    v_result jsonb;
BEGIN
    IF cardinality(p_profile_ids) IS DISTINCT FROM cardinality(p_statuses) THEN
        RAISE EXCEPTION 'profile ids and statuses differ in length' USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(p_statuses) AS s
               WHERE s IS NULL OR s NOT IN ('assigned', 'sent', 'replied', 'failed', 'invalid')) THEN
        RAISE EXCEPTION 'unknown status' USING ERRCODE = '22023';
    END IF;
    -- Rows are locked in id order, so two requests touching the same profiles queue up instead
    -- of deadlocking.
    WITH input AS (
        SELECT DISTINCT ON (profile_id) profile_id, status
        FROM unnest(p_profile_ids, p_statuses) WITH ORDINALITY AS u (profile_id, status, ord)
        ORDER BY profile_id, ord DESC
    ), locked AS (
        SELECT a.id, i.status FROM distribution_assignments a JOIN input i USING (profile_id)
        WHERE a.status <> 'released'
        ORDER BY a.id FOR UPDATE OF a
    ), updated AS (
        UPDATE distribution_assignments a SET status = l.status, status_at = now()
        FROM locked l WHERE a.id = l.id
        RETURNING a.profile_id, a.run_date, a.target_id
    )
    SELECT jsonb_build_object(
        'updated', (SELECT count(*) FROM updated),
        'unknown', coalesce((SELECT jsonb_agg(i.profile_id ORDER BY i.profile_id) FROM input i
                             WHERE NOT EXISTS (SELECT 1 FROM updated u WHERE u.profile_id = i.profile_id)),
                            '[]'::jsonb),
        'dates', coalesce((SELECT jsonb_agg(DISTINCT run_date) FROM updated), '[]'::jsonb),
        'lists', coalesce((SELECT jsonb_agg(DISTINCT jsonb_build_array(run_date, target_id)) FROM updated),
                          '[]'::jsonb))
    INTO v_result;
    RETURN v_result;
END;
$$;

-- One batch of the release: assignments of dates up to p_through still `assigned` (never sent)
-- are marked released and their profiles go back to the pool, keeping their age, so they are the
-- first ones claimed again. SKIP LOCKED: a row being updated right now is left for the next batch.
CREATE OR REPLACE FUNCTION distribution_release(p_through date, p_limit integer)
RETURNS jsonb LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
    v_result jsonb;
BEGIN
    WITH batch AS (
        SELECT id FROM distribution_assignments
        WHERE status = 'assigned' AND run_date <= p_through
        ORDER BY run_date, id LIMIT p_limit FOR UPDATE SKIP LOCKED
    ), released AS (
        UPDATE distribution_assignments a SET status = 'released', status_at = now()
        FROM batch b WHERE a.id = b.id
        RETURNING a.profile_id, a.run_date
    ), returned AS (
        UPDATE global_usernames g SET used = false, used_at = NULL
        FROM released r WHERE g.id = r.profile_id
        RETURNING 1
    )
    SELECT jsonb_build_object(
        'released', (SELECT count(*) FROM released),
        'returned', (SELECT count(*) FROM returned),
        'dates', coalesce((SELECT jsonb_agg(DISTINCT run_date) FROM released), '[]'::jsonb))
    INTO v_result;
    RETURN v_result;
END;
$$;

-- Pool counts without counting the pool: every statement that inserts, deletes or flips `used` on
-- global_usernames appends its net change here (statement triggers below), so the counts are a sum
-- over a few rows whatever the pool's size, exact, and committed with the change itself. Rows are
-- only appended, so concurrent writers never wait for each other; the daily run folds them into one.
CREATE TABLE IF NOT EXISTS pool_count_deltas (
    total  bigint NOT NULL,
    used   bigint NOT NULL
);

CREATE OR REPLACE FUNCTION pool_count_inserted() RETURNS trigger LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
    INSERT INTO pool_count_deltas (total, used)
    SELECT count(*), count(*) FILTER (WHERE used) FROM new_rows HAVING count(*) > 0;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION pool_count_updated() RETURNS trigger LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
    INSERT INTO pool_count_deltas (total, used)
    SELECT 0, delta FROM (SELECT (SELECT count(*) FROM new_rows WHERE used)
                               - (SELECT count(*) FROM old_rows WHERE used) AS delta) d
    WHERE delta <> 0;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION pool_count_deleted() RETURNS trigger LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
    INSERT INTO pool_count_deltas (total, used)
    SELECT -count(*), -count(*) FILTER (WHERE used) FROM old_rows HAVING count(*) > 0;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION pool_count_truncated() RETURNS trigger LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
    DELETE FROM pool_count_deltas;
    RETURN NULL;
END;
$$;

-- Installed once: creating the triggers locks out writers to the pool until this transaction
-- commits, so the starting count taken after them misses no concurrent ingest.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'global_usernames'::regclass
                   AND tgname = 'global_usernames_count_insert') THEN
        CREATE TRIGGER global_usernames_count_insert AFTER INSERT ON global_usernames
            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION pool_count_inserted();
        CREATE TRIGGER global_usernames_count_update AFTER UPDATE ON global_usernames
            REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION pool_count_updated();
        CREATE TRIGGER global_usernames_count_delete AFTER DELETE ON global_usernames
            REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION pool_count_deleted();
        CREATE TRIGGER global_usernames_count_truncate AFTER TRUNCATE ON global_usernames
            FOR EACH STATEMENT EXECUTE FUNCTION pool_count_truncated();
        DELETE FROM pool_count_deltas;
        INSERT INTO pool_count_deltas (total, used)
        SELECT count(*), count(*) FILTER (WHERE used) FROM global_usernames;
    END IF;
END;
$$;

-- Fold the appended changes into one row. Rows appended meanwhile are not seen and rows another
-- fold holds are skipped, so this never waits and never loses a change.
CREATE OR REPLACE FUNCTION pool_counts_compact() RETURNS void LANGUAGE sql SET search_path = public AS $$
    WITH folded AS (
        DELETE FROM pool_count_deltas
        WHERE ctid = ANY (ARRAY(SELECT ctid FROM pool_count_deltas FOR UPDATE SKIP LOCKED))
        RETURNING total, used
    )
    INSERT INTO pool_count_deltas (total, used)
    SELECT sum(total), sum(used) FROM folded HAVING count(*) > 0;
$$;

CREATE OR REPLACE FUNCTION pool_counts()
RETURNS jsonb LANGUAGE sql STABLE SET search_path = public AS $$
    SELECT jsonb_build_object('total', total, 'unused', total - used, 'used', used)
    FROM (SELECT coalesce(sum(total), 0) AS total, coalesce(sum(used), 0) AS used
          FROM pool_count_deltas) c;
$$;

-- Statistics: the pool, what was ingested on each of the p_days days up to p_date (days in
-- p_timezone, from the one-row-per-request ingest log), and the distribution of p_date.
CREATE OR REPLACE FUNCTION distribution_stats(p_date date, p_days integer, p_timezone text)
RETURNS jsonb LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
    v_first date := p_date - (p_days - 1);
    v_ingested jsonb;
    v_distribution jsonb;
BEGIN
    SELECT jsonb_agg(jsonb_build_object(
               'date', d.day, 'requests', coalesce(i.requests, 0), 'received', coalesce(i.received, 0),
               'inserted_raw', coalesce(i.inserted_raw, 0), 'added_to_global', coalesce(i.added, 0),
               'rejected', coalesce(i.rejected, 0)) ORDER BY d.day)
    INTO v_ingested
    FROM (SELECT generate_series(v_first, p_date, interval '1 day')::date AS day) d
    LEFT JOIN (
        SELECT (created_at AT TIME ZONE p_timezone)::date AS day, count(*) AS requests,
               sum(received) AS received, sum(inserted_raw) AS inserted_raw,
               sum(added_to_global) AS added, sum(rejected) AS rejected
        FROM ingest_requests
        WHERE created_at >= v_first::timestamp AT TIME ZONE p_timezone
          AND created_at < (p_date + 1)::timestamp AT TIME ZONE p_timezone
        GROUP BY 1
    ) i ON i.day = d.day;

    WITH counts AS (
        SELECT target_id, status, count(*) AS n FROM distribution_assignments
        WHERE run_date = p_date GROUP BY target_id, status
    ), per_target AS (
        SELECT t.id, t.name, t.daily_quota,
               coalesce(sum(c.n) FILTER (WHERE c.status <> 'released'), 0) AS assigned,
               coalesce(jsonb_object_agg(c.status, c.n) FILTER (WHERE c.status IS NOT NULL), '{}'::jsonb)
                   AS by_status
        FROM distribution_targets t LEFT JOIN counts c ON c.target_id = t.id
        WHERE t.active OR c.target_id IS NOT NULL
        GROUP BY t.id
    )
    SELECT jsonb_build_object(
        'date', p_date,
        'assigned', coalesce((SELECT sum(assigned) FROM per_target), 0),
        'by_status', coalesce((SELECT jsonb_object_agg(status, n) FROM (
            SELECT status, sum(n) AS n FROM counts GROUP BY status) s), '{}'::jsonb),
        'targets', coalesce((SELECT jsonb_agg(jsonb_build_object(
            'target', id, 'name', name, 'quota', daily_quota, 'assigned', assigned,
            'by_status', by_status) ORDER BY id) FROM per_target), '[]'::jsonb))
    INTO v_distribution;

    RETURN jsonb_build_object('pool', pool_counts(), 'ingested_per_day', v_ingested,
                              'distribution', v_distribution);
END;
$$;

-- What /metrics and the status page tell about the pool's future, cheap at any pool size: the
-- pool counts, the active targets' daily quotas added up, and the latest run of a date up to p_today.
CREATE OR REPLACE FUNCTION pool_outlook(p_today date)
RETURNS jsonb LANGUAGE sql STABLE SET search_path = public AS $$
    SELECT pool_counts() || jsonb_build_object(
        'daily_quota', (SELECT coalesce(sum(daily_quota), 0) FROM distribution_targets WHERE active),
        'last_run_date', (SELECT max(run_date) FROM distribution_runs WHERE run_date <= p_today));
$$;

-- Everything the status page shows, in one call: the statistics and the summary of p_date, the
-- pool's outlook, p_date's run (NULL when it has not happened), the ingest of the p_days days up to
-- p_date per day and source (days in p_timezone), and the p_recent latest ingest requests with
-- their first three rejections. It reads the pool through its counts and the other tables through
-- their indexes on date: its cost does not grow with the pool.
CREATE OR REPLACE FUNCTION status_report(p_date date, p_days integer, p_timezone text, p_recent integer)
RETURNS jsonb LANGUAGE sql STABLE SET search_path = public AS $$
    SELECT jsonb_build_object(
        'stats', distribution_stats(p_date, p_days, p_timezone),
        'summary', distribution_summary(p_date),
        'outlook', pool_outlook(p_date),
        'run', (SELECT jsonb_build_object('created_at', created_at, 'updated_at', updated_at, 'top_ups', top_ups)
                FROM distribution_runs WHERE run_date = p_date),
        'sources', (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'date', day, 'source', source, 'received', received, 'inserted_raw', inserted_raw,
                       'rejected', rejected) ORDER BY day, source), '[]'::jsonb)
            FROM (SELECT (r.created_at AT TIME ZONE p_timezone)::date AS day, s.key AS source,
                         sum((s.value->>'received')::bigint) AS received,
                         sum((s.value->>'inserted_raw')::bigint) AS inserted_raw,
                         sum((s.value->>'rejected')::bigint) AS rejected
                  FROM ingest_requests r CROSS JOIN LATERAL jsonb_each(r.by_source) s
                  WHERE r.created_at >= (p_date - (p_days - 1))::timestamp AT TIME ZONE p_timezone
                    AND r.created_at < (p_date + 1)::timestamp AT TIME ZONE p_timezone
                  GROUP BY 1, 2) per_day),
        'recent', (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'ingest_id', id, 'created_at', created_at, 'key_id', api_key_id,
                       'sources', coalesce((SELECT jsonb_agg(k ORDER BY k) FROM jsonb_object_keys(by_source) k),
                                           '[]'::jsonb),
                       'received', received, 'inserted_raw', inserted_raw, 'added_to_global', added_to_global,
                       'rejected', rejected,
                       'errors', jsonb_path_query_array(response, '$.errors[0 to 2]'))
                   ORDER BY created_at DESC), '[]'::jsonb)
            FROM (SELECT * FROM ingest_requests ORDER BY created_at DESC LIMIT p_recent) latest));
$$;

-- Drop the months' partitions that end before p_before: a month of raw rows goes at once, however
-- many millions it holds, instead of in thousands of batched DELETEs. Answers the rows dropped
-- (counted first, so the clean-up's figures stay exact). Dropping waits for whoever reads the
-- month at that moment (a listing of it); at most 2 s, then the month is left for the next
-- clean-up rather than holding up what queues behind the drop. Ingests write to this month's
-- partition, so they never wait for it. SECURITY DEFINER: over REST service_role may not drop tables.
CREATE OR REPLACE FUNCTION drop_expired_raw_partitions(p_before timestamptz)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = public SET timezone = 'UTC' AS $$
DECLARE
    v_timeout text := current_setting('lock_timeout');
    v_name text;
    v_rows bigint;
    v_dropped bigint := 0;
BEGIN
    FOR v_name IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'raw_scraped_profiles'::regclass AND c.relname ~ '^raw_scraped_profiles_[0-9]{6}$'
          AND to_timestamp(right(c.relname, 6), 'YYYYMM') + interval '1 month' <= p_before
        ORDER BY c.relname
    LOOP
        EXECUTE format('SELECT count(*) FROM raw_partitions.%I', v_name) INTO v_rows;
        BEGIN
            PERFORM set_config('lock_timeout', '2s', true);
            EXECUTE format('DROP TABLE raw_partitions.%I', v_name);
            v_dropped := v_dropped + v_rows;
        EXCEPTION WHEN lock_not_available THEN
            RAISE NOTICE 'raw partition % is busy; the next clean-up drops it', v_name;
        END;
        PERFORM set_config('lock_timeout', v_timeout, true);
    END LOOP;
    RETURN v_dropped;
END
$$;

-- One batch of the retention clean-up; each call is its own short transaction and touches at
-- most p_limit rows of each table, row locks only. Raw rows and ingest records older than
-- p_raw_before go (NULL keeps them); Idempotency-Keys older than p_keys_before are forgotten (the
-- ingest record stays, so the per-day statistics keep it).
CREATE OR REPLACE FUNCTION retention_batch(
    p_raw_before timestamptz, p_keys_before timestamptz, p_limit integer)
RETURNS jsonb LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
    v_dropped bigint := 0;
    v_raw bigint := 0;
    v_ingests integer := 0;
    v_keys integer := 0;
    v_claims integer := 0;
BEGIN
    PERFORM ensure_raw_partitions(now(), 3);
    IF p_raw_before IS NOT NULL THEN
        v_dropped := drop_expired_raw_partitions(p_raw_before);
        DELETE FROM raw_scraped_profiles r
        USING (SELECT created_at, ingest_id, position FROM raw_scraped_profiles WHERE created_at < p_raw_before
               ORDER BY created_at LIMIT p_limit) d
        WHERE (r.created_at, r.ingest_id, r.position) = (d.created_at, d.ingest_id, d.position);
        GET DIAGNOSTICS v_raw = ROW_COUNT;
        v_raw := v_raw + v_dropped;
        DELETE FROM ingest_requests WHERE id IN (
            SELECT id FROM ingest_requests WHERE created_at < p_raw_before
            ORDER BY created_at LIMIT p_limit);
        GET DIAGNOSTICS v_ingests = ROW_COUNT;
    END IF;
    UPDATE ingest_requests SET idempotency_key = NULL WHERE id IN (
        SELECT id FROM ingest_requests WHERE idempotency_key IS NOT NULL AND created_at < p_keys_before
        ORDER BY created_at LIMIT p_limit);
    GET DIAGNOSTICS v_keys = ROW_COUNT;
    -- REST claims left by attempts that never finished: past the TTL their key starts anew.
    DELETE FROM ingest_claims WHERE (api_key_id, idempotency_key) IN (
        SELECT api_key_id, idempotency_key FROM ingest_claims
        WHERE created_at < p_keys_before AND lease_until < now()  -- never one an attempt holds
        LIMIT p_limit FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS v_claims = ROW_COUNT;
    RETURN jsonb_build_object('raw_deleted', v_raw, 'ingests_deleted', v_ingests,
                              'keys_expired', v_keys + v_claims);
END;
$$;

-- Date-range listing of raw rows in (created_at, ingest_id, position) order: rows received in
-- [p_from, p_to) after the keyset position (none = from the start).
CREATE OR REPLACE FUNCTION list_raw_profiles(
    p_from timestamptz, p_to timestamptz, p_after_at timestamptz, p_after_ingest uuid,
    p_after_position integer, p_limit integer)
RETURNS jsonb LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
    v_items jsonb;
BEGIN
    IF p_after_at IS NULL THEN  -- the position just before every row received at p_from
        p_after_at := p_from;
        p_after_ingest := '00000000-0000-0000-0000-000000000000';
        p_after_position := -1;
    END IF;
    SELECT jsonb_agg(to_jsonb(r) ORDER BY r.created_at, r.ingest_id, r.position) INTO v_items FROM (
        SELECT created_at, ingest_id, position, profile_id, username, full_name, source, scraped_at,
               profile
        FROM raw_scraped_profiles
        WHERE (created_at, ingest_id, position) > (p_after_at, p_after_ingest, p_after_position)
          AND created_at >= p_from AND created_at < p_to
        ORDER BY created_at, ingest_id, position LIMIT p_limit) r;
    RETURN coalesce(v_items, '[]'::jsonb);
END;
$$;

-- Date-range listing of the pool in (first_seen_at, id) order, like list_raw_profiles. Unused and
-- used rows are kept in two partial indexes (the claim's and the listing's), so each page merges
-- a page of each: a third index on every row cost each new profile a tenth of its pool insert.
CREATE OR REPLACE FUNCTION list_global_profiles(
    p_from timestamptz, p_to timestamptz, p_after_at timestamptz, p_after_id text, p_limit integer)
RETURNS jsonb LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
    v_items jsonb;
BEGIN
    IF p_after_at IS NULL THEN  -- '' sorts before every id, which is never empty
        p_after_at := p_from;
        p_after_id := '';
    END IF;
    SELECT jsonb_agg(to_jsonb(g) ORDER BY g.first_seen_at, g.id) INTO v_items FROM (
        SELECT * FROM (
            (SELECT first_seen_at, id, username, full_name, source, used, used_at
             FROM global_usernames
             WHERE NOT used AND (first_seen_at, id) > (p_after_at, p_after_id)
               AND first_seen_at >= p_from AND first_seen_at < p_to
             ORDER BY first_seen_at, id LIMIT p_limit)
            UNION ALL
            (SELECT first_seen_at, id, username, full_name, source, used, used_at
             FROM global_usernames
             WHERE used AND (first_seen_at, id) > (p_after_at, p_after_id)
               AND first_seen_at >= p_from AND first_seen_at < p_to
             ORDER BY first_seen_at, id LIMIT p_limit)) both_parts
        ORDER BY first_seen_at, id LIMIT p_limit) g;
    RETURN coalesce(v_items, '[]'::jsonb);
END;
$$;
