"""Sign and verify aifabric documents, detached (a bundle beside the file) or embedded (a ``signatures`` member).

The signed statement's subject is the document's digest: SHA-256 over its RFC 8785 canonical form without the
``signatures`` member, so embedding a signature does not change what was signed, and re-serialising the
document (key order, whitespace, ``1.0`` for ``1``) does not break it.

Examples:
    >>> from aifabric.signing.documents import attach, sign_document, verify_document
    >>> from aifabric.signing.keys import generate_key
    >>> from aifabric.conformance import run_vectors
    >>> key = generate_key("ed25519")
    >>> report = run_vectors([]).to_json()
    >>> signed = attach(report, sign_document(report, key))
    >>> verify_document(signed, key=key.public_key()).signer.method
    'key'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from cryptography import x509

from aifabric._errors import BundleError, DigestMismatchError, VerificationError
from aifabric.canonical import digest
from aifabric.signing._seal import seal
from aifabric.signing._verify import Signer, open_bundle
from aifabric.signing.bundle import Bundle
from aifabric.signing.dsse import statement
from aifabric.signing.keys import PrivateKey, PublicKey
from aifabric.validation import validate

__all__ = [
    "DOCUMENT_PREDICATE",
    "SIGNATURES",
    "VerifiedDocument",
    "attach",
    "document_digest",
    "sign_document",
    "verify_document",
]

DOCUMENT_PREDICATE: Final = "https://aifabric.dev/signature/document/v1"
"""The predicate type of a signed aifabric document."""
SIGNATURES: Final = "signatures"
"""The member that holds embedded signature bundles; it is left out of what is signed."""


@dataclass(frozen=True, slots=True)
class VerifiedDocument:
    """A document whose signature verified, and who signed it."""

    document: dict[str, Any]
    signer: Signer
    digest: str


def document_digest(doc: Mapping[str, Any]) -> str:
    """Hex SHA-256 of the document's canonical form without its ``signatures`` member."""
    return digest({k: v for k, v in doc.items() if k != SIGNATURES})["sha256"]


def sign_document(
    doc: Mapping[str, Any],
    key: PrivateKey | None = None,
    *,
    certificates: Sequence[x509.Certificate] = (),
    identity_token: str | None = None,
    instance: Literal["production", "staging"] = "production",
) -> Bundle:
    """A detached signature bundle over a valid document (validated first).

    Sign with ``key`` (the bundle names it by hint, or carries ``certificates``, leaf first, when given), or
    keyless with a Sigstore OIDC ``identity_token`` (needs the network and the ``sigstore`` extra).
    """
    validate(dict(doc))
    subject = {"name": doc["schemaURL"], "digest": {"sha256": document_digest(doc)}}
    body = statement([subject], DOCUMENT_PREDICATE, _predicate(doc["schemaURL"]))
    return seal(body, key, certificates=certificates, identity_token=identity_token, instance=instance)


def attach(doc: Mapping[str, Any], bundle: Bundle) -> dict[str, Any]:
    """A copy of the document with the bundle appended to its ``signatures`` member."""
    signatures = [*doc.get(SIGNATURES, []), bundle.to_json()]
    return {**doc, SIGNATURES: signatures}


def verify_document(
    doc: Mapping[str, Any],
    bundle: Bundle | bytes | str | Mapping[str, Any] | None = None,
    *,
    key: PublicKey | None = None,
    roots: Sequence[x509.Certificate] = (),
    identity: str | None = None,
    issuer: str | None = None,
    trusted_root: str | Path | None = None,
    instance: Literal["production", "staging"] = "production",
) -> VerifiedDocument:
    """Verify a document against a detached bundle, or against its embedded ``signatures`` when none is given.

    With embedded signatures, the first one that verifies for the given key or identity wins.

    Raises:
        VerificationError: the specific subclass: no or malformed bundle, wrong key or identity, bad signature,
            or a document that differs from what was signed (DigestMismatchError).
    """
    if not isinstance(doc, Mapping):
        raise DigestMismatchError("only a JSON object can be a signed document")
    if bundle is not None:
        candidates: list[Any] = [bundle]
    else:
        embedded = doc.get(SIGNATURES)
        if not isinstance(embedded, list) or not embedded:
            raise BundleError("the document carries no signatures and no bundle was given")
        candidates = embedded
    want = document_digest(doc)
    failure: VerificationError | None = None
    for candidate in candidates:
        try:
            found, signer = open_bundle(
                candidate,
                key=key,
                roots=roots,
                identity=identity,
                issuer=issuer,
                trusted_root=trusted_root,
                instance=instance,
            )
            _check_subject(found, want, doc.get("schemaURL"))
        except VerificationError as exc:
            failure = failure or exc
            continue
        return VerifiedDocument(dict(doc), signer, want)
    assert failure is not None
    raise failure


def _check_subject(found: dict[str, Any], want: str, schema_url: Any) -> None:
    if found.get("predicateType") != DOCUMENT_PREDICATE:
        raise BundleError(f"the statement's predicate is {found.get('predicateType')!r}, not {DOCUMENT_PREDICATE}")
    if found.get("predicate") != _predicate(schema_url):
        raise BundleError("the statement's predicate does not describe this document's canonical form")
    if len(found["subject"]) != 1:
        raise BundleError("a signed document's statement has exactly one subject")
    (subject,) = found["subject"]
    if subject["name"] != schema_url:
        raise DigestMismatchError(f"the signature is for a {subject['name']!r} document, not a {schema_url!r} one")
    signed = subject["digest"].get("sha256")
    if signed != want:
        raise DigestMismatchError(
            f"the document's digest sha256:{want[:16]}... differs from the signed sha256:{str(signed)[:16]}..."
        )


def _predicate(schema_url: Any) -> dict[str, Any]:
    return {"schemaURL": schema_url, "canonicalization": "RFC8785", "excluded": [SIGNATURES]}
