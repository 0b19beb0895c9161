"""Model signatures: interoperable with the model-signing tool both ways, and every tampering detected."""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from aifabric import (
    BundleError,
    CertificateError,
    DigestMismatchError,
    KeyMismatchError,
    SignatureError,
    VerificationError,
)
from aifabric.signing import generate_key, load_certificates, load_public_key
from aifabric.signing.artifacts import sign_model, verify_model
from aifabric.signing.digests import DEFAULT_IGNORE
from aifabric.signing.keys import PrivateKey, write_private_key
from tests.conftest import shared

model_signing = pytest.importorskip("model_signing")

COMBINATIONS = [("files", "sha256"), ("files", "blake3"), ("shards", "sha256"), ("shards", "blake3")]


def make_model(root: Path) -> Path:
    (root / "nested" / "deeper").mkdir(parents=True)
    (root / "config.json").write_text('{"layers": 2}')
    (root / "weights.bin").write_bytes(os.urandom(300_000))
    (root / "nested" / "tokenizer.txt").write_text("a b c\n" * 100)
    (root / "nested" / "deeper" / "empty").write_bytes(b"")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return root


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return make_model(tmp_path / "model")


@pytest.fixture(scope="module")
def ec_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[PrivateKey, Path, Path]:
    folder = tmp_path_factory.mktemp("keys")
    key = generate_key("ecdsa-p256")
    private = write_private_key(folder / "key.pem", key, unencrypted=True)
    public = folder / "key.pub"
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return key, private, public


def _their_hashing(method: str, algorithm: str) -> Any:
    config = model_signing.hashing.Config()
    if method == "shards":
        return config.use_shard_serialization(hashing_algorithm=algorithm)
    return config.use_file_serialization(hashing_algorithm=algorithm)


@pytest.mark.parametrize(("method", "algorithm"), COMBINATIONS)
def test_aifabric_signatures_verify_with_model_signing(
    model: Path, tmp_path: Path, ec_key: tuple[PrivateKey, Path, Path], method: Any, algorithm: Any
) -> None:
    """[SIG-015] [SIG-060] [SIG-064] A model signed here verifies with the model-signing package's own verifier."""
    key, _, public = ec_key
    signature = tmp_path / "model.sig"
    signature.write_bytes(sign_model(model, key, method=method, algorithm=algorithm).dumps())
    config = model_signing.verifying.Config().use_elliptic_key_verifier(public_key=public)
    config.set_hashing_config(_their_hashing(method, algorithm))  # shard verification needs it stated
    config.verify(model, signature)


@pytest.mark.parametrize(("method", "algorithm"), COMBINATIONS)
def test_model_signing_signatures_verify_here(
    model: Path, tmp_path: Path, ec_key: tuple[PrivateKey, Path, Path], method: Any, algorithm: Any
) -> None:
    """[SIG-016] [SIG-063] [SIG-066] [SIG-069] model-signing's signatures verify here; resources and ignores agree."""
    key, private, _ = ec_key
    signature = tmp_path / "model.sig"
    model_signing.signing.Config().use_elliptic_key_signer(private_key=private).set_hashing_config(
        _their_hashing(method, algorithm)
    ).sign(model, signature)
    manifest = verify_model(model, signature.read_bytes(), key=key.public_key())
    theirs = json.loads(base64.b64decode(json.loads(signature.read_bytes())["dsseEnvelope"]["payload"]))
    assert manifest.resources() == theirs["predicate"]["resources"]  # the same names, digests and order
    assert set(DEFAULT_IGNORE) == set(theirs["predicate"]["serialization"]["ignore_paths"])
    ours, signed = manifest.serialization.to_json(), theirs["predicate"]["serialization"]
    assert sorted(ours.pop("ignore_paths")) == sorted(signed.pop("ignore_paths"))  # model-signing keeps a set
    assert ours == signed
    # model-signing 1.1.1 records blake3 shard requests as the files method; everything else as asked
    assert manifest.serialization.method == ("files" if algorithm == "blake3" else method)
    assert manifest.serialization.hash_type == algorithm


# --- the model-transparency project's own signed test models ---------------------------------------------------

KEYS = "keys/certificate"


@pytest.mark.parametrize(
    ("folder", "target", "extra_ignore"),
    [
        ("v1.1.0-elliptic-key", ".", []),
        ("v1.0.1-elliptic-key", ".", ["ignore-me"]),
        ("v1.0.0-elliptic-key", "signme-1", []),
        ("v0.3.1-elliptic-key", "signme-1", []),
    ],
)
def test_model_transparency_key_signatures_verify(folder: str, target: str, extra_ignore: list[str]) -> None:
    base = shared("sigstore", "model-transparency")
    key = load_public_key(base / KEYS / "signing-key-pub.pem")
    bundle = (base / folder / "model.sig").read_bytes()
    verify_model(base / folder / target, bundle, key=key, ignore=["model.sig", *extra_ignore])
    hinted = b'"hint"' in bundle  # bundles before model-signing 1.1 name no key: only the signature can fail
    with pytest.raises(KeyMismatchError if hinted else SignatureError):
        verify_model(base / folder / target, bundle, key=generate_key("ecdsa-p256").public_key(), ignore=["model.sig"])


@pytest.mark.parametrize("folder", ["v1.1.0-certificate", "v1.0.0-certificate", "v0.3.1-certificate"])
def test_model_transparency_certificate_signatures_verify(folder: str) -> None:
    base = shared("sigstore", "model-transparency")
    roots = load_certificates(base / KEYS / "ca-cert.pem")
    verify_model(
        base / folder, (base / folder / "model.sig").read_bytes(), roots=roots, ignore=["model.sig", "ignore-me"]
    )


def test_the_production_keyless_model_signature_verifies_offline() -> None:
    """[SIG-023] [SIG-024] [SIG-042] A keyless model signature verifies offline, for its identity and root only."""
    base = shared("sigstore", "model-transparency", "v1.1.0-sigstore")
    bundle = (base / "model.sig").read_bytes()
    identity, issuer = "stefanb@us.ibm.com", "https://sigstore.verify.ibm.com/oauth2"
    manifest = verify_model(base, bundle, identity=identity, issuer=issuer, ignore=["model.sig"])
    assert {name for name, _ in manifest.items} == {"signme-1", "signme-2"}
    with pytest.raises(VerificationError):
        verify_model(base, bundle, identity="mallory@example.com", issuer=issuer, ignore=["model.sig"])
    with pytest.raises(VerificationError):
        verify_model(base, bundle, ignore=["model.sig"])  # no identity: a keyless signature proves nothing
    with pytest.raises(CertificateError):
        verify_model(base, bundle, identity=identity, issuer=issuer, instance="staging", ignore=["model.sig"])


# --- tampering -------------------------------------------------------------------------------------------------


def _signed(model: Path, key: PrivateKey) -> bytes:
    return sign_model(model, key).dumps()


def test_every_single_byte_change_is_detected(model: Path, ec_key: tuple[PrivateKey, Path, Path]) -> None:
    """[SIG-044] [SIG-070] Any one changed byte in any file names that file as changed."""
    key = ec_key[0]
    bundle = _signed(model, key)
    target = model / "nested" / "tokenizer.txt"
    original = target.read_bytes()
    for position in range(0, len(original), 37):
        changed = bytearray(original)
        changed[position] ^= 0x01
        target.write_bytes(changed)
        with pytest.raises(DigestMismatchError) as caught:
            verify_model(model, bundle, key=key.public_key())
        assert caught.value.changed == ["nested/tokenizer.txt"]
    target.write_bytes(original)
    verify_model(model, bundle, key=key.public_key())


@pytest.mark.parametrize(
    ("tamper", "changed", "added", "missing"),
    [
        (lambda m: (m / "config.json").rename(m / "config2.json"), [], ["config2.json"], ["config.json"]),
        (lambda m: (m / "extra.bin").write_bytes(b"x"), [], ["extra.bin"], []),
        (lambda m: (m / "weights.bin").unlink(), [], [], ["weights.bin"]),
        (
            lambda m: _swap(m / "config.json", m / "nested" / "tokenizer.txt"),
            ["config.json", "nested/tokenizer.txt"],
            [],
            [],
        ),
        (lambda m: (m / "nested" / "deeper" / "empty").write_bytes(b"\0"), ["nested/deeper/empty"], [], []),
    ],
)
def test_renamed_added_removed_and_swapped_files_are_named(  # [SIG-044]
    model: Path,
    ec_key: tuple[PrivateKey, Path, Path],
    tamper: Any,
    changed: list[str],
    added: list[str],
    missing: list[str],
) -> None:
    key = ec_key[0]
    bundle = _signed(model, key)
    tamper(model)
    with pytest.raises(DigestMismatchError) as caught:
        verify_model(model, bundle, key=key.public_key())
    assert (caught.value.changed, caught.value.added, caught.value.missing) == (changed, added, missing)


def _swap(a: Path, b: Path) -> None:
    first, second = a.read_bytes(), b.read_bytes()
    a.write_bytes(second)
    b.write_bytes(first)


def test_a_symlink_swapped_in_is_refused(model: Path, ec_key: tuple[PrivateKey, Path, Path]) -> None:
    key = ec_key[0]
    bundle = _signed(model, key)
    copy = model.parent / "elsewhere.json"
    shutil.copy(model / "config.json", copy)
    (model / "config.json").unlink()
    (model / "config.json").symlink_to(copy)  # the same bytes, through a link
    with pytest.raises(DigestMismatchError, match=r"symlink|symbolic") as caught:
        verify_model(model, bundle, key=key.public_key())
    assert caught.value.changed == ["config.json"]


def _rewrite_statement(bundle: bytes, key: PrivateKey, edit: Any) -> bytes:
    """Re-sign an edited statement with the right key: only the content checks can catch it."""
    from aifabric.signing.bundle import Bundle
    from aifabric.signing.dsse import INTOTO_PAYLOAD_TYPE, sign_envelope
    from aifabric.signing.keys import key_hint

    parsed = json.loads(base64.b64decode(json.loads(bundle)["dsseEnvelope"]["payload"]))
    edit(parsed)
    envelope = sign_envelope(json.dumps(parsed).encode(), INTOTO_PAYLOAD_TYPE, key)
    return Bundle(envelope, hint=key_hint(key.public_key())).dumps()


def test_a_manifest_with_dot_dot_or_a_wrong_root_digest_is_refused(
    model: Path, ec_key: tuple[PrivateKey, Path, Path]
) -> None:
    """[SIG-061] [SIG-067] Resource names that climb out of the model, and a root digest that lies, are refused."""
    key = ec_key[0]
    bundle = _signed(model, key)

    def climb(statement: dict[str, Any]) -> None:
        statement["predicate"]["resources"][0]["name"] = "../outside.json"

    def lie(statement: dict[str, Any]) -> None:
        statement["subject"][0]["digest"]["sha256"] = "00" * 32

    with pytest.raises(BundleError):
        verify_model(model, _rewrite_statement(bundle, key, climb), key=key.public_key())
    with pytest.raises(DigestMismatchError):
        verify_model(model, _rewrite_statement(bundle, key, lie), key=key.public_key())


def test_truncated_and_corrupted_model_bundles(model: Path, ec_key: tuple[PrivateKey, Path, Path]) -> None:
    key = ec_key[0]
    bundle = _signed(model, key)
    for cut in (10, len(bundle) // 2, len(bundle) - 2):
        with pytest.raises(BundleError):
            verify_model(model, bundle[:cut], key=key.public_key())
    doc = json.loads(bundle)
    sig = bytearray(base64.b64decode(doc["dsseEnvelope"]["signatures"][0]["sig"]))
    sig[-3] ^= 0x40
    doc["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(sig).decode()
    with pytest.raises(SignatureError):
        verify_model(model, json.dumps(doc), key=key.public_key())


def test_a_document_signature_is_not_a_model_signature(model: Path, ec_key: tuple[PrivateKey, Path, Path]) -> None:
    from aifabric.signing import sign_document
    from tests.conftest import report

    key = ec_key[0]
    with pytest.raises(BundleError, match="predicate"):
        verify_model(model, sign_document(report(), key).dumps(), key=key.public_key())


def test_symlinks_are_refused_unless_allowed_then_hashed_as_their_target(model: Path) -> None:
    """[SIG-068] Regular files only by default; with allow_symlinks a link counts as its target's bytes."""
    from aifabric import DocumentError
    from aifabric.signing.digests import hash_tree

    (model / "link.json").symlink_to(model / "config.json")
    with pytest.raises(DocumentError) as caught:
        hash_tree(model)
    assert caught.value.rule == "symlink"
    allowed = dict(hash_tree(model, allow_symlinks=True).items)
    assert allowed["link.json"] == allowed["config.json"]
