"""The OpenAPI 3.1 description of every route, served at /openapi.json (tests hold it to app.url_map)."""

from __future__ import annotations

from typing import Any

JSON = "application/json"
NDJSON = "application/x-ndjson"
DESCRIPTION = ("Bulk profile ingest and daily distribution for fleets of social-media scrapers. "
               "Every error is `{\"error\": {\"code\", \"message\", \"details\"?}}`.")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str, code: str, message: str, *, retry_after: bool = False) -> dict[str, Any]:
    """A response in the one error shape, with an example."""
    response: dict[str, Any] = {
        "description": description,
        "content": {JSON: {"schema": _ref("Error"),
                           "example": {"error": {"code": code, "message": message}}}},
    }
    if retry_after:
        response["headers"] = {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}
    return response


RATE_LIMITED = _error("Over this route group's rate limit", "rate_limited",
                      "rate limit of 120 per 1 minute exceeded; retry after Retry-After seconds",
                      retry_after=True)
UNAUTHORIZED = _error("No API key, or an unknown one", "unauthorized", "unknown API key")
FORBIDDEN = _error("The key lacks the route's scope", "forbidden", "this API key lacks the 'ingest' scope")
STORAGE_DOWN = _error("The database is unreachable or timed out", "storage_unavailable",
                      "database is unreachable; retry later", retry_after=True)

INGEST_EXAMPLE = {
    "success": True, "ingest_id": "6f1c3c5e-8d0e-4d59-9a55-2f4d1f0c9b7a", "received": 3,
    "inserted_raw": 2, "added_to_global": 1, "skipped_existing": 1, "duplicates_in_request": 0,
    "rejected": 1, "errors": [{"index": 2, "field": "username", "reason": "is required"}],
    "errors_truncated": False,
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {
            "type": "object", "required": ["code", "message"],
            "properties": {"code": {"type": "string", "description": "stable, machine-readable"},
                           "message": {"type": "string", "description": "for people"},
                           "details": {"description": "extra facts: limits, fields, checks"}}}},
    },
    "Profile": {
        "type": "object", "required": ["id", "username"], "additionalProperties": True,
        "description": "Any extra fields are kept as sent in the `profile` jsonb column.",
        "properties": {
            "id": {"type": ["string", "integer"], "description": "1 to 128 printable characters"},
            "username": {"type": "string", "description": "trimmed, leading @ removed, lower-cased"},
            "full_name": {"type": ["string", "null"], "maxLength": 256},
            "source": {"type": ["string", "null"], "maxLength": 64},
            "scraped_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "IngestRequest": {
        "type": "object", "required": ["profiles"],
        "properties": {"profiles": {"type": "array", "items": _ref("Profile")},
                       "source": {"type": "string", "description": "default source for every profile"}},
    },
    "IngestResponse": {
        "type": "object",
        "required": ["success", "ingest_id", "received", "inserted_raw", "added_to_global",
                     "skipped_existing", "duplicates_in_request", "rejected", "errors", "errors_truncated"],
        "properties": {
            "success": {"type": "boolean"}, "ingest_id": {"type": "string", "format": "uuid"},
            "received": {"type": "integer"}, "inserted_raw": {"type": "integer"},
            "added_to_global": {"type": "integer"}, "skipped_existing": {"type": "integer"},
            "duplicates_in_request": {"type": "integer"}, "rejected": {"type": "integer"},
            "errors": {"type": "array", "items": {
                "type": "object", "properties": {"index": {"type": "integer"},
                                                 "field": {"type": ["string", "null"]},
                                                 "reason": {"type": "string"}}}},
            "errors_truncated": {"type": "boolean"},
        },
    },
    "Readiness": {
        "type": "object",
        "properties": {"status": {"const": "ready"}, "backend": {"enum": ["postgres", "supabase", "embedded"]},
                       "database": {"const": "ok"}, "schema": {"const": "ok"}},
    },
}

INGEST = {
    "post": {
        "operationId": "ingestProfiles", "tags": ["ingest"], "summary": "Store a batch of scraped profiles",
        "description": ("Every valid profile lands in `raw_scraped_profiles`; each id enters the pool "
                        "`global_usernames` once. One transaction per request. Bodies may be gzip-encoded "
                        "(`Content-Encoding: gzip`); NDJSON streams in constant memory."),
        "security": [{"apiKey": []}],
        "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                        "schema": {"type": "string", "maxLength": 255},
                        "description": "a retry with the same key and body returns the first reply"}],
        "requestBody": {"required": True, "content": {
            JSON: {"schema": _ref("IngestRequest"), "example": {
                "source": "instagram",
                "profiles": [{"id": "test1", "username": "user1", "full_name": "Test User 1"},
                             {"id": "test2", "username": "user2", "full_name": "Test User 2"}]}},
            NDJSON: {"schema": {"type": "string"},
                     "example": '{"id": "test1", "username": "user1"}\n{"id": "test2", "username": "user2"}\n'},
        }},
        "responses": {
            "200": {"description": "Counts of what went where",
                    "headers": {"X-RateLimit-Limit": {"schema": {"type": "integer"}},
                                "X-RateLimit-Remaining": {"schema": {"type": "integer"}}},
                    "content": {JSON: {"schema": _ref("IngestResponse"), "example": INGEST_EXAMPLE}}},
            "400": _error("Malformed JSON, corrupt gzip or wrong shape", "malformed_json", "malformed JSON"),
            "401": UNAUTHORIZED, "403": FORBIDDEN,
            "409": _error("The same Idempotency-Key is still being processed", "idempotency_in_progress",
                          "a request with this Idempotency-Key is still being processed"),
            "413": _error("Body or profile count over a limit", "payload_too_large",
                          "request body is over the limit of 536870912 bytes (MAX_CONTENT_LENGTH)"),
            "415": _error("Content-Type or Content-Encoding not supported", "unsupported_media_type",
                          "Content-Type must be application/json or application/x-ndjson"),
            "422": _error("No profiles, or an Idempotency-Key reused with another body", "empty_batch",
                          "the request holds no profiles"),
            "429": RATE_LIMITED, "503": STORAGE_DOWN,
        },
    },
}

PROBES = {
    "/healthz": {"get": {
        "operationId": "healthz", "tags": ["operations"], "summary": "Liveness: the process answers",
        "responses": {"200": {"description": "Alive", "content": {JSON: {"example": {"status": "ok"}}}}},
    }},
    "/readyz": {"get": {
        "operationId": "readyz", "tags": ["operations"],
        "summary": "Readiness: the database answers and the schema is applied",
        "responses": {
            "200": {"description": "Ready", "content": {JSON: {"schema": _ref("Readiness"), "example": {
                "status": "ready", "backend": "postgres", "database": "ok", "schema": "ok"}}}},
            "503": _error("Not ready; details name the failing check", "not_ready", "database is unreachable",
                          retry_after=True),
        },
    }},
    "/metrics": {"get": {
        "operationId": "metrics", "tags": ["operations"],
        "summary": "Prometheus metrics of every worker of this instance",
        "responses": {"200": {"description": "Prometheus text format", "content": {"text/plain": {
            "schema": {"type": "string"},
            "example": 'http_requests_total{method="POST",route="/api/ingest",status="200"} 42.0\n'}}}},
    }},
    "/openapi.json": {"get": {
        "operationId": "openapi", "tags": ["operations"], "summary": "This description",
        "responses": {"200": {"description": "OpenAPI 3.1 document", "content": {JSON: {}}}},
    }},
    "/docs": {"get": {
        "operationId": "docs", "tags": ["operations"], "summary": "This description as a readable page",
        "responses": {"200": {"description": "HTML page", "content": {"text/html": {}}}},
    }},
}


def build_spec() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Scraper backend", "version": "0.1.0", "description": DESCRIPTION},
        "tags": [{"name": "ingest", "description": "Profiles in"},
                 {"name": "operations", "description": "Probes, metrics and this description (no key)"}],
        "paths": {"/api/ingest": INGEST, **PROBES},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer",
                                           "description": "an API key from API_KEYS"}},
            "headers": {"Retry-After": {"description": "seconds to wait before retrying",
                                        "schema": {"type": "integer"}}},
        },
    }
