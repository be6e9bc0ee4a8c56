"""Errors never show SQL, file paths or stack traces: not for a bug in a view, not for a database
without our schema. The operator finds the details in the log instead."""

from __future__ import annotations

import pytest

from server import create_app

from .conftest import ALL_KEY, fresh_database, make_config
from .routes import app_routes, call

NO_SCHEMA_DB = "leaks_no_schema"
# What a leaked driver error, query or traceback would contain.
TELLTALES = ("SELECT", "INSERT", "UPDATE ", "relation", "does not exist", "psycopg", "Traceback", ".py",
             "/server/", NO_SCHEMA_DB, "postgres")
GENERIC_500 = {"error": {"code": "internal_error", "message": "internal server error"}}


def test_a_bug_in_a_view_is_a_bare_500_and_its_details_go_to_the_log(app, server_log):
    def broken():
        raise RuntimeError(f"SELECT secret FROM global_usernames WHERE path = '{__file__}'")

    app.add_url_rule("/test-only/broken", "broken", broken)
    response = app.test_client().get("/test-only/broken")
    assert (response.status_code, response.get_json()) == (500, GENERIC_500)
    assert not any(telltale in response.get_data(as_text=True) for telltale in TELLTALES)
    assert "SELECT secret FROM global_usernames" in server_log.getvalue()
    assert "Traceback" in server_log.getvalue()


@pytest.fixture(scope="module")
def no_schema_url(database_url) -> str:
    """A database on the test server where none of our tables or functions exist."""
    return fresh_database(NO_SCHEMA_DB, schema=False)


def test_every_route_on_a_database_without_the_schema_answers_without_sql_or_paths(no_schema_url, server_log,
                                                                                    tmp_path):
    app = create_app(make_config(no_schema_url, CACHE_DIR=str(tmp_path)))  # no page cached by another test
    client = app.test_client()
    statuses = {}
    try:
        for path, method in sorted(app_routes(app)):
            response = call(client, path, method, ALL_KEY, 1)
            statuses[(path, method)] = response.status_code
            text = response.get_data(as_text=True)
            if response.status_code >= 500:
                assert response.is_json and set(response.get_json()) == {"error"}, text[:200]
                assert not any(telltale in text for telltale in TELLTALES), (path, method, text[:300])
    finally:
        app.extensions["store"].close()
    failing = {route for route, status in statuses.items() if status == 500}
    assert {route for route in statuses if route[0].startswith("/api/")} == failing  # all reached the database
    assert "does not exist" in server_log.getvalue()  # the cause is logged for the operator
