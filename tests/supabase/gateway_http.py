"""The strict gateway served over real HTTP on loopback, with PostgREST's socket behaviour.

PostgREST (Warp) answers HTTP/1.1 with keep-alive and sets TCP_NODELAY on every connection, so a
small answer leaves at once instead of waiting for Nagle's timer; without it each request/response
pair over one kept-alive connection can stall for tens of milliseconds and the benchmark would
measure the kernel, not the requests. One thread per connection, as many as clients connect.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from .fake_postgrest import FakePostgrest


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as PostgREST
    gateway: FakePostgrest
    latency: float = 0.0  # seconds added to every answer: a network round trip to a hosted project

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        if self.path == "/handled":  # for benchmarks: how many requests were answered
            return self._send(200, {}, str(self.gateway.handled).encode())
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        request = httpx.Request(self.command, f"http://{self.headers['Host']}{self.path}",
                                headers=list(self.headers.items()), content=body)
        response = self.gateway.handle(request)
        if self.latency:
            time.sleep(self.latency)
        try:
            self._send(response.status_code, response.headers, response.read())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting (its timeout); nobody to answer

    def _send(self, status: int, headers, content: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = do_PATCH = _serve

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        pass  # one line per request would cost more than the request


class GatewayServer:
    """`with GatewayServer(gateway) as url:` serves the gateway on a free loopback port, in a thread."""

    def __init__(self, gateway: FakePostgrest, latency_ms: float = 0):
        handler = type("Handler", (_Handler,), {"gateway": gateway, "latency": latency_ms / 1000})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        host, port = self.server.server_address
        return f"http://{host}:{port}"

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class GatewayProcess:
    """`with GatewayProcess(database_url) as url:` serves the gateway from a process of its own, as
    PostgREST is: its Python then never competes for the GIL with the client measured beside it.
    `handled()` counts the requests it answered; `latency_ms` delays every answer, as a network
    round trip to a hosted project would."""

    def __init__(self, database_url: str, pool_size: int = 4, latency_ms: float = 0):
        self.args = [sys.executable, "-m", "tests.supabase.gateway_http", database_url, str(pool_size),
                     str(latency_ms)]

    def __enter__(self) -> GatewayProcess:
        self.process = subprocess.Popen(self.args, stdout=subprocess.PIPE, text=True,
                                        cwd=Path(__file__).resolve().parents[2])
        self.url = self.process.stdout.readline().strip()
        return self

    def handled(self) -> int:
        return int(httpx.get(self.url + "/handled").text)

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


if __name__ == "__main__":
    gateway = FakePostgrest(sys.argv[1], pool_size=int(sys.argv[2]))
    with GatewayServer(gateway, latency_ms=float(sys.argv[3])) as url:
        print(url, flush=True)
        signal.sigwait({signal.SIGTERM})
    gateway.close()
