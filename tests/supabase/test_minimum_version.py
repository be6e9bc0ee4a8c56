"""The supabase-py version pyproject.toml declares as the minimum really is it.

The declared version and its same-numbered companions are installed into a folder of their own
and the REST backend runs a readiness probe with them in a child process; the release before it
must refuse our client options (its ClientOptions has no `postgrest_client_retry`).
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest

from ..conftest import ROOT

# supabase pins each of these to its own version number.
PACKAGES = ("supabase", "postgrest", "realtime", "storage3", "supabase-auth", "supabase-functions")
PROBE = textwrap.dedent("""
    import httpx, respx, supabase
    from server.config import load_settings
    from server.storage.supabase import SupabaseStore
    print(supabase.__file__)
    store = SupabaseStore(load_settings({"STORAGE_BACKEND": "supabase", "SUPABASE_URL": "https://x.supabase.co",
                                         "SUPABASE_SERVICE_ROLE_KEY": "key", "API_KEYS": "k" * 32 + ":ingest"}))
    with respx.mock(base_url="https://x.supabase.co") as mock:
        mock.route().mock(return_value=httpx.Response(200, json={}))
        print(store.readiness())
""")


def declared_minimum() -> str:
    return re.search(r'"supabase>=([0-9.]+)"', (ROOT / "pyproject.toml").read_text()).group(1)


def probe_with(version: str, folder) -> subprocess.CompletedProcess:
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                              str(folder), *(f"{name}=={version}" for name in PACKAGES)],
                             capture_output=True, text=True, timeout=300)
    if install.returncode != 0:
        pytest.skip(f"could not install supabase {version}: {install.stderr[-300:]}")
    return subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={"PYTHONPATH": f"{folder}:{ROOT}", "PATH": "/usr/bin:/bin"})


@pytest.mark.slow
def test_the_declared_minimum_runs_and_the_release_before_it_does_not(tmp_path):
    minimum = declared_minimum()
    ran = probe_with(minimum, tmp_path / "minimum")
    assert ran.returncode == 0, ran.stderr
    assert str(tmp_path / "minimum") in ran.stdout  # that version, not the one installed
    assert "'schema': 'ok'" in ran.stdout
    major, minor, *_ = minimum.split(".")
    older = probe_with(f"{major}.{int(minor) - 1}.0", tmp_path / "older")
    assert older.returncode != 0 and "postgrest_client_retry" in older.stderr
