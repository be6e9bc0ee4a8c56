"""Building blocks of the OpenAPI description: the error shape, shared responses, one operation."""

from __future__ import annotations

from typing import Any

from ..ratelimit import GROUP_SETTINGS

JSON = "application/json"
INT64_MAX = 2**63 - 1

ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string", "description": "stable, machine-readable"},
                       "message": {"type": "string", "description": "for people"},
                       "details": {"description": "extra facts: limits, fields, checks"}}}},
}


def ref(name: str) -> dict[str, str]:
    """A reference to a schema under components/schemas."""
    return {"$ref": f"#/components/schemas/{name}"}


def error(description: str, code: str, message: str, *, retry_after: bool = False) -> dict[str, Any]:
    """A response in the one error shape, with an example."""
    response: dict[str, Any] = {
        "description": description,
        "content": {JSON: {"schema": ref("Error"), "example": {"error": {"code": code, "message": message}}}},
    }
    if retry_after:
        response["headers"] = {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}
    return response


UNAUTHORIZED = error("No API key, or an unknown one", "unauthorized", "unknown API key")
STORAGE_DOWN = error("The database is unreachable or timed out", "storage_unavailable",
                     "database is unreachable; retry later", retry_after=True)
INVALID_PARAMETER = error("A parameter or field is invalid; `details.field` names it", "invalid_parameter",
                          "limit must be an integer from 1 to 1000")
INVALID_BODY = error("Malformed JSON, a body that is not an object, or an invalid field (named in "
                     "`details.field`)", "invalid_parameter",
                     "daily_quota must be an integer from 0 to 1000000")
BODY_TOO_LARGE = error("The body is over 16 MiB", "payload_too_large",
                       "request body is over the limit of 16777216 bytes for this route")
NOT_JSON = error("A non-empty body that is not `application/json`", "unsupported_media_type",
                 "send Content-Type: application/json")
TARGET_NOT_FOUND = error("No such target", "target_not_found", "no target with id 42")
JSON_BODY_ERRORS = {"400": INVALID_BODY, "413": BODY_TOO_LARGE, "415": NOT_JSON}


def forbidden(scope: str) -> dict[str, Any]:
    """403: the key lacks the operation's scope."""
    return error(f"The key lacks the `{scope}` scope", "forbidden", f"this API key lacks the '{scope}' scope")


def rate_limited(group: str) -> dict[str, Any]:
    """429: over the limit of the operation's rate-limit group."""
    counted = "per client address" if group == "public" else "per API key"
    return error(f"Over the `{group}` group's rate limit ({GROUP_SETTINGS[group]}, {counted})",
                 "rate_limited", "rate limit of 10 per 1 minute exceeded; retry after Retry-After seconds",
                 retry_after=True)


LIMIT_HEADERS = {
    "X-RateLimit-Limit": {"description": "requests allowed in the window", "schema": {"type": "integer"}},
    "X-RateLimit-Remaining": {"description": "requests left in the window", "schema": {"type": "integer"}},
    "X-RateLimit-Reset": {"description": "when the window resets (Unix time)", "schema": {"type": "integer"}},
}


def success(description: str, schema: str, example: Any) -> dict[str, Any]:
    """A JSON success response of a rate-limited route."""
    return {"description": description, "headers": LIMIT_HEADERS,
            "content": {JSON: {"schema": ref(schema), "example": example}}}


def json_body(schema: str, example: Any, *, required: bool = True) -> dict[str, Any]:
    """A JSON request body."""
    return {"required": required, "content": {JSON: {"schema": ref(schema), "example": example}}}


def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    """An optional query parameter."""
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


DATE = {"type": "string", "format": "date"}
CURSOR = {"type": ["string", "null"],
          "description": "pass back as ?cursor= for the next page; null on the last"}
PAGING = [query("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}, "items a page"),
          # base64url, as we make them; an empty one asks for the first page
          query("cursor", {"type": "string", "maxLength": 1024,
                           "pattern": "^([A-Za-z0-9_-]+[.][A-Za-z0-9_-]+)?$"},
                "next_cursor of the previous page")]
# Gunicorn answers this itself, before the app, so it is HTML and not the app's error shape.
URI_TOO_LONG = {"description": "The request line is over Gunicorn's limit_request_line (4094 bytes)",
                "content": {"text/html": {"schema": {"type": "string"}}}}


def path_id(name: str, description: str) -> dict[str, Any]:
    """A positive integer path parameter."""
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "integer", "minimum": 1, "maximum": INT64_MAX}}


def operation(operation_id: str, tag: str, summary: str, *, scope: str, group: str,
              responses: dict[str, Any], description: str | None = None,
              parameters: list[dict[str, Any]] | None = None,
              body: dict[str, Any] | None = None) -> dict[str, Any]:
    """An operation that needs an API key with `scope` and counts against rate-limit `group`.

    401, 403, 429 and 503 are added to `responses`, 414 when it takes query parameters, and 408
    when it takes a body;
    `x-rate-limit-group` names the group, and a test holds every route to it.
    """
    answers = {**responses, "401": UNAUTHORIZED, "403": forbidden(scope), "429": rate_limited(group),
               "503": STORAGE_DOWN}
    if any(parameter["in"] == "query" for parameter in parameters or ()):
        answers["414"] = URI_TOO_LONG
    if body:
        answers["408"] = error("The body paused for UPLOAD_GRACE_SECONDS or arrived slower than "
                               "MIN_UPLOAD_BYTES_PER_SECOND", "request_timeout",
                               "request body stalled for 10 s (UPLOAD_GRACE_SECONDS)")
    result: dict[str, Any] = {"operationId": operation_id, "tags": [tag], "summary": summary}
    if description:
        result["description"] = description
    result["security"] = [{"apiKey": []}]
    result["x-scope"] = scope
    result["x-rate-limit-group"] = group
    if parameters:
        result["parameters"] = parameters
    if body:
        result["requestBody"] = body
    result["responses"] = dict(sorted(answers.items()))
    return result


def date_time(nullable: bool = False) -> dict[str, Any]:
    """An ISO 8601 timestamp with offset (optionally null)."""
    return {"type": ["string", "null"] if nullable else "string", "format": "date-time"}


def integers(*names: str) -> dict[str, Any]:
    """Properties that are all non-negative integers."""
    return {name: {"type": "integer", "minimum": 0} for name in names}


def closed(properties: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    """An object with exactly these properties, all required (responses always carry every field)."""
    schema: dict[str, Any] = {"type": "object", "required": list(properties), "additionalProperties": False,
                              "properties": properties}
    if description:
        schema["description"] = description
    return schema


def public(operations: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Routes without a key: each counts against the `public` group, by client address (and says so)."""
    for methods in operations.values():
        for operation in methods.values():
            operation["x-rate-limit-group"] = "public"
            operation["responses"]["429"] = rate_limited("public")
    return operations
