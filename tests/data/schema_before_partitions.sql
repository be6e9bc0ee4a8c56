-- The raw table as releases before monthly partitions made it (keyed by ingest and position, with
-- a second index for listing), for the upgrade test.
CREATE TABLE raw_scraped_profiles (
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
CREATE INDEX idx_raw_scraped_profiles_created_keyset ON raw_scraped_profiles (created_at, ingest_id, position);
