"""Calling routes by their OpenAPI path and holding each answer to the description the app serves."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator


def schema_errors(spec: dict[str, Any], schema: dict[str, Any], instance: Any) -> list[str]:
    """Where `instance` breaks `schema` (whose $refs point into the spec's components), formats included."""
    validator = Draft202012Validator({**schema, "components": spec["components"]},
                                     format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [f"/{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


class SpecCheck:
    """A test client that checks every answer's status, media type, headers and body against the spec."""

    def __init__(self, client, key: str | None):
        self.client = client
        self.key = key
        self.spec = client.get("/openapi.json").get_json()
        self.answered: set[tuple[str, str, int]] = set()  # (method, OpenAPI path, status)

    def call(self, method: str, path: str, *, key: str | None = "", path_params: dict | None = None,
             **kwargs: Any):
        """Call `method` `path` (OpenAPI notation) with the default key, another one, or none (None)."""
        key = self.key if key == "" else key
        headers = {**({"Authorization": f"Bearer {key}"} if key else {}), **kwargs.pop("headers", {})}
        response = self.client.open(path.format(**(path_params or {})), method=method.upper(),
                                    headers=headers, **kwargs)
        self.check(method, path, response)
        return response

    def check(self, method: str, path: str, response) -> None:
        """Assert the response is one the spec describes for this operation."""
        operation = self.spec["paths"][path][method]
        status = str(response.status_code)
        where = f"{method.upper()} {path} -> {status}: {response.get_data(as_text=True)[:300]}"
        assert status in operation["responses"], f"undocumented status, {where}"
        described = operation["responses"][status]
        for name, header in described.get("headers", {}).items():
            assert not header.get("required") or name in response.headers, f"no {name} header, {where}"
        content = described.get("content", {})
        assert response.mimetype in content, f"undocumented media type {response.mimetype}, {where}"
        schema = content[response.mimetype].get("schema")
        if schema is not None and response.mimetype == "application/json":
            assert schema_errors(self.spec, schema, response.get_json()) == [], where
        self.answered.add((method, path, response.status_code))

    def operations(self) -> set[tuple[str, str]]:
        """(method, path) of every operation the spec describes."""
        return {(method, path) for path, operations in self.spec["paths"].items() for method in operations}

    def succeeded(self) -> set[tuple[str, str]]:
        """(method, path) of every operation that answered with a 2xx so far."""
        return {(method, path) for method, path, status in self.answered if 200 <= status < 300}
