"""Flask extensions, created unbound here and bound to an app in create_app()."""

from __future__ import annotations

from flask_caching import Cache
from flask_compress import Compress
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

# Limits are set per route from configuration; with no route limit nothing is limited.
limiter = Limiter(key_func=get_remote_address, default_limits=[])
cache = Cache()
compress = Compress()
