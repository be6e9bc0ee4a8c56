"""`make run` on a developer's machine: its key file is private and it listens on loopback only."""

from __future__ import annotations

import os
import runpy
import stat
import subprocess

import pytest
from dotenv import dotenv_values

from server.devkey import ensure_dev_keys

from .conftest import ROOT


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_env_file_with_the_all_scope_key_is_readable_by_its_owner_only(tmp_path, monkeypatch):
    monkeypatch.delenv("API_KEYS", raising=False)
    env = tmp_path / ".env"
    dev_key, scraper_key = ensure_dev_keys(env)
    assert mode(env) == 0o600
    assert dotenv_values(env)["API_KEYS"] == f"{dev_key}:ingest+distribute+admin,{scraper_key}:ingest"
    assert ensure_dev_keys(env) is None  # a second `make run` keeps the keys it wrote


def test_an_existing_env_file_is_made_private_when_the_key_is_added(tmp_path, monkeypatch):
    monkeypatch.delenv("API_KEYS", raising=False)
    env = tmp_path / ".env"
    env.write_text("PORT=5002\n")
    env.chmod(0o644)
    ensure_dev_keys(env)
    assert mode(env) == 0o600 and dotenv_values(env)["PORT"] == "5002"


@pytest.mark.parametrize("host, bind", [(None, "0.0.0.0:5001"), ("127.0.0.1", "127.0.0.1:5001")])
def test_gunicorn_binds_host_and_port_from_the_settings(monkeypatch, tmp_path, host, bind):
    if host:
        monkeypatch.setenv("HOST", host)
    else:
        monkeypatch.delenv("HOST", raising=False)
    monkeypatch.delenv("PORT", raising=False)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # the file sets it; keep it to this test
    monkeypatch.chdir(tmp_path)  # no .env of a developer's
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["bind"] == bind


def test_make_run_starts_gunicorn_on_loopback_unless_told_otherwise():
    dry_run = subprocess.run(["make", "-n", "run", "-o", ".venv/bin/.installed"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    command = next(line for line in dry_run.splitlines() if "gunicorn" in line)
    assert command.startswith("HOST=${HOST:-127.0.0.1} ")
    expanded = subprocess.run(["sh", "-c", command.split(" ", 1)[0] + ' && echo "$HOST"'], env={},
                              capture_output=True, text=True)
    assert expanded.stdout.strip() == "127.0.0.1"
