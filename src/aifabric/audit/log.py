"""The audit log: append-only, every entry a leaf of an RFC 9162 Merkle tree, with signed checkpoints.

Appends from many threads are committed together (group commit): each caller returns once the batch that holds
its entry is durable. Processes share a log through the store's lock. Proofs and checkpoints come from the log;
:func:`verify` checks a whole log against a checkpoint, and :func:`verify_proof` checks one proof document with
nothing but the proof and a verifier key.

Examples:
    >>> import tempfile
    >>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    >>> from aifabric.audit import NoteSigner, open_log, verify
    >>> signer = NoteSigner("example.com/audit", Ed25519PrivateKey.generate())
    >>> with tempfile.TemporaryDirectory() as tmp, open_log(tmp, origin="example.com/audit", validate=False) as log:
    ...     first = log.extend([{"n": i} for i in range(10)])
    ...     note = log.checkpoint(signer)
    ...     head = verify(log, note, [signer.verifier])
    ...     proof = log.prove(3, note)
    ...     print(first, log.size, proof["treeSize"], len(proof["hashes"]))
    0 10 10 4
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, Final, Self

import orjson

from aifabric._errors import DivergenceError, DocumentError, ProofError, StoreError
from aifabric.audit import merkle
from aifabric.audit._query import matcher
from aifabric.audit._stores import Durability, Node, Store, open_store
from aifabric.audit.checkpoint import Checkpoint, NoteSigner, NoteVerifier, open_checkpoint
from aifabric.canonical import canonicalize
from aifabric.models.audit import AuditRecord

__all__ = ["AuditLog", "Entry", "open_log", "verify", "verify_proof"]

_RECORD_SCHEMA: Final = "https://aifabric.dev/schemas/audit-record/1.0.0.json"
_PROOF_SCHEMA: Final = "https://aifabric.dev/schemas/audit-proof/1.0.0.json"
_PRODUCER: Final = "https://github.com/aifabric/aifabric"
_PREVIOUS: Final = b'"previousHash":'


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored entry: its index, its leaf data (canonical bytes) and, parsed, the record."""

    index: int
    data: bytes

    @property
    def record(self) -> dict[str, Any]:
        """The record, parsed from the leaf data."""
        value: dict[str, Any] = orjson.loads(self.data)
        return value


class AuditLog:
    """An append-only, Merkle-proven log of audit records over a store (see :func:`open_log`)."""

    def __init__(self, store: Store, *, origin: str | None = None, validate: bool = True, chain: bool = False) -> None:
        if origin and store.origin and origin != store.origin:
            raise StoreError(f"{store!r} is the log {store.origin!r}, not {origin!r}")
        if origin and not store.origin:
            Checkpoint(origin, 0, merkle.EMPTY_ROOT)  # checks the origin is one line
            store.set_origin(origin)
        self.store = store
        self.validate = validate
        self.chain = chain
        self._commit_lock = threading.Lock()
        self._pending_lock = threading.Lock()
        self._pending: list[tuple[list[Any], Future[int]]] = []

    @property
    def origin(self) -> str:
        """The log's name: the first line of its checkpoints."""
        if not self.store.origin:
            raise StoreError(f"{self.store!r} has no origin: open it once with origin=...")
        return self.store.origin

    @property
    def size(self) -> int:
        """How many entries the log holds."""
        return self.store.size()

    # --- appending -------------------------------------------------------------------------------------------

    def append(self, record: Any) -> int:
        """Append one record; return its index once it is durable [AUD-111] [AUD-113]."""
        return self._submit([self._prepare(record)])

    def extend(self, records: Iterable[Any]) -> int:
        """Append records as one batch (one sync); return the index of the first."""
        prepared = [self._prepare(record) for record in records]
        if not prepared:
            return self.size
        return self._submit(prepared)

    def _prepare(self, record: Any) -> Any:
        checked = isinstance(record, AuditRecord)  # its to_json() validates against the audit-record schema
        if hasattr(record, "to_json"):
            record = record.to_json()
        if not isinstance(record, Mapping):
            raise DocumentError(f"an audit record is a JSON object, not a {type(record).__name__}")
        if self.validate and not checked:
            from aifabric.validation import validate

            validate(record, schema_url=_RECORD_SCHEMA)
        if self.chain:
            return dict(record)  # canonicalized under the lock, once its previousHash is known
        return canonicalize(record)

    def _submit(self, items: list[Any]) -> int:
        """Queue ``items``; whoever holds the commit lock next commits everything queued (group commit)."""
        future: Future[int] = Future()
        with self._pending_lock:
            self._pending.append((items, future))
        with self._commit_lock:
            if not future.done():
                with self._pending_lock:
                    batch, self._pending = self._pending, []
                self._commit(batch)
        return future.result()

    def _commit(self, batch: list[tuple[list[Any], Future[int]]]) -> None:
        items = [item for submitted, _ in batch for item in submitted]
        try:
            with self.store.writing() as start:
                data = self._chain(start, items) if self.chain else items
                self.store.append(start, data, _grow(self.store, start, data))
        except BaseException as exc:
            for _, future in batch:
                future.set_exception(exc)
            raise
        for submitted, future in batch:
            future.set_result(start)
            start += len(submitted)

    def _chain(self, start: int, records: list[dict[str, Any]]) -> list[bytes]:
        previous = self.store.read(start - 1, start)[0] if start else None
        out = []
        for record in records:
            if previous is None:
                record.pop("previousHash", None)
            else:
                record["previousHash"] = "sha256:" + hashlib.sha256(previous).hexdigest()
            previous = canonicalize(record)
            out.append(previous)
        return out

    # --- reading ---------------------------------------------------------------------------------------------

    def read(self, start: int = 0, end: int | None = None) -> list[Entry]:
        """The entries ``[start, end)``."""
        end = self.size if end is None else min(end, self.size)
        return [Entry(start + i, data) for i, data in enumerate(self.store.read(start, end))]

    def __iter__(self) -> Iterator[Entry]:
        size, at = self.size, 0
        while at < size:
            batch = self.read(at, min(at + 10_000, size))
            yield from batch
            at += len(batch)

    def query(
        self,
        *,
        actor: str | None = None,
        resource: str | None = None,
        outcome: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        action: str | None = None,
    ) -> Iterator[Entry]:
        """The entries whose record matches every filter given (actor id, target name, outcome, time range)."""
        match = matcher(actor=actor, resource=resource, outcome=outcome, since=since, until=until, action=action)
        return (entry for entry in self if match(entry.record))

    def export(self, out: BinaryIO, *, format: str = "jsonl", **filters: Any) -> int:
        """Write the entries that match ``filters`` (as :meth:`query`) to ``out``, one JSON a line; return how many.

        ``format`` is ``"jsonl"`` (the records exactly as stored) or ``"ocsf"`` (OCSF API Activity and
        Authentication events, see :mod:`aifabric.audit.ocsf`).
        """
        if format not in ("jsonl", "ocsf"):
            raise ValueError(f"format is jsonl or ocsf, not {format!r}")
        from aifabric.audit.ocsf import to_ocsf

        count = 0
        for entry in self.query(**filters):
            out.write((orjson.dumps(to_ocsf(entry.record)) if format == "ocsf" else entry.data) + b"\n")
            count += 1
        return count

    # --- the tree --------------------------------------------------------------------------------------------

    def _nodes(self, compute: Callable[[merkle.NodeSource], Any]) -> Any:
        """Run ``compute`` over the stored tree, fetching the subtrees it needs in one go."""
        wanted: list[tuple[int, int]] = []

        def record(level: int, index: int) -> bytes:
            wanted.append((level, index))
            return bytes(32)

        compute(record)
        found = self.store.nodes(dict.fromkeys(wanted))
        return compute(lambda level, index: found[(level, index)])

    def root(self, size: int | None = None) -> bytes:
        """The tree hash at ``size`` (default: now)."""
        size = self.size if size is None else size
        self._check_size(size)
        return bytes(self._nodes(lambda nodes: merkle.range_hash(nodes, 0, size)))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The audit path of entry ``index`` in the tree of ``size`` entries (default: now) [AUD-104]."""
        size = self.size if size is None else size
        self._check_size(size)
        return list(self._nodes(lambda nodes: merkle.inclusion_proof(nodes, index, size)))

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """The proof that the tree at ``old_size`` is a prefix of the tree at ``new_size`` [AUD-105]."""
        new_size = self.size if new_size is None else new_size
        self._check_size(new_size)
        return list(self._nodes(lambda nodes: merkle.consistency_proof(nodes, old_size, new_size)))

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ProofError(f"the log has {self.size} entries; there is no tree of size {size}")

    def checkpoint(self, signer: NoteSigner, *, size: int | None = None) -> str:
        """Sign the tree head at ``size`` (default: now) and keep the note.

        The new tree is first proven consistent with the last checkpoint the log signed [AUD-114].
        """
        size = self.size if size is None else size
        root = self.root(size)
        for old_size, note in self.store.checkpoints()[-1:]:
            old = Checkpoint.parse(note.partition("\n\n")[0] + "\n")
            if old_size > size:
                raise ProofError(f"the log already signed a checkpoint at size {old_size}, larger than {size}")
            try:
                merkle.verify_consistency(old_size, size, old.root, root, self.consistency_proof(old_size, size))
            except ProofError:
                raise DivergenceError(
                    f"the log's tree at size {size} is not consistent with its own checkpoint at size {old_size}: "
                    "entries before it were changed",
                    index=0,
                ) from None
        note = Checkpoint(self.origin, size, root).sign(signer)
        self.store.add_checkpoint(size, note)
        return note

    def prove(self, index: int, checkpoint: str | Checkpoint | None = None) -> dict[str, Any]:
        """An ``audit-proof`` inclusion document for entry ``index`` in the checkpoint's tree (default: now)."""
        note = checkpoint if isinstance(checkpoint, str) else None
        size = _checkpoint_of(checkpoint).size if checkpoint is not None else self.size
        entries = self.read(index, index + 1) if 0 <= index < size else []
        if not entries:
            raise ProofError(f"entry {index} is not in the tree of size {size} [AUD-115]")
        entry = entries[0]
        return _proof_document(
            "inclusion",
            self.origin,
            size,
            self.inclusion_proof(index, size),
            note,
            leafIndex=index,
            record=entry.record,
        )

    def prove_consistency(self, old: str | int, new: str | None = None) -> dict[str, Any]:
        """An ``audit-proof`` consistency document from an old checkpoint (or size) to a new one (default: now)."""
        old_size = old if isinstance(old, int) else _checkpoint_of(old).size
        new_size = _checkpoint_of(new).size if new is not None else self.size
        extra: dict[str, Any] = {"oldSize": old_size}
        if isinstance(old, str):
            extra["oldCheckpoint"] = old
        return _proof_document(
            "consistency", self.origin, new_size, self.consistency_proof(old_size, new_size), new, **extra
        )

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AuditLog({self.store!r})"


def _grow(store: Store, start: int, data: Sequence[bytes]) -> list[Node]:
    """Leaf hashes and the new full subtrees, in post-order, for entries ``start..`` appended to the tree."""
    keys = []
    at = 0
    for level in range(start.bit_length() - 1, -1, -1):
        if start >> level & 1:
            keys.append((level, at >> level))
            at += 1 << level
    found = store.nodes(keys) if keys else {}
    frontier = [found[key] for key in keys]
    sha256 = hashlib.sha256
    out: list[Node] = []
    append = out.append
    index = start
    for item in data:
        node = sha256(b"\x00" + item).digest()
        append((0, index, node))
        level, at = 0, index
        while at & 1:
            node = sha256(b"\x01" + frontier.pop() + node).digest()
            level += 1
            at >>= 1
            append((level, at, node))
        frontier.append(node)
        index += 1
    return out


def _checkpoint_of(value: str | Checkpoint | None) -> Checkpoint:
    if isinstance(value, Checkpoint):
        return value
    if value is None:
        raise ProofError("no checkpoint given")
    text, sep, _ = value.partition("\n\n")
    return Checkpoint.parse(text + "\n" if sep else value)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _proof_document(
    kind: str, origin: str, size: int, hashes: list[bytes], note: str | None, **extra: Any
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schemaURL": _PROOF_SCHEMA,
        "producer": _PRODUCER,
        "type": kind,
        "origin": origin,
        "treeSize": size,
        **extra,
        "hashes": [_b64(h) for h in hashes],
    }
    if note is not None:
        doc["checkpoint"] = note
    return doc


def open_log(
    target: str | Any,
    *,
    origin: str | None = None,
    durability: Durability = "fsync",
    validate: bool = True,
    chain: bool = False,
    create: bool = True,
    readonly: bool = False,
) -> AuditLog:
    """Open (or create) an audit log.

    Args:
        target: a directory (the file store), a ``*.sqlite``/``*.db`` file or ``sqlite:///`` URL, or a
            ``postgresql://`` DSN.
        origin: the log's name, recorded when the log is created and checked when it is opened.
        durability: ``"fsync"`` (each batch is on stable storage before appends return; the default) or ``"os"``.
        validate: check each record against the audit-record schema before appending.
        chain: fill each record's ``previousHash`` with the SHA-256 of the entry before it [AUD-110].
        create: create the log when it does not exist.
        readonly: open it to read and verify only; a file store is read as found, a torn tail included.
    """
    store = open_store(target, durability=durability, create=create, readonly=readonly)
    try:
        return AuditLog(store, origin=origin, validate=validate, chain=chain)
    except BaseException:
        store.close()
        raise


# --- verification --------------------------------------------------------------------------------------------


def verify(log: AuditLog, checkpoint: str | Checkpoint, verifiers: Iterable[NoteVerifier] = ()) -> Checkpoint:
    """Check the log against a checkpoint by recomputing its tree from the stored leaf data [AUD-108] [AUD-109].

    A signed checkpoint (text) is verified with ``verifiers`` first; a :class:`Checkpoint` object is taken as
    trusted. Raises :class:`~aifabric.DivergenceError` naming the first entry where the log differs from the
    tree the checkpoint signs, and checks every ``previousHash`` link found [AUD-110].
    """
    if isinstance(checkpoint, str):
        head = open_checkpoint(checkpoint, verifiers, origin=log.store.origin)
    else:
        head = checkpoint
    size = head.size
    computed: list[bytes] = []
    previous: bytes | None = None
    sha256 = hashlib.sha256
    for chunk in log.store.scan():
        first = len(computed)
        computed.extend([sha256(b"\x00" + data).digest() for data in chunk])
        if any(_PREVIOUS in data for data in chunk):
            for offset, data in enumerate(chunk):
                if _PREVIOUS in data:
                    _check_link(first + offset, data, previous)
                previous = data
        elif chunk:
            previous = chunk[-1]
    if len(computed) < size or merkle.root_hash(computed[:size]) != head.root:
        raise _divergence(log.store, computed, head)
    committed = log.store.size()
    stored = log.store.leaf_hashes(size, committed)
    for index, (found, kept) in enumerate(zip(computed[size:], stored, strict=False), size):
        if found != kept:
            raise DivergenceError(
                f"entry {index}, after the checkpoint, differs from the log's own hash of it", index=index
            )
    if len(computed) != max(committed, size):
        index = min(len(computed), committed)
        raise DivergenceError(
            f"the log holds {len(computed)} entries where {committed} were committed: it diverges at entry {index}",
            index=index,
        )
    return head


def _check_link(index: int, data: bytes, previous: bytes | None) -> None:
    try:
        link = orjson.loads(data).get("previousHash")
    except (orjson.JSONDecodeError, AttributeError):
        return  # not a record: the tree check names it
    expected = None if previous is None else "sha256:" + hashlib.sha256(previous).hexdigest()
    if link is not None and link != expected:
        raise DivergenceError(f"entry {index}: previousHash does not name the entry before it [AUD-110]", index=index)


def _divergence(store: Store, computed: list[bytes], head: Checkpoint) -> DivergenceError:
    """The first index where the stored data leaves the tree the checkpoint signs.

    Walks down from the signed root through the log's stored subtree hashes, trusting each pair only where it
    hashes to its already trusted parent, towards the leftmost subtree whose recomputed hash differs.
    """
    start, end, expected = 0, head.size, head.root
    while end - start > 1:
        middle = start + merkle._split(end - start)
        left, right = _stored_range(store, start, middle), _stored_range(store, middle, end)
        if left is None or right is None or merkle.node_hash(left, right) != expected:
            return DivergenceError(
                f"the log does not match the checkpoint of size {head.size}, and its stored hashes were changed "
                f"too: no signed hash shows where past entry {start} it diverges [AUD-109]",
                index=start,
            )
        mine = merkle.root_hash(computed[start:middle]) if len(computed) >= middle else None
        if mine != left:
            end, expected = middle, left
        else:
            start, expected = middle, right
    how = "is missing" if start >= len(computed) else "differs from the one the checkpoint signs"
    return DivergenceError(
        f"the log diverges from the checkpoint at entry {start}: the entry {how} [AUD-109]", index=start
    )


def _stored_range(store: Store, start: int, end: int) -> bytes | None:
    """The tree hash of ``[start, end)`` from the store's subtree hashes, or None where some are missing."""
    wanted: list[tuple[int, int]] = []

    def record(level: int, index: int) -> bytes:
        wanted.append((level, index))
        return bytes(32)

    merkle.range_hash(record, start, end)
    try:
        found = store.nodes(wanted)
    except StoreError:
        return None
    if any(len(value) != 32 for value in found.values()):
        return None
    return merkle.range_hash(lambda level, index: found[(level, index)], start, end)


def verify_proof(
    proof: Mapping[str, Any], verifiers: Iterable[NoteVerifier], *, origin: str | None = None
) -> Checkpoint:
    """Check an ``audit-proof`` document with nothing but its signed checkpoint and the log's key [AUD-115].

    Raises:
        ValidationError: the document is not a valid audit-proof.
        ProofError, SignatureError, KeyMismatchError: it does not prove what it says.
    """
    from aifabric.validation import validate

    validate(dict(proof), schema_url=_PROOF_SCHEMA)
    note = proof.get("checkpoint")
    if not isinstance(note, str):
        raise ProofError("the proof carries no signed checkpoint to check it against")
    verifiers = list(verifiers)
    head = open_checkpoint(note, verifiers, origin=origin or str(proof["origin"]))
    if head.size != proof["treeSize"]:
        raise ProofError(f"the proof is for a tree of size {proof['treeSize']}, its checkpoint for {head.size}")
    try:
        hashes = [base64.b64decode(h, validate=True) for h in proof["hashes"]]
    except ValueError:
        raise ProofError("a proof hash is not standard base64") from None
    if proof["type"] == "inclusion":
        leaf = merkle.leaf_hash(canonicalize(proof["record"]))
        merkle.verify_inclusion(leaf, int(proof["leafIndex"]), head.size, hashes, head.root)
        return head
    old_size = int(proof["oldSize"])
    old_note = proof.get("oldCheckpoint")
    if not isinstance(old_note, str):
        raise ProofError("a consistency proof needs the old checkpoint to check it against")
    old = open_checkpoint(old_note, verifiers, origin=head.origin)
    if old.size != old_size:
        raise ProofError(f"the proof starts from size {old_size}, its old checkpoint is of size {old.size}")
    merkle.verify_consistency(old_size, head.size, old.root, head.root, hashes)
    return head
