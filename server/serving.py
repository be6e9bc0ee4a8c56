"""What a production deployment needs around the views: proxy headers, request ids, metrics, gzip."""

from __future__ import annotations

import ipaddress
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from .extensions import compress
from .logs import init_request_logging
from .metrics import init_request_metrics
from .upload_deadline import UploadDeadline


class TrustedProxyFix:
    """ProxyFix for requests whose peer is a trusted proxy (FORWARDED_ALLOW_IPS) only.

    Anyone who reaches the app's port directly could otherwise send X-Forwarded-For and pick the
    address that rate limits count them under. From other peers the forwarded headers are dropped.
    """

    def __init__(self, app: Any, trusted: str, x_for: int, x_proto: int):
        self.app = app
        self.fixed = ProxyFix(app, x_for=x_for, x_proto=x_proto)
        entries = [entry.strip() for entry in trusted.split(",") if entry.strip()]
        self.anyone = "*" in entries
        self.networks = [ipaddress.ip_network(entry, strict=False) for entry in entries if entry != "*"]

    def trusts(self, peer: str | None) -> bool:
        """Whether `peer` (the socket's address) is one of the trusted proxies."""
        if self.anyone:
            return True
        try:
            address = ipaddress.ip_address(peer or "")
        except ValueError:  # a Unix socket: no address, no trust
            return False
        return any(address in network for network in self.networks)

    def __call__(self, environ: dict, start_response: Any) -> Any:
        if self.trusts(environ.get("REMOTE_ADDR")):
            return self.fixed(environ, start_response)
        for header in ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST"):
            environ.pop(header, None)
        return self.app(environ, start_response)


def init_serving(app: Flask) -> None:
    """Wire the serving concerns into the app, each configured from settings."""
    if app.config["PROXY_FIX_X_FOR"] or app.config["PROXY_FIX_X_PROTO"]:
        # Trust exactly as many proxies as configured, and only when the request came from one.
        app.wsgi_app = TrustedProxyFix(app.wsgi_app, app.config["FORWARDED_ALLOW_IPS"],
                                       x_for=app.config["PROXY_FIX_X_FOR"],
                                       x_proto=app.config["PROXY_FIX_X_PROTO"])
    app.wsgi_app = UploadDeadline(app.wsgi_app, app.config["MIN_UPLOAD_BYTES_PER_SECOND"],
                                  app.config["UPLOAD_GRACE_SECONDS"])
    init_request_logging(app)
    init_request_metrics(app)
    init_compression(app)


def init_compression(app: Flask) -> None:
    """gzip JSON responses of at least GZIP_MIN_BYTES for clients that send Accept-Encoding: gzip."""
    app.config.setdefault("COMPRESS_ALGORITHM", ["gzip"])
    app.config.setdefault("COMPRESS_MIMETYPES", ["application/json"])
    app.config.setdefault("COMPRESS_MIN_SIZE", app.config["GZIP_MIN_BYTES"])
    app.config.setdefault("COMPRESS_LEVEL", 6)
    app.config.setdefault("COMPRESS_STREAMS", False)  # streamed bodies go out as produced
    compress.init_app(app)
