"""GET /openapi.json (the API description) and GET /docs (the same, as a readable page)."""

from __future__ import annotations

import json

from flask import Blueprint, jsonify, render_template

from ..openapi import build_spec
from ..ratelimit import limit_group

bp = Blueprint("docs", __name__)


@bp.get("/openapi.json")
@limit_group("public")
def openapi_json():
    """The OpenAPI 3.1 document of every route."""
    return jsonify(build_spec())


@bp.get("/docs")
@limit_group("public")
def docs():
    """Every route with its parameters, responses and examples, on one self-contained page."""
    spec = build_spec()
    return render_template("docs.html", spec=spec, pretty=_pretty)


def _pretty(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
