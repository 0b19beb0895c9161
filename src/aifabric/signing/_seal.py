"""Seal an in-toto statement into a bundle: with a key (a hint or a certificate chain), or keyless."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from aifabric._errors import KeyFileError
from aifabric.signing.bundle import Bundle
from aifabric.signing.dsse import INTOTO_PAYLOAD_TYPE, sign_envelope
from aifabric.signing.keys import PrivateKey, key_hint

__all__ = ["seal"]


def seal(
    statement: bytes,
    key: PrivateKey | None,
    *,
    certificates: Sequence[x509.Certificate] = (),
    identity_token: str | None = None,
    instance: Literal["production", "staging"] = "production",
) -> Bundle:
    """Sign an in-toto statement: exactly one of ``key`` or ``identity_token`` (Sigstore keyless, online)."""
    if (key is None) == (identity_token is None):
        raise KeyFileError("sign with exactly one of a private key or a Sigstore identity token")
    if identity_token is not None:
        from aifabric.signing._sigstore import sign_keyless

        signed = sign_keyless(statement, INTOTO_PAYLOAD_TYPE, identity_token=identity_token, instance=instance)
        return Bundle.from_json(signed)
    assert key is not None
    envelope = sign_envelope(statement, INTOTO_PAYLOAD_TYPE, key)
    if certificates:
        return Bundle(envelope, certificates=tuple(c.public_bytes(Encoding.DER) for c in certificates))
    return Bundle(envelope, hint=key_hint(key.public_key()))
