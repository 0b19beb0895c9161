"""The durable spool: append-only JSONL segment files, one checked record per line, and an acknowledged position.

A spool directory holds *lanes*; each emitter takes the first lane no other live emitter holds (an exclusive
``flock`` on the lane's ``LOCK`` file, released by the kernel when the process dies), so several processes can
share one spool directory and a restarted process finds what a dead one left::

    <dir>/lane-<n>/LOCK                 held by the one emitter writing and sending from this lane
    <dir>/lane-<n>/ACK                  the position (segment, offset) up to which records were delivered
    <dir>/lane-<n>/<20 digits>.jsonl    segments, oldest first; each process starts a new one

Each record is one line of JSON whose fixed-width header carries the payload's length and CRC-32, so a record
torn by a crash mid-write, or damaged on disk, is recognised and skipped, never handed on::

    {"len":      1234,"crc":1234567890,"event":<the event's compact JSON>}

The payload is compact JSON from orjson, which never holds a raw newline, so a newline always ends a record and
the reader resynchronises at the next one after damage. Delivery is acknowledged in order: ``ACK`` names the end
of the last delivered record, segments wholly before it are deleted, and on restart the records after it are
replayed in the order they were written. Losing ``ACK`` (or a crash before it is rewritten) replays more, which
duplicates and never loses: delivery is at least once.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NamedTuple

from aifabric._errors import SpoolError
from aifabric.lineage.config import FsyncPolicy

__all__ = ["Position", "Record", "Scan", "Spool", "SpoolError", "encode", "scan"]

_HEADER_LEN: Final = 43
_HEADER: Final = re.compile(rb'\{"len": *([0-9]{1,10}),"crc": *([0-9]{1,10}),"event":')
_TRAILER: Final = b"}\n"
_SUFFIX: Final = ".jsonl"
_SEGMENT: Final = re.compile(r"([0-9]{20})\.jsonl")
_MAX_LANES: Final = 256
_READ_CHUNK: Final = 1 << 20


class Position(NamedTuple):
    """A place in the spool: a segment number and a byte offset in it."""

    segment: int
    offset: int


class Record(NamedTuple):
    """One spooled event: its JSON bytes and the position just past it."""

    payload: bytes
    end: Position


def encode(payload: bytes) -> bytes:
    """The spool line for one event's JSON bytes (which must hold no raw newline)."""
    return b'{"len":%10d,"crc":%10d,"event":%b}\n' % (len(payload), zlib.crc32(payload), payload)


@dataclass(slots=True)
class Scan:
    """What :func:`scan` found in a buffer.

    Attributes:
        records: ``(payload, end offset)`` of every intact record, in order.
        corrupt: lines that ended in a newline but are not intact records (damage, or a torn write overwritten).
        consumed: offset just past the last newline; bytes after it are an incomplete (or torn) last line.
    """

    records: list[tuple[bytes, int]]
    corrupt: int
    consumed: int


def scan(data: bytes, start: int = 0) -> Scan:
    """Split ``data[start:]`` into intact records, counting damaged lines; never raises on any bytes."""
    records: list[tuple[bytes, int]] = []
    corrupt = 0
    pos = start
    find, match, crc32 = data.find, _HEADER.match, zlib.crc32
    while True:
        nl = find(b"\n", pos)
        if nl < 0:
            return Scan(records, corrupt, pos)
        head = match(data, pos, nl)
        if head is not None and head.end() - pos == _HEADER_LEN:
            size = int(head[1])
            first = pos + _HEADER_LEN
            if first + size + 1 == nl and data[nl - 1] == 0x7D:  # "}"
                payload = data[first : first + size]
                if crc32(payload) == int(head[2]):
                    records.append((payload, nl + 1))
                    pos = nl + 1
                    continue
        corrupt += 1
        pos = nl + 1


class Spool:
    """One lane of a spool directory, open for appending (one writer at a time) and for in-order reading."""

    def __init__(
        self,
        root: Path,
        *,
        fsync: FsyncPolicy = "batch",
        segment_bytes: int = 16 << 20,
        max_bytes: int = 1 << 30,
    ) -> None:
        self.root = Path(root)
        self.fsync: FsyncPolicy = fsync
        self._segment_bytes = segment_bytes
        self._max_bytes = max_bytes
        self._mutex = threading.Lock()
        self._write_lock = threading.Lock()
        self._closed = False
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.dir, self._lock_fd = _take_lane(self.root)
        except OSError as exc:
            raise SpoolError(f"{self.root}: cannot use the spool directory: {exc.strerror or exc}") from None
        self.ack_position = _read_ack(self.dir / "ACK")
        self._sizes: dict[int, int] = {}  # segment -> bytes committed (whole file for old segments)
        self.pending = 0
        self.corrupt = 0
        self.torn = 0
        self._load()
        self._active: int | None = None
        self._active_fd: int | None = None
        self._read_fds: dict[int, int] = {}

    # --- opening ---------------------------------------------------------------------------------------

    def _load(self) -> None:
        """Delete delivered segments; count the intact, damaged and torn records still to be sent."""
        found = sorted(int(m[1]) for p in self.dir.iterdir() if (m := _SEGMENT.fullmatch(p.name)))
        ack = self.ack_position
        for number in found:
            path = self._path(number)
            if number < ack.segment:
                path.unlink(missing_ok=True)
                continue
            data = path.read_bytes()
            self._sizes[number] = len(data)
            start = ack.offset if number == ack.segment else 0
            if start > len(data):
                continue
            found_scan = scan(data, start)
            self.pending += len(found_scan.records)
            self.corrupt += found_scan.corrupt
            if found_scan.consumed < len(data):
                self.torn += 1
        self._next = max([ack.segment, *found]) + 1

    @property
    def total_bytes(self) -> int:
        """Bytes the lane's segments hold on disk."""
        with self._mutex:
            return sum(self._sizes.values())

    def _path(self, number: int) -> Path:
        return self.dir / f"{number:020d}{_SUFFIX}"

    # --- writing ---------------------------------------------------------------------------------------

    def append(self, payloads: list[bytes], *, sync: bool = False) -> int:
        """Append events in order; returns how many fitted under ``max_bytes`` (a prefix of ``payloads``).

        Raises:
            OSError: the write failed (the segment is cut back to its last whole record first).
        """
        lines = [encode(p) for p in payloads]
        with self._write_lock:
            if self._closed:
                return 0
            with self._mutex:
                room = self._max_bytes - sum(self._sizes.values())
            taken = 0
            for line in lines:
                if len(line) > room:
                    break
                room -= len(line)
                taken += 1
            if not taken:
                return 0
            fd, number = self._writable()
            data = b"".join(lines[:taken])
            before = self._sizes[number]
            try:
                _write_all(fd, data)
                if sync:
                    os.fsync(fd)
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, before)
                with contextlib.suppress(OSError):
                    self._rotate()
                raise
            with self._mutex:
                self._sizes[number] = before + len(data)
                self.pending += taken
            return taken

    def _writable(self) -> tuple[int, int]:
        """The active segment's descriptor and number, starting a new segment when it is full."""
        if self._active_fd is not None and self._active is not None:
            if self._sizes[self._active] < self._segment_bytes:
                return self._active_fd, self._active
            self._rotate()
        number = self._next
        self._next += 1
        fd = os.open(self._path(number), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        if self.fsync != "never":
            _fsync_dir(self.dir)
        with self._mutex:
            self._sizes[number] = 0
            self._active, self._active_fd = number, fd
        return fd, number

    def _rotate(self) -> None:
        if self._active_fd is None:
            return
        fd = self._active_fd
        with self._mutex:
            self._active, self._active_fd = None, None
        try:
            if self.fsync != "never":
                os.fsync(fd)
        finally:
            os.close(fd)

    def sync(self) -> None:
        """Force written records to stable storage (the ``batch`` policy calls this on its interval)."""
        with self._write_lock:
            if self._active_fd is not None:
                os.fsync(self._active_fd)

    # --- reading and acknowledging ---------------------------------------------------------------------

    def read(self, after: Position, *, max_records: int, max_bytes: int) -> list[Record]:
        """Up to ``max_records`` intact records after ``after``, within ``max_bytes`` (always one, if any)."""
        out: list[Record] = []
        size = 0
        segment, offset = after
        while True:
            with self._mutex:
                if self._closed:
                    return out
                numbers = sorted(n for n in self._sizes if n >= segment)
                if not numbers:
                    return out
                if numbers[0] != segment:
                    segment, offset = numbers[0], 0
                end = self._sizes[segment]
                sealed = segment != self._active
            later = numbers[1] if len(numbers) > 1 else None
            found = self._scan_at(segment, offset, end, max_bytes) if offset < end else Scan([], 0, 0)
            if not found.records and found.consumed == 0:  # the segment's end, or a torn last line
                if sealed and later is not None:
                    segment, offset = later, 0
                    continue
                return out
            for payload, stop in found.records:
                if out and size + len(payload) > max_bytes:
                    return out
                out.append(Record(payload, Position(segment, offset + stop)))
                size += len(payload)
                if len(out) >= max_records:
                    return out
            offset += found.consumed

    def _scan_at(self, segment: int, offset: int, end: int, max_bytes: int) -> Scan:
        with self._mutex:  # close() must not close a descriptor while it is read
            if self._closed:
                return Scan([], 0, 0)
            data = self._pread(segment, offset, min(end - offset, max(_READ_CHUNK, max_bytes)))
            if len(data) < end - offset and b"\n" not in data:  # one record longer than a chunk
                data = self._pread(segment, offset, end - offset)
        return scan(data)

    def _pread(self, segment: int, offset: int, size: int) -> bytes:
        fd = self._read_fds.get(segment)
        if fd is None:
            for old in [n for n in self._read_fds if n < segment]:
                os.close(self._read_fds.pop(old))
            fd = os.open(self._path(segment), os.O_RDONLY | os.O_CLOEXEC)
            self._read_fds[segment] = fd
        return os.pread(fd, size, offset)

    def ack(self, position: Position, count: int) -> None:
        """Record that every record up to ``position`` (``count`` more of them) was delivered or given up."""
        with self._mutex:
            if self._closed:
                return
            self.pending = max(0, self.pending - count)
            done = [n for n in self._sizes if n < position.segment and n != self._active]
        self.ack_position = position
        _write_ack(self.dir / "ACK", position)
        for number in done:
            with self._mutex:
                fd = self._read_fds.pop(number, None)
                if fd is not None:
                    os.close(fd)
                self._sizes.pop(number, None)
            self._path(number).unlink(missing_ok=True)

    def close(self) -> None:
        """Sync and close the active segment, delete the lane's delivered segments and release the lane."""
        with self._write_lock:
            self._rotate()
            with self._mutex:
                if self._closed:
                    return
                self._closed = True
                everything_sent = self.pending == 0
                for fd in self._read_fds.values():
                    os.close(fd)
                self._read_fds.clear()
            if everything_sent:
                for number in list(self._sizes):
                    self._path(number).unlink(missing_ok=True)
                self._sizes.clear()
            os.close(self._lock_fd)  # releases the flock


def _take_lane(root: Path) -> tuple[Path, int]:
    for n in range(_MAX_LANES):
        lane = root / f"lane-{n}"
        lane.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(lane / "LOCK", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                continue
            raise
        return lane, fd
    raise SpoolError(f"{root}: all {_MAX_LANES} spool lanes are held by live emitters")


def _read_ack(path: Path) -> Position:
    """The acknowledged position, or the start when the file is missing or damaged (replaying more, losing none)."""
    try:
        text = path.read_bytes()
    except OSError:
        return Position(0, 0)
    match = re.fullmatch(rb"([0-9]{20}) ([0-9]{20}) ([0-9a-f]{8})\n", text)
    if match is None or int(match[3], 16) != zlib.crc32(match[1] + b" " + match[2]):
        return Position(0, 0)
    return Position(int(match[1]), int(match[2]))


def _write_ack(path: Path, position: Position) -> None:
    body = b"%020d %020d" % position
    tmp = path.with_name("ACK.tmp")
    tmp.write_bytes(b"%b %08x\n" % (body, zlib.crc32(body)))
    tmp.replace(path)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
