"""Who may call what: every route of app.url_map with no key, an unknown key, a key of another scope
and the right key; and API keys never reach a log line, a response or a table."""

from __future__ import annotations

import pytest

from server import create_app

from .conftest import ADMIN_KEY, ALL_KEY, DISTRIBUTE_KEY, INGEST_KEY, READER_KEY, make_config
from .distribution_helpers import add_pool, add_targets
from .routes import TABLES, app_routes, call, db_state

UNKNOWN_KEY = "not-a-configured-key-0001"
SCOPE_KEYS = {"ingest": INGEST_KEY, "reader": READER_KEY, "distribute": DISTRIBUTE_KEY, "admin": ADMIN_KEY}
# Routes that need no key, on purpose: probes, metrics (restrict it at the proxy), the description and
# the status page (which holds no data: its script asks for a key, test_status_page checks it).
PUBLIC = {("/healthz", "get"), ("/readyz", "get"), ("/metrics", "get"), ("/openapi.json", "get"), ("/docs", "get"),
          ("/status", "get")}


def declared_scopes(client) -> dict[tuple[str, str], str]:
    """The scope each keyed operation declares in /openapi.json (x-scope)."""
    spec = client.get("/openapi.json").get_json()
    return {(path, method): operation["x-scope"] for path, methods in spec["paths"].items()
            for method, operation in methods.items() if "x-scope" in operation}


@pytest.fixture
def target(db) -> int:
    """A pool of three and one target, for the routes that need them."""
    add_pool(db, 3)
    return add_targets(db, [2])[0]


def test_every_route_refuses_missing_unknown_and_wrong_keys_and_serves_the_right_one(
        app, client, db, target, subtests):
    scopes = declared_scopes(client)
    routes = sorted(app_routes(app))
    # Every route is either public on purpose or declares its scope; a new one must say which.
    assert set(routes) == PUBLIC | set(scopes), set(routes) ^ (PUBLIC | set(scopes))
    for path, method in routes:
        with subtests.test(route=f"{method.upper()} {path}"):
            if (path, method) in PUBLIC:
                statuses = {call(client, path, method, key, target).status_code
                            for key in (None, UNKNOWN_KEY, INGEST_KEY, ALL_KEY)}
                assert statuses == {200}, statuses
                continue
            scope = scopes[(path, method)]
            wrong = next(key for name, key in SCOPE_KEYS.items() if name != scope)
            before = db_state(db)
            for key, status, code in ((None, 401, "unauthorized"), (UNKNOWN_KEY, 401, "unauthorized"),
                                      (wrong, 403, "forbidden")):
                refused = call(client, path, method, key, target)
                error = (refused.get_json() or {}).get("error", {})
                assert (refused.status_code, error.get("code")) == (status, code), key
            assert db_state(db) == before, "a refused request changed the database"
            allowed = call(client, path, method, SCOPE_KEYS[scope], target)
            assert allowed.status_code < 300, allowed.get_json()


@pytest.fixture
def debug_app(database_url, db, tmp_path):
    """An app that logs everything it can: debug level, every statement as a slow one."""
    app = create_app(make_config(database_url, LOG_LEVEL="debug", SLOW_QUERY_MS=1, CACHE_DIR=str(tmp_path)))
    yield app
    app.extensions["store"].close()


def test_api_keys_never_reach_logs_responses_or_tables(debug_app, server_log, db, target, capfd):
    app = debug_app
    client = app.test_client()
    answers = []
    for path, method in sorted(app_routes(app)):
        for key in (INGEST_KEY, DISTRIBUTE_KEY, ADMIN_KEY, ALL_KEY, READER_KEY, UNKNOWN_KEY):
            answers.append(call(client, path, method, key, target).get_data(as_text=True))
    # Keys sent where they do not belong: in the query string and as an Idempotency-Key.
    answers.append(client.get(f"/api/stats?api_key={ALL_KEY}", headers={"Authorization": f"Bearer {ALL_KEY}"})
                   .get_data(as_text=True))
    answers.append(client.post("/api/ingest", json=[{"id": "k", "username": "k"}],
                               headers={"Authorization": f"Bearer {ALL_KEY}", "Idempotency-Key": "k-1"})
                   .get_data(as_text=True))
    logs = server_log.getvalue() + "".join(capfd.readouterr())
    tables = "".join(row[0] for table in TABLES for row in db.execute(
        f"SELECT coalesce(json_agg(t)::text, '') FROM {table} AS t"))
    key_ids = {key.key_id for key in app.extensions["api_keys"]}
    assert all(key_id in logs for key_id in key_ids)  # the logs did see every key, by its id
    for secret in (INGEST_KEY, DISTRIBUTE_KEY, ADMIN_KEY, ALL_KEY, READER_KEY, UNKNOWN_KEY):
        assert secret not in logs
        assert not any(secret in answer for answer in answers)
        assert secret not in tables


def test_key_ids_are_an_hmac_under_the_servers_secret_not_a_bare_hash(database_url, db):
    import hashlib

    ids = {}
    for name, secret in (("a", "first-secret-for-key-ids"), ("a-again", "first-secret-for-key-ids"),
                         ("b", "second-secret-for-key-ids")):
        app = create_app(make_config(database_url, SECRET_KEY=secret))
        ids[name] = {key.key_id for key in app.extensions["api_keys"]}
        app.extensions["store"].close()
    assert ids["a"] == ids["a-again"]  # stable for one secret: idempotency and limits keep working
    assert ids["a"].isdisjoint(ids["b"])  # without the secret, an id cannot be tested against guesses
    bare = {hashlib.sha256(key.encode()).hexdigest()[:length] for key in (INGEST_KEY, DISTRIBUTE_KEY, ADMIN_KEY, ALL_KEY)
            for length in (12, 16)}
    assert ids["a"].isdisjoint(bare)


def test_no_key_text_stays_in_the_apps_configuration(app):
    config_text = repr(dict(app.config))
    for secret in (INGEST_KEY, DISTRIBUTE_KEY, ADMIN_KEY, ALL_KEY):
        assert secret not in config_text
    assert app.config["API_KEYS"] == "<5 keys, parsed>"


def test_a_readers_key_reads_lists_and_reports_but_manages_nothing(app, client, db, target):
    """The key a target's worker holds: its own routes work; runs, releases, targets and admin do not."""
    scopes = declared_scopes(client)
    assert set(scopes.values()) == {"ingest", "reader", "distribute", "admin"}
    for (path, method), scope in sorted(scopes.items()):
        answer = call(client, path, method, READER_KEY, target)
        if scope == "reader":
            assert answer.status_code < 300, (method, path, answer.get_json())
        else:
            assert answer.status_code == 403, (method, path)
        if scope in ("reader", "distribute"):  # the cron's key does everything a reader does
            assert call(client, path, method, DISTRIBUTE_KEY, target).status_code < 300, (method, path)
