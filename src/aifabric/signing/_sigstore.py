"""Sigstore bundles through the ``sigstore`` library: offline verification, keyless signing, one error tree.

aifabric does not reimplement Sigstore. The library decides whether a bundle verifies; this module chooses the trust
root without touching the network, states the identity policy, and turns the library's exceptions into the most
specific :class:`~aifabric.VerificationError` subclass.

Trust roots are read offline: a ``trusted_root.json`` the caller names, or the copy of the production or staging
root shipped inside the installed ``sigstore`` package (``sigstore/_store/<quoted TUF URL>/trusted_root.json``). That
copy is a snapshot taken when the ``sigstore`` release was built, so a bundle signed under keys added later fails with
:class:`~aifabric.CertificateError` until ``sigstore`` is upgraded or a newer root is passed. The library's own
``offline=True`` mode is not used: it reads (and writes) a TUF cache in the user's data directory, which may hold
something other than what the installed package shipped.

Mistakes the arguments alone show (no identity policy, both an artifact and a digest, an unknown digest algorithm, a
DSSE payload type the library cannot sign) raise :class:`ValueError`; everything that depends on the bundle raises a
:class:`~aifabric.VerificationError` subclass. Signing failures raise
:class:`~aifabric.KeyFileError` (no signing certificate could be obtained or used).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal, NoReturn

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from sigstore.dsse import InvalidEnvelope
from sigstore.errors import CertValidationError
from sigstore.errors import Error as SigstoreError
from sigstore.hashes import Hashed
from sigstore.models import Bundle, InvalidBundle, TrustedRoot
from sigstore.verify import Verifier
from sigstore.verify.policy import Identity
from sigstore_models.common.v1 import HashAlgorithm

from aifabric._errors import (
    BundleError,
    CertificateError,
    DigestMismatchError,
    DocumentError,
    IdentityError,
    KeyFileError,
    KeyMismatchError,
    SignatureError,
    VerificationError,
)
from aifabric.signing.dsse import INTOTO_PAYLOAD_TYPE, pae

__all__ = ["INSTANCES", "Instance", "VerifiedBundle", "embedded_trusted_root", "sign_keyless", "verify_bundle"]

Instance = Literal["production", "staging"]
SigstorePublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey

# The TUF repositories whose trust material sigstore-python embeds; the folder name is the URL, percent-quoted.
INSTANCES: Final[Mapping[Instance, str]] = {
    "production": "https://tuf-repo-cdn.sigstore.dev",
    "staging": "https://tuf-repo-cdn.sigstage.dev",
}
_EMBEDDED_FOLDERS: Final[Mapping[Instance, str]] = {
    "production": "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev",
    "staging": "https%3A%2F%2Ftuf-repo-cdn.sigstage.dev",
}
_DIGESTS: Final = {"sha256": "sha256", "sha384": "sha384", "sha512": "sha512"}


@dataclass(frozen=True, slots=True)
class VerifiedBundle:
    """What a verified Sigstore bundle says.

    Attributes:
        media_type: the bundle's media type (``application/vnd.dev.sigstore.bundle.v0.3+json``...).
        kind: ``message_signature`` (a signature over an artifact's digest) or ``dsse`` (a signed envelope).
        payload_type: the DSSE payload type; ``None`` for a message signature.
        payload: the DSSE payload bytes, verified; empty for a message signature.
        identity: the certificate identity (SAN) the signature was verified to carry.
        issuer: the OIDC issuer the certificate was verified to carry.
        integrated_time: when the transparency log took the entry, as its signed entry timestamp (Rekor v1)
            vouches; ``None`` without one (Rekor v2 entries are timed by a timestamp authority instead).
        log_index: the entry's index in the transparency log, as the bundle records it.
    """

    media_type: str
    kind: Literal["message_signature", "dsse"]
    payload_type: str | None
    payload: bytes
    identity: str | None
    issuer: str | None
    integrated_time: datetime | None
    log_index: int | None


# --------------------------------------------------------------------------------------------------- trust roots


def embedded_trusted_root(instance: Instance = "production") -> bytes:
    """The trusted root of a public-good instance as the installed ``sigstore`` package ships it.

    Raises:
        ValueError: an instance other than ``production`` or ``staging``.
        KeyFileError: the installed ``sigstore`` does not ship it where it used to.
    """
    if instance not in _EMBEDDED_FOLDERS:
        raise ValueError(f"unknown Sigstore instance {instance!r}: expected 'production' or 'staging'")
    try:
        store = resources.files("sigstore._store")
        return store.joinpath(_EMBEDDED_FOLDERS[instance], "trusted_root.json").read_bytes()
    except (OSError, ModuleNotFoundError) as exc:
        raise KeyFileError(f"the installed sigstore package ships no {instance} trusted root ({exc})") from None


@cache
def _embedded_root(instance: Instance) -> TrustedRoot:
    embedded_trusted_root(instance)  # the clear error when it is missing
    store = resources.files("sigstore._store").joinpath(_EMBEDDED_FOLDERS[instance], "trusted_root.json")
    with resources.as_file(store) as path:
        return _load_root(path, f"the embedded {instance} trusted root")


def _load_root(path: Path, where: str) -> TrustedRoot:
    try:
        return TrustedRoot.from_file(str(path))
    except OSError as exc:
        raise KeyFileError(f"cannot read the trusted root {where}: {exc.strerror or exc}") from None
    except (SigstoreError, ValueError) as exc:
        raise KeyFileError(f"{where} is not a Sigstore trusted root: {_first_line(exc)}") from None


def _trusted_root(trusted_root: str | Path | None, instance: Instance) -> TrustedRoot:
    if trusted_root is None:
        return _embedded_root(instance)
    return _load_root(Path(trusted_root), str(trusted_root))


def _verifier(root: TrustedRoot, where: str) -> Verifier:
    try:
        return Verifier(trusted_root=root)
    except (SigstoreError, ValueError) as exc:
        raise KeyFileError(f"{where} cannot verify anything: {_first_line(exc)}") from None


# --------------------------------------------------------------------------------------------------- verification


class _IdentityPolicy:
    """sigstore's ``Identity`` policy, whose refusal comes out as an aifabric ``IdentityError``.

    sigstore calls the policy directly, so the exception passes through the library untouched: no message matching.
    """

    def __init__(self, identity: str, issuer: str) -> None:
        self._policy = Identity(identity=identity, issuer=issuer)

    def verify(self, cert: x509.Certificate) -> None:
        try:
            self._policy.verify(cert)
        except (SigstoreError, x509.ExtensionNotFound, ValueError) as exc:
            raise IdentityError(f"the signing certificate is not the expected identity: {exc}") from None


def verify_bundle(
    bundle: bytes | str | Mapping[str, Any],
    *,
    artifact: bytes | None = None,
    digest: tuple[str, bytes] | None = None,
    identity: str | None = None,
    issuer: str | None = None,
    key: SigstorePublicKey | None = None,
    trusted_root: str | Path | None = None,
    instance: Instance = "production",
) -> VerifiedBundle:
    """Verify a Sigstore bundle offline and say what it signs.

    Give what was signed as ``artifact`` (its bytes) or ``digest`` (``("sha256", raw digest)``); a DSSE bundle may
    be given neither, and its verified payload comes back for the caller to check. For a DSSE in-toto statement an
    artifact or digest must match one of the statement's subjects.

    A keyless bundle (signed by a Fulcio certificate) is checked against ``identity`` (the certificate's SAN) and
    ``issuer`` (its OIDC issuer); a managed-key bundle (``verificationMaterial.publicKey``) against ``key``. Both may
    be given when the caller does not know which kind the bundle is; at least one must be.

    Args:
        bundle: the bundle as JSON text or bytes, or its parsed object.
        artifact: the signed bytes.
        digest: the signed bytes' digest, as ``(algorithm, raw digest bytes)``; only ``sha256`` is supported.
        identity: the expected certificate identity (e-mail, URI...).
        issuer: the expected OIDC issuer URL.
        key: the expected public key of a managed-key bundle.
        trusted_root: a ``trusted_root.json``; by default the root of ``instance`` shipped with ``sigstore``.
        instance: the public-good instance whose embedded root is used when ``trusted_root`` is not given.

    Returns:
        What the bundle says, once verified.

    Raises:
        ValueError: the arguments alone are wrong: neither an identity policy nor a key, an identity without an
            issuer (or the reverse), both an artifact and a digest, an unsupported digest algorithm.
        KeyFileError: the trusted root cannot be read.
        BundleError: a bundle that is not JSON, malformed, of an unknown version, a message signature given
            neither artifact nor digest, or one sigstore-python cannot verify (managed-key bundles, ``intoto`` log
            entries).
        SignatureError: a signature that does not match the signed bytes.
        KeyMismatchError: a bundle made with another key than the one given or the one logged.
        DigestMismatchError: an artifact, digest or DSSE payload that differs from what was signed and logged.
        CertificateError: a chain, timestamp, SCT or log entry (inclusion proof, checkpoint, SET) that the trust
            root does not vouch for, or a signing time outside the certificate's validity.
        IdentityError: a valid signature by another identity or issuer than the one expected.
    """
    hashed = _check_arguments(artifact=artifact, digest=digest, identity=identity, issuer=issuer, key=key)
    text, document = _read(bundle)
    root = _trusted_root(trusted_root, instance)
    material = document.get("verificationMaterial")
    if isinstance(material, Mapping) and "publicKey" in material:
        _managed_key(document, key)
    if identity is None or issuer is None:
        raise KeyMismatchError(
            "the bundle is keyless (signed by a Sigstore certificate), not by the key given: "
            "verify it with identity= and issuer="
        )
    parsed = _parse(text)
    kind: Literal["message_signature", "dsse"] = "message_signature"
    if document.get("dsseEnvelope") is not None:
        kind = "dsse"
    if kind == "message_signature" and hashed is None:
        raise BundleError(
            "the bundle is a message signature, not a DSSE envelope: give the artifact= or digest= it signs"
        )
    verifier = _verifier(root, str(trusted_root) if trusted_root is not None else f"the embedded {instance} root")
    policy = _IdentityPolicy(identity, issuer)
    payload_type: str | None = None
    payload = b""
    try:
        if kind == "dsse":
            payload_type, payload = verifier.verify_dsse(parsed, policy)
        else:
            assert hashed is not None
            verifier.verify_artifact(hashed, parsed, policy)
    except VerificationError:
        raise
    except SigstoreError as exc:
        _raise_classified(exc, document, kind, hashed)
    except Exception as exc:  # noqa: BLE001  # hostile input reaches parsers sigstore does not guard (pydantic, ASN.1)
        raise BundleError(f"the bundle is malformed: {type(exc).__name__}: {_first_line(exc)}") from None
    if kind == "dsse" and (artifact is not None or digest is not None):
        _match_subject(payload_type or "", payload, artifact=artifact, hashed=hashed)
    integrated_time, log_index = _log_facts(document)
    return VerifiedBundle(
        media_type=str(document.get("mediaType")),
        kind=kind,
        payload_type=payload_type,
        payload=payload,
        identity=identity,
        issuer=issuer,
        integrated_time=integrated_time,
        log_index=log_index,
    )


def _log_facts(document: Mapping[str, Any]) -> tuple[datetime | None, int | None]:
    """The entry's log index, and its integrated time when a signed entry timestamp (checked by sigstore) covers it.

    Read from the JSON sigstore has just parsed and verified, not from the library's private objects.
    """
    try:
        entry = document["verificationMaterial"]["tlogEntries"][0]
    except (KeyError, IndexError, TypeError):
        return None, None
    integrated: datetime | None = None
    index: int | None = None
    try:
        seconds = int(entry.get("integratedTime") or 0)
        if seconds and entry.get("inclusionPromise"):
            integrated = datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, ValueError, OSError, TypeError):
        integrated = None
    try:
        index = int(entry["logIndex"])
    except (KeyError, ValueError, TypeError):
        index = None
    return integrated, index


def _check_arguments(
    *,
    artifact: bytes | None,
    digest: tuple[str, bytes] | None,
    identity: str | None,
    issuer: str | None,
    key: SigstorePublicKey | None,
) -> Hashed | None:
    if (identity is None) != (issuer is None):
        raise ValueError("give both identity= and issuer=: an identity from an unstated issuer means nothing")
    if identity is None and key is None:
        raise ValueError(
            "give identity= and issuer= (keyless bundles) or key= (managed-key bundles): "
            "a signature verified without saying whose it must be proves nothing"
        )
    if key is not None and not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
        raise ValueError(f"key must be a cryptography public key, not {type(key).__name__}")
    if artifact is not None and digest is not None:
        raise ValueError("give artifact= or digest=, not both")
    if artifact is not None:
        return Hashed(algorithm=HashAlgorithm.SHA2_256, digest=hashlib.sha256(artifact).digest())
    if digest is not None:
        algorithm, value = digest
        if algorithm.lower().replace("-", "") != "sha256":
            raise ValueError(f"sigstore verifies sha256 digests only, not {algorithm!r}")
        if not isinstance(value, bytes) or len(value) != hashlib.sha256().digest_size:
            raise ValueError("a sha256 digest is 32 raw bytes")
        return Hashed(algorithm=HashAlgorithm.SHA2_256, digest=value)
    return None


def _read(bundle: bytes | str | Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    if isinstance(bundle, Mapping):
        try:
            text = json.dumps(bundle)
        except (TypeError, ValueError) as exc:
            raise BundleError(f"the bundle object is not JSON: {exc}") from None
        document: Any = bundle
    else:
        try:
            text = bundle.decode("utf-8") if isinstance(bundle, bytes) else bundle
            document = json.loads(text)
        except (UnicodeDecodeError, ValueError) as exc:
            raise BundleError(f"the bundle is not JSON: {exc}") from None
        except RecursionError:
            raise BundleError("the bundle is not JSON: nested too deeply") from None
    if not isinstance(document, Mapping):
        raise BundleError("a bundle must be a JSON object")
    return text, document


def _parse(text: str) -> Bundle:
    try:
        return Bundle.from_json(text)
    except InvalidBundle as exc:
        raise BundleError(f"the bundle is malformed: {_first_line(exc)}") from None
    except SigstoreError as exc:
        raise BundleError(f"the bundle is malformed: {_first_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001  # Bundle.from_json lets DER, base64 and pydantic errors through
        raise BundleError(f"the bundle is malformed: {type(exc).__name__}: {_first_line(exc)}") from None


def _managed_key(document: Mapping[str, Any], key: SigstorePublicKey | None) -> NoReturn:
    """Refuse a managed-key bundle, saying first whether the key given is the one the log recorded."""
    if key is None:
        raise IdentityError(
            "the bundle is signed with a managed key, not a Sigstore certificate: no identity can match; "
            "verify it with key="
        )
    logged = _logged_entry(document)
    logged_key = logged.verifier if logged is not None else None
    if logged_key is not None and logged_key != _spki(key):
        raise KeyMismatchError("the bundle's transparency-log entry records another public key than the one given")
    raise BundleError(
        "managed-key bundles cannot be verified: sigstore-python 4.x verifies only certificate (keyless) bundles"
    )


# ---------------------------------------------------------------------------------------- classifying failures

# sigstore raises one VerificationError class for every failure; its message says which check failed. Checked by the
# conformance tests: a sigstore upgrade that rewords a message shows there, as a less specific class.
_BY_MESSAGE: Final[tuple[tuple[str, type[VerificationError]], ...]] = (
    ("Bundle message digest mismatch", DigestMismatchError),
    ("Signature is invalid for input", SignatureError),
    ("DSSE: invalid signature", SignatureError),
    ("log entry signatures do not match", SignatureError),
    ("log entry payload hash does not match", DigestMismatchError),
    ("transparency log entry is inconsistent", CertificateError),
    ("invalid log entry", CertificateError),
    ("failed to build timestamp certificate chain", CertificateError),
    ("failed to verify SCT", CertificateError),
    ("not enough sources of verified time", CertificateError),
    ("no Timestamp Authorities", CertificateError),
    ("invalid signing cert", CertificateError),
    ("Key usage", CertificateError),
    ("Extended usage", CertificateError),
    ("Integrated time only supported", BundleError),
    ("Unsupported", BundleError),
    ("Expected entry type", BundleError),
    ("invalid DSSE log entry", BundleError),
    ("Missing bundle message signature", BundleError),
    ("cannot perform DSSE verification", BundleError),
    ("DSSE: exactly", BundleError),
    ("too many signed timestamp", BundleError),
    ("duplicate timestamp", BundleError),
    ("Invalid Timestamp Response", BundleError),
)
# Failures after which the log entry (already proven included, or the very thing in question) tells what differs.
_DIAGNOSED: Final = (
    "Signature is invalid for input",
    "DSSE: invalid signature",
    "log entry signatures do not match",
    "transparency log entry is inconsistent",
)


def _raise_classified(exc: SigstoreError, document: Mapping[str, Any], kind: str, hashed: Hashed | None) -> NoReturn:
    message = _first_line(exc)
    cls: type[VerificationError] = VerificationError
    if isinstance(exc, InvalidBundle | InvalidEnvelope):
        cls = BundleError
    elif isinstance(exc, CertValidationError):
        cls = CertificateError
    else:
        cls = next((c for prefix, c in _BY_MESSAGE if message.startswith(prefix)), VerificationError)
    if message.startswith(_DIAGNOSED):
        found = _diagnose(document, kind, hashed)
        if found is not None:
            cls, reason = found
            raise cls(f"{reason} ({message})")
    raise cls(f"the bundle does not verify: {message}")


@dataclass(frozen=True, slots=True)
class _LoggedEntry:
    """The parts of a transparency-log entry body that say what was signed, by whom, with which signature."""

    digest: tuple[str, bytes] | None  # what the log says was signed: message digest, DSSE payload or PAE digest
    digest_of: Literal["message", "payload", "pae"]
    verifier: bytes | None  # DER SubjectPublicKeyInfo of the logged certificate or key
    signatures: tuple[bytes, ...]


def _diagnose(
    document: Mapping[str, Any], kind: str, hashed: Hashed | None
) -> tuple[type[VerificationError], str] | None:
    """Which part of the bundle differs from what its log entry recorded; ``None`` when that cannot be told."""
    logged = _logged_entry(document)
    if logged is None:
        return None
    if logged.digest is not None:
        algorithm, value = logged.digest
        actual = _signed_digest(document, kind, logged.digest_of, algorithm, hashed)
        if actual is not None and actual != value:
            what = "the artifact" if logged.digest_of == "message" else "the DSSE envelope"
            return DigestMismatchError, f"{what} differs from what was signed and logged"
    signing = _bundle_spki(document)
    if logged.verifier is not None and signing is not None and logged.verifier != signing:
        return KeyMismatchError, "the bundle's signing certificate is not the one its log entry records"
    signatures = _bundle_signatures(document)
    if signatures is not None and logged.signatures and set(signatures) != set(logged.signatures):
        return SignatureError, "the bundle's signature is not the one its log entry records"
    return None


def _logged_entry(document: Mapping[str, Any]) -> _LoggedEntry | None:
    try:
        entry = document["verificationMaterial"]["tlogEntries"][0]
        body = json.loads(base64.b64decode(entry["canonicalizedBody"], validate=True))
        kind, version = body["kind"], body["apiVersion"]
        spec = body["spec"]
        if kind == "hashedrekord" and version == "0.0.1":
            data = spec["data"]["hash"]
            signature = spec["signature"]
            return _LoggedEntry(
                (str(data["algorithm"]), bytes.fromhex(data["value"])),
                "message",
                _pem_spki(base64.b64decode(signature["publicKey"]["content"])),
                (base64.b64decode(signature["content"]),),
            )
        if kind == "hashedrekord" and version == "0.0.2":
            rekord = spec["hashedRekordV002"]
            verifier = rekord["signature"]["verifier"]
            if "x509Certificate" in verifier:
                spki = _der_spki(base64.b64decode(verifier["x509Certificate"]["rawBytes"]))
            else:
                spki = base64.b64decode(verifier["publicKey"]["rawBytes"])
            algorithm = {"SHA2_256": "sha256", "SHA2_384": "sha384", "SHA2_512": "sha512"}[rekord["data"]["algorithm"]]
            return _LoggedEntry(
                (algorithm, base64.b64decode(rekord["data"]["digest"])),
                "pae" if document.get("dsseEnvelope") is not None else "message",
                spki,
                (base64.b64decode(rekord["signature"]["content"]),),
            )
        if kind == "dsse" and version == "0.0.1":
            signatures = spec["signatures"]
            verifiers = {_pem_spki(base64.b64decode(s["verifier"])) for s in signatures}
            return _LoggedEntry(
                (str(spec["payloadHash"]["algorithm"]), bytes.fromhex(spec["payloadHash"]["value"])),
                "payload",
                verifiers.pop() if len(verifiers) == 1 else None,
                tuple(base64.b64decode(s["signature"]) for s in signatures),
            )
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, UnsupportedAlgorithm):
        return None
    return None


def _signed_digest(
    document: Mapping[str, Any], kind: str, digest_of: str, algorithm: str, hashed: Hashed | None
) -> bytes | None:
    if algorithm not in _DIGESTS:
        return None
    if digest_of == "message":
        if kind != "message_signature" or hashed is None or algorithm != "sha256":
            return None
        return bytes(hashed.digest)
    try:
        envelope = document["dsseEnvelope"]
        payload = base64.b64decode(envelope["payload"])
        signed = payload if digest_of == "payload" else pae(str(envelope["payloadType"]), payload)
    except (KeyError, TypeError, ValueError):
        return None
    return hashlib.new(_DIGESTS[algorithm], signed).digest()


def _bundle_spki(document: Mapping[str, Any]) -> bytes | None:
    try:
        material = document["verificationMaterial"]
        if "certificate" in material:
            raw = material["certificate"]["rawBytes"]
        else:
            raw = material["x509CertificateChain"]["certificates"][0]["rawBytes"]
        return _der_spki(base64.b64decode(raw))
    except (KeyError, IndexError, TypeError, ValueError, UnsupportedAlgorithm):
        return None


def _bundle_signatures(document: Mapping[str, Any]) -> tuple[bytes, ...] | None:
    try:
        if document.get("dsseEnvelope") is not None:
            return tuple(base64.b64decode(s["sig"]) for s in document["dsseEnvelope"]["signatures"])
        return (base64.b64decode(document["messageSignature"]["signature"]),)
    except (KeyError, TypeError, ValueError, binascii.Error):
        return None


def _spki(key: SigstorePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _der_spki(der: bytes) -> bytes:
    certificate = x509.load_der_x509_certificate(der)
    return certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _pem_spki(pem: bytes) -> bytes:
    if b"CERTIFICATE" in pem:
        return (
            x509.load_pem_x509_certificate(pem)
            .public_key()
            .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
    return serialization.load_pem_public_key(pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _match_subject(payload_type: str, payload: bytes, *, artifact: bytes | None, hashed: Hashed | None) -> None:
    """An in-toto statement must name the artifact (or digest) among its subjects."""
    if payload_type != INTOTO_PAYLOAD_TYPE:
        raise DigestMismatchError(
            f"the DSSE payload is {payload_type!r}, not an in-toto statement: it names no subject to match"
        )
    try:
        statement = json.loads(payload)
        subjects = statement["subject"]
        digests = [dict(subject["digest"]) for subject in subjects]
    except (ValueError, KeyError, TypeError, RecursionError):
        raise DigestMismatchError("the in-toto statement names no subjects with digests") from None
    for named in digests:
        for algorithm, value in named.items():
            if not isinstance(value, str) or algorithm not in _DIGESTS:
                continue
            if artifact is not None:
                actual = hashlib.new(_DIGESTS[algorithm], artifact).hexdigest()
            elif hashed is not None and algorithm == "sha256":
                actual = bytes(hashed.digest).hex()
            else:
                continue
            if actual == value.lower():
                return
    names = sorted(str(subject.get("name", "")) for subject in subjects if isinstance(subject, Mapping))
    raise DigestMismatchError("the artifact is not a subject of the signed in-toto statement", changed=names)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    line = text.splitlines()[0]
    return line if len(line) <= 300 else line[:297] + "..."


# --------------------------------------------------------------------------------------------------- signing


def sign_keyless(
    payload: bytes, payload_type: str | None, *, identity_token: str, instance: Instance = "production"
) -> dict[str, Any]:
    """Sign with a Sigstore (Fulcio) certificate for an OIDC identity, logged in Rekor; needs the network.

    With a ``payload_type`` the payload is signed in a DSSE envelope (sigstore-python signs in-toto statements
    only), otherwise the bytes get a message signature. The identity token is checked locally before anything is
    sent: a malformed or expired token fails without touching the network.

    Args:
        payload: an in-toto statement (with a payload type) or any bytes.
        payload_type: ``application/vnd.in-toto+json``, or ``None`` for a message signature.
        identity_token: a raw OIDC identity token (JWT) with audience ``sigstore``.
        instance: the public-good Sigstore instance to use.

    Returns:
        The Sigstore bundle (media type ``application/vnd.dev.sigstore.bundle.v0.3+json``) as a JSON object.

    Raises:
        ValueError: an unknown instance or a payload type other than in-toto.
        DocumentError: a payload that is not an in-toto statement.
        KeyFileError: an unusable identity token, or no signing certificate or log entry could be obtained.
    """
    from sigstore.dsse import Statement
    from sigstore.models import ClientTrustConfig
    from sigstore.oidc import IdentityToken
    from sigstore.sign import SigningContext

    if instance not in INSTANCES:
        raise ValueError(f"unknown Sigstore instance {instance!r}: expected 'production' or 'staging'")
    if payload_type is not None and payload_type != INTOTO_PAYLOAD_TYPE:
        raise ValueError(f"sigstore signs DSSE envelopes of in-toto statements only, not {payload_type!r}")
    statement = None
    if payload_type is not None:
        try:
            statement = Statement(payload)
        except SigstoreError as exc:
            raise DocumentError(f"the payload is not an in-toto statement: {_first_line(exc)}") from None
    try:
        token = IdentityToken(identity_token)
    except SigstoreError as exc:
        raise KeyFileError(f"the identity token cannot be used: {_first_line(exc)}") from None
    try:
        config = ClientTrustConfig.production() if instance == "production" else ClientTrustConfig.staging()
        context = SigningContext.from_trust_config(config)
        with context.signer(token, cache=False) as signer:
            signed = signer.sign_dsse(statement) if statement is not None else signer.sign_artifact(payload)
        document: dict[str, Any] = json.loads(signed.to_json())
    except Exception as exc:  # noqa: BLE001  # network, TUF, Fulcio and Rekor clients raise many unrelated types
        raise KeyFileError(f"Sigstore {instance} signing failed: {type(exc).__name__}: {_first_line(exc)}") from None
    return document
