"""Open a bundle: check who signed it (key, certificate chain or Sigstore identity) and return its statement."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography import x509

from aifabric._errors import BundleError, CertificateError, IdentityError, KeyMismatchError
from aifabric.signing.bundle import Bundle
from aifabric.signing.dsse import INTOTO_PAYLOAD_TYPE, STATEMENT_TYPE, verify_envelope
from aifabric.signing.keys import PublicKey, key_hint, public_pem, verify_chain

__all__ = ["Signer", "open_bundle"]


@dataclass(frozen=True, slots=True)
class Signer:
    """Who a verified bundle says signed it."""

    method: Literal["key", "certificate", "sigstore"]
    key_hint: str | None = None
    identity: str | None = None
    issuer: str | None = None


def open_bundle(
    bundle: Bundle | bytes | str | Mapping[str, Any],
    *,
    key: PublicKey | None = None,
    roots: Sequence[x509.Certificate] = (),
    identity: str | None = None,
    issuer: str | None = None,
    trusted_root: str | Path | None = None,
    instance: Literal["production", "staging"] = "production",
) -> tuple[dict[str, Any], Signer]:
    """The in-toto statement of a bundle whose signature verifies, and who signed it.

    A keyless bundle is checked against the Sigstore trust root with ``identity`` and ``issuer``; a certificate
    bundle against ``roots`` (and ``key``, when given, must be its leaf's key); a key bundle against ``key``.

    Raises:
        VerificationError: the specific subclass for what is wrong.
    """
    parsed = bundle if isinstance(bundle, Bundle) else Bundle.from_json(bundle)
    if parsed.envelope.payload_type != INTOTO_PAYLOAD_TYPE:
        raise BundleError(f"the envelope carries {parsed.envelope.payload_type!r}, not an in-toto statement")
    if parsed.keyless:
        if parsed.raw is None:
            raise BundleError("a keyless bundle must be verified from its JSON form")
        if identity is None or issuer is None:
            raise IdentityError("a keyless signature proves nothing without the expected identity and issuer")
        from aifabric.signing._sigstore import verify_bundle

        verified = verify_bundle(
            dict(parsed.raw), identity=identity, issuer=issuer, trusted_root=trusted_root, instance=instance
        )
        payload = verified.payload
        signer = Signer("sigstore", identity=verified.identity, issuer=verified.issuer)
    elif parsed.certificates:
        chain = _load_chain(parsed.certificates)
        if not roots:
            raise CertificateError("a certificate bundle needs trusted root certificates to verify against")
        verify_chain(chain, roots)
        leaf_key: PublicKey = chain[0].public_key()  # type: ignore[assignment]
        if key is not None and public_pem(key) != public_pem(leaf_key):
            raise KeyMismatchError("the bundle's certificate holds another key than the one given")
        payload = verify_envelope(parsed.envelope, leaf_key)
        signer = Signer("certificate", key_hint=key_hint(leaf_key), identity=chain[0].subject.rfc4514_string())
    else:
        if key is None:
            raise KeyMismatchError("the bundle was signed with a key: give the public key to verify it")
        hint = key_hint(key)
        if parsed.hint and parsed.hint != hint:
            raise KeyMismatchError(f"the bundle was signed with key {parsed.hint[:16]}..., not {hint[:16]}...")
        payload = verify_envelope(parsed.envelope, key)
        signer = Signer("key", key_hint=hint)
    return _statement(payload), signer


def _load_chain(certificates: Sequence[bytes]) -> list[x509.Certificate]:
    try:
        return [x509.load_der_x509_certificate(der) for der in certificates]
    except ValueError:
        raise BundleError("the bundle's certificate chain is not DER X.509") from None


def _statement(payload: bytes) -> dict[str, Any]:
    try:
        statement = json.loads(payload, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError):
        raise BundleError("the signed payload is not JSON, or repeats a member") from None
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise BundleError(f"the signed payload is not an in-toto {STATEMENT_TYPE} statement")
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not subjects or not all(_is_subject(s) for s in subjects):
        raise BundleError("the statement's subjects must each have a name and a digest set")
    return statement


def _is_subject(subject: Any) -> bool:
    return (
        isinstance(subject, dict)
        and isinstance(subject.get("name"), str)
        and isinstance(subject.get("digest"), dict)
        and all(isinstance(v, str) for v in subject["digest"].values())
    )


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("a member is repeated")
    return result
