"""Keys, DSSE, bundles and signed documents: round trips, peers' own code, and every tampering detected."""

from __future__ import annotations

import base64
import copy
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st
from sigstore import dsse as sigstore_dsse

from aifabric import (
    BundleError,
    CertificateError,
    DigestMismatchError,
    KeyFileError,
    KeyMismatchError,
    SignatureError,
    VerificationError,
)
from aifabric.signing import attach, generate_key, sign_document, verify_document
from aifabric.signing.bundle import Bundle
from aifabric.signing.dsse import INTOTO_PAYLOAD_TYPE, Envelope, pae, sign_envelope, statement, verify_envelope
from aifabric.signing.keys import (
    KEY_TYPES,
    PrivateKey,
    key_hint,
    load_certificates,
    load_private_key,
    load_public_key,
    public_pem,
    write_private_key,
)
from tests.conftest import report

# --- keys ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KEY_TYPES)
def test_keys_round_trip_through_encrypted_pem_with_mode_0600(tmp_path: Path, kind: Any) -> None:
    """[SIG-050] Private keys are written encrypted unless told otherwise, always 0600."""
    key = generate_key(kind)
    path = write_private_key(tmp_path / "k.pem", key, password=b"pw")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"ENCRYPTED" in path.read_bytes()
    loaded = load_private_key(path, password=b"pw")
    assert public_pem(loaded.public_key()) == public_pem(key.public_key())
    with pytest.raises(KeyFileError):
        load_private_key(path)  # no password
    with pytest.raises(KeyFileError):
        load_private_key(path, password=b"wrong")


def test_unencrypted_private_keys_need_an_explicit_flag(tmp_path: Path) -> None:
    """[SIG-051] Writing a private key in the clear is refused unless asked for."""
    key = generate_key()
    with pytest.raises(KeyFileError, match="unencrypted"):
        write_private_key(tmp_path / "k.pem", key)
    assert not (tmp_path / "k.pem").exists()
    target = tmp_path / "open.pem"
    target.write_bytes(b"")
    target.chmod(0o644)
    write_private_key(target, key, unencrypted=True)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # an existing file is tightened too


def test_bad_key_material_is_a_key_file_error(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read"):
        load_private_key(tmp_path / "missing.pem")
    with pytest.raises(KeyFileError):
        load_public_key(b"not a key")
    with pytest.raises(KeyFileError, match="unknown key type"):
        generate_key("rsa")  # type: ignore[arg-type]
    with pytest.raises(KeyFileError, match="no PEM certificate"):
        load_certificates(b"nothing")


# --- DSSE ----------------------------------------------------------------------------------------------------


@given(st.text(st.characters(max_codepoint=127), max_size=40), st.binary(max_size=200))
def test_pae_equals_sigstores_on_ascii_types(payload_type: str, body: bytes) -> None:
    """[SIG-001] PAE is DSSE v1's: the same bytes as sigstore-python's own encoder."""
    assert pae(payload_type, body) == sigstore_dsse._pae(payload_type, body)


def test_pae_counts_bytes_not_characters() -> None:
    assert pae("tÿpe", b"x") == "DSSEv1 5 tÿpe 1 x".encode()


def test_an_aifabric_envelope_verifies_with_sigstores_dsse_code() -> None:
    """[SIG-002] An envelope made here verifies with the sigstore library's own DSSE verifier."""
    key = generate_key("ecdsa-p256")
    body = statement([{"name": "x", "digest": {"sha256": "ab" * 32}}], "https://example.com/p", {"a": 1})
    envelope = sign_envelope(body, INTOTO_PAYLOAD_TYPE, key)
    theirs = sigstore_dsse.Envelope._from_json(json.dumps(envelope.to_json()))
    assert sigstore_dsse._verify(key.public_key(), theirs) == body  # type: ignore[arg-type]
    assert sigstore_dsse.Statement(body)._inner.predicate_type == "https://example.com/p"


def test_an_envelope_signed_by_sigstore_verifies_here() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    stmt = (
        sigstore_dsse.StatementBuilder()
        .subjects([sigstore_dsse.Subject(name="m", digest={"sha256": "ab" * 32})])  # type: ignore[arg-type]
        .predicate_type("https://example.com/p")
        .predicate({"k": "v"})
        .build()
    )
    theirs = sigstore_dsse._sign(key, stmt)
    ours = Envelope.from_json(json.loads(theirs.to_json()))
    assert verify_envelope(ours, key.public_key()) == stmt._contents


@pytest.mark.parametrize("kind", KEY_TYPES)
def test_envelopes_verify_and_any_change_fails(kind: Any) -> None:
    key = generate_key(kind)
    envelope = sign_envelope(b'{"a":1}', INTOTO_PAYLOAD_TYPE, key)
    assert verify_envelope(envelope, key.public_key()) == b'{"a":1}'
    tampered = [
        Envelope(b'{"a":2}', envelope.payload_type, envelope.signatures),
        Envelope(envelope.payload, "text/plain", envelope.signatures),
        Envelope(envelope.payload, envelope.payload_type, (("", _flip_last(envelope.signatures[0][1])),)),
    ]
    for bad in tampered:
        with pytest.raises(SignatureError):
            verify_envelope(bad, key.public_key())
    with pytest.raises(SignatureError):
        verify_envelope(envelope, generate_key(kind).public_key())


def _flip_last(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x01])


# --- documents -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signer() -> PrivateKey:
    return generate_key("ecdsa-p256")


def test_detached_and_embedded_document_signatures_verify(signer: PrivateKey) -> None:
    """[SIG-030] [SIG-031] Detached and embedded signatures over the canonical form verify."""
    doc = report()
    bundle = sign_document(doc, signer)
    verified = verify_document(doc, bundle.to_json(), key=signer.public_key())
    assert verified.signer.key_hint == key_hint(signer.public_key())
    embedded = attach(doc, bundle)
    assert verify_document(embedded, key=signer.public_key()).digest == verified.digest
    twice = attach(embedded, sign_document(doc, generate_key("ed25519")))
    verify_document(twice, key=signer.public_key())  # any embedded signature by the key will do


def test_reserialising_a_signed_document_keeps_it_verified(signer: PrivateKey) -> None:
    """[SIG-032] Key order, whitespace and number spelling do not matter: the canonical form is signed."""
    doc = report()
    bundle = sign_document(doc, signer)
    text = json.dumps(dict(reversed(list(doc.items()))), indent=4)
    verify_document(json.loads(text), bundle, key=signer.public_key())


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda d: d.update(producer="https://evil.example/x"), DigestMismatchError),
        (lambda d: d["results"].append(copy.deepcopy(d["summary"])), DigestMismatchError),
        (lambda d: d.pop("environment"), DigestMismatchError),
    ],
)
def test_a_changed_document_is_a_digest_mismatch(signer: PrivateKey, change: Any, error: type[Exception]) -> None:
    doc = report()
    bundle = sign_document(doc, signer)
    change(doc)
    with pytest.raises(error):
        verify_document(doc, bundle, key=signer.public_key())


def _bundle_json(signer: PrivateKey) -> dict[str, Any]:
    return sign_document(report(), signer).to_json()


def _mutations() -> list[tuple[str, Any, type[VerificationError]]]:
    def sig(b: dict[str, Any]) -> None:
        raw = bytearray(base64.b64decode(b["dsseEnvelope"]["signatures"][0]["sig"]))
        raw[10] ^= 1
        b["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(raw).decode()

    def payload(b: dict[str, Any]) -> None:
        raw = base64.b64decode(b["dsseEnvelope"]["payload"]).replace(b"RFC8785", b"RFC8786")
        b["dsseEnvelope"]["payload"] = base64.b64encode(raw).decode()

    return [
        ("flipped signature bit", sig, SignatureError),
        ("edited payload", payload, SignatureError),
        (
            "another key's hint",
            lambda b: b["verificationMaterial"]["publicKey"].update(hint="00" * 32),
            KeyMismatchError,
        ),
        ("unknown media type", lambda b: b.update(mediaType="application/x-bundle"), BundleError),
        ("no envelope", lambda b: b.pop("dsseEnvelope"), BundleError),
        ("no signatures", lambda b: b["dsseEnvelope"].update(signatures=[]), BundleError),
        ("bad base64", lambda b: b["dsseEnvelope"]["signatures"][0].update(sig="!!!"), BundleError),
        ("not in-toto", lambda b: b["dsseEnvelope"].update(payloadType="text/plain"), BundleError),
        (
            "empty chain",
            lambda b: b["verificationMaterial"].update(x509CertificateChain={"certificates": []}),
            BundleError,
        ),
    ]


@pytest.mark.parametrize(("name", "mutate", "error"), _mutations(), ids=[m[0] for m in _mutations()])
def test_every_bundle_tampering_has_its_specific_error(
    signer: PrivateKey, name: str, mutate: Any, error: type[VerificationError]
) -> None:
    """[SIG-040] Each way a bundle is broken raises its own error class, never returns False."""
    bundle = _bundle_json(signer)
    mutate(bundle)
    with pytest.raises(error):
        verify_document(report(), bundle, key=signer.public_key())


def test_truncated_bundles_are_bundle_errors(signer: PrivateKey) -> None:
    text = json.dumps(_bundle_json(signer)).encode()
    for cut in (0, 1, len(text) // 3, len(text) // 2, len(text) - 1):
        with pytest.raises(BundleError):
            verify_document(report(), text[:cut], key=signer.public_key())


def test_a_key_bundle_without_a_key_and_unsigned_documents(signer: PrivateKey) -> None:
    with pytest.raises(KeyMismatchError, match="give the public key"):
        verify_document(report(), sign_document(report(), signer))
    with pytest.raises(BundleError, match="no signatures"):
        verify_document(report(), key=signer.public_key())


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
        max_leaves=20,
    )
)
def test_arbitrary_bundle_json_gives_only_verification_errors(value: Any) -> None:
    key = generate_key("ed25519")
    with pytest.raises(VerificationError):
        verify_document(report(), value, key=key.public_key())


@given(st.data())
def test_mutated_valid_bundles_never_crash(data: st.DataObject) -> None:
    key = generate_key("ed25519")
    bundle = json.dumps(sign_document(report(), key).to_json()).encode()
    position = data.draw(st.integers(0, len(bundle) - 1))
    mutated = bundle[:position] + bytes([data.draw(st.integers(0, 255))]) + bundle[position + 1 :]
    try:
        verify_document(report(), mutated, key=key.public_key())
    except VerificationError:
        return
    # only what the signature does not cover may change and still verify: never the envelope
    assert Bundle.from_json(mutated).envelope == Bundle.from_json(bundle).envelope


# --- certificates ----------------------------------------------------------------------------------------------


def _certificate(subject: str, key: Any, issuer_key: Any, issuer: str, *, ca: bool, days: int = 30) -> x509.Certificate:
    import datetime

    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(issuer_key, hashes.SHA256())


def test_certificate_chains_verify_to_a_trusted_root_only() -> None:
    """[SIG-020] A certificate bundle verifies only through a chain to a trusted root."""
    root_key, mid_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _certificate("root", root_key, root_key, "root", ca=True)
    mid = _certificate("mid", mid_key, root_key, "root", ca=True)
    leaf = _certificate("signer", leaf_key, mid_key, "mid", ca=False)
    doc = report()
    bundle = sign_document(doc, leaf_key, certificates=[leaf, mid])
    verified = verify_document(doc, bundle, roots=[root])
    assert verified.signer.method == "certificate"
    other_key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(CertificateError):
        verify_document(doc, bundle, roots=[_certificate("root", other_key, other_key, "root", ca=True)])
    with pytest.raises(CertificateError, match="needs trusted root"):
        verify_document(doc, bundle)
    with pytest.raises(KeyMismatchError):
        verify_document(doc, bundle, roots=[root], key=generate_key().public_key())
    expired = _certificate("signer", leaf_key, mid_key, "mid", ca=False, days=-1)
    with pytest.raises(CertificateError, match="not valid"):
        verify_document(doc, sign_document(doc, leaf_key, certificates=[expired, mid]), roots=[root])


def test_the_document_predicate_is_exact_and_nothing_else_verifies(signer: PrivateKey) -> None:
    """[SIG-034] The statement carries exactly the canonical-form predicate; another one is refused."""
    doc = report()
    bundle = sign_document(doc, signer).to_json()
    body = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    assert body["predicate"] == {
        "schemaURL": doc["schemaURL"],
        "canonicalization": "RFC8785",
        "excluded": ["signatures"],
    }
    body["predicate"]["excluded"] = ["signatures", "producer"]
    forged = Bundle(
        sign_envelope(json.dumps(body).encode(), INTOTO_PAYLOAD_TYPE, signer), hint=key_hint(signer.public_key())
    )
    with pytest.raises(BundleError, match="predicate"):
        verify_document(doc, forged, key=signer.public_key())


def test_an_invalid_document_is_never_signed(signer: PrivateKey) -> None:
    """[SIG-035] sign_document validates first."""
    from aifabric import ValidationError

    doc = report()
    doc["createdAt"] = "yesterday"
    with pytest.raises(ValidationError):
        sign_document(doc, signer)


def test_a_bad_signature_over_garbage_is_a_signature_error(signer: PrivateKey) -> None:
    """[SIG-041] The signature is checked before the payload is parsed: garbage under a bad signature."""
    envelope = Envelope(b"\xff not json", INTOTO_PAYLOAD_TYPE, (("", b"\x30\x06\x02\x01\x01\x02\x01\x01"),))
    with pytest.raises(SignatureError):
        verify_document(report(), Bundle(envelope, hint=key_hint(signer.public_key())), key=signer.public_key())
