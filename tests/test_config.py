"""Settings: typed, validated at start-up, documented in .env.example, environment over .env."""

from __future__ import annotations

import subprocess
import sys

import pytest

from server import create_app
from server.auth import parse_api_keys
from server.config import ConfigError, load_settings

from .conftest import ROOT


@pytest.mark.parametrize("name, value", [
    ("PORT", "not-a-number"), ("PORT", "70000"), ("BATCH_CHUNK_SIZE", "0"),
    ("STORAGE_BACKEND", "mysql"), ("LOG_LEVEL", "loud"),
])
def test_bad_values_stop_start_up_naming_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value})


@pytest.mark.parametrize("spec, message", [
    ("justakey", "KEY:SCOPE"), ("abcdefgh:fly", "unknown scope"),
    ("a-23-character-key-xxxx:ingest", "at least 24 characters; make one with"),
])
def test_bad_api_keys_are_refused(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_api_keys(spec, b"secret")


def test_an_app_without_keys_refuses_to_start():
    with pytest.raises(ConfigError, match="API_KEYS"):
        create_app({"API_KEYS": "", "STORAGE_BACKEND": "embedded"})


@pytest.mark.parametrize("values, backend", [
    ({}, "embedded"),
    ({"DATABASE_URL": "postgresql://x/y"}, "postgres"),
    ({"SUPABASE_URL": "https://x.supabase.co", "SUPABASE_SERVICE_ROLE_KEY": "k"}, "supabase"),
    ({"DATABASE_URL": "postgresql://x/y", "SUPABASE_URL": "https://x.supabase.co",
      "SUPABASE_SERVICE_ROLE_KEY": "k"}, "postgres"),
    ({"DATABASE_URL": "postgresql://x/y", "STORAGE_BACKEND": "embedded"}, "embedded"),
])
def test_backend_choice(monkeypatch, values, backend):
    for name in ("DATABASE_URL", "SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "STORAGE_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(ROOT / "tests")  # no .env here
    assert load_settings(values)["STORAGE_BACKEND"] == backend


def test_environment_wins_over_dot_env(tmp_path):
    (tmp_path / ".env").write_text("PORT=6000\nLOG_LEVEL=debug\n")
    script = "from server.config import load_settings; s = load_settings(); print(s['PORT'], s['LOG_LEVEL'])"
    env = {"PATH": "", "PORT": "5901", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, check=True,
                         capture_output=True, text=True).stdout
    assert out.split() == ["5901", "debug"]
