"""Real processes for tests: Gunicorn serving the app on a free port, a redis-server, and chromium."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import psutil
import pytest

from .conftest import API_KEYS, ROOT

GUNICORN = Path(sys.executable).with_name("gunicorn")
START_TIMEOUT = 60  # seconds; generous for a loaded CI machine, the loop ends as soon as /readyz answers


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GunicornServer:
    """`gunicorn -c gunicorn.conf.py "server:create_app()"` with 2 workers on a free loopback port."""

    def __init__(self, workdir: Path, database_url: str, **settings: str):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "gunicorn.log"
        self.metrics_dir = workdir / "data" / "prometheus"
        env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        env.update({"STORAGE_BACKEND": "postgres", "DATABASE_URL": database_url, "API_KEYS": API_KEYS,
                    "DATA_DIR": str(workdir / "data"), "WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "2",
                    "LOG_LEVEL": "warning", "DB_POOL_MIN": "0", "RUN_DATE_WINDOW_DAYS": "36500", **settings})
        self.env = env
        self.process: subprocess.Popen | None = None

    def start(self) -> "GunicornServer":
        """Start the master and wait until /readyz says ready."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(GUNICORN), "-c", str(ROOT / "gunicorn.conf.py"), "-b", f"127.0.0.1:{self.port}",
                 "server:create_app()"], cwd=self.workdir, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"gunicorn did not become ready in {START_TIMEOUT} s:\n{self.log_tail()}")

    def worker_pids(self) -> list[int]:
        """The live worker processes of the master."""
        return sorted(child.pid for child in psutil.Process(self.process.pid).children()
                      if child.status() != psutil.STATUS_ZOMBIE)

    def worker_serving(self, client_port: int, timeout: float = 20) -> int:
        """The pid of the worker holding the connection from our local port `client_port`, waiting
        for a worker to accept it (a connection the kernel took may not be accepted yet)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for pid in self.worker_pids():
                connections = psutil.Process(pid).net_connections("tcp")
                if any(c.raddr and c.raddr.port == client_port for c in connections):
                    return pid
            time.sleep(0.05)
        pytest.fail(f"no worker holds the connection from port {client_port}")

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), then for good if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a worker stuck in a request: kill it too, or it outlives the test
            for worker in psutil.Process(self.process.pid).children():
                worker.kill()
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's output, for failure messages."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


# Debian's chromium stalls in a closed network without these; a fresh --user-data-dir is added per run.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1200,1500")


def required_tool(name: str, package: str) -> str:
    """The path of a Debian tool a test needs; without it the test fails, naming the install command
    (a skip would pass a suite that did not test what it names; .ci/run installs them all)."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"no {name} on PATH: install it (`apt-get install -y {package}`, as .ci/run does)")
    return path


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless chromium driven by Selenium through Debian's chromedriver (never a downloaded one)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = required_tool("chromium", "chromium")
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(required_tool("chromedriver", "chromium-driver")), options=options)
    yield driver
    driver.quit()


def fresh_client() -> httpx.Client:
    """An HTTP client that opens a new connection per request, so requests spread over workers."""
    return httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0))


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> Iterator[str]:
    """A real Redis: TEST_REDIS_URL if set, else a redis-server started here on a free port.

    Without either the tests that need it fail, naming the install command: a skip would let a
    run pass that never touched the shared cache or the shared rate limits.
    """
    import redis

    if os.environ.get("TEST_REDIS_URL"):
        url = os.environ["TEST_REDIS_URL"]
        redis.Redis.from_url(url).ping()
        yield url
        return
    binary = required_tool("redis-server", "redis-server")  # TEST_REDIS_URL is unset
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(workdir)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("redis-server did not start")
                time.sleep(0.1)
        yield url
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)
