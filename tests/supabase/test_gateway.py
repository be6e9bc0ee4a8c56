"""The REST gateway of these tests is as strict as Supabase's: roles, timeouts, transactions,
connections and PostgREST's error statuses, each shown on the real database."""

from __future__ import annotations

import threading

import httpx
import orjson
import pytest

from server import create_app

from ..conftest import Ingest, count, profiles
from .conftest import supabase_config
from .fake_postgrest import ANON_KEY, SERVICE_KEY, SUPABASE_URL, FakePostgrest
from .postgrest_errors import pg_error_status

PROBE = """
CREATE OR REPLACE FUNCTION gateway_probe(p_sleep float8 DEFAULT 0) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('role', current_user, 'timeout', current_setting('statement_timeout'),
        'read_only', current_setting('transaction_read_only'), 'pid', pg_backend_pid(),
        'slept', pg_sleep(p_sleep) IS NULL)
$$;
GRANT EXECUTE ON FUNCTION gateway_probe TO anon, service_role;
"""


@pytest.fixture
def probe(fake, db):
    db.execute(PROBE)
    with httpx.Client(base_url=SUPABASE_URL + "/rest/v1") as http:
        yield lambda key=SERVICE_KEY, **args: http.post("/rpc/gateway_probe", json=args, headers={"apikey": key})
    db.execute("DROP FUNCTION gateway_probe")


def test_each_key_runs_as_its_role_with_that_roles_statement_timeout(probe):
    assert {k: probe().json()[k] for k in ("role", "timeout")} == {"role": "service_role", "timeout": "8s"}
    assert {k: probe(ANON_KEY).json()[k] for k in ("role", "timeout")} == {"role": "anon", "timeout": "3s"}
    assert probe("not-a-key").status_code == 401


def test_a_stable_function_runs_read_only_as_plan_hs_says(probe):
    assert probe().json()["read_only"] == "on"


def test_concurrent_requests_run_on_connections_of_their_own(probe):
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(probe(p_sleep=0.3).json()["pid"]))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(answers)) == 3


def test_a_failed_request_rolls_back_all_it_did(fake, db):
    with httpx.Client(base_url=SUPABASE_URL + "/rest/v1") as http:
        rows = [{"position": 0, "profile_id": "a", "username": "a", "profile": {}, "first": True},
                {"position": 1, "profile_id": "b", "username": None, "profile": {}, "first": True}]
        answer = http.post("/rpc/ingest_chunk", headers={"apikey": SERVICE_KEY}, json={
            "p_ingest_id": "00000000-0000-7000-8000-000000000001", "p_api_key_id": "k",
            "p_idempotency_key": None, "p_holder": None, "p_lease_seconds": 1, "p_rows": rows})
    assert (answer.status_code, answer.json()["code"]) == (400, "23502")  # not_null_violation
    assert set(answer.json()) == {"code", "message", "details", "hint"}
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 0


def test_max_rows_caps_table_reads_only(fake, db):
    db.execute("INSERT INTO global_usernames (id, username) SELECT g::text, 'u' FROM generate_series(1, 1200) g")
    with httpx.Client(base_url=SUPABASE_URL + "/rest/v1", headers={"apikey": SERVICE_KEY}) as http:
        assert len(http.get("/global_usernames", params={"select": "id", "limit": "5000"}).json()) == 1000
        stats = http.post("/rpc/distribution_stats", json={"p_date": "2026-03-02", "p_days": 1,
                                                          "p_timezone": "UTC"}).json()
    assert stats["pool"]["total"] == 1200


@pytest.mark.parametrize("code, message, authed, status", [
    ("08006", "", True, 503), ("23505", "", True, 409), ("25006", "", True, 405), ("25P02", "", True, 500),
    ("21000", "UPDATE requires a WHERE clause", True, 400), ("21000", "more than one row", True, 500),
    ("40P01", "", True, 500), ("53400", "", True, 500), ("53300", "", True, 503), ("57P01", "", True, 503),
    ("57014", "", True, 500), ("P0001", "", True, 400), ("P0002", "", True, 500), ("XX000", "", True, 500),
    ("42883", "function f() does not exist", True, 404), ("42P01", "", True, 404), ("42P17", "", True, 500),
    ("42501", "", True, 403), ("42501", "", False, 401), ("PT409", "", True, 409), ("22P02", "", True, 400),
    ("23514", "", True, 400),
])
def test_statuses_follow_postgrests_error_hs(code, message, authed, status):
    assert pg_error_status(code, message, authed) == status


SLOW_BIG_CHUNKS = """
CREATE FUNCTION slow_big_chunks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT count(*) FROM new_rows) > 500 THEN PERFORM pg_sleep(1); END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER slow_big_chunks AFTER INSERT ON raw_scraped_profiles
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION slow_big_chunks();
"""


def test_a_real_statement_timeout_of_the_service_role_splits_the_chunk(database_url, db):
    """Supabase's way to bound requests: the role's statement_timeout, read when the gateway starts."""
    db.execute(SLOW_BIG_CHUNKS)
    db.execute("ALTER ROLE service_role SET statement_timeout = '300ms'")
    try:
        gateway = FakePostgrest(database_url)
        app = create_app(supabase_config(database_url))
        with gateway.router:
            body = Ingest(app.test_client()).json(profiles(1000)).get_json()
            sizes = sorted(len(orjson.loads(r.content)["p_rows"]) for r in gateway.requests
                           if r.url.path.endswith("ingest_chunk"))
        app.extensions["store"].close()
        gateway.close()
    finally:
        db.execute("ALTER ROLE service_role RESET statement_timeout")
        db.execute("DROP TRIGGER slow_big_chunks ON raw_scraped_profiles; DROP FUNCTION slow_big_chunks()")
    assert sizes == [500, 500, 1000]  # 57014 on the whole chunk, then each half on its own
    assert (body["inserted_raw"], body["added_to_global"]) == (1000, 1000)
    assert count(db, "SELECT count(*) FROM raw_scraped_profiles") == 1000
