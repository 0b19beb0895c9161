"""Idempotency-key stores for the tool guard: in memory and in SQLite.

Each key is held in a scope (the guard uses the tool's name and the principal) with the fingerprint of the
arguments of its first call, as draft-ietf-httpapi-idempotency-key-header asks [TOOL-035]. :meth:`begin` either
reserves a new key (``NEW``), or finds a completed call with the same fingerprint (``REPLAY``, with its result),
a call still in flight (``IN_FLIGHT``), or a call with other arguments (``MISMATCH``). Only a call that ends
well is kept, by :meth:`complete`; one that fails gives its key back with :meth:`release`, so that it can be
tried again. Keys and results expire ``lifetime_s`` seconds after they are reserved or completed.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

import orjson

from aifabric._errors import StoreError

__all__ = ["Begin", "IdempotencyStore", "MemoryIdempotencyStore", "SQLiteIdempotencyStore"]


class Begin(Enum):
    """What :meth:`IdempotencyStore.begin` found."""

    NEW = "new"
    REPLAY = "replay"
    IN_FLIGHT = "in-flight"
    MISMATCH = "mismatch"


class IdempotencyStore(Protocol):
    """Where a guard keeps idempotency keys and the first result of each."""

    def begin(self, scope: str, key: str, fingerprint: str, lifetime_s: float) -> tuple[Begin, Any]:
        """Reserve ``key``, or say why not; the result is the completed call's result on ``REPLAY``."""
        ...

    def complete(self, scope: str, key: str, result: Any, lifetime_s: float) -> None:
        """Keep the result of the call that reserved ``key``."""
        ...

    def release(self, scope: str, key: str) -> None:
        """Give back a key whose call failed."""
        ...


class MemoryIdempotencyStore:
    """Keys in a dictionary of this process, guarded by a lock."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[tuple[str, str], tuple[str, bool, Any, float]] = {}

    def begin(self, scope: str, key: str, fingerprint: str, lifetime_s: float) -> tuple[Begin, Any]:
        """Reserve ``key``, or say why not."""
        now = self._clock()
        with self._lock:
            held = self._keys.get((scope, key))
            if held is not None and held[3] > now:
                if held[0] != fingerprint:
                    return Begin.MISMATCH, None
                return (Begin.REPLAY, held[2]) if held[1] else (Begin.IN_FLIGHT, None)
            self._keys[(scope, key)] = (fingerprint, False, None, now + lifetime_s)
            return Begin.NEW, None

    def complete(self, scope: str, key: str, result: Any, lifetime_s: float) -> None:
        """Keep the result of the call that reserved ``key``."""
        with self._lock:
            held = self._keys.get((scope, key))
            if held is not None:
                self._keys[(scope, key)] = (held[0], True, result, self._clock() + lifetime_s)

    def release(self, scope: str, key: str) -> None:
        """Give back a key whose call failed."""
        with self._lock:
            self._keys.pop((scope, key), None)


class SQLiteIdempotencyStore:
    """Keys in a SQLite database (WAL), shared by the processes that open the same file; results as JSON."""

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS idempotency_keys (scope TEXT NOT NULL, key TEXT NOT NULL, "
                "fingerprint TEXT NOT NULL, done INTEGER NOT NULL, result BLOB, expires REAL NOT NULL, "
                "PRIMARY KEY (scope, key))"
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the idempotency store {self.path}: {exc}") from None

    def _run(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"the idempotency store {self.path}: {exc}") from None

    def begin(self, scope: str, key: str, fingerprint: str, lifetime_s: float) -> tuple[Begin, Any]:
        """Reserve ``key``, or say why not (one ``BEGIN IMMEDIATE`` transaction)."""
        now = self._clock()
        with self._lock:
            self._run("BEGIN IMMEDIATE", ())
            try:
                rows = self._run(
                    "SELECT fingerprint, done, result FROM idempotency_keys WHERE scope = ? AND key = ? "
                    "AND expires > ?",
                    (scope, key, now),
                )
                if rows:
                    found, done, result = rows[0]
                    if found != fingerprint:
                        return Begin.MISMATCH, None
                    return (Begin.REPLAY, orjson.loads(result)) if done else (Begin.IN_FLIGHT, None)
                self._run(
                    "INSERT OR REPLACE INTO idempotency_keys VALUES (?, ?, ?, 0, NULL, ?)",
                    (scope, key, fingerprint, now + lifetime_s),
                )
                return Begin.NEW, None
            finally:
                self._run("COMMIT", ())

    def complete(self, scope: str, key: str, result: Any, lifetime_s: float) -> None:
        """Keep the result of the call that reserved ``key``."""
        with self._lock:
            self._run(
                "UPDATE idempotency_keys SET done = 1, result = ?, expires = ? WHERE scope = ? AND key = ?",
                (orjson.dumps(result), self._clock() + lifetime_s, scope, key),
            )

    def release(self, scope: str, key: str) -> None:
        """Give back a key whose call failed."""
        with self._lock:
            self._run("DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND done = 0", (scope, key))

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()
