"""aifabric.signing._sigstore: real Sigstore bundles verified offline through sigstore-python, errors mapped.

Data: the sigstore-conformance bundle-verify cases, sigstore-python's staging test assets and a production
model-signing signature, all read from ../shared/data/sigstore (see SOURCES.md there). Every test here runs with the
network refused (``no_network``), except the one online signing test, which is skipped without a token.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aifabric import (
    AifabricError,
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
from aifabric.signing._sigstore import (
    INSTANCES,
    SigstorePublicKey,
    VerifiedBundle,
    embedded_trusted_root,
    sign_keyless,
    verify_bundle,
)
from tests.conftest import SHARED_DATA, shared

# Hypothesis runs every example under the same (stateless) network guard.
GUARDED = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

CONFORMANCE = ("sigstore", "sigstore-conformance-bundle-verify")
ASSETS = ("sigstore", "sigstore-python-assets")
MODEL = ("sigstore", "model-transparency", "v1.1.0-sigstore")

# The defaults of the conformance suite's README (test/assets/bundle-verify/README.md).
BEACON = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
    ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
GITHUB_ACTIONS = "https://token.actions.githubusercontent.com"
GITHUB_LOGIN = "https://github.com/login/oauth"
MODEL_IDENTITY = "stefanb@us.ibm.com"
MODEL_ISSUER = "https://sigstore.verify.ibm.com/oauth2"

# What each failing conformance case raises. Most are the class the case's README describes; the notes say where
# sigstore-python 4.5.1 stops the bundle at an earlier check than the one the case was written for.
FAILS: dict[str, type[VerificationError]] = {
    "bundle-empty-certificate-chain_fail": BundleError,
    "bundle-invalid-base64-signature_fail": BundleError,
    "bundle-malformed-json_fail": BundleError,
    "bundle-unknown-version_fail": BundleError,
    "checkpoint-bad-keyhint_fail": CertificateError,
    "checkpoint-wrong-roothash_fail": CertificateError,
    "dsse-invalid-sig_fail": SignatureError,
    "dsse-mismatch-sig_fail": SignatureError,  # a valid signature, but not the one the log recorded
    "inclusion-proof-corrupted-hash_fail": CertificateError,
    "incorrect-public-key_fail": CertificateError,  # the edited log body no longer hashes to the proven leaf
    # Written for expiry and timestamp checks; sigstore-python rejects their intoto/0.0.2 log entries first
    # ("Integrated time only supported for dsse/hashedrekord 0.0.1 types"), see LIBRARY_LIMITS.
    "intoto-expired-certificate_fail": BundleError,
    "intoto-set-outside-signing-cert-validity_fail": BundleError,
    "intoto-tsa-timestamp-outside-cert-validity_fail": BundleError,
    "invalid-ct-key_fail": CertificateError,
    "invalid-inclusion-proof_fail": BundleError,  # the proof has no checkpoint: refused when the bundle is read
    "managed-key-no-key_fail": IdentityError,  # identity and issuer given (README defaults), no certificate
    "managed-key-wrong-key_fail": KeyMismatchError,
    "message-digest-mismatch_fail": DigestMismatchError,
    "rekor2-checkpoint-missing-log-signature_fail": CertificateError,
    "rekor2-checkpoint-missing-origin_fail": CertificateError,
    "rekor2-checkpoint-missing-root-hash_fail": CertificateError,
    "rekor2-checkpoint-missing-size_fail": CertificateError,
    "rekor2-dsse-invalid-sig_fail": SignatureError,
    "rekor2-dsse-mismatch-envelope_fail": DigestMismatchError,
    "rekor2-no-inclusion-proof_fail": BundleError,
    "rekor2-no-timestamp_fail": BundleError,  # no signed time at all: refused when the bundle is read
    "rekor2-timestamp-outside-trust-root-tsa-validity_fail": CertificateError,
    "rekor2-timestamp-outside-tsa-cert-validity_fail": CertificateError,
    "rekor2-timestamp-payload-mismatch_fail": CertificateError,
    # The untrusted TSA's token has a DER SET out of order; rfc3161-client refuses to decode it at all.
    "rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail": BundleError,
    "rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail": CertificateError,
    "rekor2-timestamp-with-incorrect-time_fail": CertificateError,
    "signature-mismatch_fail": SignatureError,
    "wrong-hashedrekord-artifact_fail": DigestMismatchError,
    "wrong-hashedrekord-cert-and-sig_fail": KeyMismatchError,  # the log records another certificate
    "wrong-hashedrekord-entry_fail": DigestMismatchError,
    "wrong-material_fail": DigestMismatchError,
}

# Cases that should verify but that sigstore-python 4.5.1 itself cannot (test_library_limits_are_the_librarys
# runs the library's own Verifier on each to show it is its limit, not ours). The class is what comes out instead.
LIBRARY_LIMITS: dict[str, tuple[type[VerificationError], str]] = {
    "managed-key-happy-path": (
        BundleError,
        "sigstore-python 4.5.1 cannot verify managed-key bundles (its Bundle requires a certificate); "
        "sigstore-python's own conformance run xfails this case",
    ),
    "managed-key-and-trusted-root": (
        BundleError,
        "sigstore-python 4.5.1 cannot verify managed-key bundles (its Bundle requires a certificate); "
        "sigstore-python's own conformance run xfails this case",
    ),
    "intoto-with-custom-trust-root": (
        BundleError,
        "sigstore-python 4.5.1 does not verify intoto/0.0.2 log entries "
        "(integrated time only for dsse/hashedrekord 0.0.1); sigstore-python's own conformance run xfails this case",
    ),
    "trust-root-tsa-validity-end-inclusive": (
        CertificateError,
        "sigstore-python 4.5.1 treats a TSA's validFor.end as exclusive (gen_time < end), the spec says inclusive",
    ),
}


# --- the network guard -------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Refuse and record every connection or name lookup; a test fails at teardown if one was attempted.

    Recording matters: code under test that catches broad exceptions would otherwise hide the attempt.
    """
    attempts: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(repr(args[1:] if args and isinstance(args[0], socket.socket) else args))
        raise OSError("network access is refused in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield attempts
    assert not attempts, f"network access attempted: {attempts}"


def test_the_network_guard_refuses_and_records(no_network: list[str]) -> None:
    with pytest.raises(OSError, match="refused"):
        socket.create_connection(("127.0.0.1", 9))
    sock = socket.socket()
    try:
        with pytest.raises(OSError, match="refused"):
            sock.connect(("127.0.0.1", 9))
    finally:
        sock.close()
    assert len(no_network) == 2
    no_network.clear()  # seen; let the teardown pass


# --- conformance ------------------------------------------------------------------------------------------------


def _case_params() -> list[Any]:
    folder = SHARED_DATA.joinpath(*CONFORMANCE)
    if not folder.is_dir():
        return [pytest.param("absent", marks=pytest.mark.skip(reason=f"third-party fixture {folder} is absent"))]
    params = []
    for name in sorted(p.name for p in folder.iterdir() if p.is_dir()):
        marks = []
        if name in LIBRARY_LIMITS:
            raises, reason = LIBRARY_LIMITS[name]
            marks.append(pytest.mark.xfail(strict=True, raises=raises, reason=reason))
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@dataclasses.dataclass
class Case:
    bundle: bytes
    artifact: bytes
    identity: str | None
    issuer: str | None
    key: SigstorePublicKey | None
    trusted_root: Path | None


def _case(name: str) -> Case:
    """A case's inputs, as the conformance README says each folder gives them."""
    folder = shared(*CONFORMANCE, name)
    artifact = folder / "artifact" if (folder / "artifact").exists() else folder.parent / "a.txt"
    key: SigstorePublicKey | None = None
    identity: str | None = None
    issuer: str | None = None
    if (folder / "key.pub").exists():
        try:
            loaded = load_pem_public_key((folder / "key.pub").read_bytes())
        except ValueError:
            # managed-key-wrong-key_fail's key.pub ends in "wrongkey==", which is not even a key; the wrong key
            # the case stands for is then any other key.
            loaded = ec.generate_private_key(ec.SECP256R1()).public_key()
        assert isinstance(loaded, ec.EllipticCurvePublicKey)
        key = loaded
    else:
        identity = (folder / "identity").read_text().strip() if (folder / "identity").exists() else BEACON
        issuer = (folder / "issuer").read_text().strip() if (folder / "issuer").exists() else GITHUB_ACTIONS
    root = folder / "trusted_root.json"
    return Case(
        (folder / "bundle.sigstore.json").read_bytes(),
        artifact.read_bytes(),
        identity,
        issuer,
        key,
        root if root.exists() else None,  # None: the production root embedded in sigstore
    )


@pytest.mark.parametrize("name", _case_params())
def test_conformance_case(name: str) -> None:
    case = _case(name)

    def run() -> VerifiedBundle:
        return verify_bundle(
            case.bundle,
            artifact=case.artifact,
            identity=case.identity,
            issuer=case.issuer,
            key=case.key,
            trusted_root=case.trusted_root,
        )

    if name.endswith("_fail"):
        assert name in FAILS, f"new failing case {name}: add the class it must raise to FAILS"
        with pytest.raises(VerificationError) as caught:
            run()
        assert type(caught.value) is FAILS[name], f"{name}: {type(caught.value).__name__}: {caught.value}"
    else:
        verified = run()
        assert verified.identity == case.identity
        assert verified.issuer == case.issuer
        assert verified.log_index is not None
        if verified.kind == "dsse":
            assert verified.payload_type == "application/vnd.in-toto+json"
            assert json.loads(verified.payload)["_type"] == "https://in-toto.io/Statement/v1"
        else:
            assert verified.payload_type is None
            assert verified.payload == b""


def test_every_expectation_names_a_case() -> None:
    folder = shared(*CONFORMANCE)
    names = {p.name for p in folder.iterdir() if p.is_dir()}
    assert set(FAILS) <= names
    assert set(LIBRARY_LIMITS) <= names
    assert not set(FAILS) & set(LIBRARY_LIMITS)
    assert {n for n in names if n.endswith("_fail")} == set(FAILS)


@pytest.mark.parametrize("name", sorted(LIBRARY_LIMITS))
def test_library_limits_are_the_librarys(name: str, tmp_path: Path) -> None:
    """sigstore-python's own Verifier refuses the xfailed cases: the limit is the library's, not aifabric's."""
    from sigstore.errors import Error
    from sigstore.models import Bundle, TrustedRoot
    from sigstore.verify import Verifier, policy

    case = _case(name)
    root = case.trusted_root
    if root is None:
        root = tmp_path / "trusted_root.json"
        root.write_bytes(embedded_trusted_root("production"))
    verifier = Verifier(trusted_root=TrustedRoot.from_file(str(root)))
    rule: policy.VerificationPolicy = (
        policy.Identity(identity=case.identity, issuer=case.issuer) if case.identity else policy.UnsafeNoOp()
    )

    def run() -> None:
        bundle = Bundle.from_json(case.bundle)
        if json.loads(case.bundle).get("dsseEnvelope") is not None:
            verifier.verify_dsse(bundle, rule)
        else:
            verifier.verify_artifact(case.artifact, bundle, rule)

    with pytest.raises(Error):
        run()


def test_managed_key_bundles_check_the_key_before_refusing() -> None:
    """Another key than the one logged is a KeyMismatchError; the right one still cannot be verified (the gap)."""
    case = _case("managed-key-happy-path")
    assert case.key is not None
    with pytest.raises(BundleError, match="managed-key bundles cannot be verified"):
        verify_bundle(case.bundle, artifact=case.artifact, key=case.key)
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(KeyMismatchError, match="another public key"):
        verify_bundle(case.bundle, artifact=case.artifact, key=other)


def test_a_keyless_bundle_given_only_a_key_is_a_key_mismatch() -> None:
    case = _case("happy-path-v0.3-new-mediaType")
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(KeyMismatchError, match="identity= and issuer="):
        verify_bundle(case.bundle, artifact=case.artifact, key=other)
    # Given both, the bundle's kind picks the check.
    verify_bundle(case.bundle, artifact=case.artifact, key=other, identity=BEACON, issuer=GITHUB_ACTIONS)


def test_a_conformance_dsse_bundle_matches_its_subject_and_only_it() -> None:
    case = _case("rekor2-dsse-happy-path")
    verified = verify_bundle(case.bundle, identity=BEACON, issuer=GITHUB_ACTIONS, trusted_root=case.trusted_root)
    subject = json.loads(verified.payload)["subject"][0]
    assert subject["digest"]["sha256"] == hashlib.sha256(case.artifact).hexdigest()
    verify_bundle(
        case.bundle, artifact=case.artifact, identity=BEACON, issuer=GITHUB_ACTIONS, trusted_root=case.trusted_root
    )
    digest = ("sha256", hashlib.sha256(case.artifact).digest())
    verify_bundle(case.bundle, digest=digest, identity=BEACON, issuer=GITHUB_ACTIONS, trusted_root=case.trusted_root)
    with pytest.raises(DigestMismatchError, match="not a subject") as caught:
        verify_bundle(
            case.bundle,
            artifact=case.artifact + b"\n",
            identity=BEACON,
            issuer=GITHUB_ACTIONS,
            trusted_root=case.trusted_root,
        )
    assert caught.value.changed == ["a.txt"]


# --- sigstore-python's staging assets -------------------------------------------------------------------------

# (artifact, bundle, identity): the SAN of each bundle's certificate; all were issued for GitHub logins.
STAGING = [
    ("bundle_v3.txt", "bundle_v3.txt.sigstore", "william@yossarian.net"),
    ("bundle.txt", "bundle.txt.sigstore", "a@tny.town"),
    ("bundle_v3_alt.txt", "bundle_v3_alt.txt.sigstore", "william@yossarian.net"),
    ("staging-rekor-v2.txt", "staging-rekor-v2.txt.sigstore.json", "jku@goto.fi"),
]


def _asset(name: str) -> bytes:
    return shared(*ASSETS, name).read_bytes()


def _san_and_issuer(bundle: bytes) -> tuple[list[str], str]:
    material = json.loads(bundle)["verificationMaterial"]
    raw = (
        material["certificate"]["rawBytes"]
        if "certificate" in material
        else (material["x509CertificateChain"]["certificates"][0]["rawBytes"])
    )
    certificate = x509.load_der_x509_certificate(base64.b64decode(raw))
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    sans = [str(v) for v in san.get_values_for_type(x509.RFC822Name)]
    sans += [str(v) for v in san.get_values_for_type(x509.UniformResourceIdentifier)]
    issuer = certificate.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")).value
    assert isinstance(issuer, x509.UnrecognizedExtension)
    return sans, issuer.value.decode()


@pytest.mark.parametrize(("artifact", "bundle", "identity"), STAGING, ids=[row[1] for row in STAGING])
def test_staging_message_signatures_verify_offline(artifact: str, bundle: str, identity: str) -> None:
    raw = _asset(bundle)
    assert _san_and_issuer(raw) == ([identity], GITHUB_LOGIN)  # the facts come from the certificate itself
    data = _asset(artifact)
    verified = verify_bundle(raw, artifact=data, identity=identity, issuer=GITHUB_LOGIN, instance="staging")
    assert verified.kind == "message_signature"
    assert verified.identity == identity
    assert verified.issuer == GITHUB_LOGIN
    assert verified.log_index is not None
    assert verified.media_type == json.loads(raw)["mediaType"]
    rekor_v2 = json.loads(raw)["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["version"] == "0.0.2"
    assert (verified.integrated_time is None) == rekor_v2  # Rekor v2 entries carry no integrated time
    by_digest = verify_bundle(
        json.loads(raw),
        digest=("sha256", hashlib.sha256(data).digest()),
        identity=identity,
        issuer=GITHUB_LOGIN,
        instance="staging",
    )
    assert by_digest == verified


@pytest.mark.parametrize(("artifact", "bundle", "identity"), STAGING, ids=[row[1] for row in STAGING])
def test_staging_flipped_artifact_byte_is_a_digest_mismatch(artifact: str, bundle: str, identity: str) -> None:
    data = bytearray(_asset(artifact))
    data[len(data) // 2] ^= 0x01
    with pytest.raises(DigestMismatchError):
        verify_bundle(_asset(bundle), artifact=bytes(data), identity=identity, issuer=GITHUB_LOGIN, instance="staging")
    # Without the bundle's (unauthenticated) messageDigest hint the signature check fails instead; the log entry,
    # already proven, still tells a changed artifact from a bad signature.
    document = json.loads(_asset(bundle))
    document["messageSignature"].pop("messageDigest", None)
    with pytest.raises(DigestMismatchError, match="differs from what was signed"):
        verify_bundle(document, artifact=bytes(data), identity=identity, issuer=GITHUB_LOGIN, instance="staging")


def test_an_unsigned_integrated_time_is_not_reported() -> None:
    """Rekor v2 entries have no signed entry timestamp: an integratedTime written into one is not believed."""
    document = json.loads(_asset("staging-rekor-v2.txt.sigstore.json"))
    document["verificationMaterial"]["tlogEntries"][0]["integratedTime"] = str(2**62)  # fits int64, beyond datetime
    verified = verify_bundle(
        document,
        artifact=_asset("staging-rekor-v2.txt"),
        identity="jku@goto.fi",
        issuer=GITHUB_LOGIN,
        instance="staging",
    )
    assert verified.integrated_time is None


def test_staging_bad_signature_is_a_signature_error() -> None:
    document = json.loads(_asset("bundle_v3.txt.sigstore"))
    signature = bytearray(base64.b64decode(document["messageSignature"]["signature"]))
    signature[-1] ^= 0x01
    document["messageSignature"]["signature"] = base64.b64encode(bytes(signature)).decode()
    with pytest.raises(SignatureError):
        verify_bundle(
            document,
            artifact=_asset("bundle_v3.txt"),
            identity="william@yossarian.net",
            issuer=GITHUB_LOGIN,
            instance="staging",
        )


@pytest.mark.parametrize(
    ("identity", "issuer"),
    [("someone@example.com", GITHUB_LOGIN), ("william@yossarian.net", "https://accounts.google.com")],
    ids=["wrong-identity", "wrong-issuer"],
)
def test_staging_wrong_identity_or_issuer_is_an_identity_error(identity: str, issuer: str) -> None:
    with pytest.raises(IdentityError, match="not the expected identity"):
        verify_bundle(
            _asset("bundle_v3.txt.sigstore"),
            artifact=_asset("bundle_v3.txt"),
            identity=identity,
            issuer=issuer,
            instance="staging",
        )


@pytest.mark.parametrize(
    ("artifact", "bundle", "expected"),
    [
        ("bundle_v3_no_signed_time.txt", "bundle_v3_no_signed_time.txt.sigstore.json", BundleError),
        ("bundle_invalid_version.txt", "bundle_invalid_version.txt.sigstore", BundleError),
        # CVE-2022-36056: a genuine log entry, for another certificate than the bundle's.
        ("bundle_cve_2022_36056.txt", "bundle_cve_2022_36056.txt.sigstore", KeyMismatchError),
        ("bundle_no_checkpoint.txt", "bundle_no_checkpoint.txt.sigstore", BundleError),
        ("bundle_no_log_entry.txt", "bundle_no_log_entry.txt.sigstore", BundleError),
        ("bundle_no_cert_v1.txt", "bundle_no_cert_v1.txt.sigstore", BundleError),
    ],
)
def test_staging_negative_assets(artifact: str, bundle: str, expected: type[VerificationError]) -> None:
    with pytest.raises(VerificationError) as caught:
        verify_bundle(
            _asset(bundle),
            artifact=_asset(artifact),
            identity="william@yossarian.net",
            issuer=GITHUB_LOGIN,
            instance="staging",
        )
    assert type(caught.value) is expected, f"{type(caught.value).__name__}: {caught.value}"


def test_a_staging_bundle_against_the_production_root_is_a_certificate_error() -> None:
    with pytest.raises(CertificateError):
        verify_bundle(
            _asset("bundle.txt.sigstore"), artifact=_asset("bundle.txt"), identity="a@tny.town", issuer=GITHUB_LOGIN
        )


def test_staging_dsse_returns_its_payload_and_checks_subjects() -> None:
    raw = _asset("a.dsse.staging-rekor-v2.txt.sigstore.json")
    assert _san_and_issuer(raw) == ([BEACON], GITHUB_ACTIONS)
    verified = verify_bundle(raw, identity=BEACON, issuer=GITHUB_ACTIONS, instance="staging")
    assert verified.kind == "dsse"
    assert verified.payload_type == "application/vnd.in-toto+json"
    statement = json.loads(verified.payload)
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    # The subject is sigstore-conformance's a.txt, not the file beside the bundle (upstream's "wrong subject" case).
    conformance_a = shared(*CONFORMANCE, "a.txt").read_bytes()
    assert statement["subject"] == [{"name": "a.txt", "digest": {"sha256": hashlib.sha256(conformance_a).hexdigest()}}]
    assert verify_bundle(raw, artifact=conformance_a, identity=BEACON, issuer=GITHUB_ACTIONS, instance="staging") == (
        verified
    )
    with pytest.raises(DigestMismatchError, match="not a subject"):
        verify_bundle(
            raw,
            artifact=_asset("a.dsse.staging-rekor-v2.txt"),
            identity=BEACON,
            issuer=GITHUB_ACTIONS,
            instance="staging",
        )


def test_a_changed_dsse_payload_is_a_digest_mismatch() -> None:
    document = json.loads(_asset("a.dsse.staging-rekor-v2.txt.sigstore.json"))
    payload = json.loads(base64.b64decode(document["dsseEnvelope"]["payload"]))
    payload["subject"][0]["digest"]["sha256"] = "0" * 64
    document["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    with pytest.raises(DigestMismatchError, match="DSSE envelope differs"):
        verify_bundle(document, identity=BEACON, issuer=GITHUB_ACTIONS, instance="staging")


# --- model-transparency: a production keyless model signature --------------------------------------------------


def test_production_model_signature_verifies_offline() -> None:
    raw = shared(*MODEL, "model.sig").read_bytes()
    assert _san_and_issuer(raw) == ([MODEL_IDENTITY], MODEL_ISSUER)
    verified = verify_bundle(raw, identity=MODEL_IDENTITY, issuer=MODEL_ISSUER)
    assert verified.kind == "dsse"
    assert verified.payload_type == "application/vnd.in-toto+json"
    statement = json.loads(verified.payload)
    assert statement["predicateType"] == "https://model_signing/signature/v1.0"
    resources = {r["name"]: r["digest"] for r in statement["predicate"]["resources"]}
    for name in ("signme-1", "signme-2"):  # the statement covers the files beside it
        assert resources[name] == hashlib.sha256(shared(*MODEL, name).read_bytes()).hexdigest()
    assert verified.integrated_time is not None and verified.integrated_time.year == 2025
    assert verified.log_index is not None
    subject = statement["subject"][0]["digest"]["sha256"]
    assert verify_bundle(
        raw, digest=("sha256", bytes.fromhex(subject)), identity=MODEL_IDENTITY, issuer=MODEL_ISSUER
    ) == (verified)


@pytest.mark.parametrize(
    ("identity", "issuer"),
    [("someone@us.ibm.com", MODEL_ISSUER), (MODEL_IDENTITY, GITHUB_LOGIN)],
    ids=["wrong-identity", "wrong-issuer"],
)
def test_production_model_signature_by_someone_else_is_an_identity_error(identity: str, issuer: str) -> None:
    with pytest.raises(IdentityError):
        verify_bundle(shared(*MODEL, "model.sig").read_bytes(), identity=identity, issuer=issuer)


def test_production_model_signature_against_the_staging_root_is_a_certificate_error() -> None:
    with pytest.raises(CertificateError):
        verify_bundle(
            shared(*MODEL, "model.sig").read_bytes(), identity=MODEL_IDENTITY, issuer=MODEL_ISSUER, instance="staging"
        )


def test_verified_bundles_are_frozen() -> None:
    verified = verify_bundle(shared(*MODEL, "model.sig").read_bytes(), identity=MODEL_IDENTITY, issuer=MODEL_ISSUER)
    with pytest.raises(dataclasses.FrozenInstanceError):
        verified.identity = "someone"  # type: ignore[misc]


# --- offline trust roots ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("instance", sorted(INSTANCES))
def test_embedded_trusted_roots_ship_with_sigstore(instance: Any) -> None:
    root = json.loads(embedded_trusted_root(instance))
    assert root["mediaType"] == "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
    assert root["tlogs"] and root["certificateAuthorities"] and root["ctlogs"]


def test_an_explicit_trusted_root_file_is_used(tmp_path: Path) -> None:
    path = tmp_path / "staging.json"
    path.write_bytes(embedded_trusted_root("staging"))
    verify_bundle(
        _asset("bundle.txt.sigstore"),
        artifact=_asset("bundle.txt"),
        identity="a@tny.town",
        issuer=GITHUB_LOGIN,
        trusted_root=path,
    )
    path.write_bytes(embedded_trusted_root("production"))  # the file wins over the instance
    with pytest.raises(CertificateError):
        verify_bundle(
            _asset("bundle.txt.sigstore"),
            artifact=_asset("bundle.txt"),
            identity="a@tny.town",
            issuer=GITHUB_LOGIN,
            trusted_root=str(path),
            instance="staging",
        )


def test_unreadable_trusted_roots_are_key_file_errors(tmp_path: Path) -> None:
    bundle = _asset("bundle.txt.sigstore")
    with pytest.raises(KeyFileError, match="cannot read"):
        verify_bundle(bundle, artifact=b"", identity="a@tny.town", issuer=GITHUB_LOGIN, trusted_root=tmp_path / "no")
    for content in (b"{", b"[]", b'{"mediaType": "application/unknown"}'):
        (tmp_path / "bad.json").write_bytes(content)
        with pytest.raises(KeyFileError):
            verify_bundle(
                bundle, artifact=b"", identity="a@tny.town", issuer=GITHUB_LOGIN, trusted_root=tmp_path / "bad.json"
            )
    # sigstore-python's own deliberately broken roots.
    for name in ("trustedroot.badtype.json",):
        with pytest.raises(KeyFileError):
            verify_bundle(
                bundle,
                artifact=b"",
                identity="a@tny.town",
                issuer=GITHUB_LOGIN,
                trusted_root=shared(*ASSETS, "trusted_root", name),
            )


def test_verification_is_offline_in_a_fresh_process_with_no_route_out(tmp_path: Path) -> None:
    """No proxy reachable, an empty HOME (no TUF cache to fall back on): verification still works, writes nothing."""
    home = tmp_path / "home"
    home.mkdir()
    script = textwrap.dedent(
        """
        import json, sys
        from pathlib import Path
        from aifabric.signing._sigstore import verify_bundle
        model, assets = Path(sys.argv[1]), Path(sys.argv[2])
        a = verify_bundle((model / "model.sig").read_bytes(), identity=sys.argv[3], issuer=sys.argv[4])
        b = verify_bundle(
            (assets / "staging-rekor-v2.txt.sigstore.json").read_bytes(),
            artifact=(assets / "staging-rekor-v2.txt").read_bytes(),
            identity="jku@goto.fi", issuer="https://github.com/login/oauth", instance="staging",
        )
        print(json.dumps([a.kind, b.kind]))
        """
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SIGSTORE", "XDG_", "PYTHONPATH"))}
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CACHE_HOME=str(home / "cache"),
        HTTPS_PROXY="http://127.0.0.1:9",
        HTTP_PROXY="http://127.0.0.1:9",
        https_proxy="http://127.0.0.1:9",
        http_proxy="http://127.0.0.1:9",
        NO_PROXY="",
        no_proxy="",
    )
    started = time.monotonic()
    result = subprocess.run(  # our own interpreter and script
        [sys.executable, "-c", script, str(shared(*MODEL)), str(shared(*ASSETS)), MODEL_IDENTITY, MODEL_ISSUER],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["dsse", "message_signature"]
    assert time.monotonic() - started < 60  # no connection timeouts were waited out
    assert list(home.rglob("*")) == []  # no TUF cache read or written


# --- arguments ------------------------------------------------------------------------------------------------


def test_argument_mistakes_are_value_errors() -> None:
    bundle = _asset("bundle.txt.sigstore")
    artifact = _asset("bundle.txt")
    with pytest.raises(ValueError, match="whose it must be"):
        verify_bundle(bundle, artifact=artifact)
    with pytest.raises(ValueError, match="both identity= and issuer="):
        verify_bundle(bundle, artifact=artifact, identity="a@tny.town")
    with pytest.raises(ValueError, match="both identity= and issuer="):
        verify_bundle(bundle, artifact=artifact, issuer=GITHUB_LOGIN)
    with pytest.raises(ValueError, match="not both"):
        verify_bundle(
            bundle, artifact=artifact, digest=("sha256", bytes(32)), identity="a@tny.town", issuer=GITHUB_LOGIN
        )
    with pytest.raises(ValueError, match="sha256 digests only"):
        verify_bundle(bundle, digest=("sha512", bytes(64)), identity="a@tny.town", issuer=GITHUB_LOGIN)
    with pytest.raises(ValueError, match="32 raw bytes"):
        verify_bundle(bundle, digest=("sha256", b"ab" * 32), identity="a@tny.town", issuer=GITHUB_LOGIN)
    with pytest.raises(ValueError, match="unknown Sigstore instance"):
        verify_bundle(bundle, artifact=artifact, identity="a@tny.town", issuer=GITHUB_LOGIN, instance="dev")  # type: ignore[arg-type]


def test_a_message_signature_with_nothing_to_check_is_a_bundle_error() -> None:
    """Given no artifact the caller expects a DSSE envelope; a bundle of the other kind cannot answer."""
    with pytest.raises(BundleError, match="give the artifact= or digest="):
        verify_bundle(_asset("bundle.txt.sigstore"), identity="a@tny.town", issuer=GITHUB_LOGIN, instance="staging")


@pytest.mark.parametrize(
    "bundle",
    [b"", b"\xff\xfe", "not json", "[]", "null", '"a string"', "{}", '{"mediaType": 1}', b'{"a": ' * 5000],
    ids=["empty", "not-utf8", "not-json", "array", "null", "string", "empty-object", "bad-media-type", "deep"],
)
def test_unreadable_bundles_are_bundle_errors(bundle: bytes | str) -> None:
    with pytest.raises(BundleError):
        verify_bundle(bundle, artifact=b"x", identity="a@tny.town", issuer=GITHUB_LOGIN)


# --- properties -------------------------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
VALID = [
    ("staging-rekor-v2.txt.sigstore.json", "staging-rekor-v2.txt", "jku@goto.fi", GITHUB_LOGIN),
    ("bundle.txt.sigstore", "bundle.txt", "a@tny.town", GITHUB_LOGIN),
    ("a.dsse.staging-rekor-v2.txt.sigstore.json", None, BEACON, GITHUB_ACTIONS),
]


def _only_verification_errors(bundle: Any, artifact: bytes | None, identity: str, issuer: str) -> None:
    try:
        verify_bundle(bundle, artifact=artifact, identity=identity, issuer=issuer, instance="staging")
    except VerificationError:
        pass
    except AifabricError as exc:  # pragma: no cover - a failure message, not a branch
        pytest.fail(f"{type(exc).__name__} is not a VerificationError: {exc}")


@GUARDED
@given(
    st.one_of(
        JSON,
        st.dictionaries(
            st.sampled_from(["mediaType", "verificationMaterial", "messageSignature", "dsseEnvelope"]), JSON
        ),
    )
)
def test_arbitrary_json_raises_only_verification_errors(document: Any) -> None:
    with pytest.raises(VerificationError):
        verify_bundle(json.dumps(document), artifact=b"x", identity="a@tny.town", issuer=GITHUB_LOGIN)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


@GUARDED
@given(st.sampled_from(VALID), st.data())
def test_a_valid_bundle_with_any_value_replaced_raises_only_verification_errors(
    row: tuple[str, str | None, str, str], data: st.DataObject
) -> None:
    bundle_name, artifact_name, identity, issuer = row
    document = json.loads(_asset(bundle_name))
    path = data.draw(st.sampled_from(sorted((p for p in _paths(document) if p), key=repr)))
    target = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = data.draw(JSON)
    _only_verification_errors(document, _asset(artifact_name) if artifact_name else None, identity, issuer)


@GUARDED
@given(st.sampled_from(VALID), st.data())
def test_truncated_bundles_raise_only_verification_errors(
    row: tuple[str, str | None, str, str], data: st.DataObject
) -> None:
    bundle_name, artifact_name, identity, issuer = row
    raw = _asset(bundle_name)
    cut = data.draw(st.integers(0, len(raw.rstrip()) - 1))
    with pytest.raises(VerificationError):
        verify_bundle(
            raw[:cut],
            artifact=_asset(artifact_name) if artifact_name else None,
            identity=identity,
            issuer=issuer,
            instance="staging",
        )


@GUARDED
@given(st.sampled_from(VALID), st.data())
def test_byte_flipped_bundles_verify_or_raise_only_verification_errors(
    row: tuple[str, str | None, str, str], data: st.DataObject
) -> None:
    bundle_name, artifact_name, identity, issuer = row
    raw = bytearray(_asset(bundle_name))
    raw[data.draw(st.integers(0, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
    _only_verification_errors(bytes(raw), _asset(artifact_name) if artifact_name else None, identity, issuer)


def test_copies_of_the_data_are_untouched() -> None:
    """The property tests edit parsed copies only; the shared files still verify."""
    document = json.loads(_asset("staging-rekor-v2.txt.sigstore.json"))
    verify_bundle(
        copy.deepcopy(document),
        artifact=_asset("staging-rekor-v2.txt"),
        identity="jku@goto.fi",
        issuer=GITHUB_LOGIN,
        instance="staging",
    )


# --- keyless signing ------------------------------------------------------------------------------------------


def _jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


STATEMENT = json.dumps(
    {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "a.txt", "digest": {"sha256": "a0" * 32}}],
        "predicateType": "https://example.com/predicate/v1",
        "predicate": {},
    }
).encode()


@pytest.mark.parametrize(
    ("token", "match"),
    [
        ("not-a-token", "malformed or missing claims"),
        (_jwt({"aud": "sigstore", "sub": "x", "iss": "https://issuer.example", "iat": 1, "exp": 2}), "malformed"),
        (
            _jwt({"aud": "another-audience", "sub": "x", "iss": "https://issuer.example", "iat": 1, "exp": 2**40}),
            "malformed",
        ),
    ],
    ids=["garbage", "expired", "wrong-audience"],
)
@pytest.mark.parametrize("payload_type", [None, "application/vnd.in-toto+json"])
def test_an_unusable_identity_token_fails_before_any_network(
    token: str, match: str, payload_type: str | None, no_network: list[str]
) -> None:
    with pytest.raises(KeyFileError, match=match) as caught:
        sign_keyless(STATEMENT, payload_type, identity_token=token, instance="staging")
    assert caught.value.__cause__ is None  # no chained third-party traceback
    assert caught.value.__suppress_context__
    assert no_network == []


def test_a_token_not_yet_valid_says_so() -> None:
    now = int(time.time())
    token = _jwt(
        {
            "aud": "sigstore",
            "sub": "x",
            "iss": "https://issuer.example",
            "iat": now,
            "nbf": now + 3600,
            "exp": now + 7200,
        }
    )
    with pytest.raises(KeyFileError, match="validity period"):
        sign_keyless(b"data", None, identity_token=token)


def test_signing_arguments_are_checked_before_the_token() -> None:
    with pytest.raises(ValueError, match="in-toto statements only"):
        sign_keyless(b"{}", "application/json", identity_token="x")
    with pytest.raises(DocumentError, match="not an in-toto statement"):
        sign_keyless(b"{}", "application/vnd.in-toto+json", identity_token="x")
    with pytest.raises(ValueError, match="unknown Sigstore instance"):
        sign_keyless(b"{}", None, identity_token="x", instance="dev")  # type: ignore[arg-type]


def test_a_usable_token_with_no_network_is_a_key_file_error(
    no_network: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # sigstore keeps its TUF metadata under the user's data and cache folders: point them at tmp_path.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    now = int(time.time())
    token = _jwt({"aud": "sigstore", "sub": "x", "iss": "https://issuer.example", "iat": now, "exp": now + 3600})
    with pytest.raises(KeyFileError, match="signing failed"):
        sign_keyless(b"data", None, identity_token=token, instance="staging")
    assert no_network  # it tried, and the guard refused
    no_network.clear()


@pytest.mark.skipif(
    not os.environ.get("AIFABRIC_SIGSTORE_IDENTITY_TOKEN"),
    reason="needs a Sigstore OIDC identity token in AIFABRIC_SIGSTORE_IDENTITY_TOKEN and network access",
)
def test_keyless_signing_round_trip_online(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.undo()  # lift the network guard for this one test
    from sigstore.models import ClientTrustConfig

    token = os.environ["AIFABRIC_SIGSTORE_IDENTITY_TOKEN"]
    instance: Any = os.environ.get("AIFABRIC_SIGSTORE_INSTANCE", "staging")
    config = ClientTrustConfig.staging() if instance == "staging" else ClientTrustConfig.production()
    root = tmp_path / "trusted_root.json"
    # Today's root (sigstore has no public writer for it): the embedded one may predate the keys signing now uses.
    root.write_text(config.trusted_root._inner.to_json())
    for payload, payload_type in ((b"hello", None), (STATEMENT, "application/vnd.in-toto+json")):
        bundle = sign_keyless(payload, payload_type, identity_token=token, instance=instance)
        assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
        sans, issuer = _san_and_issuer(json.dumps(bundle).encode())
        verified = verify_bundle(
            bundle,
            artifact=payload if payload_type is None else None,
            identity=sans[0],
            issuer=issuer,
            trusted_root=root,
        )
        assert verified.kind == ("dsse" if payload_type else "message_signature")
        if payload_type:
            assert verified.payload == payload
