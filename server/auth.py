"""API keys with scopes: `Authorization: Bearer <key>`, compared in constant time."""

from __future__ import annotations

import functools
import hashlib
import hmac
from dataclasses import dataclass

from flask import current_app, g, request

from .config import ConfigError
from .errors import Forbidden, Unauthorized

SCOPES = frozenset({"ingest", "reader", "distribute", "admin"})
# `reader` is a target's worker: read its lists and report statuses, nothing else. `distribute`, the
# daily cron's and the operator's, also runs the distribution and manages targets: it includes reader.
IMPLIED_SCOPES = {"distribute": frozenset({"reader"})}
# 24 URL-safe characters carry 144 bits when random: past any offline guessing.
MIN_KEY_LENGTH = 24


@dataclass(frozen=True)
class ApiKey:
    """A configured key: its digest (the key itself is never kept), short id and scopes."""

    digest: bytes
    key_id: str
    scopes: frozenset[str]


def derived_secret(purpose: bytes, secret_key: str, spec: str) -> bytes:
    """A key for one purpose (b"key-id", b"cursor"): from SECRET_KEY, or without one from API_KEYS
    itself, so every worker derives the same one; each purpose gets a key of its own."""
    material = secret_key or "api-keys\x00" + spec
    return hashlib.sha256(purpose + b"\x00" + material.encode()).digest()


def parse_api_keys(spec: str, id_secret: bytes) -> list[ApiKey]:
    """Parse `KEY:SCOPE[+SCOPE],...`; raise ConfigError naming API_KEYS on any mistake.

    A key's id (in logs, tables and rate-limit counters) is an HMAC of the key under `id_secret`:
    a leaked id tells nothing about the key without the server's secret, even for short keys.
    """
    keys: list[ApiKey] = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        key, sep, scope_text = item.rpartition(":")
        scopes = frozenset(s.strip() for s in scope_text.split("+") if s.strip())
        if not sep or not key or not scopes:
            raise ConfigError("API_KEYS: each entry must look like KEY:SCOPE[+SCOPE]")
        unknown = scopes - SCOPES
        if unknown:
            raise ConfigError(f"API_KEYS: unknown scope(s) {', '.join(sorted(unknown))}; "
                              f"use {', '.join(sorted(SCOPES))}")
        scopes = scopes.union(*(IMPLIED_SCOPES.get(scope, ()) for scope in scopes))
        if len(key) < MIN_KEY_LENGTH:
            raise ConfigError(f"API_KEYS: keys must be at least {MIN_KEY_LENGTH} characters; make one with "
                              "python -c 'import secrets; print(secrets.token_urlsafe(24))'")
        keys.append(ApiKey(hashlib.sha256(key.encode()).digest(),
                           hmac.new(id_secret, key.encode(), hashlib.sha256).hexdigest()[:16], scopes))
    return keys


def authenticate(header: str | None, keys: list[ApiKey]) -> ApiKey:
    """Return the key named by an Authorization header, or raise Unauthorized."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send 'Authorization: Bearer <api key>'")
    digest = hashlib.sha256(token.strip().encode()).digest()
    found = None
    for key in keys:  # look at every key so timing does not tell which one matched
        if hmac.compare_digest(digest, key.digest):
            found = key
    if found is None:
        raise Unauthorized("unknown API key")
    return found


def require_scope(scope: str):
    """Decorate a view so it runs only for a key holding `scope`; sets g.api_key."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope}")

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            key = current_api_key()
            if scope not in key.scopes:
                raise Forbidden(f"this API key lacks the '{scope}' scope")
            return view(*args, **kwargs)

        return wrapper

    return decorate


def current_api_key() -> ApiKey:
    """Authenticate the current request once and remember the key on `g`."""
    if "api_key" not in g:
        g.api_key = authenticate(request.headers.get("Authorization"),
                                 current_app.extensions["api_keys"])
    return g.api_key
