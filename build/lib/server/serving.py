"""What a production deployment needs around the views: proxy headers, request ids, metrics, gzip."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from .extensions import compress
from .logs import init_request_logging
from .metrics import init_request_metrics


def init_serving(app: Flask) -> None:
    """Wire the serving concerns into the app, each configured from settings."""
    if app.config["PROXY_FIX_X_FOR"] or app.config["PROXY_FIX_X_PROTO"]:
        # Trust exactly as many proxies as configured; trusting more lets clients forge their address.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_FIX_X_FOR"],
                                x_proto=app.config["PROXY_FIX_X_PROTO"])
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
