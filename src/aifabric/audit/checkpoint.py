"""Checkpoints: signed tree heads in the C2SP tlog-checkpoint format, signed as C2SP signed notes.

A checkpoint names a log (its *origin*), a tree size and the RFC 9162 root hash at that size [AUD-106].
It is signed with Ed25519 signed-note signatures; verifier keys use the ``name+keyid+base64`` text form
that Go's ``golang.org/x/mod/sumdb/note`` reads and writes [AUD-107].

Examples:
    >>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    >>> from aifabric.audit.checkpoint import Checkpoint, NoteSigner, open_checkpoint
    >>> signer = NoteSigner("example.com/audit", Ed25519PrivateKey.generate())
    >>> note = Checkpoint("example.com/audit", 0, bytes(32)).sign(signer)
    >>> note.splitlines()[:2]
    ['example.com/audit', '0']
    >>> open_checkpoint(note, [signer.verifier]).size
    0
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Final, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from aifabric._errors import KeyFileError, KeyMismatchError, ProofError, SignatureError

__all__ = ["Checkpoint", "NoteSigner", "NoteVerifier", "open_checkpoint"]

_ED25519: Final = b"\x01"
_DASH: Final = "\u2014 "
_NAME: Final = re.compile(r"^[^\s+]+\Z")
_SIZE: Final = re.compile(r"^(0|[1-9][0-9]{0,19})\Z")
_MAX_SIGNATURES: Final = 64
_KEY_ID: Final = re.compile(r"^[0-9a-fA-F]{8}\Z")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ProofError(f"{what} is not standard base64: {text[:80]!r}") from None
    if _b64(raw) != text:
        raise ProofError(f"{what} is not canonical base64 (excess padding or pad bits): {text[:80]!r}")
    return raw


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise KeyFileError(f"a note key name must be non-empty, without spaces or '+': {name!r}")


def _key_id(name: str, public: bytes) -> bytes:
    return sha256(name.encode() + b"\n" + _ED25519 + public).digest()[:4]


@dataclass(frozen=True)
class NoteVerifier:
    """An Ed25519 signed-note verifier key: a name and a public key."""

    name: str
    public_key: Ed25519PublicKey

    def __post_init__(self) -> None:
        _check_name(self.name)

    @property
    def raw(self) -> bytes:
        """The 32-byte public key."""
        return self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def key_id(self) -> bytes:
        """SHA-256(name || 0x0A || 0x01 || public key)[:4], as signed-note recommends."""
        return _key_id(self.name, self.raw)

    def __str__(self) -> str:
        """The ``name+keyid+base64(0x01 || key)`` form Go's note package reads."""
        return f"{self.name}+{self.key_id.hex()}+{_b64(_ED25519 + self.raw)}"

    @classmethod
    def parse(cls, text: str) -> Self:
        """Read the ``name+keyid+base64`` form; raises KeyFileError."""
        name, _, rest = text.strip().partition("+")
        key_id, _, encoded = rest.partition("+")
        try:
            raw = base64.b64decode(encoded.encode("ascii"), validate=True)
            verifier = cls(name, Ed25519PublicKey.from_public_bytes(raw[1:]))
            wrong = (
                not _KEY_ID.match(key_id)
                or raw[:1] != _ED25519
                or len(raw) != 33
                or verifier.key_id != bytes.fromhex(key_id)
            )
        except (binascii.Error, ValueError, UnicodeEncodeError):
            wrong = True
        if wrong:
            raise KeyFileError(f"not an Ed25519 note verifier key (name+keyid+base64): {text[:80]!r}")
        return verifier


@dataclass(frozen=True)
class NoteSigner:
    """An Ed25519 signed-note signer: a key name (the log's origin, by convention) and a private key."""

    name: str
    private_key: Ed25519PrivateKey
    verifier: NoteVerifier = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.private_key, Ed25519PrivateKey):
            raise KeyFileError("checkpoints are signed with Ed25519 keys (aifabric keys generate --type ed25519)")
        object.__setattr__(self, "verifier", NoteVerifier(self.name, self.private_key.public_key()))

    def signature_line(self, text: str) -> str:
        """``— name base64(keyid || signature)`` over the note text."""
        signature = self.private_key.sign(text.encode())
        return f"{_DASH}{self.name} {_b64(self.verifier.key_id + signature)}\n"

    def __str__(self) -> str:
        """The ``PRIVATE+KEY+name+keyid+base64(0x01 || seed)`` form Go's note package reads."""
        seed = self.private_key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id.hex()}+{_b64(_ED25519 + seed)}"

    @classmethod
    def parse(cls, text: str) -> Self:
        """Read the ``PRIVATE+KEY+name+keyid+base64`` form; raises KeyFileError."""
        parts = text.strip().split("+", 4)
        try:
            if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"] or not _KEY_ID.match(parts[3]):
                raise ValueError
            raw = base64.b64decode(parts[4].encode("ascii"), validate=True)
            if raw[:1] != _ED25519 or len(raw) != 33:
                raise ValueError
            signer = cls(parts[2], Ed25519PrivateKey.from_private_bytes(raw[1:]))
            if signer.verifier.key_id != bytes.fromhex(parts[3]):
                raise ValueError
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise KeyFileError("not an Ed25519 note signer key (PRIVATE+KEY+name+keyid+base64)") from None
        return signer


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: the log's origin, its size and the root hash at that size."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or any(c in self.origin for c in "\n\r") or self.origin != self.origin.strip():
            raise ProofError(f"a checkpoint origin must be one non-empty line: {self.origin!r}")
        if not 0 <= self.size < 2**64 or len(self.root) != 32:
            raise ProofError("a checkpoint needs a size of at least 0 and a 32-byte SHA-256 root hash")
        if any(not line or "\n" in line for line in self.extensions):
            raise ProofError("checkpoint extension lines must be non-empty single lines")
        for line in (self.origin, *self.extensions):
            if any(ord(c) < 0x20 or 0xD800 <= ord(c) < 0xE000 for c in line):
                raise ProofError(f"a checkpoint line holds a control character or a lone surrogate: {line!r}")

    def text(self) -> str:
        """The note text: origin, size, base64 root hash and extension lines, each ending in a newline."""
        return "".join(f"{line}\n" for line in (self.origin, str(self.size), _b64(self.root), *self.extensions))

    def sign(self, *signers: NoteSigner) -> str:
        """The signed note: the text, a blank line and one signature line per signer."""
        text = self.text()
        return text + "\n" + "".join(signer.signature_line(text) for signer in signers)

    @classmethod
    def parse(cls, text: str) -> Self:
        """Read a note text (not a signed note); raises ProofError naming the line at fault."""
        if not text.endswith("\n"):
            raise ProofError("checkpoint text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise ProofError(f"a checkpoint has at least 3 lines (origin, size, root hash); this has {len(lines)}")
        origin, size, root, *extensions = lines
        if not _SIZE.match(size):
            raise ProofError(f"checkpoint line 2: the tree size is not a decimal without leading zeros: {size!r}")
        digest = _unb64(root, "checkpoint line 3 (the root hash)")
        if len(digest) != 32:
            raise ProofError(f"checkpoint line 3: the root hash has {len(digest)} bytes, not 32")
        return cls(origin, int(size), digest, tuple(extensions))


def _split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise ProofError("a signed note must not contain control characters other than newline")
    try:
        note.encode()
    except UnicodeEncodeError:
        raise ProofError("a signed note must be UTF-8 (this one holds a lone surrogate)") from None
    text, sep, block = note.rpartition("\n\n")
    if not sep or not block.endswith("\n"):
        raise ProofError("a signed note is its text, a blank line and signature lines each ending in a newline")
    signatures: list[tuple[str, bytes]] = []
    for number, line in enumerate(block[:-1].split("\n"), 1):
        name, _, encoded = line.removeprefix(_DASH).partition(" ")
        if not line.startswith(_DASH) or not _NAME.match(name) or " " in encoded:
            raise ProofError(f"signature line {number} is not '\u2014 <key name> <base64 signature>'")
        raw = _unb64(encoded, f"signature line {number}")
        if len(raw) < 5:
            raise ProofError(f"signature line {number} is too short to hold a key ID and a signature")
        signatures.append((name, raw))
    if len(signatures) > _MAX_SIGNATURES:
        raise ProofError(f"a signed note with {len(signatures)} signatures (at most {_MAX_SIGNATURES} are read)")
    return text + "\n", signatures


def open_checkpoint(note: str, verifiers: Iterable[NoteVerifier], *, origin: str | None = None) -> Checkpoint:
    """Verify a signed checkpoint and return it [AUD-107].

    Signatures from unknown keys are ignored; one from a known key that fails rejects the note, and so does a
    note without a valid signature from a known key.

    Raises:
        ProofError: a malformed note or checkpoint, or another origin than ``origin``.
        SignatureError: a signature from a known key that does not verify.
        KeyMismatchError: no signature from any of ``verifiers``.
    """
    text, signatures = _split_note(note)
    known = {(v.name, v.key_id): v for v in verifiers}
    verified = False
    for name, raw in signatures:
        verifier = known.get((name, raw[:4]))
        if verifier is None:
            continue
        try:
            verifier.public_key.verify(raw[4:], text.encode())
        except InvalidSignature:
            raise SignatureError(f"the checkpoint signature by {name} does not verify") from None
        verified = True
    if not verified:
        names = ", ".join(sorted({name for name, _ in signatures})) or "nobody"
        raise KeyMismatchError(f"the checkpoint is signed by {names}; none of them is a trusted key")
    checkpoint = Checkpoint.parse(text)
    if origin is not None and checkpoint.origin != origin:
        raise ProofError(f"the checkpoint is for the log {checkpoint.origin!r}, not {origin!r}")
    return checkpoint
