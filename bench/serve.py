"""Run real Gunicorn for a benchmark and talk to it over HTTP from threads."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from server.ratelimit import GROUP_SETTINGS

ROOT = Path(__file__).resolve().parents[1]
# Rate limiting stays on, as deployed (its bookkeeping is part of every request's cost), with
# limits no benchmark reaches: measure, do not throttle.
RATE_LIMITS_NEVER_REACHED = {"RATELIMIT_ENABLED": "true",
                             **{setting: "1000000000/minute" for setting in GROUP_SETTINGS.values()}}


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(database_url: str, api_keys: str, workers: int = 2, app: str = "server:create_app()",
             **env: str) -> Iterator[tuple[int, int]]:
    """Start Gunicorn on the project's config serving `app` against `database_url`; yield (port, master pid)."""
    port = free_port()
    environ = {**os.environ, "PORT": str(port), "WEB_CONCURRENCY": str(workers),
               "STORAGE_BACKEND": "postgres", "DATABASE_URL": database_url, "API_KEYS": api_keys,
               "LOG_LEVEL": "warning", "RUN_DATE_WINDOW_DAYS": "36500",  # the bench's fixed dates
               **RATE_LIMITS_NEVER_REACHED, **env}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--access-logfile", os.devnull,
         app], cwd=ROOT, env=environ,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while request(port, "GET", "/readyz")[0] != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not become ready")
            time.sleep(0.2)
        yield port, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: dict | None = None, timeout: float = 600) -> tuple[int, bytes]:
    """One HTTP request on a fresh connection; (status, body), or (0, b'') when nothing listens."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    except (ConnectionError, OSError):
        return 0, b""
    finally:
        conn.close()


def worker_peak_rss_mb(master_pid: int) -> float:
    """The largest peak resident size (VmHWM) among the master's worker processes, in MB."""
    peak = 0
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    for pid in children:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
    return peak / 1024
