"""RFC 3339 format checks for ``date``, ``time`` and ``date-time`` that the schema registry hands to jsonschema-rs.

jsonschema-rs 0.60 reads the digits of these formats without checking that they are digits: it accepts
``"2-26-02-28"`` and ``"+026-11-23T08:00:00Z"`` (a ``-``, ``.``, ``+`` or ``/`` where a digit belongs). aifabric's own
schemas pair ``format`` with a ``pattern`` that masks this, but a foreign schema added to a registry (OpenLineage's
``eventTime``) relies on ``format`` alone, and the Node.js ajv adapter of the conformance suite found the gap.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

__all__ = ["FORMATS", "is_date", "is_date_time", "is_time"]

_DATE: Final = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", re.ASCII)
_TIME: Final = re.compile(
    r"([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))", re.ASCII
)
_DAYS: Final = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _leap_year(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def is_date(value: str) -> bool:
    """RFC 3339 ``full-date``: ``YYYY-MM-DD``, a real day of a real month."""
    match = _DATE.fullmatch(value)
    if match is None:
        return False
    year, month, day = (int(part) for part in match.groups())
    return 1 <= month <= 12 and 1 <= day <= (29 if month == 2 and _leap_year(year) else _DAYS[month])


def is_time(value: str) -> bool:
    """RFC 3339 ``full-time``: a time with its offset; a leap second only at 23:59:60 UTC (section 5.7)."""
    match = _TIME.fullmatch(value)
    if match is None:
        return False
    hour, minute, second = int(match[1]), int(match[2]), int(match[3])
    off_hour, off_minute = int(match[5] or 0), int(match[6] or 0)
    if hour > 23 or minute > 59 or second > 60 or off_hour > 23 or off_minute > 59:
        return False
    if second == 60:
        sign = -1 if match[4] == "-" else 1
        return (hour * 60 + minute - sign * (off_hour * 60 + off_minute)) % 1440 == 23 * 60 + 59
    return True


def is_date_time(value: str) -> bool:
    """RFC 3339 ``date-time``: ``full-date "T" full-time``, the ``T`` in either case (section 5.6, note)."""
    return len(value) > 11 and value[10] in "Tt" and is_date(value[:10]) and is_time(value[11:])


FORMATS: Final[dict[str, Callable[[str], bool]]] = {"date": is_date, "date-time": is_date_time, "time": is_time}
"""The format checks that replace jsonschema-rs' own, by format name."""
