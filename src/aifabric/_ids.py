"""Identifiers and clocks: UUIDv7 (RFC 9562) and RFC 3339 UTC timestamps."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime

__all__ = ["utc_now", "uuid7"]


def uuid7() -> str:
    """A new time-ordered UUID version 7: 48 bits of Unix milliseconds, then 74 random bits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | rand & ((1 << 80) - 1)
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # RFC 9562 variant
    return str(uuid.UUID(int=value))


def utc_now() -> str:
    """The current time as an RFC 3339 timestamp in UTC with a ``Z`` offset."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
