"""The audit-log conformance vectors: generated, up to date, passing, and failing for the reason they name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import pytest
from typer.testing import CliRunner

from aifabric import AifabricError
from aifabric._cli import app
from aifabric.audit import Checkpoint, NoteVerifier, open_checkpoint, verify_proof
from aifabric.audit.merkle import EMPTY_ROOT
from aifabric.conformance import default_vectors_dir, load_vector_file, run_vectors
from aifabric.models import ConformanceVectorFile
from tests.conftest import ROOT
from tests.test_spec import load_tool

load_tool("_generated")
gen = load_tool("gen_audit_vectors")
AREA = default_vectors_dir() / "audit-proof"
V1_2: Final = "https://aifabric.dev/schemas/conformance-vector/1.2.0.json"
COUNTS: Final = {"checkpoint.json": (7, 19), "proof.json": (10, 24)}
"""Valid and invalid cases in each file, as the generator makes them."""


def test_the_generated_vectors_are_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    """[CORE-089] The shipped files are what tools/gen_audit_vectors.py writes, byte for byte."""
    assert gen.main(["--check", "--root", str(ROOT)]) == 0, capsys.readouterr().err
    assert gen.generate() == gen.generate()


def test_every_case_passes_and_the_counts_are_as_generated() -> None:
    """[CORE-089] [AUD-104] [AUD-105] [AUD-106] [AUD-107] [AUD-115] Checkpoints open and proofs verify as said."""
    report = run_vectors([AREA])
    assert [(r.id, r.message) for r in report.results if r.outcome != "passed"] == []
    for name, (valid, invalid) in COUNTS.items():
        cases = load_vector_file(AREA / name).cases
        assert (sum(c.valid for c in cases), sum(not c.valid for c in cases)) == (valid, invalid), name
        assert invalid >= valid
    assert report.summary.total == sum(valid + invalid for valid, invalid in COUNTS.values())
    assert {"AUD-104", "AUD-105", "AUD-106", "AUD-107", "AUD-115", "CORE-089"} <= set(report.summary.requirements)


def _raised(operation: str, data: dict[str, Any]) -> str | None:
    try:
        verifiers = [NoteVerifier.parse(key) for key in data["verifierKeys"]]
        if operation == "checkpoint":
            open_checkpoint(data["checkpoint"], verifiers, origin=data.get("origin"))
        else:
            verify_proof(data["proof"], verifiers)
    except AifabricError as exc:
        return type(exc).__name__
    return None


def test_each_invalid_case_fails_for_the_reason_it_names() -> None:
    """[CORE-089] A case meant to test one rule is not rejected by another by accident."""
    for path, errors in gen.expected_errors().items():
        vector = load_vector_file(ROOT / path)
        raised = [_raised(vector.operation, case.data) for case in vector.cases]
        assert raised == errors, path


def test_a_verifier_that_accepts_everything_fails_the_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    """[CORE-089] A fake verifier that never raises is caught by the invalid cases of both files."""
    from aifabric.conformance import _vectors

    head = Checkpoint("audit.example.com/prod", 0, EMPTY_ROOT)
    monkeypatch.setattr(_vectors, "open_checkpoint", lambda *args, **kwargs: head)
    monkeypatch.setattr(_vectors, "verify_proof", lambda *args, **kwargs: head)
    report = run_vectors([AREA])
    failed = {r.id.partition("#")[0] for r in report.results if r.outcome == "failed"}
    assert failed == set(COUNTS)


def test_the_new_operations_need_conformance_vector_1_3_0(tmp_path: Path) -> None:
    """[CORE-040] [CORE-089] A 1.2.0 file cannot use checkpoint or proof; a malformed case input is refused."""
    doc = json.loads((AREA / "proof.json").read_text())
    old = tmp_path / "old.json"
    old.write_text(json.dumps({**doc, "schemaURL": V1_2}))
    (result,) = run_vectors([old]).results
    assert result.outcome == "error"
    with pytest.raises(ValueError, match=r"needs conformance-vector 1\.3\.0"):
        ConformanceVectorFile.model_validate({**doc, "schemaURL": V1_2})
    bad = {**doc, "cases": [{"description": "x", "data": {"proof": {}, "verifierKeys": []}, "valid": False}]}
    with pytest.raises(ValueError, match="verifierKeys"):
        ConformanceVectorFile.model_validate(bad)


def test_the_cli_still_passes_every_shipped_vector() -> None:
    """[CORE-089] ``aifabric conformance vectors`` runs the audit vectors along with all the others."""
    result = CliRunner().invoke(app, ["conformance", "vectors", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["summary"]["outcome"] == "passed"
    ids = {r["id"] for r in report["results"]}
    assert any(i.startswith("audit-proof/checkpoint.json#") for i in ids)
    assert any(i.startswith("audit-proof/proof.json#") for i in ids)
