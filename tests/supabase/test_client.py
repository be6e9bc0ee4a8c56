"""One supabase-py client per process on our own HTTP/1.1 client; paging; readiness."""

from __future__ import annotations

import os
import threading

import httpx
import pytest

from server.storage.supabase_client import CONNECT_TIMEOUT_SECONDS

from ..conftest import count

POOL = "global_usernames"


def test_one_client_per_process_shared_by_threads(store):
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(store.client)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(client) for client in seen}) == 1 and seen[0] is store.client


def test_the_client_speaks_http_1_1_with_explicit_timeouts_and_no_builtin_retries(store):
    http = store.client.postgrest.session
    assert http is store._http  # supabase-py sends through our client, not one of its own
    assert http.timeout == httpx.Timeout(30.0, connect=CONNECT_TIMEOUT_SECONDS)
    pool = http._transport._pool  # httpcore's pool: the one place the protocol choice is kept
    assert (pool._http1, pool._http2) == (True, False)
    assert store.client.postgrest.retry_enabled is False


def test_a_forked_process_makes_its_own_client_and_leaves_the_parents_alone(store, fake):
    parent_client = store.client
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running any of the parent's clean-up
        try:
            child_client = store.client
            ok = (child_client is not parent_client and store._pid == os.getpid()
                  and store.client is child_client)
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.close(read)
    os.waitpid(pid, 0)
    assert answer == b"1"
    assert store.client is parent_client
    assert store.readiness() == {"database": "ok", "schema": "ok"}  # the parent's sockets still work


def test_close_releases_the_client_and_the_next_use_makes_a_new_one(store):
    first = store.client
    store.close()
    assert store._http is None
    assert store.client is not first


def seed_pool(db, size: int) -> None:
    db.execute("INSERT INTO global_usernames (id, username)"
               " SELECT 'id' || lpad(i::text, 5, '0'), 'user' || i FROM generate_series(1, %s) AS i", [size])


@pytest.mark.parametrize("page_size", [1000, 5000], ids=["cap-sized-pages", "pages-above-the-cap"])
def test_fetch_all_reads_past_the_row_cap(store, fake, db, page_size):
    seed_pool(db, 2500)
    rows = store.fetch_all(lambda c: c.table(POOL).select("id,username"), key="id", page_size=page_size)
    assert [row["id"] for row in rows] == [f"id{i:05d}" for i in range(1, 2501)]
    assert rows[0] == {"id": "id00001", "username": "user1"}
    pages = [request.url.params for request in fake.requests]
    assert len(pages) == 4  # 1000 + 1000 + 500 + the empty page that ends the read
    assert "id" not in pages[0] and pages[1]["id"] == "gt.id01000" and pages[3]["id"] == "gt.id02500"
    assert all(page["order"] == "id.asc" for page in pages)


def test_fetch_all_keeps_the_callers_filters_and_retries_a_page(store, fake, db):
    seed_pool(db, 30)
    db.execute("UPDATE global_usernames SET used = true WHERE id <= 'id00010'")
    fake.fail(POOL, after=1, status=503)
    rows = store.fetch_all(lambda c: c.table(POOL).select("id").eq("used", "false"), key="id", page_size=8)
    assert len(rows) == 20 and rows[0] == {"id": "id00011"}
    assert len(fake.requests) == 5  # pages of 8, 8, 4, 0, one of them sent twice
    assert count(db, "SELECT count(*) FROM global_usernames") == 30


def test_readiness_reports_a_missing_schema_and_an_unreachable_supabase(store, fake):
    assert store.readiness() == {"database": "ok", "schema": "ok"}
    fake.fail("rpc/ingest_chunk", status=404, code="PGRST202")
    assert store.readiness() == {"database": "ok", "schema": "missing"}
    fake.fail("rpc/distribution_summary", status=404, code="PGRST202")  # set up before distribution
    assert store.readiness() == {"database": "ok", "schema": "missing"}
    fake.fail("rpc/ingest_chunk", exception=httpx.ConnectError)
    assert store.readiness() == {"database": "unreachable"}


def test_readyz_names_the_backend_and_is_503_when_supabase_is_down(client, fake):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "backend": "supabase", "database": "ok", "schema": "ok"}
    fake.fail("rpc/ingest_chunk", status=503)
    assert client.get("/readyz").status_code == 503


@pytest.mark.parametrize("key, bearer", [
    ("sb_secret_abc123", None),  # a secret key is no JWT: apikey header only
    ("eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2ln", "Bearer eyJhbGciOiJIUzI1NiJ9"),
], ids=["secret-key", "legacy-service-role-jwt"])
def test_the_key_goes_in_apikey_and_only_a_jwt_also_as_bearer(fake, database_url, key, bearer):
    from server.config import load_settings
    from server.storage.supabase import SupabaseStore

    from .conftest import supabase_config
    other = SupabaseStore(load_settings(supabase_config(database_url, SUPABASE_SERVICE_ROLE_KEY=key)))
    try:
        other.readiness()
    finally:
        other.close()
    sent = fake.requests[-1].headers
    assert sent["apikey"] == key
    assert sent.get("Authorization", "").partition(".")[0] == (bearer or "")
