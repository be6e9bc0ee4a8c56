"""Schemathesis against /openapi.json through WSGI: every operation, generated valid and invalid
requests, no 5xx and every answer as the description says (status, content type, schema, headers).

Bounded and repeatable: a fixed seed, derandomised generation and FUZZ_EXAMPLES examples per operation
in the fuzzing phase (the examples and coverage phases add their own, also bounded, cases). The suite
runs 15; `make fuzz FUZZ_EXAMPLES=200` goes deeper.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from schemathesis import Config
from schemathesis.specs.openapi.checks import positive_data_acceptance

from .conftest import ALL_KEY

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
SEED = 20261126

# NDJSON is described as a string: send it as it is.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")

CONFIG = {
    "seed": SEED,
    "continue-on-failure": True,
    "generation": {"max-examples": FUZZ_EXAMPLES, "deterministic": True},
    "auth": {"openapi": {"apiKey": {"bearer": ALL_KEY}}},  # a key holding every scope
    # The WSGI client does not gunzip; compression has its own tests.
    "headers": {"Accept-Encoding": "identity"},
    "operations": [{
        "include-path": "/api/ingest",
        "checks": {
            # A profile that breaks the Profile schema is rejected on its own inside a 200 by design.
            "negative_data_rejection": {"enabled": False},
            # Generated Idempotency-Keys repeat across cases with other bodies: the documented 422.
            "positive_data_acceptance": {"expected-statuses": ["2xx", 401, 403, 409, 422, 429]},
        },
    }],
}


@pytest.fixture
def api_schema(app, request):
    """The app's own description, loaded through WSGI from /openapi.json."""
    # schemathesis 4.32 renames the test node through `_nodeid`, which pytest 9.2 no longer has.
    request.node._nodeid = request.node.nodeid
    return schemathesis.openapi.from_wsgi("/openapi.json", app, config=Config.from_dict(CONFIG))


schema = schemathesis.pytest.from_fixture("api_schema")


def _scalars(value: Any):
    """Every scalar inside a JSON value."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            yield from _scalars(item)
    else:
        yield value


def beyond_the_schema(case) -> bool:
    """Whether a schema-valid case breaks a rule JSON Schema cannot state: a cursor the server never
    issued (cursors are signed), text that is not printable (unassigned code points, ...), or
    ?from= after ?to=."""
    query = case.query or {}
    if query.get("cursor") or str(query.get("from", "")) > str(query.get("to", "~")):
        return True
    return any(isinstance(value, str) and not value.isprintable() for value in _scalars(case.body))


@schema.parametrize()
def test_every_operation_answers_as_described_and_never_5xx(case):
    excluded = [positive_data_acceptance] if beyond_the_schema(case) else []
    case.call_and_validate(excluded_checks=excluded)
