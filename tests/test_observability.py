"""Request ids, JSON log lines, slow-query logging, in-process metrics and gzip of large responses."""

from __future__ import annotations

import gzip
import io
import logging
import re

import orjson
import pytest

from server import create_app

from .conftest import Ingest, make_config, profiles


@pytest.fixture
def log_lines(server_log):
    """Everything the project's loggers write while the test runs, as parsed JSON objects."""
    return lambda: [orjson.loads(line) for line in server_log.getvalue().splitlines()]


def test_an_incoming_request_id_is_kept_and_echoed(client):
    response = client.get("/healthz", headers={"X-Request-ID": "scraper-7:job-42"})
    assert response.headers["X-Request-ID"] == "scraper-7:job-42"


@pytest.mark.parametrize("incoming", [None, "", "has spaces", "x" * 129, "quote\"and<angle>"],
                         ids=["missing", "empty", "spaces", "too-long", "markup"])
def test_a_missing_or_unsafe_request_id_is_replaced_by_a_new_one(client, incoming):
    headers = {"X-Request-ID": incoming} if incoming is not None else {}
    request_id = client.get("/healthz", headers=headers).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)


def test_new_request_ids_differ(client):
    assert client.get("/healthz").headers["X-Request-ID"] != client.get("/healthz").headers["X-Request-ID"]


def test_log_lines_are_json_and_carry_the_request_id(client, log_lines):
    Ingest(client).json(profiles(2), **{"X-Request-ID": "req-abc"})
    lines = log_lines()
    assert lines, "the request should have logged"
    assert all(line.get("request_id") == "req-abc" for line in lines), lines
    access = [line for line in lines if line["logger"] == "server.access"]
    assert len(access) == 1
    fields = ("message", "method", "path", "route", "status")
    assert {name: access[0][name] for name in fields} == {
        "message": "POST /api/ingest 200", "method": "POST", "path": "/api/ingest", "route": "/api/ingest",
        "status": 200}
    assert access[0]["duration_ms"] >= 0
    assert access[0]["key_id"] and "ingest-key" not in orjson.dumps(lines).decode()  # never the key


def test_the_bulk_insert_log_counts_what_was_written(client, log_lines):
    reply = Ingest(client).ndjson(profiles(2_500) + profiles(10)).get_json()
    messages = [line["message"] for line in log_lines() if line["logger"] == "server.batch_processor"]
    raw = [re.fullmatch(r"✓ Inserted batches (\d+)-(\d+) into raw_scraped_profiles \((\d+) records\)", m)
           for m in messages]
    assert sum(int(found[3]) for found in raw if found) == reply["inserted_raw"] == 2_510
    pool = [re.fullmatch(r"✓ Inserted batch \d+/3 into global_usernames \((\d+) records, (\d+) already there\)", m)
            for m in messages]
    assert sum(int(found[1]) for found in pool if found) == reply["added_to_global"] == 2_500


def test_slow_statements_are_logged_without_their_parameters(database_url, db, log_lines):
    app = create_app(make_config(database_url, SLOW_QUERY_MS=1))
    try:
        with app.app_context():
            store = app.extensions["store"].get()
            with store.pool.connection() as conn:
                conn.execute("SELECT pg_sleep(%s), %s::text", [0.05, "secret-value"])
    finally:
        app.extensions["store"].close()
    slow = [line for line in log_lines() if line["logger"] == "server.storage.slow_queries"]
    sleeping = [line for line in slow if "pg_sleep" in line["statement"]]  # set-up statements may show too
    assert len(sleeping) == 1
    assert sleeping[0]["statement"] == "SELECT pg_sleep(%s), %s::text"
    assert sleeping[0]["duration_ms"] >= 50 and sleeping[0]["level"] == "warning"
    assert "secret-value" not in orjson.dumps(slow).decode()


def test_slow_query_logging_is_off_at_zero(database_url, db, log_lines):
    app = create_app(make_config(database_url, SLOW_QUERY_MS=0))
    try:
        with app.app_context():
            with app.extensions["store"].get().pool.connection() as conn:
                conn.execute("SELECT pg_sleep(0.02)")
    finally:
        app.extensions["store"].close()
    assert not [line for line in log_lines() if line["logger"] == "server.storage.slow_queries"]


def _sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_requests_and_ingest_outcomes(client):
    before = client.get("/metrics").text
    Ingest(client).json(profiles(3) + profiles(1) + [{"id": "bad"}])
    client.get("/no-such-route")
    after = client.get("/metrics")
    assert after.headers["Content-Type"].startswith("text/plain")
    delta = {outcome: _sample(after.text, "ingest_profiles_total", outcome=outcome)
             - _sample(before, "ingest_profiles_total", outcome=outcome)
             for outcome in ("received", "inserted_raw", "added_to_global", "duplicates_in_request", "rejected")}
    assert delta == {"received": 5, "inserted_raw": 4, "added_to_global": 3, "duplicates_in_request": 1,
                     "rejected": 1}
    # The method too: other tests of this process leave unmatched 404s of other methods behind.
    for route, method, status in (("/api/ingest", "POST", "200"), ("unmatched", "GET", "404")):
        assert (_sample(after.text, "http_requests_total", route=route, method=method, status=status)
                - _sample(before, "http_requests_total", route=route, method=method, status=status)) == 1
    assert _sample(after.text, "http_request_duration_seconds_count", route="/api/ingest") >= 1
    assert _sample(after.text, "db_pool_connections", state="max") == 8


def _series(text: str) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def test_odd_methods_add_no_series_to_metrics(client):
    client.open("/no-such-route", method="AAAA")  # the "other" series exist from here on
    client.get("/metrics")  # and the scrape's own
    before = _series(client.get("/metrics").text)
    for number in range(100):
        method = "".join(chr(ord("A") + int(digit)) for digit in f"{number:03d}") + "ZZ"
        client.open("/no-such-route", method=method)
    after = client.get("/metrics").text
    assert _series(after) == before
    assert _sample(after, "http_requests_total", route="unmatched", method="other", status="404") >= 100


def test_large_json_responses_are_gzipped_when_accepted(client):
    plain = client.get("/openapi.json")
    packed = client.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert len(packed.data) < len(plain.data)
    assert orjson.loads(gzip.decompress(packed.data)) == plain.get_json()


def test_small_responses_are_not_gzipped(client):
    response = client.get("/healthz", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in response.headers and response.get_json() == {"status": "ok"}


def test_the_text_log_format_escapes_control_characters_so_no_line_can_be_forged(database_url, db):
    from server.logs import RequestIdFilter, make_formatter

    app = create_app(make_config(database_url, LOG_FORMAT="text"))
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(make_formatter("text"))
    handler.addFilter(RequestIdFilter())
    logging.getLogger("server").addHandler(handler)
    try:
        app.test_client().get("/nothing%0A2026-01-01 00:00:00,000 INFO server.access [-] forged%1b[2J%E2%80%A8")
    finally:
        logging.getLogger("server").removeHandler(handler)
        app.extensions["store"].close()
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 1 and " 404" in lines[0]
    assert "\\x0a2026-01-01" in lines[0] and "\\x1b[2J" in lines[0] and "\\u2028" in lines[0]
