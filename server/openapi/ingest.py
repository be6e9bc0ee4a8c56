"""The OpenAPI description of POST /api/ingest and of the probes, metrics and docs routes."""

from __future__ import annotations

from typing import Any

from .common import JSON, error, operation, public, ref, success

NDJSON = "application/x-ndjson"
PROFILES = {"type": "array", "minItems": 1, "items": ref("Profile")}

INGEST_EXAMPLE = {
    "success": True, "ingest_id": "6f1c3c5e-8d0e-4d59-9a55-2f4d1f0c9b7a", "received": 3,
    "inserted_raw": 2, "added_to_global": 1, "skipped_existing": 1, "duplicates_in_request": 0,
    "rejected": 1, "errors": [{"index": 2, "field": "username", "reason": "is required"}],
    "errors_truncated": False,
}

SCHEMAS: dict[str, Any] = {
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
        "description": ("An object with a `profiles` array, or the bare array. Invalid profiles are counted "
                        "in `rejected` and listed in `errors`; the valid ones are stored."),
        "oneOf": [{"type": "object", "required": ["profiles"], "properties": {
                       "profiles": PROFILES, "source": {"type": ["string", "null"],
                                                        "description": "default source of the profiles"}}},
                  PROFILES],
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
        "properties": {"status": {"const": "ready"},
                       "backend": {"enum": ["postgres", "supabase", "embedded"]},
                       "database": {"const": "ok"}, "schema": {"const": "ok"}},
    },
}

INGEST = {"post": operation(
    "ingestProfiles", "ingest", "Store a batch of scraped profiles", scope="ingest", group="ingest",
    description=("Every valid profile lands in `raw_scraped_profiles`; each id enters the pool "
                 "`global_usernames` once. On direct PostgreSQL one transaction per request; over "
                 "Supabase's REST API one per chunk of 1000, and a retry with the same "
                 "Idempotency-Key and body completes a request that failed half-way. Bodies may be gzip-encoded "
                 "(`Content-Encoding: gzip`); NDJSON streams in constant memory."),
    parameters=[{"name": "Idempotency-Key", "in": "header", "required": False,
                 "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                 "description": "a retry with the same key and body returns the first reply"}],
    body={"required": True, "content": {
        JSON: {"schema": ref("IngestRequest"), "example": {
            "source": "instagram",
            "profiles": [{"id": "test1", "username": "user1", "full_name": "Test User 1"},
                         {"id": "test2", "username": "user2", "full_name": "Test User 2"}]}},
        NDJSON: {"schema": {"type": "string"},
                 "example": '{"id": "test1", "username": "user1"}\n{"id": "test2", "username": "user2"}\n'},
    }},
    responses={
        "200": success("Counts of what went where", "IngestResponse", INGEST_EXAMPLE),
        "400": error("Malformed JSON, corrupt gzip or wrong shape", "malformed_json", "malformed JSON"),
        "409": error("The same Idempotency-Key is still being processed", "idempotency_in_progress",
                     "a request with this Idempotency-Key is still being processed"),
        "413": error("Body or profile count over a limit", "payload_too_large",
                     "request body is over the limit of 536870912 bytes (MAX_CONTENT_LENGTH)"),
        "415": error("Content-Type or Content-Encoding not supported", "unsupported_media_type",
                     "Content-Type must be application/json or application/x-ndjson"),
        "422": error("No profiles, or an Idempotency-Key reused with another body", "empty_batch",
                     "the request holds no profiles"),
    })}

PROBES = public({
    "/healthz": {"get": {
        "operationId": "healthz", "tags": ["operations"], "summary": "Liveness: the process answers",
        "responses": {"200": {"description": "Alive", "content": {JSON: {"example": {"status": "ok"}}}}},
    }},
    "/readyz": {"get": {
        "operationId": "readyz", "tags": ["operations"],
        "summary": "Readiness: the database answers and the schema is applied",
        "responses": {
            "200": {"description": "Ready", "content": {JSON: {"schema": ref("Readiness"), "example": {
                "status": "ready", "backend": "postgres", "database": "ok", "schema": "ok"}}}},
            "503": error("Not ready; details name the failing check", "not_ready", "database is unreachable",
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
    "/status": {"get": {
        "operationId": "statusPage", "tags": ["operations"],
        "summary": "The status page: asks for an admin key, then shows GET /api/status/panel",
        "responses": {"200": {"description": "HTML page without data", "content": {"text/html": {
            "schema": {"type": "string"}, "example": "<!doctype html>..."}}}},
    }},
    "/docs": {"get": {
        "operationId": "docs", "tags": ["operations"], "summary": "This description as a readable page",
        "responses": {"200": {"description": "HTML page", "content": {"text/html": {}}}},
    }},
})
