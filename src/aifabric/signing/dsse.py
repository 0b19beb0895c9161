"""DSSE envelopes (Dead Simple Signing Envelope v1) and in-toto Statement v1 payloads.

The signature covers the pre-authentication encoding (PAE) of the payload type and the payload, exactly as the
DSSE v1 protocol defines it, so envelopes verify with any DSSE implementation.

Examples:
    >>> from aifabric.signing.dsse import pae, sign_envelope, verify_envelope
    >>> from aifabric.signing.keys import generate_key
    >>> pae("text/plain", b"hi")
    b'DSSEv1 10 text/plain 2 hi'
    >>> key = generate_key("ed25519")
    >>> envelope = sign_envelope(b'{"a": 1}', "application/json", key)
    >>> verify_envelope(envelope, key.public_key())
    b'{"a": 1}'
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from aifabric._errors import BundleError, SignatureError
from aifabric.signing.keys import PrivateKey, PublicKey, sign_bytes, verify_bytes

__all__ = [
    "INTOTO_PAYLOAD_TYPE",
    "STATEMENT_TYPE",
    "Envelope",
    "decode_base64",
    "pae",
    "sign_envelope",
    "statement",
    "verify_envelope",
]

INTOTO_PAYLOAD_TYPE: Final = "application/vnd.in-toto+json"
STATEMENT_TYPE: Final = "https://in-toto.io/Statement/v1"


def pae(payload_type: str, payload: bytes) -> bytes:
    """``DSSEv1 SP LEN(type) SP type SP LEN(body) SP body``, lengths in ASCII decimal bytes."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True, slots=True)
class Envelope:
    """A DSSE envelope: the payload, its type, and one or more ``(keyid, signature)`` pairs."""

    payload: bytes
    payload_type: str
    signatures: tuple[tuple[str, bytes], ...]

    def to_json(self) -> dict[str, Any]:
        """The envelope's JSON form (base64 payload and signatures; an empty keyid is left out)."""
        return {
            "payload": base64.b64encode(self.payload).decode(),
            "payloadType": self.payload_type,
            "signatures": [
                {**({"keyid": keyid} if keyid else {}), "sig": base64.b64encode(sig).decode()}
                for keyid, sig in self.signatures
            ],
        }

    @classmethod
    def from_json(cls, value: Any) -> Envelope:
        """Parse an envelope's JSON form.

        Raises:
            BundleError: not an envelope: missing members, wrong types or bad base64.
        """
        if not isinstance(value, Mapping):
            raise BundleError("a DSSE envelope must be a JSON object")
        try:
            payload = decode_base64(value["payload"])
            payload_type = value["payloadType"]
            signatures = tuple((str(s.get("keyid", "")), decode_base64(s["sig"])) for s in value["signatures"])
        except (KeyError, TypeError, AttributeError) as exc:  # a missing member, or a member of the wrong type
            raise BundleError(f"a DSSE envelope needs payload, payloadType and signatures ({exc!r})") from None
        if not isinstance(payload_type, str) or not signatures:
            raise BundleError("a DSSE envelope needs a string payloadType and at least one signature")
        return cls(payload, payload_type, signatures)


def sign_envelope(payload: bytes, payload_type: str, key: PrivateKey, *, keyid: str = "") -> Envelope:
    """Sign a payload into a DSSE envelope."""
    return Envelope(payload, payload_type, ((keyid, sign_bytes(key, pae(payload_type, payload))),))


def verify_envelope(envelope: Envelope, key: PublicKey) -> bytes:
    """The payload of an envelope that one of its signatures proves ``key`` signed.

    Raises:
        SignatureError: no signature in the envelope verifies with the key.
    """
    signed = pae(envelope.payload_type, envelope.payload)
    for _, sig in envelope.signatures:
        try:
            verify_bytes(key, sig, signed)
        except SignatureError:
            continue
        return envelope.payload
    raise SignatureError("no signature in the DSSE envelope verifies with the given key")


def statement(subjects: list[dict[str, Any]], predicate_type: str, predicate: Any) -> bytes:
    """An in-toto Statement v1 as JSON bytes."""
    return orjson.dumps(
        {"_type": STATEMENT_TYPE, "subject": subjects, "predicateType": predicate_type, "predicate": predicate}
    )


def decode_base64(value: Any) -> bytes:
    """Standard or URL-safe base64 (the protobuf JSON mapping allows both), padding optional, nothing else.

    Raises:
        BundleError: not a string, or not base64.
    """
    if not isinstance(value, str):
        raise BundleError("expected base64 text")
    text = value.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise BundleError("invalid base64") from None
