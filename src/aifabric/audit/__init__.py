"""Audit logs: tamper-evident, Merkle-proven records of who did what to which model, tool or data.

Each record is a leaf of an RFC 9162 Merkle tree; the log signs checkpoints in the C2SP tlog-checkpoint format,
proves any entry's inclusion and any two sizes' consistency, and :func:`verify` names the first entry where a log
diverges from a checkpoint. Stores: an append-only directory (the default), SQLite and PostgreSQL.

Examples:
    >>> import tempfile
    >>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    >>> from aifabric import uuid7
    >>> from aifabric.audit import NoteSigner, open_log, verify_proof
    >>> def record(user):
    ...     return {"schemaURL": "https://aifabric.dev/schemas/audit-record/1.0.0.json",
    ...             "producer": "https://example.com/agent/1.0", "recordId": uuid7(), "time": "2026-11-23T08:00:00Z",
    ...             "classUid": 6003, "activityId": 2, "severityId": 1, "action": "tool.call",
    ...             "actor": {"type": "agent", "id": "triage", "onBehalfOf": {"type": "user", "id": user}},
    ...             "target": {"type": "tool", "name": "lookup_order"}, "outcome": "success",
    ...             "source": {"ip": "192.0.2.10"}}
    >>> signer = NoteSigner("example.com/audit", Ed25519PrivateKey.generate())
    >>> with tempfile.TemporaryDirectory() as tmp, open_log(tmp, origin="example.com/audit") as log:
    ...     _ = log.extend([record(f"user-{i}") for i in range(100)])
    ...     proof = log.prove(42, log.checkpoint(signer))
    >>> verify_proof(proof, [signer.verifier]).size
    100
"""

from aifabric.audit._stores import Durability, FileStore, PostgresStore, SQLiteStore, Store
from aifabric.audit.checkpoint import Checkpoint, NoteSigner, NoteVerifier, open_checkpoint
from aifabric.audit.log import AuditLog, Entry, open_log, verify, verify_proof
from aifabric.audit.merkle import verify_consistency, verify_inclusion

__all__ = [
    "AuditLog",
    "Checkpoint",
    "Durability",
    "Entry",
    "FileStore",
    "NoteSigner",
    "NoteVerifier",
    "PostgresStore",
    "SQLiteStore",
    "Store",
    "open_checkpoint",
    "open_log",
    "verify",
    "verify_consistency",
    "verify_inclusion",
    "verify_proof",
]
