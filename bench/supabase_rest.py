"""What the REST backend costs next to the direct one, on the same embedded PostgreSQL.

The REST side goes through supabase-py and our HTTP client into the test fake, which runs each
request as one SQL statement: it measures our client-side work and the request count, not
Supabase's network round trips (add about 3 round trips per 1000 profiles for those).

    .venv/bin/python -m bench.supabase_rest [profiles]
"""

from __future__ import annotations

import sys
import time

import orjson

from server import create_app
from tests.conftest import Ingest, fresh_database, make_config
from tests.supabase.conftest import supabase_config
from tests.supabase.fake_postgrest import FakePostgrest

BENCH_DB = "bench_supabase"


def timed_ingest(config: dict, body: bytes) -> float:
    app = create_app(config)
    try:
        client = Ingest(app.test_client())
        started = time.perf_counter()
        response = client.raw(body, "application/x-ndjson")
        elapsed = time.perf_counter() - started
    finally:
        app.extensions["store"].close()
    assert response.status_code == 200, response.get_json()
    return elapsed


def main(size: int) -> None:
    url = fresh_database(BENCH_DB)
    batches = [b"".join(orjson.dumps({"id": f"{tag}{i}", "username": f"user_{i}", "full_name": f"User {i}",
                                      "followers": i, "bio": "x" * 120}) + b"\n" for i in range(size))
               for tag in ("direct", "rest")]
    direct = timed_ingest(make_config(url, LOG_LEVEL="warning"), batches[0])
    fake = FakePostgrest(url)
    with fake.router:
        rest = timed_ingest(supabase_config(url, LOG_LEVEL="warning"), batches[1])
        sent = fake.requests
    fake.close()
    per_1000 = 1000 / size
    print(f"{size} profiles, ndjson, one request each")
    print(f"  direct (COPY):           {direct:6.2f} s")
    print(f"  REST (fake, no network): {rest:6.2f} s   = {rest / direct:.1f} x direct")
    print(f"  REST requests: {len(sent)} ({len(sent) * per_1000:.1f} per 1000 profiles),"
          f" {sum(len(r.content) for r in sent) * per_1000 / 1024:.0f} KiB sent per 1000 profiles,"
          f" longest URL {max(len(str(r.url)) for r in sent)} characters")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
