"""Every command that starts the embedded PostgreSQL stops it again when it exits."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from server.storage import embedded

from .conftest import API_KEYS, ROOT

FLASK = Path(sys.executable).with_name("flask")
COMMANDS = [
    ["init-db"], ["targets", "add", "cli-target", "--quota", "2"], ["targets", "list"],
    ["targets", "set", "1", "--quota", "3"], ["distribute"], ["release"], ["cleanup"],
    ["targets", "deactivate", "1"],
]


@pytest.fixture(scope="module")
def data_dir():
    """A data folder of its own, with a short path: the server's socket lives in it."""
    folder = tempfile.mkdtemp(prefix="cli-", dir="/tmp")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
def test_the_command_leaves_no_embedded_server_running(data_dir, command):
    env = {**os.environ, "STORAGE_BACKEND": "embedded", "DATA_DIR": data_dir, "API_KEYS": API_KEYS,
           "DATABASE_URL": "", "LOG_LEVEL": "warning"}
    done = subprocess.run([str(FLASK), "--app", "server", *command], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert embedded.running_url(data_dir) is None
