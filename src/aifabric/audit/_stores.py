"""Where an audit log keeps its entries: an append-only file (the default), SQLite or PostgreSQL.

Every store keeps, for each entry, its leaf data (the record's canonical bytes) and leaf hash, and the hash of
every full subtree, so that proofs cost O(log n) look-ups. A commit adds one batch of entries under a lock that
excludes every other writer, thread or process, and syncs it to stable storage before it returns when the
durability is ``"fsync"`` [AUD-111] [AUD-113].
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Final, Literal

from aifabric._errors import StoreError

Durability = Literal["fsync", "os"]
"""``fsync``: a commit is on stable storage when it returns; ``os``: handed to the OS (survives a crash of the
process, not of the machine)."""
Node = tuple[int, int, bytes]
"""``(level, index, hash)`` of a full subtree; level 0 is a leaf."""

_LOG: Final = logging.getLogger("aifabric.audit")
_HASH: Final = 32
_READ_CHUNK: Final = 1 << 22


def mmr_position(level: int, index: int) -> int:
    """Where the full subtree ``(level, index)`` sits when subtrees are stored in post-order as leaves arrive."""
    last = ((index + 1) << level) - 1
    return 2 * last - last.bit_count() + level


def mmr_count(size: int) -> int:
    """How many full subtrees a tree of ``size`` leaves has."""
    return 2 * size - size.bit_count()


class Store:
    """One interface over the three kinds of store."""

    durability: Durability
    origin: str | None

    def writing(self) -> Any:
        """A context manager that holds the writer lock and yields the committed size."""
        raise NotImplementedError

    def set_origin(self, origin: str) -> None:
        """Record the log's origin, once, when the log is created."""
        raise NotImplementedError

    def append(self, start: int, data: Sequence[bytes], nodes: Sequence[Node]) -> None:
        """Add entries ``start..`` and their new full subtrees (post-order) inside ``writing()``."""
        raise NotImplementedError

    def size(self) -> int:
        """How many entries are committed."""
        raise NotImplementedError

    def nodes(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The stored hashes of full subtrees ``(level, index)``."""
        raise NotImplementedError

    def read(self, start: int, end: int) -> list[bytes]:
        """The leaf data of entries ``[start, end)``."""
        raise NotImplementedError

    def scan(self) -> Iterator[list[bytes]]:
        """Every stored leaf datum in stored order, in chunks, as found (for verification: no index trusted)."""
        raise NotImplementedError

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """The stored leaf hashes of entries ``[start, end)`` (fewer where fewer are stored)."""
        raise NotImplementedError

    def add_checkpoint(self, size: int, note: str) -> None:
        """Keep a checkpoint the log signed."""
        raise NotImplementedError

    def checkpoints(self) -> list[tuple[int, str]]:
        """The checkpoints the log signed, oldest first."""
        raise NotImplementedError

    def close(self) -> None:
        """Release files and connections."""


# --- the file store ----------------------------------------------------------------------------------------


class FileStore(Store):
    """An append-only directory of files, the embedded default.

    It holds ``entries.jsonl`` (one canonical record a line), ``tree`` (32-byte subtree hashes in post-order),
    ``offsets`` (the 8-byte end offset of each entry: the commit record), ``checkpoints.jsonl``, ``origin`` and
    a ``lock`` file.

    A commit writes entries and hashes, syncs them, then appends the offsets and syncs those: an entry exists once
    its offset does. Opening, and every commit, cut what lies past the last offset: a torn or unfinished write is
    truncated, never kept [AUD-112].
    """

    def __init__(
        self, path: str | Path, *, durability: Durability = "fsync", create: bool = True, readonly: bool = False
    ) -> None:
        self.path = Path(path)
        self.durability = durability
        self.readonly = readonly
        self._thread_lock = threading.Lock()
        try:
            if create and not readonly:
                self.path.mkdir(parents=True, exist_ok=True)
            elif not (self.path / "offsets").exists():
                raise StoreError(f"{self.path}: not an aifabric audit log (no offsets file)")
            flags = os.O_RDONLY if readonly else os.O_RDWR | os.O_CREAT
            self._entries = os.open(self.path / "entries.jsonl", flags, 0o644)
            self._tree = os.open(self.path / "tree", flags, 0o644)
            self._offsets = os.open(self.path / "offsets", flags, 0o644)
            self._lock = os.open(self.path / "lock", flags, 0o644)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot open the audit log: {exc.strerror or exc}") from exc
        origin_file = self.path / "origin"
        self.origin = origin_file.read_text("utf-8").strip() if origin_file.exists() else None
        if not readonly:  # a log opened to be verified is read as found, torn tail and all
            with self._locked():
                self._recover()

    def set_origin(self, origin: str) -> None:
        """Record the log's origin (once)."""
        _atomic_write(self.path / "origin", origin + "\n")
        self.origin = origin

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock:
            fcntl.flock(self._lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._lock, fcntl.LOCK_UN)

    def _end(self, size: int) -> int:
        return int.from_bytes(os.pread(self._offsets, 8, (size - 1) * 8), "big") if size else 0

    def _recover(self) -> int:
        """Cut a torn offset, and entries or hashes past the committed size; return that size."""
        length = os.fstat(self._offsets).st_size
        size = length // 8
        if length % 8:
            os.ftruncate(self._offsets, size * 8)
        for fd, keep, what in (
            (self._entries, self._end(size), "entries.jsonl"),
            (self._tree, mmr_count(size) * _HASH, "tree"),
        ):
            have = os.fstat(fd).st_size
            if have > keep:
                _LOG.warning(
                    "%s: cut %d bytes of an unfinished write past entry %d in %s", self.path, have - keep, size, what
                )
                os.ftruncate(fd, keep)
            elif have < keep:
                raise StoreError(
                    f"{self.path}/{what} is shorter than its {size} committed entries need: the log is damaged; "
                    "verify it against a checkpoint"
                )
        if length % 8:
            _LOG.warning("%s: cut a torn offset record after entry %d", self.path, size)
        return size

    @contextmanager
    def writing(self) -> Iterator[int]:
        if self.readonly:
            raise StoreError(f"{self.path}: the audit log is open read-only")
        with self._locked():
            yield self._recover()

    def append(self, start: int, data: Sequence[bytes], nodes: Sequence[Node]) -> None:
        end = self._end(start)
        chunk = b"\n".join(data) + b"\n"
        offsets = bytearray()
        for item in data:
            end += len(item) + 1
            offsets += end.to_bytes(8, "big")
        try:
            _pwrite_all(self._entries, chunk, self._end(start))
            _pwrite_all(self._tree, b"".join(node[2] for node in nodes), mmr_count(start) * _HASH)
            if self.durability == "fsync":
                os.fdatasync(self._entries)
                os.fdatasync(self._tree)
            _pwrite_all(self._offsets, bytes(offsets), start * 8)
            if self.durability == "fsync":
                os.fdatasync(self._offsets)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot append to the audit log: {exc.strerror or exc}") from exc

    def size(self) -> int:
        return os.fstat(self._offsets).st_size // 8

    def nodes(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        return {key: os.pread(self._tree, _HASH, mmr_position(*key) * _HASH) for key in keys}

    def read(self, start: int, end: int) -> list[bytes]:
        if start >= end:
            return []
        first = self._end(start)
        raw = os.pread(self._offsets, 8 * (end - start), start * 8)
        ends = [int.from_bytes(raw[i : i + 8], "big") for i in range(0, len(raw), 8)]
        blob = os.pread(self._entries, ends[-1] - first, first)
        out, at = [], 0
        for stop in ends:
            out.append(blob[at : stop - first - 1])
            at = stop - first
        return out

    def scan(self) -> Iterator[list[bytes]]:
        rest, at = b"", 0
        while chunk := os.pread(self._entries, _READ_CHUNK, at):
            at += len(chunk)
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            yield lines
        if rest:
            yield [rest]

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        end = min(end, self._sizes_from_tree())
        if start >= end:
            return []
        first = mmr_count(start)
        blob = os.pread(self._tree, (mmr_count(end) - first) * _HASH, first * _HASH)
        at = [(2 * i - i.bit_count() - first) * _HASH for i in range(start, end)]
        return [blob[p : p + _HASH] for p in at]

    def _sizes_from_tree(self) -> int:
        """The most leaves whose subtrees the tree file holds."""
        nodes = os.fstat(self._tree).st_size // _HASH
        size = nodes // 2
        while size and mmr_count(size) > nodes:
            size -= 1
        while mmr_count(size + 1) <= nodes:
            size += 1
        return size

    def add_checkpoint(self, size: int, note: str) -> None:
        with (self.path / "checkpoints.jsonl").open("a", encoding="utf-8") as out:
            out.write(json.dumps({"size": size, "note": note}) + "\n")
            out.flush()
            os.fsync(out.fileno())

    def checkpoints(self) -> list[tuple[int, str]]:
        path = self.path / "checkpoints.jsonl"
        if not path.exists():
            return []
        out = []
        for line in path.read_text("utf-8").splitlines():
            try:
                item = json.loads(line)
                out.append((int(item["size"]), str(item["note"])))
            except (ValueError, KeyError, TypeError):
                _LOG.warning("%s: skipped an unreadable line of checkpoints.jsonl", self.path)
        return out

    def close(self) -> None:
        for fd in (self._entries, self._tree, self._offsets, self._lock):
            with suppress(OSError):
                os.close(fd)

    def __repr__(self) -> str:
        return f"FileStore({str(self.path)!r})"


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, "utf-8")
    tmp.replace(path)


# --- the SQL stores ----------------------------------------------------------------------------------------

_TABLES: Final = (
    "CREATE TABLE IF NOT EXISTS {p}_entries (idx BIGINT PRIMARY KEY, data {blob} NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {p}_nodes (level INTEGER NOT NULL, idx BIGINT NOT NULL, hash {blob} NOT NULL, "
    "PRIMARY KEY (level, idx))",
    "CREATE TABLE IF NOT EXISTS {p}_checkpoints (size BIGINT NOT NULL, note TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {p}_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


class _SQLStore(Store):
    """What SQLite and PostgreSQL share: the tables, and every query but locking and bulk insert."""

    _blob = "BLOB"
    _mark = "?"

    def __init__(self, prefix: str) -> None:
        if not prefix.isidentifier() or not prefix.isascii():
            raise StoreError(f"table prefix {prefix!r} is not a plain SQL identifier")
        self._p = prefix
        self._lock = threading.RLock()
        self._in_write = False
        self.origin = None
        with self._guard("create the tables"):
            for statement in _TABLES:
                self._run(statement.format(p=self._p, blob=self._blob))
            self._commit()
            row = self._one(f"SELECT value FROM {self._p}_meta WHERE key = 'origin'")
            self.origin = row[0] if row else None

    def _run(self, sql: str, params: Sequence[Any] = ()) -> Any:
        raise NotImplementedError

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._run(sql, params).fetchone()

    def _commit(self) -> None:
        """End a read or a small write; inside ``writing()`` the writer's transaction goes on."""
        if not self._in_write:
            self._commit_now()

    def _commit_now(self) -> None:
        raise NotImplementedError

    def _errors(self) -> tuple[type[BaseException], ...]:
        raise NotImplementedError

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        with self._lock:
            try:
                yield
            except self._errors() as exc:
                raise StoreError(f"{self!r}: cannot {action}: {exc}") from exc

    def set_origin(self, origin: str) -> None:
        with self._guard("record the origin"):
            self._run(f"INSERT INTO {self._p}_meta (key, value) VALUES ('origin', {self._mark})", (origin,))
            self._commit()
        self.origin = origin

    def size(self) -> int:
        with self._guard("read the size"):
            (size,) = self._one(f"SELECT COALESCE(MAX(idx) + 1, 0) FROM {self._p}_entries")
            self._commit()
        return int(size)

    def nodes(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        keys = list(dict.fromkeys(keys))
        out: dict[tuple[int, int], bytes] = {}
        with self._guard("read tree nodes"):
            for at in range(0, len(keys), 200):
                part = keys[at : at + 200]
                where = " OR ".join([f"(level = {self._mark} AND idx = {self._mark})"] * len(part))
                params = [value for key in part for value in key]
                for level, idx, value in self._run(
                    f"SELECT level, idx, hash FROM {self._p}_nodes WHERE {where}", params
                ):
                    out[(int(level), int(idx))] = bytes(value)
            self._commit()
        missing = [key for key in keys if key not in out]
        if missing:
            raise StoreError(f"{self!r}: the tree nodes {missing[:3]} are missing: the log is damaged")
        return out

    def read(self, start: int, end: int) -> list[bytes]:
        with self._guard("read entries"):
            rows = self._run(
                f"SELECT data FROM {self._p}_entries WHERE idx >= {self._mark} AND idx < {self._mark} ORDER BY idx",
                (start, end),
            ).fetchall()
            self._commit()
        return [bytes(row[0]) for row in rows]

    def scan(self) -> Iterator[list[bytes]]:
        after = -1
        while True:
            with self._guard("read entries"):
                rows = self._run(
                    f"SELECT idx, data FROM {self._p}_entries WHERE idx > {self._mark} ORDER BY idx LIMIT 10000",
                    (after,),
                ).fetchall()
                self._commit()
            if not rows:
                return
            after = int(rows[-1][0])
            yield [bytes(row[1]) for row in rows]

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        with self._guard("read leaf hashes"):
            rows = self._run(
                f"SELECT hash FROM {self._p}_nodes WHERE level = 0 AND idx >= {self._mark} AND idx < {self._mark} "
                "ORDER BY idx",
                (start, end),
            ).fetchall()
            self._commit()
        return [bytes(row[0]) for row in rows]

    def add_checkpoint(self, size: int, note: str) -> None:
        with self._guard("keep a checkpoint"):
            self._run(
                f"INSERT INTO {self._p}_checkpoints (size, note) VALUES ({self._mark}, {self._mark})", (size, note)
            )
            self._commit()

    def checkpoints(self) -> list[tuple[int, str]]:
        with self._guard("read checkpoints"):
            rows = self._run(f"SELECT size, note FROM {self._p}_checkpoints ORDER BY size").fetchall()
            self._commit()
        return [(int(size), str(note)) for size, note in rows]


class SQLiteStore(_SQLStore):
    """A SQLite database in WAL mode; ``fsync`` durability is ``synchronous=FULL``."""

    def __init__(self, path: str | Path, *, durability: Durability = "fsync", prefix: str = "audit") -> None:
        self.path = Path(path)
        self.durability = durability
        try:
            self._conn = sqlite3.connect(self.path, timeout=120, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'fsync' else 'NORMAL'}")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open the SQLite audit log: {exc}") from exc
        super().__init__(prefix)

    def _errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.Error,)

    def _run(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(sql, params)

    def _commit_now(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("COMMIT")

    @contextmanager
    def writing(self) -> Iterator[int]:
        with self._guard("append"):
            self._conn.execute("BEGIN IMMEDIATE")
            self._in_write = True
            try:
                (size,) = self._one(f"SELECT COALESCE(MAX(idx) + 1, 0) FROM {self._p}_entries")
                yield int(size)
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            finally:
                self._in_write = False

    def append(self, start: int, data: Sequence[bytes], nodes: Sequence[Node]) -> None:
        self._conn.executemany(
            f"INSERT INTO {self._p}_entries (idx, data) VALUES (?, ?)",
            zip(range(start, start + len(data)), data, strict=True),
        )
        self._conn.executemany(f"INSERT INTO {self._p}_nodes (level, idx, hash) VALUES (?, ?, ?)", nodes)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"


class PostgresStore(_SQLStore):
    """A PostgreSQL database (psycopg 3); writers take a transaction-scoped advisory lock."""

    _blob = "BYTEA"
    _mark = "%s"

    def __init__(self, dsn: str, *, durability: Durability = "fsync", prefix: str = "audit") -> None:
        try:
            import psycopg
        except ImportError:
            raise StoreError("the PostgreSQL audit store needs psycopg: pip install 'aifabric[postgres]'") from None
        self._psycopg = psycopg
        self.dsn = dsn
        self.durability = durability
        try:
            self._conn = psycopg.connect(dsn)
            self._conn.execute(f"SET synchronous_commit = {'on' if durability == 'fsync' else 'off'}")
            self._conn.commit()
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL for the audit log: {exc}") from exc
        super().__init__(prefix)

    def _errors(self) -> tuple[type[BaseException], ...]:
        return (self._psycopg.Error,)

    def _run(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(sql, params)

    def _commit_now(self) -> None:
        self._conn.commit()

    @contextmanager
    def writing(self) -> Iterator[int]:
        with self._guard("append"):
            self._in_write = True
            try:
                self._run("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"aifabric.audit.{self._p}",))
                (size,) = self._one(f"SELECT COALESCE(MAX(idx) + 1, 0) FROM {self._p}_entries")
                yield int(size)
                self._conn.commit()
            except BaseException:
                self._conn.rollback()
                raise
            finally:
                self._in_write = False

    def append(self, start: int, data: Sequence[bytes], nodes: Sequence[Node]) -> None:
        with self._conn.cursor() as cur:
            with cur.copy(f"COPY {self._p}_entries (idx, data) FROM STDIN") as copy:
                for row in zip(range(start, start + len(data)), data, strict=True):
                    copy.write_row(row)
            with cur.copy(f"COPY {self._p}_nodes (level, idx, hash) FROM STDIN") as copy:
                for node in nodes:
                    copy.write_row(node)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __repr__(self) -> str:
        return "PostgresStore(<dsn>)"


def open_store(
    target: str | Path, *, durability: Durability = "fsync", create: bool = True, readonly: bool = False
) -> Store:
    """A store for a ``postgresql://`` DSN, a ``sqlite:///`` URL or ``*.sqlite``/``*.db`` file, or a directory.

    ``readonly`` opens a file store as found, without cutting a torn tail (to verify it); the SQL stores have no
    tail to cut.
    """
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresStore(text, durability=durability)
    if text.startswith("sqlite:///") or text.endswith((".sqlite", ".sqlite3", ".db")):
        path = Path(text.removeprefix("sqlite:///")) if text.startswith("sqlite:///") else Path(text)
        if (readonly or not create) and not path.exists():
            raise StoreError(f"{path}: no such audit log")
        return SQLiteStore(path, durability=durability)
    return FileStore(target, durability=durability, create=create, readonly=readonly)
