"""The run lifecycle rules of the lineage chapter, checked across a sequence of OpenLineage RunEvents.

The schema checks one event at a time; these rules need the events of a run together, in the order they were
emitted (spec/lineage.md, "Run lifecycle"):

- LIN-020: a run's first event is its one START.
- LIN-021: no event of a run is earlier than an event of the run emitted before it.
- LIN-022: a finished run has exactly one terminal event (COMPLETE, FAIL or ABORT).
- LIN-023: after the terminal event, only OTHER events.

Each problem points into the sequence, ``/<index>/eventType`` or ``/<index>/eventTime`` (LIN-024). Items that
are not RunEvents (DatasetEvents, JobEvents, anything without a string ``run.runId``) belong to no run and are
skipped; a RunEvent whose ``eventType`` or ``eventTime`` is missing or malformed is reported under LIN-007 or
LIN-005 and left out of the rules that need that member.

Examples:
    >>> from aifabric.lineage._profile import lifecycle_problems
    >>> run = {"runId": "01936f2a-8b40-7c11-9a3e-4f5d6c7b8a90"}
    >>> events = [
    ...     {"eventType": "START", "eventTime": "2026-11-23T08:00:00Z", "run": run},
    ...     {"eventType": "COMPLETE", "eventTime": "2026-11-23T07:59:00Z", "run": run},
    ...     {"eventType": "RUNNING", "eventTime": "2026-11-23T08:01:00Z", "run": run},
    ... ]
    >>> for problem in lifecycle_problems(events):
    ...     print(problem.pointer, problem.rule)
    /1/eventTime LIN-021
    /2/eventType LIN-023
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final

from aifabric._errors import Problem

__all__ = ["EVENT_TYPES", "TERMINAL", "lifecycle_problems"]

EVENT_TYPES: Final = frozenset({"START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"})
"""The eventType values of an OpenLineage 2-0-2 RunEvent."""
TERMINAL: Final = frozenset({"COMPLETE", "ABORT", "FAIL"})
"""The eventTypes that end a run."""

_TIMESTAMP: Final = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt](?P<h>[0-9]{2}):(?P<m>[0-9]{2}):(?P<s>[0-9]{2})(?P<frac>\.[0-9]+)?"
    r"(?:(?P<z>[Zz])|(?P<sign>[+-])(?P<oh>[0-9]{2}):(?P<om>[0-9]{2}))"
)


@dataclass(slots=True)
class _Run:
    """What has been seen of one run so far."""

    last: int
    started: bool = False
    terminal: tuple[int, str] | None = None
    latest: tuple[int, Fraction, str] | None = None  # (index, instant, as written) of the latest eventTime so far


def _instant(value: Any) -> Fraction | None:
    """Seconds since the epoch of an RFC 3339 date-time with an offset, exactly; None when it is not one."""
    match = _TIMESTAMP.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    year, month, day = (int(part) for part in match["date"].split("-"))
    hour, minute, second = int(match["h"]), int(match["m"]), int(match["s"])
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1] and year >= 1):
        return None
    if hour > 23 or minute > 59 or second > 60:  # 60: a leap second, which RFC 3339 allows
        return None
    offset = 0
    if match["z"] is None:
        oh, om = int(match["oh"]), int(match["om"])
        if oh > 23 or om > 59:
            return None
        offset = (oh * 60 + om) * 60 * (1 if match["sign"] == "+" else -1)
    whole = calendar.timegm((year, month, day, hour, minute, 0)) + second - offset
    fraction = Fraction(int(match["frac"][1:]), 10 ** (len(match["frac"]) - 1)) if match["frac"] else Fraction(0)
    return whole + fraction


def _run_id(event: Any) -> str | None:
    if not isinstance(event, Mapping):
        return None
    run = event.get("run")
    run_id = run.get("runId") if isinstance(run, Mapping) else None
    return run_id if isinstance(run_id, str) else None


def lifecycle_problems(events: Iterable[Mapping[str, Any]], *, finished: bool = True) -> list[Problem]:
    """Check the lifecycle rules of every run in a sequence of events, in the order they were emitted.

    Args:
        events: OpenLineage events in emission order; the events of several runs may interleave.
        finished: whether every run in the sequence is over; when False, a run without a terminal event yet
            is still in flight and not a problem (LIN-022 is then checked only for second terminal events).

    Returns:
        Every problem, in the order of the events (an event's eventType problems before its eventTime
        problem), each with the pointer ``/<index>/eventType`` or ``/<index>/eventTime`` and the rule's ID.
    """
    found: list[Problem] = []
    runs: dict[str, _Run] = {}
    for index, event in enumerate(events):
        run_id = _run_id(event)
        if run_id is None:
            continue
        run = runs.setdefault(run_id, _Run(last=index))
        run.last = index
        found += _type_problems(index, event.get("eventType"), run_id, run)
        found += _time_problems(index, event.get("eventTime"), run_id, run)
    if finished:
        for run_id, run in runs.items():
            if run.terminal is None:
                found.append(
                    Problem(
                        f"/{run.last}/eventType",
                        "LIN-022",
                        f"run {run_id} has no terminal event (COMPLETE, FAIL or ABORT); this is its last event",
                    )
                )
    found.sort(key=lambda p: (int(p.pointer.split("/")[1]), p.pointer, p.rule))
    return found


def _type_problems(index: int, event_type: Any, run_id: str, run: _Run) -> list[Problem]:
    pointer = f"/{index}/eventType"
    if event_type not in EVENT_TYPES:
        what = "has no eventType" if event_type is None else f"has the eventType {event_type!r}"
        known = ", ".join(sorted(EVENT_TYPES))
        return [Problem(pointer, "LIN-007", f"this event of run {run_id} {what}; a RunEvent has one of {known}")]
    found: list[Problem] = []
    if event_type == "START":
        if run.started:
            found.append(Problem(pointer, "LIN-020", f"a second START for run {run_id}; a run has exactly one START"))
        run.started = True
    elif not run.started:
        found.append(
            Problem(pointer, "LIN-020", f"a {event_type} event before any START of run {run_id}; START comes first")
        )
    if run.terminal is not None:
        ended_at, ended_by = run.terminal
        if event_type in TERMINAL:
            found.append(
                Problem(
                    pointer,
                    "LIN-022",
                    f"a second terminal event for run {run_id}: {event_type} after {ended_by} (event {ended_at})",
                )
            )
        if event_type != "OTHER":
            found.append(
                Problem(
                    pointer,
                    "LIN-023",
                    f"a {event_type} event after {ended_by} (event {ended_at}) ended run {run_id}; "
                    "only OTHER events may follow the terminal event",
                )
            )
    elif event_type in TERMINAL:
        run.terminal = (index, event_type)
    return found


def _time_problems(index: int, event_time: Any, run_id: str, run: _Run) -> list[Problem]:
    pointer = f"/{index}/eventTime"
    instant = _instant(event_time)
    if instant is None:
        return [
            Problem(
                pointer,
                "LIN-005",
                f"this event of run {run_id} has no eventTime that is an RFC 3339 date-time with an offset",
            )
        ]
    latest = run.latest
    if latest is None or instant >= latest[1]:
        run.latest = (index, instant, event_time)
        return []
    return [
        Problem(
            pointer,
            "LIN-021",
            f"eventTime {event_time} is earlier than {latest[2]}, the eventTime of event {latest[0]} of run {run_id}, "
            "which was emitted before it",
        )
    ]
