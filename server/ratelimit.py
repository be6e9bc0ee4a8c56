"""Rate limits per route group, counted per API key (per client address without one)."""

from __future__ import annotations

import logging

from flask import Flask, current_app, request
from flask_limiter import RateLimitExceeded
from flask_limiter.util import get_remote_address

from .auth import current_api_key
from .errors import Unauthorized, error_body
from .extensions import limiter
from .process_limits import SCHEME as PROCESS_MEMORY  # importing it registers the scheme with limits

logger = logging.getLogger("server.ratelimit")

# Route group -> the setting holding its limit, in Flask-Limiter notation.
GROUP_SETTINGS = {
    "ingest": "RATELIMIT_INGEST",
    "read": "RATELIMIT_READ",
    "run": "RATELIMIT_RUN",
    "admin": "RATELIMIT_ADMIN",
    "public": "RATELIMIT_PUBLIC",  # the routes without a key, counted by client address
}


def init_rate_limits(app: Flask) -> None:
    """Bind the limiter: Redis counters when REDIS_URL is set, else per-process memory."""
    app.config["RATELIMIT_STORAGE_URI"] = app.config["REDIS_URL"] or f"{PROCESS_MEMORY}://"
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "scraper-backend")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    # A Redis outage must not take ingest down with it: serve unlimited and log instead.
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    # Registered before the limiter's own hook, so it runs after it (Flask runs them in reverse).
    app.after_request(_retry_after_only_when_refused)
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, _rate_limited)


def limit_group(group: str):
    """Decorate a view with its group's limit; the group's routes share one budget per key."""
    setting_name = GROUP_SETTINGS[group]  # KeyError at import time for a misspelt group

    def current_limit() -> str:
        # Read per request, so tests and operators can change the configuration without re-importing.
        return current_app.config[setting_name]

    return limiter.shared_limit(current_limit, scope=f"group:{group}", key_func=rate_limit_key,
                                exempt_when=lambda: not current_app.config[setting_name])


def rate_limit_key() -> str:
    """`key:<key id>` for a valid API key, else `ip:<client address>`; never raises."""
    if request.headers.get("Authorization"):
        try:
            return "key:" + current_api_key().key_id  # remembered on g for the view's own check
        except Unauthorized:
            pass  # an unknown key is counted by address, so guessing keys is limited too
    return "ip:" + (get_remote_address() or "unknown")


def _rate_limited(exc: RateLimitExceeded):
    """429 in the project's error shape; the limiter's hook then adds Retry-After and X-RateLimit-*."""
    response = current_app.json.response(error_body(
        "rate_limited", f"rate limit of {exc.description} exceeded; retry after Retry-After seconds",
        {"limit": exc.description}))
    response.status_code = 429
    logger.warning("rate limited: %s", exc.description)
    return response


def _retry_after_only_when_refused(response):
    # Flask-Limiter puts Retry-After on every limited response; it only means something on a 429
    # (and on our own 503s, which set it themselves).
    if response.status_code not in (429, 503) and "X-RateLimit-Limit" in response.headers:
        response.headers.pop("Retry-After", None)
    return response
