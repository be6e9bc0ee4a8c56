"""Every setting, read once from the environment (and `.env`), validated at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import load_dotenv


class ConfigError(ValueError):
    """A setting is missing or has a value that cannot be used."""


def _int(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return parse


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    return parse


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _text(raw: str) -> str:
    return raw.strip()


def _fraction(raw: str) -> float:
    value = float(raw)
    if not 0 <= value <= 1:
        raise ValueError("must be a number from 0 to 1")
    return value


def _http_url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if value and not value.startswith(("https://", "http://")):
        raise ValueError("must be an http(s) URL such as https://<project>.supabase.co")
    return value


def _optional_int(low: int, high: int) -> Callable[[str], int | None]:
    bounded = _int(low, high)

    def parse(raw: str) -> int | None:
        return bounded(raw) if raw.strip() else None

    return parse


def _rate_limit(raw: str) -> str:
    """Flask-Limiter notation such as `600/minute` or `10/second;1000/day`; empty = no limit."""
    from limits import parse_many  # noqa: PLC0415 (only needed while reading settings)

    value = raw.strip()
    if value:
        parse_many(value)  # raises ValueError naming the bad part
    return value


def _timezone(raw: str) -> str:
    name = raw.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone name such as UTC or Europe/Berlin") from None
    return name


@dataclass(frozen=True)
class Setting:
    """One environment variable: how to parse it, its default and what it is for."""

    name: str
    parse: Callable[[str], Any]
    default: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("STORAGE_BACKEND", _choice("", "postgres", "supabase", "embedded"), "",
            "postgres, supabase or embedded; empty = guess from DATABASE_URL / SUPABASE_URL"),
    Setting("DATABASE_URL", _text, "", "PostgreSQL connection string for the direct backend"),
    Setting("SUPABASE_URL", _http_url, "", "Supabase project URL for the REST backend"),
    Setting("SUPABASE_SERVICE_ROLE_KEY", _text, "", "Supabase service-role key (server side only)"),
    Setting("DATA_DIR", _text, ".data", "where the embedded PostgreSQL and the file cache live"),
    Setting("API_KEYS", _text, "", "KEY:SCOPE[+SCOPE],... with scopes ingest, reader, distribute, admin"),
    Setting("HOST", _text, "0.0.0.0",
            "address Gunicorn binds; `make run` binds 127.0.0.1, platforms and proxies need 0.0.0.0"),
    Setting("PORT", _int(1, 65535), "5001", "HTTP port Gunicorn binds"),
    Setting("LOG_LEVEL", _choice("debug", "info", "warning", "error"), "info", "log level"),
    Setting("MAX_CONTENT_LENGTH", _int(1024, 4 << 30), str(512 << 20),
            "largest request body in bytes, also after gzip decompression"),
    Setting("MAX_JSON_BYTES", _int(1024, 4 << 30), str(160 << 20),
            "largest application/json body in bytes (parsed in memory; NDJSON streams)"),
    Setting("JSON_LARGE_BYTES", _int(0, 4 << 30), str(16 << 20),
            "JSON bodies past this size are parsed and written one at a time per worker"
            " (each takes about 7x its size in memory)"),
    Setting("UPLOAD_GRACE_SECONDS", _int(1, 3600), "10",
            "a request body may pause this long, and averages no minimum rate during its first seconds"),
    Setting("MIN_UPLOAD_BYTES_PER_SECOND", _int(0, 1 << 30), "8192",
            "slowest average a request body may arrive at after UPLOAD_GRACE_SECONDS; slower is a 408"),
    Setting("RUN_DATE_WINDOW_DAYS", _int(0, 36_500), "7",
            "POST /api/distribution/run takes dates at most this many days before or after today"),
    Setting("MAX_DAILY_QUOTA", _int(1, 10_000_000), "100000", "largest daily_quota a target may have"),
    Setting("MAX_PROFILES_PER_REQUEST", _int(1, 10_000_000), "500000", "profiles accepted per request"),
    Setting("MAX_PROFILE_BYTES", _int(256, 16 << 20), "65536", "largest single profile (as JSON)"),
    Setting("MAX_ERRORS_LISTED", _int(0, 100_000), "100", "rejected profiles listed in a response"),
    Setting("BATCH_CHUNK_SIZE", _int(1, 100_000), "1000", "rows per bulk write"),
    Setting("DB_POOL_MIN", _int(0, 100), "1", "connections each worker keeps open"),
    Setting("DB_POOL_MAX", _int(1, 200), "8", "connections each worker may open"),
    Setting("DB_POOL_TIMEOUT", _int(1, 600), "10", "seconds to wait for a free connection"),
    Setting("STATEMENT_TIMEOUT_MS", _int(0, 3_600_000), "60000", "PostgreSQL statement_timeout"),
    Setting("IDEMPOTENCY_TTL_HOURS", _int(24, 24 * 365), "48", "how long Idempotency-Key replies are kept"),
    Setting("RETRY_AFTER_SECONDS", _int(1, 3600), "5", "Retry-After sent with 503 responses"),
    # The Supabase REST backend.
    Setting("SUPABASE_TIMEOUT_SECONDS", _int(1, 600), "30",
            "seconds one Supabase REST request may take to send and answer (connecting: 5)"),
    Setting("SUPABASE_RETRY_BACKOFF_MS", _int(0, 60_000), "500",
            "first wait before retrying a failed Supabase request; doubles with jitter, 3 attempts"),
    Setting("SUPABASE_MIN_CHUNK_SIZE", _int(1, 1000), "50",
            "smallest write a statement timeout may split a Supabase chunk into before giving up"),
    Setting("SUPABASE_CLAIM_LEASE_SECONDS", _int(10, 3600), "120",
            "how long an Idempotency-Key stays claimed over REST after its request last wrote a chunk;"
            " never less than one chunk's worst case, 3 x (SUPABASE_TIMEOUT_SECONDS + 5) + 21"),
    # Serving: Gunicorn, rate limits, proxies, logs, metrics, compression.
    Setting("WEB_CONCURRENCY", _optional_int(1, 256), "",
            "Gunicorn worker processes; empty = one per CPU core, at least 2"),
    Setting("GUNICORN_THREADS", _int(1, 256), "32",
            "threads per Gunicorn worker: at least the requests one worker may have in flight, so reads never queue behind waiting ingests"),
    Setting("INGEST_CONCURRENCY", _int(1, 64), "2",
            "ingests one worker processes at a time; the others wait for a turn without taking threads from reads"),
    Setting("GUNICORN_TIMEOUT", _int(10, 3600), "120",
            "seconds a worker may stay silent before Gunicorn restarts it"),
    Setting("GUNICORN_GRACEFUL_TIMEOUT", _int(1, 3600), "600",
            "seconds running requests get to finish when a worker is restarted or stopped"),
    # A recycled worker costs about half a second of CPU to import the app, and its new database
    # connections start with cold caches: at 2,000 the list benchmark's p99 was 5-10x worse.
    Setting("GUNICORN_MAX_REQUESTS", _int(0, 10_000_000), "20000",
            "requests before a worker is recycled (with jitter); 0 = never"),
    Setting("FORWARDED_ALLOW_IPS", _text, "127.0.0.1",
            "addresses or networks of the proxies whose X-Forwarded-* headers are trusted"
            " (comma-separated, * = any); other peers' are dropped"),
    Setting("PROXY_FIX_X_FOR", _int(0, 5), "0",
            "proxies in front of the app that append X-Forwarded-For (0 = use the socket address)"),
    Setting("PROXY_FIX_X_PROTO", _int(0, 5), "0", "proxies in front of the app that set X-Forwarded-Proto"),
    Setting("RATELIMIT_ENABLED", _bool, "true", "turn rate limiting on or off"),
    Setting("RATELIMIT_INGEST", _rate_limit, "120/minute", "limit per key: ingest, status reports"),
    Setting("RATELIMIT_READ", _rate_limit, "600/minute", "limit per key: lists, targets, stats"),
    Setting("RATELIMIT_RUN", _rate_limit, "10/minute", "limit per key: daily run, top-up, release"),
    Setting("RATELIMIT_ADMIN", _rate_limit, "30/minute", "limit per key: admin routes, target changes"),
    Setting("RATELIMIT_PUBLIC", _rate_limit, "120/minute",
            "limit per client address: the routes without a key (probes, metrics, the description)"),
    Setting("READYZ_CACHE_SECONDS", _int(0, 60), "2",
            "how long one worker reuses its last /readyz database check; 0 = check on every call"),
    Setting("LOG_FORMAT", _choice("json", "text"), "json", "json (one object per line) or text"),
    Setting("SLOW_QUERY_MS", _int(0, 3_600_000), "1000", "log SQL statements slower than this; 0 = off"),
    Setting("GZIP_MIN_BYTES", _int(0, 1 << 30), "1024",
            "gzip JSON responses at least this large when the client accepts gzip"),
    # Daily distribution
    Setting("TIMEZONE", _timezone, "UTC", "IANA time zone that decides what 'today' is for runs and stats"),
    Setting("REDIS_URL", _text, "",
            "Redis for rate-limit counters and the list cache, shared by every worker and instance;"
            " empty = per-worker limits and a file cache under DATA_DIR/cache (one machine)"),
    Setting("CACHE_DEFAULT_TIMEOUT", _int(1, 7 * 86400), "300",
            "seconds a cached list page lives at most (writes invalidate it sooner)"),
    Setting("SECRET_KEY", _text, "",
            "keys the HMAC of API key ids and signs list cursors; empty = derived from API_KEYS"
            " (ids and cursors then change whenever the keys do)"),
    Setting("RELEASE_AFTER_DAYS", _int(1, 365), "7",
            "days after which assignments never sent go back to the pool (release)"),
    Setting("RAW_RETENTION_DAYS", _int(0, 36500), "90",
            "days raw rows and ingest records are kept by the clean-up; 0 = forever"),
    Setting("CLEANUP_BATCH_SIZE", _int(100, 100_000), "5000", "rows per batch of release and clean-up"),
    # Limits of the distribution and admin routes (the ingest limits are above).
    Setting("MAX_PAGE_SIZE", _int(1, 100_000), "1000", "largest ?limit= of a list page (the default page is 100)"),
    Setting("MAX_STATUS_UPDATES", _int(1, 1_000_000), "50000",
            "status updates accepted per request (bodies of these routes stop at 16 MiB)"),
    # Reliability
    Setting("DB_RECONNECT_TIMEOUT", _int(1, 3600), "10",
            "seconds the pool retries a lost database connection (pauses doubling from 1 s) before it"
            " starts again from a short pause; bounds how long the app stays unready after an outage"),
    # Operations: the status page and error reports.
    Setting("POOL_WARNING_DAYS", _int(0, 3650), "7",
            "the status page warns when the unused pool lasts fewer days than this at the active quotas"),
    Setting("SENTRY_DSN", _text, "", "Sentry project DSN; empty = no error reports (sentry-sdk is not even imported)"),
    Setting("SENTRY_ENVIRONMENT", _text, "production", "the environment Sentry files events under"),
    Setting("SENTRY_RELEASE", _text, "", "the release Sentry files events under; empty = Sentry's own guess"),
    Setting("SENTRY_TRACES_SAMPLE_RATE", _fraction, "0",
            "share of requests sent to Sentry as performance traces, 0 to 1"),
)

def load_settings(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Read every setting: overrides, then the environment, then `.env`, then defaults.

    An app made for tests (overrides with TESTING) ignores `.env`, so a developer's local
    settings cannot change what the tests see.
    """
    overrides = dict(overrides or {})
    if not overrides.get("TESTING"):
        load_dotenv(override=False)  # variables set by the caller win over .env
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.name in overrides:
            raw = overrides.pop(setting.name)
            if not isinstance(raw, str):
                values[setting.name] = raw
                continue
        else:
            raw = os.environ.get(setting.name, setting.default)
        try:
            values[setting.name] = setting.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{setting.name}={raw!r}: {exc}") from None
    values.update(overrides)  # extra keys (TESTING, ...) pass through to Flask
    values["STORAGE_BACKEND"] = choose_backend(values)
    return values


def choose_backend(values: Mapping[str, Any]) -> str:
    """Pick the storage backend: explicit choice, else DATABASE_URL, else Supabase, else embedded."""
    backend = values.get("STORAGE_BACKEND") or ""
    if not backend:
        if values.get("DATABASE_URL"):
            backend = "postgres"
        elif values.get("SUPABASE_URL") and values.get("SUPABASE_SERVICE_ROLE_KEY"):
            backend = "supabase"
        else:
            backend = "embedded"
    if backend == "postgres" and not values.get("DATABASE_URL"):
        raise ConfigError("STORAGE_BACKEND=postgres needs DATABASE_URL")
    if backend == "supabase" and not (values.get("SUPABASE_URL") and values.get("SUPABASE_SERVICE_ROLE_KEY")):
        raise ConfigError("STORAGE_BACKEND=supabase needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY")
    return backend


CONFIG_PAGE = "docs/configuration.md"  # the page whose table `make config-docs` rewrites


def env_example() -> str:
    """The text of .env.example: every setting with its help as a comment and its default."""
    lines = ["# Copy to .env and adjust. Variables set in the environment win over this file.", ""]
    for item in SETTINGS:
        lines += [f"# {item.help}", f"{item.name}={item.default}", ""]
    return "\n".join(lines)


def markdown_table() -> str:
    """The configuration table of CONFIG_PAGE."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    rows += [f"| `{s.name}` | {f'`{s.default}`' if s.default else '(empty)'} | {s.help} |" for s in SETTINGS]
    return "\n".join(rows)


def write_config_docs() -> None:
    """Rewrite .env.example and CONFIG_PAGE's table from SETTINGS (`make config-docs`)."""
    from pathlib import Path

    Path(".env.example").write_text(env_example())
    page = Path(CONFIG_PAGE).read_text()
    start = page.index("| variable | default | meaning |")
    end = page.index("\n\n", start)
    Path(CONFIG_PAGE).write_text(page[:start] + markdown_table() + page[end:])
