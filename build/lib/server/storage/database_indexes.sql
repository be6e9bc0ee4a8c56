-- Every index the queries use. CREATE INDEX IF NOT EXISTS: safe to run again at any time.
-- On a large live table, run each statement by hand with CREATE INDEX CONCURRENTLY instead.

-- The claim takes the oldest unused profiles first; only unused rows are indexed, so the index
-- stays small however large the used part of the pool grows.
CREATE INDEX IF NOT EXISTS idx_global_usernames_unused
    ON global_usernames (first_seen_at, id) WHERE NOT used;

-- Look-ups by username (support, de-duplication across platforms).
CREATE INDEX IF NOT EXISTS idx_global_usernames_username ON global_usernames (username);

-- Pool statistics and clean-up by the time a profile was handed out.
CREATE INDEX IF NOT EXISTS idx_global_usernames_used_at
    ON global_usernames (used_at) WHERE used;

-- Date-range listing and retention of raw rows.
CREATE INDEX IF NOT EXISTS idx_raw_scraped_profiles_created_at
    ON raw_scraped_profiles (created_at);

-- Every raw sighting of one profile.
CREATE INDEX IF NOT EXISTS idx_raw_scraped_profiles_profile_id
    ON raw_scraped_profiles (profile_id);

-- Expiry of idempotency keys and ingest history by age.
CREATE INDEX IF NOT EXISTS idx_ingest_requests_created_at ON ingest_requests (created_at);
