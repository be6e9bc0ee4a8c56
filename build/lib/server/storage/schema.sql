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

-- ---------------------------------------------------------------------------------------------
-- Supabase REST backend. Over REST every request is its own transaction, so the steps that must
-- be atomic or exact live here and are called with .rpc(). Functions pin search_path so a caller
-- cannot redirect the table names they use.

-- Idempotency-Keys being worked on over REST. No transaction spans a whole request there, so a
-- key is claimed with a lease the worker renews while it writes; a retry after a failure takes
-- the expired claim over and continues the same ingest (same ingest_id, so nothing doubles).
CREATE TABLE IF NOT EXISTS ingest_claims (
    api_key_id       text NOT NULL,
    idempotency_key  text NOT NULL,
    ingest_id        uuid NOT NULL,
    lease_until      timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (api_key_id, idempotency_key)
);

-- The duplicate look-up of one chunk: which of p_ids the pool holds already. Ids this same ingest
-- added in an earlier attempt come back as "ours", so a retried chunk still counts them as added.
-- One jsonb value rather than rows, so PostgREST's row cap can never truncate the answer.
CREATE OR REPLACE FUNCTION existing_profile_ids(p_ingest_id uuid, p_ids text[])
RETURNS jsonb LANGUAGE sql STABLE SET search_path = public AS $$
    SELECT jsonb_build_object(
        'existing', COALESCE(jsonb_agg(id) FILTER (WHERE first_ingest_id IS DISTINCT FROM p_ingest_id), '[]'),
        'ours', COALESCE(jsonb_agg(id) FILTER (WHERE first_ingest_id = p_ingest_id), '[]'))
    FROM global_usernames
    WHERE id = ANY (p_ids)
$$;

-- Claim an Idempotency-Key for p_ingest_id. Answers {"state": ...}:
--   new      the key was free; write as p_ingest_id
--   done     an ingest with this key finished; its body hash and reply are returned for replay
--   busy     another request holds a live lease on the key (answer 409)
--   resumed  an earlier attempt died; continue its ingest_id, whose rows may have landed already
-- Calling it again with the same p_ingest_id answers the same, so the call itself is retry-safe.
CREATE OR REPLACE FUNCTION claim_ingest(p_api_key_id text, p_idempotency_key text,
                                        p_ingest_id uuid, p_lease_seconds integer)
RETURNS jsonb LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
    claim ingest_claims;
    done ingest_requests;
BEGIN
    INSERT INTO ingest_claims (api_key_id, idempotency_key, ingest_id, lease_until)
    VALUES (p_api_key_id, p_idempotency_key, p_ingest_id, now() + make_interval(secs => p_lease_seconds))
    ON CONFLICT (api_key_id, idempotency_key) DO NOTHING;
    -- Claimers of one key queue on this row lock, so only one of them can take an expired lease.
    SELECT * INTO claim FROM ingest_claims
    WHERE api_key_id = p_api_key_id AND idempotency_key = p_idempotency_key
    FOR UPDATE;
    SELECT * INTO done FROM ingest_requests
    WHERE api_key_id = p_api_key_id AND idempotency_key = p_idempotency_key;
    IF FOUND THEN
        RETURN jsonb_build_object('state', 'done', 'ingest_id', done.id,
                                  'body_sha256', done.body_sha256, 'response', done.response);
    END IF;
    IF claim.ingest_id = p_ingest_id THEN
        RETURN jsonb_build_object('state', 'new', 'ingest_id', claim.ingest_id);
    END IF;
    IF claim.lease_until > now() THEN
        RETURN jsonb_build_object('state', 'busy', 'ingest_id', claim.ingest_id);
    END IF;
    UPDATE ingest_claims SET lease_until = now() + make_interval(secs => p_lease_seconds)
    WHERE api_key_id = p_api_key_id AND idempotency_key = p_idempotency_key;
    RETURN jsonb_build_object('state', 'resumed', 'ingest_id', claim.ingest_id);
END
$$;

-- Extend (or, with 0 seconds, give up) the lease of a claim this ingest holds; NULL if it holds none.
CREATE OR REPLACE FUNCTION renew_ingest_claim(p_api_key_id text, p_idempotency_key text,
                                              p_ingest_id uuid, p_lease_seconds integer)
RETURNS boolean LANGUAGE sql SET search_path = public AS $$
    UPDATE ingest_claims SET lease_until = now() + make_interval(secs => p_lease_seconds)
    WHERE api_key_id = p_api_key_id AND idempotency_key = p_idempotency_key AND ingest_id = p_ingest_id
    RETURNING true
$$;

-- Keep a finished ingest's counts and reply (what the direct backend inserts in its transaction).
-- NULL instead of true when the ingest was recorded already, so a retried call changes nothing.
CREATE OR REPLACE FUNCTION record_ingest(p_ingest_id uuid, p_api_key_id text, p_idempotency_key text,
                                         p_body_sha256 text, p_response jsonb)
RETURNS boolean LANGUAGE sql SET search_path = public AS $$
    INSERT INTO ingest_requests (id, api_key_id, idempotency_key, body_sha256, received,
                                 inserted_raw, added_to_global, rejected, response)
    VALUES (p_ingest_id, p_api_key_id, p_idempotency_key, p_body_sha256,
            (p_response->>'received')::integer, (p_response->>'inserted_raw')::integer,
            (p_response->>'added_to_global')::integer, (p_response->>'rejected')::integer, p_response)
    ON CONFLICT DO NOTHING
    RETURNING true
$$;
