"""The application factory."""

from __future__ import annotations

import os
import threading
from typing import Any, Mapping

from flask import Flask

from .api import register_blueprints
from .auth import derived_secret, parse_api_keys
from .cli import register_commands
from .config import ConfigError, load_settings
from .error_reports import init_error_reports
from .errors import register_error_handlers
from .extensions import cache
from .logs import configure_logging
from .ratelimit import init_rate_limits
from .serving import init_serving
from .storage import StoreHolder


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then the environment and .env, then `overrides` (tests)."""
    settings = load_settings(overrides)
    app = Flask(__name__)
    app.config.from_mapping(settings)
    app.json.sort_keys = False
    configure_logging(app)
    init_error_reports(app)
    load_api_keys(app)
    app.extensions["store"] = StoreHolder(app.config)
    app.extensions["ingest_turns"] = threading.BoundedSemaphore(app.config["INGEST_CONCURRENCY"])
    register_extensions(app)
    init_serving(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    return app


def load_api_keys(app: Flask) -> None:
    """Parse API_KEYS, derive what needs its text (key ids, the cursor key), and keep no key text
    in the config afterwards: a config dump, a debugger or an error report then shows no key."""
    spec = app.config["API_KEYS"]
    app.extensions["api_keys"] = parse_api_keys(spec, derived_secret(b"key-id", app.config["SECRET_KEY"], spec))
    if not app.extensions["api_keys"]:
        raise ConfigError("API_KEYS is empty: set at least one KEY:SCOPE (make run writes a development key)")
    app.extensions["cursor_key"] = derived_secret(b"cursor", app.config["SECRET_KEY"], spec)
    app.config["API_KEYS"] = f"<{len(app.extensions['api_keys'])} keys, parsed>"


def register_extensions(app: Flask) -> None:
    """Bind the limiter and the cache to this app."""
    configure_cache(app.config)
    init_rate_limits(app)
    cache.init_app(app)


def configure_cache(config: dict) -> None:
    """Redis when REDIS_URL is set, else files under DATA_DIR/cache: both are shared by every
    worker process (an in-process cache would let one worker serve a list another one changed)."""
    if config["REDIS_URL"]:
        config.setdefault("CACHE_TYPE", "server.cache_values.SafeRedisCache")
        config.setdefault("CACHE_REDIS_URL", config["REDIS_URL"])
    else:
        config.setdefault("CACHE_TYPE", "server.file_cache.PrunedFileCache")
        config.setdefault("CACHE_DIR", os.path.join(config["DATA_DIR"], "cache"))
        config.setdefault("CACHE_THRESHOLD", 50_000)  # files; those closest to expiring go first beyond it
    config.setdefault("CACHE_KEY_PREFIX", "scraper:")
