"""``aifabric audit``: append, checkpoint, verify, prove, export and tail, as a user runs them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.test_audit_log import record
from tests.test_cli import invoke, write


@pytest.fixture
def signed_log(tmp_path: Path) -> tuple[Path, Path, str, list[Path]]:
    """A log of 24 records with two checkpoints; the log, its private key, its verifier key and the checkpoints."""
    log, key = tmp_path / "log", tmp_path / "log.pem"
    assert invoke("keys", "generate", "--type", "ed25519", key, "--unencrypted").exit_code == 0
    checkpoints = []
    for batch in range(2):
        lines = [
            json.dumps(record(batch * 12 + i, user=f"user-{i % 3}", outcome="denied" if i % 4 == 0 else "success"))
            for i in range(12)
        ]
        write(tmp_path / f"records-{batch}.jsonl", "\n".join(lines) + "\n")
        result = invoke("audit", "append", log, tmp_path / f"records-{batch}.jsonl", "--origin", "example.com/audit")
        assert result.exit_code == 0, result.output
        assert f"the log holds {12 * (batch + 1)}" in result.output
        out = tmp_path / f"checkpoint-{batch}"
        result = invoke("audit", "checkpoint", log, "--key", key, "--out", out)
        assert result.exit_code == 0, result.output
        checkpoints.append(out)
    (verifier,) = re.findall(r"^verifier key: (\S+)$", result.output, re.MULTILINE)
    return log, key, verifier, checkpoints


def test_a_log_verifies_against_its_checkpoints_with_either_key_form(
    signed_log: tuple[Path, Path, str, list[Path]],
) -> None:
    """[AUD-106] [AUD-107] [AUD-108] The verifier key text and the PEM public key both verify."""
    log, key, verifier, (first, second) = signed_log
    assert first.read_text().startswith("example.com/audit\n12\n")
    result = invoke("audit", "verify", log, "--checkpoint", second, "--key", verifier)
    assert result.exit_code == 0 and "at tree size 24" in result.output
    assert invoke("audit", "verify", log, "--checkpoint", first, "--key", f"{key}.pub").exit_code == 0
    as_json = json.loads(invoke("audit", "verify", log, "--checkpoint", first, "--key", verifier, "--json").output)
    assert as_json["treeSize"] == 12 and as_json["verified"] is True


def test_tampering_exits_1_and_names_the_entry(tmp_path: Path, signed_log: tuple[Path, Path, str, list[Path]]) -> None:
    """[AUD-109] An edited line is reported with its index, in one line, with exit 1."""
    log, _, verifier, (_, second) = signed_log
    entries = (log / "entries.jsonl").read_text().splitlines(keepends=True)
    entries[7] = entries[7].replace("tool.call", "tool.kall")
    (log / "entries.jsonl").write_text("".join(entries))
    result = invoke("audit", "verify", log, "--checkpoint", second, "--key", verifier)
    assert result.exit_code == 1
    assert "at entry 7" in result.output and "Traceback" not in result.output


def test_a_stranger_key_or_a_forged_checkpoint_is_refused(
    tmp_path: Path, signed_log: tuple[Path, Path, str, list[Path]]
) -> None:
    log, _, verifier, (_, second) = signed_log
    other = tmp_path / "other.pem"
    invoke("keys", "generate", "--type", "ed25519", other, "--unencrypted")
    result = invoke("audit", "verify", log, "--checkpoint", second, "--key", f"{other}.pub")
    assert result.exit_code == 1 and "none of them is a trusted key" in result.output
    forged = write(tmp_path / "forged", second.read_text().replace("\n24\n", "\n25\n"))
    assert invoke("audit", "verify", log, "--checkpoint", forged, "--key", verifier).exit_code == 1
    ecdsa = tmp_path / "ecdsa.pem"
    invoke("keys", "generate", ecdsa, "--unencrypted")
    result = invoke("audit", "checkpoint", log, "--key", ecdsa)
    assert result.exit_code == 2 and "Ed25519" in result.output


def test_proofs_verify_with_nothing_but_the_key(tmp_path: Path, signed_log: tuple[Path, Path, str, list[Path]]) -> None:
    """[AUD-115] An inclusion proof and a consistency proof, checked without the log."""
    log, _, verifier, (first, second) = signed_log
    inclusion = write(tmp_path / "inclusion.json", invoke("audit", "prove", log, "17", "--checkpoint", second).output)
    consistency = write(tmp_path / "consistency.json", invoke("audit", "prove", log, "--since", first).output)
    doc = json.loads(inclusion.read_text())
    assert doc["leafIndex"] == 17 and doc["treeSize"] == 24 and doc["record"]["attributes"]["n"] == 17
    assert invoke("validate", inclusion, consistency).exit_code == 0
    for proof in (inclusion, consistency):
        result = invoke("audit", "verify", "--proof", proof, "--key", verifier)
        assert result.exit_code == 0, result.output
    doc["record"]["outcome"] = "failure"
    edited = write(tmp_path / "edited.json", doc)
    assert invoke("audit", "verify", "--proof", edited, "--key", verifier).exit_code == 1
    beyond = invoke("audit", "prove", log, "24", "--checkpoint", second)
    assert beyond.exit_code == 1
    assert "entry 24 is not in the tree of size 24" in beyond.output


def test_export_and_tail_filter_and_convert(tmp_path: Path, signed_log: tuple[Path, Path, str, list[Path]]) -> None:
    log, *_ = signed_log
    jsonl = tmp_path / "denied.jsonl"
    assert invoke("audit", "export", log, "--outcome", "denied", "--out", jsonl).exit_code == 0
    denied = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(denied) == 6 and {r["outcome"] for r in denied} == {"denied"}
    ocsf = invoke("audit", "export", log, "--format", "ocsf", "--actor", "user-1").output
    events = [json.loads(line) for line in ocsf.splitlines() if line.startswith("{")]
    assert len(events) == 8 and {e["class_uid"] for e in events} == {6003}
    assert {e["type_uid"] for e in events} == {600302}
    window = invoke("audit", "export", log, "--since", "2026-11-23T08:00:03", "--until", "2026-11-23T08:00:05")
    assert len([line for line in window.output.splitlines() if line.startswith("{")]) == 2
    tail = invoke("audit", "tail", log, "-n", "2").output.splitlines()
    assert tail == [
        "#22 2026-11-23T08:00:22Z triage-agent for user-1 tool.call tool-1 success",
        "#23 2026-11-23T08:00:23Z triage-agent for user-2 tool.call tool-2 success",
    ]
    assert invoke("audit", "export", log, "--format", "xml").exit_code == 2


def test_invalid_records_append_nothing(tmp_path: Path, signed_log: tuple[Path, Path, str, list[Path]]) -> None:
    log, *_ = signed_log
    bad = record(99)
    del bad["actor"]
    source = write(tmp_path / "mixed.jsonl", json.dumps(record(98)) + "\n" + json.dumps(bad) + "\n")
    result = invoke("audit", "append", log, source)
    assert result.exit_code == 1
    assert "mixed.jsonl#1: /: required" in result.output and "nothing appended" in result.output
    assert invoke("audit", "append", log, write(tmp_path / "none.json", "[]")).exit_code == 2
    assert invoke("audit", "tail", log, "-n", "1").output.startswith("#23 ")
    assert invoke("audit", "verify", tmp_path / "missing", "--checkpoint", source, "--key", "x").exit_code == 2
