"""The embedded default: the app finds the running server, applies the schema and is ready."""

from __future__ import annotations

import os

from server import create_app
from server.storage import embedded

from .conftest import API_KEYS, DATA_DIR


def test_embedded_backend_serves_from_the_running_server(database_url):
    assert embedded.running_url(DATA_DIR) is not None  # the session fixture started it
    app = create_app({"STORAGE_BACKEND": "embedded", "DATA_DIR": str(DATA_DIR), "API_KEYS": API_KEYS,
                      "DB_POOL_MIN": 0})
    try:
        reply = app.test_client().get("/readyz").get_json()
    finally:
        app.extensions["store"].close()
    assert reply == {"status": "ready", "backend": "embedded", "database": "ok", "schema": "ok"}


def test_running_url_is_none_where_no_server_runs(tmp_path):
    assert embedded.running_url(tmp_path) is None


def test_owners_that_died_without_unregistering_are_forgotten(database_url):
    import json
    import subprocess
    import sys

    handles = embedded.pgdata_path(DATA_DIR) / ".handle_pids.json"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that ran and is gone, as an owner killed by SIGKILL leaves behind
    handles.write_text(json.dumps(json.loads(handles.read_text()) + [gone.pid]))
    embedded.ensure_running(DATA_DIR, stop_at_exit=True)
    owners = json.loads(handles.read_text())
    assert gone.pid not in owners and os.getpid() in owners
