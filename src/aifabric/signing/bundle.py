"""Sigstore bundles (v0.3 media type) that carry a DSSE envelope: key-based, certificate-based or keyless.

A key-based bundle names its key by a hint, a certificate-based one carries the X.509 chain, a keyless one also
carries transparency-log entries; the last kind is verified through the ``sigstore`` library.

Examples:
    >>> from aifabric.signing.bundle import Bundle
    >>> from aifabric.signing.dsse import sign_envelope
    >>> from aifabric.signing.keys import generate_key, key_hint
    >>> key = generate_key()
    >>> bundle = Bundle(sign_envelope(b"{}", "application/json", key), hint=key_hint(key.public_key()))
    >>> Bundle.from_json(bundle.to_json()) == bundle
    True
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from aifabric._errors import BundleError
from aifabric.signing.dsse import Envelope, decode_base64

__all__ = ["BUNDLE_MEDIA_TYPE", "MEDIA_TYPES", "Bundle"]

BUNDLE_MEDIA_TYPE: Final = "application/vnd.dev.sigstore.bundle.v0.3+json"
MEDIA_TYPES: Final = frozenset(
    {
        BUNDLE_MEDIA_TYPE,
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
        "application/vnd.dev.sigstore.bundle+json;version=0.2",
        "application/vnd.dev.sigstore.bundle+json;version=0.1",
    }
)


@dataclass(frozen=True, slots=True)
class Bundle:
    """A bundle: the envelope, and what identifies the signer (a key hint or a DER certificate chain)."""

    envelope: Envelope
    hint: str | None = None
    certificates: tuple[bytes, ...] = ()
    tlog_entries: tuple[Mapping[str, Any], ...] = ()
    media_type: str = BUNDLE_MEDIA_TYPE
    raw: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def keyless(self) -> bool:
        """Whether the bundle records transparency-log entries (Sigstore keyless signing)."""
        return bool(self.tlog_entries)

    def to_json(self) -> dict[str, Any]:
        """The bundle's JSON form, as model-signing and Sigstore clients write it."""
        material: dict[str, Any]
        if self.certificates:
            chain = [{"rawBytes": base64.b64encode(der).decode()} for der in self.certificates]
            material = {"x509CertificateChain": {"certificates": chain}}
        else:
            material = {"publicKey": {"hint": self.hint or ""}}
        material["tlogEntries"] = [dict(entry) for entry in self.tlog_entries]
        return {"mediaType": self.media_type, "verificationMaterial": material, "dsseEnvelope": self.envelope.to_json()}

    def dumps(self) -> bytes:
        """The bundle as JSON bytes."""
        return orjson.dumps(self.to_json(), option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, value: bytes | str | Mapping[str, Any]) -> Bundle:
        """Parse a bundle from JSON text or a parsed object.

        Raises:
            BundleError: malformed, truncated, of an unknown version, or without a DSSE envelope.
        """
        if isinstance(value, bytes | str):
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError as exc:
                raise BundleError(f"the bundle is not JSON: {exc.msg}") from None
        if not isinstance(value, Mapping):
            raise BundleError("a bundle must be a JSON object")
        media_type = value.get("mediaType")
        if media_type not in MEDIA_TYPES:
            raise BundleError(f"unknown bundle media type {media_type!r}")
        material = value.get("verificationMaterial")
        if not isinstance(material, Mapping):
            raise BundleError("the bundle has no verificationMaterial")
        if "dsseEnvelope" not in value:
            raise BundleError("the bundle carries no DSSE envelope (a message signature is not a signed document)")
        envelope = Envelope.from_json(value["dsseEnvelope"])
        kinds = [name for name in ("publicKey", "certificate", "x509CertificateChain") if name in material]
        if len(kinds) != 1:
            raise BundleError(
                "verificationMaterial must name exactly one of publicKey, certificate, x509CertificateChain"
            )
        hint = None
        if kinds[0] == "publicKey":
            key = material["publicKey"]
            hint = key.get("hint") if isinstance(key, Mapping) else None
            if not isinstance(key, Mapping) or not isinstance(hint, str | None):
                raise BundleError("verificationMaterial.publicKey must be an object with a string hint")
        certificates = _certificates(material)
        entries = material.get("tlogEntries") or []
        if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
            raise BundleError("verificationMaterial.tlogEntries must be a list of objects")
        return cls(envelope, hint or None, certificates, tuple(entries), str(media_type), value)


def _certificates(material: Mapping[str, Any]) -> tuple[bytes, ...]:
    try:
        if "certificate" in material:
            return (decode_base64(material["certificate"]["rawBytes"]),)
        if "x509CertificateChain" in material:
            chain = material["x509CertificateChain"]["certificates"]
            if not chain:
                raise BundleError("the bundle's certificate chain is empty")
            return tuple(decode_base64(c["rawBytes"]) for c in chain)
    except (KeyError, TypeError):
        raise BundleError("the bundle's certificate is malformed") from None
    return ()
