"""/api/targets: who receives profiles each day, and how many (scope `distribute`)."""

from __future__ import annotations

from typing import Any, Mapping

from flask import Blueprint, current_app, jsonify

from ..auth import require_scope
from ..errors import NotFound
from ..ratelimit import limit_group
from ..storage import get_store
from .params import body_int, invalid, json_object, only_fields, query_bool

bp = Blueprint("targets", __name__)

MAX_NAME_LENGTH = 100
MAX_SOURCES = 50
MAX_SOURCE_LENGTH = 64


def _name(value: Any) -> str:
    name = value.strip() if isinstance(value, str) else ""
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise invalid("name", f"must be 1 to {MAX_NAME_LENGTH} printable characters")
    return name


def _quota(value: Any) -> int:
    return body_int(value, "daily_quota", 0, current_app.config["MAX_DAILY_QUOTA"])


def _sources(value: Any) -> list[str] | None:
    if value is None:
        return None
    if (not isinstance(value, list) or not 1 <= len(value) <= MAX_SOURCES
            or not all(isinstance(s, str) and 0 < len(s.strip()) <= MAX_SOURCE_LENGTH
                       and s.strip().isprintable() for s in value)):  # PostgreSQL text refuses NUL
        raise invalid("sources", f"must be null (any source) or a list of 1 to {MAX_SOURCES} printable "
                                 "source names")
    return sorted({s.strip() for s in value})  # one spelling per filter: the claim groups by it


def _active(value: Any) -> bool:
    if not isinstance(value, bool):
        raise invalid("active", "must be true or false")
    return value


_FIELDS = {"name": _name, "daily_quota": _quota, "sources": _sources, "active": _active}


def target_fields(data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    """Validate a target's fields; name and daily_quota are required unless `partial`."""
    only_fields(data, tuple(_FIELDS), "a target field")
    if not partial:
        for required in ("name", "daily_quota"):
            if required not in data:
                raise invalid(required, "is required")
    return {field: check(data[field]) for field, check in _FIELDS.items() if field in data}


def _found(target: dict[str, Any] | None, target_id: int) -> dict[str, Any]:
    if target is None:
        raise NotFound(f"no target with id {target_id}", code="target_not_found")
    return target


@bp.post("/api/targets")
@limit_group("admin")
@require_scope("distribute")
def create_target():
    """Create a target: {"name", "daily_quota", "sources"?, "active"?} -> 201."""
    fields = target_fields(json_object(), partial=False)
    target = get_store().create_target(fields["name"], fields["daily_quota"], fields.get("sources"),
                                       fields.get("active", True))
    return jsonify(target), 201


@bp.get("/api/targets")
@limit_group("read")
@require_scope("reader")
def list_targets():
    """Every target (?active=true|false to filter)."""
    return jsonify({"items": get_store().list_targets(query_bool("active"))})


@bp.get("/api/targets/<int:target_id>")
@limit_group("read")
@require_scope("reader")
def get_target(target_id: int):
    """One target."""
    return jsonify(_found(get_store().get_target(target_id), target_id))


@bp.patch("/api/targets/<int:target_id>")
@limit_group("admin")
@require_scope("distribute")
def update_target(target_id: int):
    """Change a target's name, daily_quota, sources or active flag."""
    fields = target_fields(json_object(), partial=True)
    store = get_store()
    target = store.update_target(target_id, fields) if fields else store.get_target(target_id)
    return jsonify(_found(target, target_id))


@bp.delete("/api/targets/<int:target_id>")
@limit_group("admin")
@require_scope("distribute")
def deactivate_target(target_id: int):
    """Deactivate a target: no new assignments; its past ones stay."""
    return jsonify(_found(get_store().update_target(target_id, {"active": False}), target_id))
