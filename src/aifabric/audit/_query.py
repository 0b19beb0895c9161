"""Filters over audit records: by actor, target, action, outcome and time range."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def matcher(
    *,
    actor: str | None = None,
    resource: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    action: str | None = None,
) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate true for records that match every filter given.

    ``actor`` matches the actor's id or the id of the principal it acted for; ``resource`` the target's name;
    ``since`` is inclusive and ``until`` exclusive. Naive datetimes are taken as UTC.
    """
    since, until = _aware(since), _aware(until)

    def match(record: Mapping[str, Any]) -> bool:
        if actor is not None:
            who = record.get("actor") or {}
            principal = who.get("onBehalfOf") or {} if isinstance(who, Mapping) else {}
            if actor not in (who.get("id") if isinstance(who, Mapping) else None, principal.get("id")):
                return False
        if resource is not None:
            target = record.get("target")
            if not isinstance(target, Mapping) or target.get("name") != resource:
                return False
        if outcome is not None and record.get("outcome") != outcome:
            return False
        if action is not None and record.get("action") != action:
            return False
        if since is not None or until is not None:
            when = _time(record.get("time"))
            if when is None or (since is not None and when < since) or (until is not None and when >= until):
                return False
        return True

    return match
