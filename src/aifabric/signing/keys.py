"""Signing keys: Ed25519 and ECDSA P-256/P-384/P-521, from PEM files or memory, and X.509 certificate chains.

Private keys are written encrypted unless the caller says otherwise, always with mode 0600. A public key's
*hint* is the hex SHA-256 of its PEM SubjectPublicKeyInfo, the identifier model-signing puts in bundles.

Examples:
    >>> from aifabric.signing.keys import generate_key, sign_bytes, verify_bytes
    >>> key = generate_key("ecdsa-p256")
    >>> signature = sign_bytes(key, b"payload")
    >>> verify_bytes(key.public_key(), signature, b"payload")
    >>> len(key_hint(key.public_key()))
    64
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from aifabric._errors import CertificateError, KeyFileError, SignatureError

__all__ = [
    "KEY_TYPES",
    "KeyType",
    "PrivateKey",
    "PublicKey",
    "generate_key",
    "key_hint",
    "key_type",
    "load_certificates",
    "load_private_key",
    "load_public_key",
    "public_pem",
    "sign_bytes",
    "verify_bytes",
    "verify_chain",
    "write_private_key",
]

KeyType = Literal["ed25519", "ecdsa-p256", "ecdsa-p384", "ecdsa-p521"]
KEY_TYPES: Final[tuple[KeyType, ...]] = ("ed25519", "ecdsa-p256", "ecdsa-p384", "ecdsa-p521")
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey

_CURVES: Final[dict[str, tuple[ec.EllipticCurve, hashes.HashAlgorithm]]] = {
    "ecdsa-p256": (ec.SECP256R1(), hashes.SHA256()),
    "ecdsa-p384": (ec.SECP384R1(), hashes.SHA384()),
    "ecdsa-p521": (ec.SECP521R1(), hashes.SHA512()),
}
_BY_CURVE: Final = {curve.name: name for name, (curve, _) in _CURVES.items()}


def generate_key(kind: KeyType = "ecdsa-p256") -> PrivateKey:
    """A new private key of the given type."""
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind not in _CURVES:
        raise KeyFileError(f"unknown key type {kind!r}; choose one of {', '.join(KEY_TYPES)}")
    return ec.generate_private_key(_CURVES[kind][0])


def key_type(key: PrivateKey | PublicKey) -> KeyType:
    """The type name of a key (``ed25519``, ``ecdsa-p256``...); other keys are refused."""
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) and key.curve.name in _BY_CURVE:
        kind: KeyType = _BY_CURVE[key.curve.name]  # type: ignore[assignment]
        return kind
    raise KeyFileError(f"unsupported key {type(key).__name__}: use Ed25519 or ECDSA P-256, P-384 or P-521")


def sign_bytes(key: PrivateKey, data: bytes) -> bytes:
    """Sign bytes: Ed25519, or ECDSA (DER) with the hash that matches the curve."""
    kind = key_type(key)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    return key.sign(data, ec.ECDSA(_CURVES[kind][1]))


def verify_bytes(key: PublicKey, signature: bytes, data: bytes) -> None:
    """Check a signature over bytes.

    Raises:
        SignatureError: the signature does not match.
    """
    kind = key_type(key)
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        else:
            key.verify(signature, data, ec.ECDSA(_CURVES[kind][1]))
    except (InvalidSignature, ValueError):
        raise SignatureError("the signature does not match the signed bytes") from None


def public_pem(key: PublicKey) -> bytes:
    """The PEM SubjectPublicKeyInfo of a public key."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_hint(key: PublicKey) -> str:
    """The hex SHA-256 of the key's PEM SubjectPublicKeyInfo (model-signing's public key hint)."""
    return hashlib.sha256(public_pem(key)).hexdigest()


def load_private_key(source: str | Path | bytes, *, password: bytes | None = None) -> PrivateKey:
    """A private key from a PEM file or PEM bytes (encrypted ones need ``password``)."""
    data, where = _read(source)
    key: Any
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except TypeError as exc:  # password missing, or given for an unencrypted key
        raise KeyFileError(f"{where}: {exc}") from None
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFileError(f"{where}: not a PEM private key, or the password is wrong") from None
    key_type(key)
    return key  # type: ignore[no-any-return]


def load_public_key(source: str | Path | bytes) -> PublicKey:
    """A public key from a PEM file or PEM bytes: a SubjectPublicKeyInfo, or an X.509 certificate's key."""
    data, where = _read(source)
    key: Any
    try:
        if b"BEGIN CERTIFICATE" in data:
            key = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFileError(f"{where}: not a PEM public key or certificate") from None
    key_type(key)
    return key  # type: ignore[no-any-return]


def write_private_key(
    path: str | Path, key: PrivateKey, *, password: bytes | None = None, unencrypted: bool = False
) -> Path:
    """Write a private key as PKCS#8 PEM with mode 0600, encrypted with ``password``.

    Raises:
        KeyFileError: no password and ``unencrypted`` not set, or the file cannot be written.
    """
    if password is None and not unencrypted:
        raise KeyFileError("refusing to write a private key unencrypted: give a password or set unencrypted")
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    target = Path(path)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        target.chmod(0o600)  # an existing file keeps its mode through O_CREAT: set it
    except OSError as exc:
        raise KeyFileError(f"{target}: cannot write: {exc.strerror}") from None
    return target


def load_certificates(source: str | Path | bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM file or PEM bytes, leaf first as written."""
    data, where = _read(source)
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise KeyFileError(f"{where}: holds no PEM certificate") from None
    return certificates


def verify_chain(
    chain: Sequence[x509.Certificate], roots: Sequence[x509.Certificate], *, at: datetime | None = None
) -> None:
    """Check that ``chain`` (leaf first) leads, certificate by certificate, to one of ``roots``.

    Each certificate must be within its validity period at ``at`` (default now) and directly issued by the
    next; the last one must be a root or be issued by one.

    Raises:
        CertificateError: an expired, unrelated or untrusted certificate.
    """
    when = at or datetime.now(UTC)
    if not chain:
        raise CertificateError("no certificate to verify")
    links = [*chain]
    if not any(links[-1] == root for root in roots):
        issuer = next((r for r in roots if r.subject == links[-1].issuer), None)
        if issuer is None:
            raise CertificateError(f"{links[-1].issuer.rfc4514_string()} is not a trusted root")
        links.append(issuer)
    for cert in links:
        if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
            raise CertificateError(f"certificate {cert.subject.rfc4514_string()} is not valid at {when.isoformat()}")
    for child, parent in itertools.pairwise(links):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            raise CertificateError(
                f"{child.subject.rfc4514_string()} is not issued by {parent.subject.rfc4514_string()}"
            ) from None


def _read(source: str | Path | bytes) -> tuple[bytes, str]:
    if isinstance(source, bytes):
        return source, "<key bytes>"
    try:
        return Path(source).read_bytes(), str(source)
    except OSError as exc:
        raise KeyFileError(f"{source}: cannot read: {exc.strerror}") from None
