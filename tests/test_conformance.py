"""The vector runner: shipped vectors pass, wrong verdicts fail, broken files are errors, reports conform."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from aifabric import SPEC_VERSION, __version__, validate
from aifabric.conformance import VectorFileError, default_vectors_dir, load_vector_file, run_vectors
from aifabric.models import Result

VECTOR = "https://aifabric.dev/schemas/conformance-vector/1.0.0.json"
COMMON = "https://aifabric.dev/schemas/common/1.0.0.json"


def _write(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc))
    return path


def _vector(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schemaURL": VECTOR,
        "description": "timestamps",
        "spec": ["CORE-020"],
        "operation": "validate",
        "schema": f"{COMMON}#/$defs/timestamp",
        "cases": [
            {"description": "utc", "data": "2026-11-23T08:00:00Z", "valid": True},
            {"description": "no offset", "data": "2026-11-23T08:00:00", "valid": False},
        ],
    }
    doc.update(changes)
    return doc


def test_shipped_vectors_pass_and_the_report_conforms() -> None:
    """[CORE-040] [CORE-050] Every shipped vector passes against this SDK; the report is a valid document."""
    seen: list[Result] = []
    report = run_vectors(on_result=seen.append)
    doc = report.to_json()
    validate(doc)
    failures = [r for r in report.results if r.outcome != "passed"]
    assert failures == []
    assert report.summary.total == len(seen) >= 50
    assert all(v == "passed" for v in report.summary.requirements.values())


def test_each_area_has_at_least_as_many_invalid_cases_as_valid() -> None:
    """[CORE-041] Every area of the suite tests rejection at least as much as acceptance."""
    areas: dict[str, list[int]] = {}
    for path in default_vectors_dir().rglob("*.json"):
        vector = load_vector_file(path)
        counts = areas.setdefault(path.parent.name, [0, 0])
        for case in vector.cases:
            counts[case.valid] += 1
    assert areas, "no vectors shipped"
    for area, (invalid, valid) in areas.items():
        assert invalid >= valid > 0, f"{area}: {invalid} invalid vs {valid} valid cases"


def test_a_wrong_verdict_fails_the_run(tmp_path: Path) -> None:
    bad = _vector(cases=[{"description": "lies", "data": "2026-11-23T08:00:00", "valid": True}])
    report = run_vectors([_write(tmp_path / "v.json", bad)])
    assert report.summary.outcome == "failed"
    assert report.summary.requirements == {"CORE-020": "failed"}
    assert report.results[0].message is not None and "expected accept" in report.results[0].message
    validate(report.to_json())


def test_a_broken_vector_file_is_an_error_result_and_the_run_goes_on(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("{not json")
    _write(tmp_path / "b.json", _vector(operation="validate", schema=None))
    _write(tmp_path / "c.json", _vector())
    report = run_vectors([tmp_path])
    outcomes = [(r.id, r.outcome) for r in report.results]
    assert outcomes[:2] == [("a.json", "error"), ("b.json", "error")]
    assert [o for _, o in outcomes[2:]] == ["passed", "passed"]
    assert report.summary.errors == 2 and report.summary.outcome == "failed"


def test_load_vector_file_errors_name_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "v.json", _vector(spec=[]))
    with pytest.raises(VectorFileError) as caught:
        load_vector_file(path)
    assert caught.value.source == str(path)
    assert "/spec" in str(caught.value)


def test_canonicalize_and_envelope_operations(tmp_path: Path) -> None:
    canon = {
        "schemaURL": VECTOR,
        "description": "c",
        "spec": ["CORE-060"],
        "operation": "canonicalize",
        "cases": [
            {"description": "sorted", "data": {"b": 1.0, "a": 2}, "valid": True, "expected": '{"a":2,"b":1}'},
            {"description": "wrong expectation", "data": [1.5], "valid": True, "expected": "[1.50]"},
            {"description": "unsafe integer", "data": 2**53, "valid": False},
        ],
    }
    envelope = {
        "schemaURL": VECTOR,
        "description": "e",
        "spec": ["CORE-070"],
        "operation": "envelope",
        "cases": [
            {"description": "a report", "data": run_vectors([]).to_json(), "valid": True},
            {"description": "not a document", "data": [1], "valid": False},
        ],
    }
    report = run_vectors([_write(tmp_path / "c.json", canon), _write(tmp_path / "e.json", envelope)])
    assert [r.outcome for r in report.results] == ["passed", "failed", "passed", "passed", "passed"]


def test_report_identifies_what_ran_and_how(tmp_path: Path) -> None:
    """[CORE-006] [CORE-051] [CORE-056] Producer names its version; ids and requirements follow the spec."""
    area = tmp_path / "common"
    area.mkdir()
    vector = _vector(
        cases=[{"description": "utc", "data": "2026-11-23T08:00:00Z", "valid": True, "spec": ["CORE-023"]}]
    )
    _write(area / "timestamp.json", vector)
    report = run_vectors([tmp_path])
    assert __version__ in report.producer
    assert report.spec_version == SPEC_VERSION
    assert [(r.id, r.requirements) for r in report.results] == [("common/timestamp.json#0", ["CORE-020", "CORE-023"])]


def test_failed_results_carry_evidence(tmp_path: Path) -> None:
    """[CORE-053] A failed case says what was expected and what was observed."""
    bad = _vector(cases=[{"description": "lies", "data": "not a time", "valid": True}])
    (result,) = run_vectors([_write(tmp_path / "v.json", bad)]).results
    assert result.outcome == "failed"
    assert result.evidence is not None
    assert result.evidence["expected"] == "accept"
    assert result.evidence["observed"].startswith("rejected")


def test_a_case_that_cannot_run_is_skipped_with_its_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """[CORE-057] Without the cloudevents extra, envelope cases are skipped, each saying why."""
    monkeypatch.setitem(sys.modules, "cloudevents", None)
    envelope = {
        "schemaURL": VECTOR,
        "description": "e",
        "spec": ["CORE-070"],
        "operation": "envelope",
        "cases": [{"description": "a report", "data": {"schemaURL": "x"}, "valid": True}],
    }
    report = run_vectors([_write(tmp_path / "e.json", envelope)])
    (result,) = report.results
    assert result.outcome == "skipped"
    assert result.message is not None and "aifabric[cloudevents]" in result.message
    assert report.summary.requirements == {"CORE-070": "skipped"}
    assert report.summary.outcome == "passed"


SIGNING = default_vectors_dir() / "signing"


def test_verify_cases_pass_for_documents_and_models() -> None:
    """[SIG-080] Signed documents (detached and embedded) and models written to disk verify as the cases say."""
    report = run_vectors([SIGNING])
    assert [r.id for r in report.results if r.outcome != "passed"] == []
    kinds = {
        "document" if "document" in c.data else "model"
        for f in SIGNING.glob("*.json")
        for c in load_vector_file(f).cases
    }
    assert kinds == {"document", "model"}


@pytest.mark.parametrize(
    ("module", "name"),
    [("aifabric.signing.documents", "verify_document"), ("aifabric.signing.artifacts", "verify_model")],
)
def test_a_verifier_that_accepts_everything_fails_the_suite(
    monkeypatch: pytest.MonkeyPatch, module: str, name: str
) -> None:
    """[SIG-080] A fake verifier that never raises is caught by the invalid cases."""
    accepted = SimpleNamespace(signer=SimpleNamespace(method="fake"))
    monkeypatch.setattr(importlib.import_module(module), name, lambda *args, **kwargs: accepted)
    report = run_vectors([SIGNING])
    failed = [r for r in report.results if r.outcome == "failed"]
    assert failed, "a verifier that accepts everything passed the signing vectors"
    assert all(r.evidence is not None and r.evidence["expected"] == "reject" for r in failed)
    assert report.summary.outcome == "failed"


def test_verify_needs_conformance_vector_1_1_0(tmp_path: Path) -> None:
    """[CORE-040] A 1.0.0 vector file cannot use the operation verify; 1.0.0 files are still read."""
    doc = json.loads((SIGNING / "documents.json").read_text(encoding="utf-8"))
    old = _write(tmp_path / "old.json", {**doc, "schemaURL": VECTOR})
    (result,) = run_vectors([old]).results
    assert result.outcome == "error"
    assert run_vectors([_write(tmp_path / "v.json", _vector())]).summary.outcome == "passed"


def test_verify_cases_are_skipped_without_the_signing_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """[CORE-057] Without the signing code, verify cases are skipped, each saying why."""
    monkeypatch.setitem(sys.modules, "aifabric.signing.documents", None)
    report = run_vectors([SIGNING / "keys.json"])
    assert {r.outcome for r in report.results} == {"skipped"}
    assert all(r.message is not None and "aifabric.signing.documents" in r.message for r in report.results)
