"""Sentry when SENTRY_DSN is set: one event per unhandled error, with the request id and no secret;
nothing for handled errors; and without a DSN, sentry-sdk is not even imported."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest
import sentry_sdk
from flask import request
from sentry_sdk.transport import Transport

from server import create_app

from .conftest import ADMIN_KEY, API_KEYS, INGEST_KEY, ROOT, make_config

DSN = "http://public@127.0.0.1:9/1"  # never reached: events stay in MemoryTransport
SECRETS = (ADMIN_KEY, "supabase-secret-apikey", "cookie-secret-value", "secret-profile-id")


class MemoryTransport(Transport):
    """Keeps every envelope instead of sending it."""

    def __init__(self):
        super().__init__()
        self.envelopes = []

    def capture_envelope(self, envelope):
        self.envelopes.append(envelope)

    def events(self) -> list[dict]:
        return [envelope.get_event() for envelope in self.envelopes if envelope.get_event() is not None]


@pytest.fixture
def reported(database_url, db, tmp_path):
    """An app reporting to Sentry through a MemoryTransport, with a view that fails while it holds secrets."""
    transport = MemoryTransport()
    app = create_app(make_config(database_url, SENTRY_DSN=DSN, SENTRY_ENVIRONMENT="test", SENTRY_RELEASE="r17",
                                 SENTRY_TRANSPORT=transport, CACHE_DIR=str(tmp_path)))

    def broken_view():
        body, key = request.get_data(as_text=True), request.headers["Authorization"]  # noqa: F841 (locals)
        raise RuntimeError("a bug in a view")

    app.add_url_rule("/broken", view_func=broken_view, methods=["POST"])
    yield app, transport
    app.extensions["store"].close()
    sentry_sdk.init()  # a client without a DSN again: later tests send nothing anywhere


def _secret_headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "apikey": "supabase-secret-apikey",
            "Cookie": "session=cookie-secret-value", "X-Request-ID": "req-sentry-17"}


def test_an_unhandled_error_is_one_event_with_the_request_id_and_no_secret(reported):
    app, transport = reported
    response = app.test_client().post("/broken", json={"profiles": [{"id": "secret-profile-id"}]},
                                      headers=_secret_headers(ADMIN_KEY))
    assert response.status_code == 500 and response.get_json()["error"]["code"] == "internal_error"
    events = transport.events()
    assert len(events) == 1
    event = events[0]
    assert event["tags"]["request_id"] == response.headers["X-Request-ID"] == "req-sentry-17"
    assert (event["environment"], event["release"]) == ("test", "r17")
    assert event["exception"]["values"][-1]["value"] == "a bug in a view"
    assert event["request"]["url"].endswith("/broken") and "data" not in event["request"]
    assert not {"authorization", "apikey", "cookie"} & {name.lower() for name in event["request"]["headers"]}
    sent = b"".join(item.get_bytes() for envelope in transport.envelopes for item in envelope.items)
    assert not [secret for secret in SECRETS if secret.encode() in sent]


def test_handled_errors_send_nothing(reported):
    app, transport = reported
    client = app.test_client()
    assert client.get("/api/status").status_code == 401
    assert client.get("/api/status", headers={"Authorization": f"Bearer {INGEST_KEY}"}).status_code == 403
    assert client.post("/api/ingest", data=b"{", headers={"Authorization": f"Bearer {INGEST_KEY}",
                                                          "Content-Type": "application/json"}).status_code == 400
    assert client.get("/no-such-route").status_code == 404
    assert transport.events() == []


def test_without_a_dsn_sentry_is_never_imported(database_url):
    script = f"""
import sys
from server import create_app
app = create_app({{"TESTING": True, "STORAGE_BACKEND": "postgres", "DATABASE_URL": {database_url!r},
                  "API_KEYS": {API_KEYS!r}, "RATELIMIT_ENABLED": False}})
def broken():
    raise RuntimeError("a bug")
app.add_url_rule("/broken", view_func=broken)
client = app.test_client()
assert client.get("/healthz").status_code == 200 and client.get("/broken").status_code == 500
print(sorted(name for name in sys.modules if name.startswith("sentry")))
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout.strip().replace("'", '"')) == []
