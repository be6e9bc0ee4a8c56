"""What both backends share about distribution targets: the fields a change may touch, a taken name."""

from __future__ import annotations

from typing import Any, Mapping

from ..errors import Conflict

TARGET_FIELDS = ("name", "daily_quota", "sources", "active")


def check_changes(changes: Mapping[str, Any]) -> None:
    """Refuse a change of anything but TARGET_FIELDS (a programming error, not a client's)."""
    unknown = set(changes) - set(TARGET_FIELDS)
    if unknown:
        raise ValueError(f"cannot change {', '.join(sorted(unknown))}")


def name_taken(name: Any) -> Conflict:
    """The 409 for a target name that another target holds."""
    return Conflict(f"a target named {name!r} exists already", code="target_exists")
