"""``aifabric sign``, ``verify`` and ``keys generate`` on documents and models, as a user runs them."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import report
from tests.test_cli import invoke, write


@pytest.fixture
def keypair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("AIFABRIC_TEST_PW", "correct horse")
    key = tmp_path / "signer.pem"
    result = invoke("keys", "generate", key, "--password-env", "AIFABRIC_TEST_PW")
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    return key, tmp_path / "signer.pem.pub"


def sign(*args: str | Path) -> Any:
    return invoke("sign", *args, "--password-env", "AIFABRIC_TEST_PW")


def test_keys_generate_refuses_to_write_in_the_clear_unasked(tmp_path: Path) -> None:
    result = invoke("keys", "generate", tmp_path / "k.pem")
    assert result.exit_code == 2
    assert "--unencrypted" in result.stderr
    assert not (tmp_path / "k.pem").exists()
    assert invoke("keys", "generate", tmp_path / "k.pem", "--unencrypted", "--type", "ed25519").exit_code == 0
    assert invoke("keys", "generate", tmp_path / "x.pem", "--unencrypted", "--type", "rsa").exit_code == 2


def test_a_document_signed_detached_verifies_and_a_change_does_not(tmp_path: Path, keypair: tuple[Path, Path]) -> None:
    """[SIG-030] The detached bundle is written beside the document as <file>.sigstore.json."""
    key, pub = keypair
    doc = write(tmp_path / "report.json", report())
    signed = sign(doc, "--key", key)
    assert signed.exit_code == 0, signed.output
    assert (tmp_path / "report.json.sigstore.json").exists()
    ok = invoke("verify", doc, "--key", pub, "--json")
    assert ok.exit_code == 0
    assert json.loads(ok.stdout)["verified"] is True
    changed = report() | {"producer": "https://evil.example/x"}
    write(doc, changed)
    bad = invoke("verify", doc, "--key", pub, "--json")
    assert bad.exit_code == 1
    assert json.loads(bad.stdout)["error"] == "AIF-VERIFY-DIGEST"


def test_a_document_signed_embedded_verifies(tmp_path: Path, keypair: tuple[Path, Path]) -> None:
    key, pub = keypair
    doc = write(tmp_path / "report.json", report())
    assert sign(doc, "--key", key, "--embed").exit_code == 0
    assert len(json.loads(doc.read_text())["signatures"]) == 1
    assert invoke("validate", doc).exit_code == 0  # the signed report still conforms
    result = invoke("verify", doc, "--key", pub)
    assert result.exit_code == 0, result.output
    assert "verified document" in result.stdout


def test_verify_needs_a_policy_and_reports_the_wrong_key(tmp_path: Path, keypair: tuple[Path, Path]) -> None:
    key, _ = keypair
    doc = write(tmp_path / "report.json", report())
    sign(doc, "--key", key)
    assert invoke("verify", doc).exit_code == 2
    other = tmp_path / "other.pem"
    invoke("keys", "generate", other, "--unencrypted")
    wrong = invoke("verify", doc, "--key", tmp_path / "other.pem.pub")
    assert wrong.exit_code == 1
    assert "NOT verified" in wrong.stderr
    assert "Traceback" not in wrong.output


def test_signing_with_a_wrong_password_is_one_clear_error(
    tmp_path: Path, keypair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    key, _ = keypair
    doc = write(tmp_path / "report.json", report())
    monkeypatch.setenv("AIFABRIC_TEST_PW", "wrong")
    result = sign(doc, "--key", key)
    assert result.exit_code == 1
    assert "password is wrong" in result.stderr


def test_a_model_signed_from_the_cli_verifies_here_and_after_a_change_names_the_file(
    tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    """[SIG-071] A model's bundle is written beside it as <path>.sig; verify reports what changed."""
    key, pub = keypair
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "weights.bin").write_bytes(b"w" * 5000)
    (model / "sub" / "config.json").write_text("{}")
    assert sign(model, "--key", key).exit_code == 0
    assert (tmp_path / "model.sig").exists()
    assert invoke("verify", model, "--key", pub).exit_code == 0
    (model / "sub" / "config.json").write_text('{"evil": true}')
    (model / "new.bin").write_bytes(b"x")
    result = invoke("verify", model, "--key", pub, "--json")
    assert result.exit_code == 1
    report_ = json.loads(result.stdout)
    assert (report_["changed"], report_["added"], report_["missing"]) == (["sub/config.json"], ["new.bin"], [])


def test_a_signature_written_inside_the_model_is_not_part_of_it(tmp_path: Path, keypair: tuple[Path, Path]) -> None:
    key, pub = keypair
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"w" * 100)
    assert sign(model, "--key", key, "--output", model / "model.sig").exit_code == 0
    assert invoke("verify", model, "--key", pub, "--bundle", model / "model.sig").exit_code == 0


def test_keyless_signing_refuses_an_unusable_token_without_the_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A malformed identity token is one clear error; nothing is sent (signing for real needs a live token)."""
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("keyless signing with a bad token tried the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("AIFABRIC_TEST_TOKEN", "not-a-jwt")
    doc = write(tmp_path / "report.json", report())
    result = invoke("sign", doc, "--identity-token-env", "AIFABRIC_TEST_TOKEN")
    assert result.exit_code == 1
    assert "identity token" in result.stderr
    assert invoke("sign", doc).exit_code == 2  # neither a key nor a token
