"""A real HTTP proxy on loopback in front of the app, that refuses, cuts or loses requests on cue."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# Hop-by-hop headers are the proxy's own business; the length is set again for the body relayed.
_NOT_RELAYED = {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}


@dataclass(frozen=True)
class Refuse:
    """Answer `status` with Retry-After to every request for `seconds`, from the first one it meets."""

    status: int
    seconds: float
    retry_after: int = 1


# One request each: relay it; relay half its body and hang up on both sides; relay it but hang up
# on the client instead of answering; relay it and keep the client waiting until the proxy stops.
PASS, CUT_BODY, LOSE_ANSWER, HOLD = "pass", "cut_body", "lose_answer", "hold"
_CODES = {503: "storage_unavailable", 429: "rate_limited"}


@dataclass(frozen=True)
class Seen:
    """One request that reached the proxy: when, its Idempotency-Key and what was done with it."""

    at: float
    key: str
    action: str


class FaultProxy:
    """Steps of `plan` (Refuse, or one of the one-request actions) apply to successive requests;
    once they run out every request is relayed. `seen` records every request, in order."""

    def __init__(self, upstream: str, *plan: Refuse | str):
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port)
        self.plan: deque = deque(plan)
        self.seen: list[Seen] = []
        self._refusing: tuple[Refuse, float] | None = None
        self.holding = threading.Event()  # set once a HOLD request is stored upstream
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.proxy = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "FaultProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def actions(self) -> list[str]:
        """What was done with each request so far, in order."""
        with self._lock:
            return [seen.action for seen in self.seen]

    def next_action(self, key: str) -> str | Refuse:
        """The step for a request arriving now, recorded in `seen`."""
        with self._lock:
            now = time.monotonic()
            if self._refusing and now >= self._refusing[1]:
                self._refusing = None
            if self._refusing is None and self.plan and isinstance(self.plan[0], Refuse):
                refusal = self.plan.popleft()
                self._refusing = (refusal, now + refusal.seconds)
            if self._refusing:
                action = self._refusing[0]
            else:
                action = self.plan.popleft() if self.plan else PASS
            self.seen.append(Seen(now, key, str(action.status) if isinstance(action, Refuse) else action))
            return action


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a load balancer in front of the app would

    def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
        proxy: FaultProxy = self.server.proxy
        length = int(self.headers.get("Content-Length", "0"))
        action = proxy.next_action(self.headers.get("Idempotency-Key", ""))
        if action == CUT_BODY:
            half = self.rfile.read(length // 2)
            upstream = self._upstream_request(proxy, half)  # the app sees a body that stops half-way
            upstream.close()
            self._hang_up()
            return
        body = self.rfile.read(length)
        if isinstance(action, Refuse):
            payload = json.dumps({"error": {"code": _CODES.get(action.status, "refused"),
                                            "message": "refused by the test's proxy"}}).encode()
            self._answer(action.status, [("Content-Type", "application/json"),
                                         ("Retry-After", str(action.retry_after))], payload)
            return
        upstream = self._upstream_request(proxy, body)
        response = upstream.getresponse()
        data = response.read()
        upstream.close()
        if action == HOLD:
            proxy.holding.set()
            proxy.stopping.wait()
        if action in (LOSE_ANSWER, HOLD):  # stored upstream; the client never hears of it
            self._hang_up()
            return
        self._answer(response.status, [(k, v) for k, v in response.getheaders() if k.lower() not in _NOT_RELAYED],
                     data)

    def _upstream_request(self, proxy: FaultProxy, body: bytes) -> http.client.HTTPConnection:
        """Send the request line, the client's headers and `body` to the app."""
        connection = http.client.HTTPConnection(*proxy.upstream, timeout=60)
        connection.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() != "connection":
                connection.putheader(name, value)
        connection.endheaders()
        connection.send(body)
        return connection

    def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _hang_up(self) -> None:
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
        pass  # the test reads `seen`, not stderr
