"""Manifests of a model file or directory tree in the OpenSSF model-signing v1.0 format, hashed in parallel.

A manifest pairs every regular file of a model (or every shard of every file) with its digest, exactly as the
``https://model_signing/signature/v1.0`` predicate records it: the same resource names, order, algorithm labels,
``serialization`` block and root digest as the ``model-signing`` tool, so each side verifies what the other signs.

Files (or shards) are hashed by a pool of threads, largest first. SHA-256 reads through a buffer each thread
reuses, with a reader thread filling the next buffer where a core would otherwise idle (one big file, the last
file of a tree); it maps nothing, so a file cut short while hashed is an error, not a crash. BLAKE3 maps files of
4 MiB and more and hashes each with all cores, as ``model-signing`` and ``b3sum`` do: a mapped file truncated by
another process while it is hashed stops the process (SIGBUS).

Examples:
    >>> import pathlib, tempfile
    >>> from aifabric.signing.digests import hash_tree
    >>> model = pathlib.Path(tempfile.mkdtemp()) / "model"
    >>> (model / "weights").mkdir(parents=True)
    >>> _ = (model / "config.json").write_bytes(b"{}")
    >>> _ = (model / "weights" / "part-1.bin").write_bytes(bytes(10))
    >>> manifest = hash_tree(model)
    >>> manifest.name, [name for name, _ in manifest.items]
    ('model', ['config.json', 'weights/part-1.bin'])
    >>> manifest.resources()[0]["digest"][:16]
    '44136fa355b3678a'
    >>> manifest.serialization.to_json()["ignore_paths"]
    ['.git', '.gitattributes', '.github', '.gitignore']
    >>> _ = (model / "weights" / "part-1.bin").write_bytes(bytes(11))
    >>> hash_tree(model).diff(manifest)
    (['weights/part-1.bin'], [], [])
"""

from __future__ import annotations

import hashlib
import mmap
import os
import queue
import re
import stat
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final, Literal, get_args

import blake3

from aifabric._errors import BundleError, DigestMismatchError, DocumentError

__all__ = ["DEFAULT_IGNORE", "Algorithm", "Manifest", "Method", "Serialization", "hash_tree"]

Algorithm = Literal["sha256", "blake3"]
Method = Literal["files", "shards"]

DEFAULT_IGNORE: Final[tuple[str, ...]] = (".git", ".gitattributes", ".github", ".gitignore")
"""The git paths ``model-signing`` leaves out of every model unless told otherwise."""

_DEFAULT_SHARD_SIZE: Final = 1_000_000_000  # model-signing's default shard size (1 GB, not 1 GiB)
_BUFFER: Final = 4 << 20  # bytes read at once, into a buffer each thread reuses
_PIPELINE_MIN: Final = 32 << 20  # SHA-256 files this big may get a reader thread beside the hashing thread
_MMAP_MIN: Final = 4 << 20  # BLAKE3 files this big are memory-mapped and hashed with several threads
_MMAP_STEP: Final = 64 << 20  # bytes of a mapped file handed to BLAKE3 at once (and reported as progress)
_HEX: Final = re.compile(r"[0-9a-fA-F]{64}")
_OFFSET: Final = re.compile(r"0|[1-9][0-9]*")
_METHOD_KEYS: Final = {
    "files": ("method", "hash_type", "allow_symlinks"),
    "shards": ("method", "hash_type", "shard_size", "allow_symlinks"),
}


def _check_relative(raw: str) -> str | None:
    """Why ``raw`` is not a normalised relative POSIX path inside the model, or None when it is."""
    if not raw or raw == ".":
        return "names the model itself"
    path = PurePosixPath(raw)
    if path.is_absolute():
        return "is absolute"
    if ".." in path.parts:
        return "climbs out with '..'"
    return None


@dataclass(frozen=True)
class Serialization:
    """How a manifest was made: the ``predicate.serialization`` object of a model signature.

    Attributes:
        method: ``files`` (one digest per file) or ``shards`` (one per ``shard_size`` slice of each file).
        hash_type: the digest algorithm.
        allow_symlinks: whether symbolic links were followed rather than refused.
        ignore_paths: paths relative to the model root that were left out (a file, or a folder and all in it).
        shard_size: bytes per shard for ``shards``; None for ``files``.
    """

    method: Method
    hash_type: Algorithm
    allow_symlinks: bool
    ignore_paths: tuple[str, ...]
    shard_size: int | None

    def __post_init__(self) -> None:
        if self.method not in get_args(Method):
            raise ValueError(f"unknown serialization method {self.method!r}")
        if self.hash_type not in get_args(Algorithm):
            raise ValueError(f"unknown hash_type {self.hash_type!r}")
        if not isinstance(self.allow_symlinks, bool):
            raise ValueError("allow_symlinks must be true or false")
        if not isinstance(self.ignore_paths, tuple) or not all(isinstance(p, str) for p in self.ignore_paths):
            raise ValueError("ignore_paths must be a tuple of strings")
        for raw in self.ignore_paths:
            if (why := _check_relative(raw)) is not None:
                raise ValueError(f"ignore path {raw!r} {why}")
        if self.method == "files":
            if self.shard_size is not None:
                raise ValueError("the files method has no shard_size")
        elif isinstance(self.shard_size, bool) or not isinstance(self.shard_size, int) or self.shard_size <= 0:
            raise ValueError("the shards method needs a positive integer shard_size")
        elif self.hash_type == "blake3":
            raise ValueError("model-signing hashes BLAKE3 by files, never by shards")

    @property
    def resource_algorithm(self) -> str:
        """The ``algorithm`` each resource carries: the hash type, with ``-sharded-<size>`` for shards."""
        if self.method == "shards":
            return f"{self.hash_type}-sharded-{self.shard_size}"
        return self.hash_type

    def to_json(self) -> dict[str, Any]:
        """The ``predicate.serialization`` object, keys in model-signing's order; no ``ignore_paths`` when empty."""
        out: dict[str, Any] = {"method": self.method, "hash_type": self.hash_type}
        if self.method == "shards":
            out["shard_size"] = self.shard_size
        out["allow_symlinks"] = self.allow_symlinks
        if self.ignore_paths:
            out["ignore_paths"] = list(self.ignore_paths)
        return out

    @classmethod
    def from_json(cls, value: Any) -> Serialization:
        """Parse a ``predicate.serialization`` object.

        A whole-number float ``shard_size`` (what protobuf's JSON printer makes of model-signing's integer) is
        read as that integer; the order of ``ignore_paths`` is kept.

        Raises:
            BundleError: not an object, a member missing or unknown, a wrong type, an unknown method or
                algorithm, an ignore path that is absolute or climbs out with ``..``.
        """
        if not isinstance(value, Mapping):
            raise BundleError("the model signature's serialization must be a JSON object")
        method = value.get("method")
        if not isinstance(method, str) or method not in _METHOD_KEYS:
            raise BundleError(f"unknown serialization method {method!r} (known: files, shards)")
        known = {*_METHOD_KEYS[method], "ignore_paths"}
        if missing := [key for key in _METHOD_KEYS[method] if key not in value]:
            raise BundleError(f"the {method} serialization lacks {', '.join(missing)}")
        if unknown := sorted(str(key) for key in value if key not in known):
            raise BundleError(f"the {method} serialization has unknown members: {', '.join(unknown)}")
        shard_size = value.get("shard_size")
        if isinstance(shard_size, float) and shard_size.is_integer():
            shard_size = int(shard_size)
        ignore = value.get("ignore_paths", [])
        if not isinstance(ignore, list):
            raise BundleError("the serialization's ignore_paths must be a list of strings")
        try:
            return cls(value["method"], value["hash_type"], value["allow_symlinks"], tuple(ignore), shard_size)
        except ValueError as exc:
            raise BundleError(f"bad model signature serialization: {exc}") from None


@dataclass(frozen=True)
class Manifest:
    """The digests of a model: what a model signature's predicate lists, and its root digest.

    Attributes:
        name: the model's name, the statement subject's ``name`` (the final component of the model path).
        serialization: how the digests were made.
        items: ``(resource name, lower-case hex digest)`` in predicate order: sorted by path component, then
            by shard offset; a shard's name is ``path:start:end``; a single-file model's file is named ``.``.
    """

    name: str
    serialization: Serialization
    items: tuple[tuple[str, str], ...]

    def resources(self) -> list[dict[str, str]]:
        """The predicate's ``resources`` list: ``name``, ``algorithm`` and ``digest`` of each item."""
        algorithm = self.serialization.resource_algorithm
        return [{"name": name, "algorithm": algorithm, "digest": digest} for name, digest in self.items]

    def root_digest(self) -> str:
        """The subject's SHA-256: over the raw bytes of every item's digest, concatenated in item order."""
        hasher = hashlib.sha256()
        for _, digest in self.items:
            hasher.update(bytes.fromhex(digest))
        return hasher.hexdigest()

    def check_root(self, expected_hex: str) -> None:
        """Check that the items hash to the signed root digest.

        Raises:
            DigestMismatchError: they hash to something else.
        """
        actual = self.root_digest()
        if not isinstance(expected_hex, str) or expected_hex.lower() != actual:
            raise DigestMismatchError(
                f"the signed resources hash to sha256:{actual}, not to the subject's sha256:{expected_hex}"
            )

    @classmethod
    def from_predicate(cls, name: str, predicate: Mapping[str, Any]) -> Manifest:
        """Read the manifest a model signature's predicate carries; the root digest is the caller's to check.

        Members of the predicate other than ``serialization`` and ``resources`` are ignored, as v1.0 says.

        Raises:
            BundleError: anything malformed: a resource with another algorithm than its serialization's, a
                digest that is not 64 hex digits, a bad or duplicate name, a shard that is not a slice of
                ``shard_size``.
        """
        if not isinstance(name, str):
            raise BundleError("the model signature's subject name must be a string")
        if not isinstance(predicate, Mapping):
            raise BundleError("the model signature's predicate must be a JSON object")
        serialization = Serialization.from_json(predicate.get("serialization"))
        resources = predicate.get("resources")
        if not isinstance(resources, list):
            raise BundleError("the model signature's predicate has no resources list")
        algorithm = serialization.resource_algorithm
        items: list[tuple[str, str]] = []
        seen: set[str] = set()
        for index, resource in enumerate(resources):
            where = f"resource {index}"
            if not isinstance(resource, Mapping) or set(resource) != {"name", "algorithm", "digest"}:
                raise BundleError(f"{where} must be an object with exactly name, algorithm and digest")
            item, label, digest = resource["name"], resource["algorithm"], resource["digest"]
            if label != algorithm:
                raise BundleError(f"{where} is hashed with {label!r}, but the serialization says {algorithm!r}")
            if not isinstance(digest, str) or not _HEX.fullmatch(digest):
                raise BundleError(f"{where} has a digest that is not 64 hex digits")
            if not isinstance(item, str) or item in seen:
                raise BundleError(f"{where} has a missing or duplicate name")
            if (why := _check_item(item, serialization)) is not None:
                raise BundleError(f"{where} ({item!r}) {why}")
            seen.add(item)
            items.append((item, digest.lower()))
        manifest = cls(name, serialization, tuple(items))
        paths = manifest._by_file()
        if "." in paths and len(paths) > 1:
            raise BundleError("a resource named '.' (a single-file model) cannot sit beside other files")
        return manifest

    def diff(self, other: Manifest) -> tuple[list[str], list[str], list[str]]:
        """Compare this (local) manifest with ``other`` (the signed one), file by file.

        Returns:
            ``(changed, added, missing)`` sorted file paths: in both with different digests (for shards, any
            shard differs), only in this manifest, only in ``other``.
        """
        mine, theirs = self._by_file(), other._by_file()
        changed = sorted(path for path in mine.keys() & theirs.keys() if mine[path] != theirs[path])
        return changed, sorted(mine.keys() - theirs.keys()), sorted(theirs.keys() - mine.keys())

    def _by_file(self) -> dict[str, frozenset[tuple[str, str]]]:
        """File path to the set of its ``(resource name, digest)`` items."""
        shards = self.serialization.method == "shards"
        files: dict[str, set[tuple[str, str]]] = {}
        for item, digest in self.items:
            path = item.rsplit(":", 2)[0] if shards else item
            files.setdefault(path, set()).add((item, digest))
        return {path: frozenset(found) for path, found in files.items()}


def _check_item(item: str, serialization: Serialization) -> str | None:
    """Why a resource name cannot be one model-signing writes for this serialization, or None."""
    path = item
    if serialization.method == "shards":
        parts = item.rsplit(":", 2)
        if len(parts) != 3 or not all(_OFFSET.fullmatch(p) for p in parts[1:]):
            return "is not path:start:end"
        path, start, end = parts[0], int(parts[1]), int(parts[2])
        size = serialization.shard_size
        assert size is not None
        if start % size or not 0 < end - start <= size:
            return f"is not a slice of a {size}-byte shard"
    if path == ".":
        return None  # a single-file model; from_predicate checks it is the only path
    if (why := _check_relative(path)) is not None:
        return why
    if str(PurePosixPath(path)) != path:
        return "is not a normalised POSIX path"
    return None


@dataclass(frozen=True, slots=True)
class _Job:
    """One digest to compute: a whole file (``end`` None) or the ``[start, end)`` slice of one."""

    parts: tuple[str, ...]
    full: str
    size: int
    start: int = 0
    end: int | None = None


class _Shared:
    """What the pool's threads share: how many jobs are not finished, and whether to stop early."""

    def __init__(self, count: int) -> None:
        self._left = count
        self._lock = threading.Lock()
        self.stop = threading.Event()

    def left(self) -> int:
        with self._lock:
            return self._left

    def done(self) -> None:
        with self._lock:
            self._left -= 1


class _GaveUpError(Exception):
    """Another job failed, so this one gave up (never seen outside: the first failure is raised)."""


@dataclass(frozen=True, slots=True)
class _Plan:
    """What every job shares: the algorithm, how to read, and how many jobs are left."""

    algorithm: Algorithm
    follow: bool
    workers: int
    threads: int
    buffer_size: int
    pipeline_min: int
    mmap_min: int
    progress: Callable[[int], None] | None
    shared: _Shared

    def step(self, n: int) -> None:
        """Report ``n`` more bytes hashed, or give up if another job has failed."""
        if self.shared.stop.is_set():
            raise _GaveUpError
        if self.progress is not None:
            self.progress(n)


_local = threading.local()


def _buffer(size: int) -> bytearray:
    """This thread's reusable read buffer (pool threads end with the pool, and their buffers with them)."""
    buf: bytearray | None = getattr(_local, "buffer", None)
    if buf is None or len(buf) != size:
        buf = _local.buffer = bytearray(size)
    return buf


def _read_error(full: str, exc: OSError) -> DocumentError:
    return DocumentError(f"cannot be read: {exc.strerror or exc}", source=full, rule="read")


def _open(job: _Job, plan: _Plan) -> int:
    """Open a regular file without ever blocking (a FIFO swapped in after the scan is refused, not waited on)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    if not plan.follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(job.full, flags)
    except OSError as exc:
        if not plan.follow and Path(job.full).is_symlink():
            raise _symlink_error(job.full) from None
        raise _read_error(job.full, exc) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise DocumentError("is not a regular file (a FIFO, socket or device?)", source=job.full, rule="read")
    return fd


def _run(job: _Job, plan: _Plan) -> str:
    """The lower-case hex digest of one job."""
    try:
        fd = _open(job, plan)
        with os.fdopen(fd, "rb", buffering=0) as stream:
            if plan.algorithm == "blake3":
                return _blake3(stream, job, plan)
            hasher = hashlib.sha256()
            # A reader thread pays only where a core would otherwise idle: the last jobs, or a lone big file.
            if job.end is None and job.size >= plan.pipeline_min and plan.shared.left() < plan.workers:
                _pipelined(stream, hasher.update, plan)
            else:
                _sequential(stream, hasher.update, job, plan)
            return hasher.hexdigest()
    except OSError as exc:
        raise _read_error(job.full, exc) from None
    finally:
        plan.shared.done()


def _sequential(stream: Any, update: Callable[[memoryview], object], job: _Job, plan: _Plan) -> None:
    """Feed ``[start, end)`` (or all) of the file to ``update`` through this thread's buffer."""
    buf = _buffer(plan.buffer_size)
    view = memoryview(buf)
    left = None if job.end is None else job.end - job.start
    if job.start:
        stream.seek(job.start)
    while left is None or left > 0:
        n = stream.readinto(view if left is None or left >= len(buf) else view[:left])
        if not n:
            if left is not None:
                raise DocumentError("shrank while it was being hashed", source=job.full, rule="read")
            break
        update(view[:n])
        if left is not None:
            left -= n
        plan.step(n)


def _pipelined(stream: Any, update: Callable[[memoryview], object], plan: _Plan) -> None:
    """Feed the whole file to ``update`` while a reader thread fills the next buffer (three buffers at most)."""
    free: queue.SimpleQueue[bytearray | None] = queue.SimpleQueue()
    full: queue.SimpleQueue[tuple[bytearray, int] | BaseException] = queue.SimpleQueue()
    for _ in range(3):
        free.put(bytearray(plan.buffer_size))

    def read() -> None:
        try:
            while (buf := free.get()) is not None:
                n = stream.readinto(buf)
                full.put((buf, n))
                if not n:
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the hashing thread, which raises it
            full.put(exc)

    reader = threading.Thread(target=read, name="aifabric-digest-reader", daemon=True)
    reader.start()
    try:
        while True:
            got = full.get()
            if isinstance(got, BaseException):
                raise got
            buf, n = got
            if not n:
                break
            update(memoryview(buf)[:n])
            free.put(buf)
            plan.step(n)
    finally:
        free.put(None)
        reader.join()


def _blake3(stream: Any, job: _Job, plan: _Plan) -> str:
    """BLAKE3 of a whole file: mapped and multithreaded when big, through this thread's buffer when small."""
    size = os.fstat(stream.fileno()).st_size
    if size < max(plan.mmap_min, 1):  # an empty file cannot be mapped
        small = blake3.blake3()
        _sequential(stream, small.update, job, plan)
        return small.hexdigest()
    hasher = blake3.blake3(max_threads=plan.threads)
    with mmap.mmap(stream.fileno(), size, access=mmap.ACCESS_READ) as mapped:
        view = memoryview(mapped)
        try:
            for start in range(0, size, _MMAP_STEP):
                hasher.update(view[start : start + _MMAP_STEP])
                plan.step(min(_MMAP_STEP, size - start))
        finally:
            view.release()
    return hasher.hexdigest()


def _symlink_error(full: str) -> DocumentError:
    return DocumentError("is a symbolic link; pass allow_symlinks=True to follow it", source=full, rule="symlink")


def _scan(root: str, ignore: frozenset[tuple[str, ...]], allow_symlinks: bool) -> list[_Job]:
    """Every regular file under ``root`` that is not ignored, as ``(parts, full path, size)`` jobs.

    Ignored folders are not entered. A link to a file counts as that file; a link to a folder is listed but
    not entered, as model-signing's ``Path.glob("**/*")`` does.
    """
    found: list[_Job] = []
    stack: list[tuple[str, ...]] = [()]
    while stack:
        parts = stack.pop()
        folder = os.path.join(root, *parts)  # noqa: PTH118 - str paths: scandir hands back str
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError as exc:
            raise _read_error(folder, exc) from None
        for entry in entries:
            rel = (*parts, entry.name)
            if rel in ignore:
                continue
            full = entry.path
            try:
                entry.name.encode("utf-8")
            except UnicodeEncodeError:
                raise DocumentError("has a name that is not UTF-8", source=full, rule="path") from None
            try:
                if entry.is_symlink():
                    if not allow_symlinks:
                        raise _symlink_error(full)
                    try:
                        target = Path(full).stat()
                    except OSError as exc:
                        raise DocumentError(
                            f"is a symbolic link that leads nowhere: {exc.strerror or exc}", source=full, rule="read"
                        ) from None
                    if stat.S_ISDIR(target.st_mode):
                        continue
                    mode, size = target.st_mode, target.st_size
                elif entry.is_dir(follow_symlinks=False):
                    stack.append(rel)
                    continue
                else:
                    info = entry.stat(follow_symlinks=False)
                    mode, size = info.st_mode, info.st_size
            except OSError as exc:
                raise _read_error(full, exc) from None
            if not stat.S_ISREG(mode):
                raise DocumentError(
                    "is not a regular file or folder (a FIFO, socket or device?)", source=full, rule="read"
                )
            found.append(_Job(rel, full, size))
    return found


def _ignore_set(ignore: Iterable[str]) -> tuple[frozenset[tuple[str, ...]], tuple[str, ...]]:
    """The ignore paths as component tuples, and as the sorted normalised names the manifest records."""
    entries = [ignore] if isinstance(ignore, str) else list(ignore)
    parts: set[tuple[str, ...]] = set()
    for raw in entries:
        text = os.fspath(raw)
        if not isinstance(text, str):
            raise TypeError(f"ignore paths must be strings, not {type(raw).__name__}")
        if (why := _check_relative(text)) is not None:
            raise DocumentError(f"ignore path {why}; give paths relative to the model root", source=text, rule="path")
        parts.add(PurePosixPath(text).parts)
    return frozenset(parts), tuple(sorted("/".join(p) for p in parts))


def _model_name(root: Path) -> str:
    """The final component of the path, resolved when there is none (``.``) or it is ``..``."""
    name = root.name
    if not name or name == "..":
        name = root.resolve().name
    return name


def hash_tree(
    path: str | Path,
    *,
    algorithm: Algorithm = "sha256",
    method: Method = "files",
    shard_size: int = _DEFAULT_SHARD_SIZE,
    ignore: Iterable[str] = DEFAULT_IGNORE,
    allow_symlinks: bool = False,
    workers: int | None = None,
    name: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Manifest:
    """Hash a model file or directory tree into its manifest, as ``model-signing`` would.

    Args:
        path: the model: one file, or a folder whose regular files are all hashed.
        algorithm: ``sha256`` or ``blake3``.
        method: ``files`` (a digest per file) or ``shards`` (a digest per ``shard_size`` slice, hashed in
            parallel even within one file). Like model-signing, BLAKE3 is always hashed by files: it is
            already parallel within a file.
        shard_size: bytes per shard (model-signing's default, 10**9).
        ignore: paths relative to the model root to leave out: a file, or a folder and everything in it.
        allow_symlinks: follow symbolic links instead of refusing them; a link to a file is hashed under the
            link's name (even when it points outside the model), a link to a folder is skipped.
        workers: hashing threads (default: one per core).
        name: the model name to record (default: the final component of ``path``).
        progress: called with each count of bytes hashed, from any thread.

    Raises:
        DocumentError: ``rule`` ``symlink`` for a refused link, ``read`` for a FIFO, socket, device, dangling
            link, unreadable file or a shard cut short while hashed, ``path`` for an ignore path that is
            absolute, has ``..`` or names the model itself, or a file name that is not UTF-8; ``source`` is the
            path (or the ignore path) at fault.
        ValueError: an unknown algorithm or method, or a shard size or worker count that is not positive.
    """
    return _hash_tree(
        path,
        algorithm=algorithm,
        method=method,
        shard_size=shard_size,
        ignore=ignore,
        allow_symlinks=allow_symlinks,
        workers=workers,
        name=name,
        progress=progress,
    )


def _hash_tree(
    path: str | Path,
    *,
    algorithm: Algorithm = "sha256",
    method: Method = "files",
    shard_size: int = _DEFAULT_SHARD_SIZE,
    ignore: Iterable[str] = DEFAULT_IGNORE,
    allow_symlinks: bool = False,
    workers: int | None = None,
    name: str | None = None,
    progress: Callable[[int], None] | None = None,
    buffer_size: int = _BUFFER,
    pipeline_min: int = _PIPELINE_MIN,
    mmap_min: int = _MMAP_MIN,
) -> Manifest:
    """``hash_tree`` with the internal read sizes exposed, so tests can prove they do not change the result."""
    if algorithm not in get_args(Algorithm):
        raise ValueError(f"unknown algorithm {algorithm!r} (known: sha256, blake3)")
    if method not in get_args(Method):
        raise ValueError(f"unknown method {method!r} (known: files, shards)")
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size <= 0:
        raise ValueError(f"shard_size must be a positive integer, not {shard_size!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive integer, not {workers!r}")
    if buffer_size < 1:
        raise ValueError("buffer_size must be positive")
    if algorithm == "blake3":
        method = "files"  # model-signing's use_shard_serialization does the same for BLAKE3
    ignored, ignore_names = _ignore_set(ignore)
    root = Path(path)
    serialization = Serialization(
        method, algorithm, allow_symlinks, ignore_names, shard_size if method == "shards" else None
    )
    source = str(root)
    try:
        if root.is_symlink() and not allow_symlinks:
            raise _symlink_error(source)
        info = root.stat()
    except OSError as exc:
        raise _read_error(source, exc) from None
    if stat.S_ISREG(info.st_mode):
        files = [_Job((".",), source, info.st_size)]
    elif stat.S_ISDIR(info.st_mode):
        files = _scan(source, ignored, allow_symlinks)
    else:
        raise DocumentError("is not a regular file or folder (a FIFO, socket or device?)", source=source, rule="read")

    jobs: list[_Job] = []
    if method == "shards":
        for file in files:
            if not file.size:
                continue  # an empty file has no shards, so model-signing lists nothing for it
            ends = [*range(shard_size, file.size, shard_size), file.size]
            starts = [0, *ends[:-1]]
            pairs = zip(starts, ends, strict=True)
            jobs.extend(_Job(file.parts, file.full, end - start, start, end) for start, end in pairs)
    else:
        jobs = files
    jobs.sort(key=lambda job: -job.size)  # largest first: the pool ends together

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    count = workers or cores
    threads = count if workers else blake3.blake3.AUTO
    plan = _Plan(
        algorithm, allow_symlinks, count, threads, buffer_size, pipeline_min, mmap_min, progress, _Shared(len(jobs))
    )
    digests = _run_all(jobs, plan, count)

    keyed = sorted(zip(jobs, digests, strict=True), key=lambda pair: (pair[0].parts, pair[0].start))
    items = tuple(
        (f"{'/'.join(job.parts)}:{job.start}:{job.end}" if method == "shards" else "/".join(job.parts), digest)
        for job, digest in keyed
    )
    return Manifest(name if name is not None else _model_name(root), serialization, items)


def _run_all(jobs: list[_Job], plan: _Plan, workers: int) -> list[str]:
    """Every job's digest, in job order, from a pool of ``workers`` threads; the first failure stops the rest."""
    if not jobs:
        return []
    results: list[str] = [""] * len(jobs)
    with ThreadPoolExecutor(max_workers=min(workers, len(jobs)), thread_name_prefix="aifabric-digest") as pool:
        futures: dict[Future[str], int] = {pool.submit(_run, job, plan): index for index, job in enumerate(jobs)}
        try:
            for future in as_completed(futures):
                results[futures[future]] = future.result()
        except BaseException:
            plan.shared.stop.set()
            for future in futures:
                future.cancel()
            raise
    return results
