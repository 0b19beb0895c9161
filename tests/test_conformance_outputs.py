"""The vector operations answered with an output: ``score`` (Data Trust Score) and ``guard-call`` (tool guard)."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from aifabric.conformance._vectors import load_vector_file, output_problem, run_vectors
from aifabric.conformance.adapter import handle
from aifabric.conformance.certify import certify
from aifabric.models.conformance import ConformanceVectorFile

pytest.importorskip("duckdb")

ROOT = Path(__file__).resolve().parent.parent
SCORE = ROOT / "conformance" / "vectors" / "trust-score" / "computation.json"
GUARD = ROOT / "conformance" / "vectors" / "tools" / "guard.json"
FAKES = ROOT / "conformance" / "fakes"


def _doc(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return doc


def _write(folder: Path, area: str, doc: dict[str, Any]) -> Path:
    (folder / area).mkdir(parents=True, exist_ok=True)
    path = folder / area / "case.json"
    path.write_text(json.dumps(doc), "utf-8")
    return path


def _outcomes(folder: Path) -> list[tuple[str, str | None]]:
    return [(r.outcome, r.message) for r in run_vectors([folder]).results]


def test_the_vectors_load_and_hold_more_refusals_than_acceptances() -> None:
    """[CORE-040] [CORE-041] Both files are conformance-vector 1.4.0, invalid cases at least as many as valid."""
    for path, operation in ((SCORE, "score"), (GUARD, "guard-call")):
        vector = load_vector_file(path)
        assert vector.operation == operation and vector.schema_url.endswith("/1.4.0.json")
        valid = sum(case.valid for case in vector.cases)
        assert valid >= 5 and len(vector.cases) - valid >= valid


def test_the_reference_passes_every_case_in_process() -> None:
    """[CORE-090] [CORE-091] The SDK computes every score and ends every guarded call as expected."""
    report = run_vectors([SCORE, GUARD])
    assert {r.outcome for r in report.results} == {"passed"}
    assert len(report.results) == len(_doc(SCORE)["cases"]) + len(_doc(GUARD)["cases"])


def test_score_numbers_match_to_the_tolerance_and_no_further(tmp_path: Path) -> None:
    """[CORE-090] [TRUST-042] A drift statistic 1e-10 off passes; a pillar 1e-6 off fails, naming where."""
    doc = _doc(SCORE)
    case = next(c for c in doc["cases"] if c["description"].startswith("ties"))
    near, far = copy.deepcopy(doc), copy.deepcopy(doc)
    near["cases"] = [copy.deepcopy(case)]
    near["cases"][0]["expected"]["drift"]["x"]["statistic"] += 1e-10
    far["cases"] = [copy.deepcopy(case)]
    far["cases"][0]["expected"]["pillars"]["validity"] -= 1e-6
    assert _outcomes(_write(tmp_path / "near", "trust-score", near).parent) == [("passed", None)]
    ((outcome, message),) = _outcomes(_write(tmp_path / "far", "trust-score", far).parent)
    assert outcome == "failed" and message is not None and "/pillars/validity" in message


def test_a_score_of_a_contract_that_is_not_valid_is_refused(tmp_path: Path) -> None:
    """[TRUST-005] A refused case passes; the same contract expected to score fails."""
    doc = _doc(SCORE)
    refused = next(c for c in doc["cases"] if not c["valid"])
    doc["cases"] = [refused, {**refused, "valid": True, "expected": {"pillars": {}}}]
    outcomes = _outcomes(_write(tmp_path, "trust-score", doc).parent)
    assert [o for o, _ in outcomes] == ["passed", "failed"]


def test_a_guard_that_refuses_with_the_wrong_class_fails(tmp_path: Path) -> None:
    """[CORE-091] The verdict alone is not enough: the error class and the tool's runs must match too."""
    doc = _doc(GUARD)
    forbidden = next(c for c in doc["cases"] if c["expected"].get("error") == "FORBIDDEN")
    wrong_class = copy.deepcopy(forbidden)
    wrong_class["expected"]["error"] = "UNAUTHORIZED"
    wrong_runs = copy.deepcopy(forbidden)
    wrong_runs["expected"]["toolRuns"] = 1
    doc["cases"] = [forbidden, wrong_class, wrong_runs]
    outcomes = _outcomes(_write(tmp_path, "tools", doc).parent)
    assert [o for o, _ in outcomes] == ["passed", "failed", "failed"]
    assert "/error" in str(outcomes[1][1]) and "/toolRuns" in str(outcomes[2][1])


def test_output_problem_compares_score_values_in_part_and_guard_outcomes_whole() -> None:
    """[CORE-090] [CORE-091] Members a score case does not name are not compared; a guard outcome is compared whole."""
    assert output_problem("score", {"pillars": {"drift": None}}, {"pillars": {"drift": None, "lineage": 0}}) is None
    assert output_problem("score", {"pillars": {"drift": None}}, {"pillars": {"drift": 0}}) is not None
    assert output_problem("score", {"passed": True}, {"passed": 1}) is not None  # a Boolean is not a number
    expected = {"outcome": "ok", "output": {"id": 1}, "toolRuns": 1}
    assert output_problem("guard-call", expected, copy.deepcopy(expected)) is None
    assert output_problem("guard-call", expected, {**expected, "output": {"id": 1, "more": 2}}) is not None
    assert output_problem("guard-call", expected, None) is not None
    assert output_problem("canonicalize", "{}", "{}") is None and output_problem("canonicalize", None, "x") is None


def test_the_new_operations_need_conformance_vector_1_4_0() -> None:
    """[CORE-040] A 1.3.0 file cannot use score or guard-call."""
    doc = _doc(GUARD)
    doc["schemaURL"] = "https://aifabric.dev/schemas/conformance-vector/1.3.0.json"
    with pytest.raises(ValueError, match=r"needs conformance-vector 1\.4\.0"):
        ConformanceVectorFile.model_validate(doc)


def test_the_reference_adapter_answers_with_the_output() -> None:
    """[CONF-025] [CONF-032] score and guard-call answers carry the values the harness compares."""
    case = next(c for c in _doc(SCORE)["cases"] if c["valid"])
    answer = handle({"seq": 4, "cmd": "run", "operation": "score", "case": {"data": case["data"]}})
    assert answer["seq"] == 4 and answer["result"]["valid"] is True
    assert output_problem("score", case["expected"], answer["result"]["output"]) is None
    refused = next(c for c in _doc(GUARD)["cases"] if not c["valid"])
    answer = handle({"seq": 5, "cmd": "run", "operation": "guard-call", "case": {"data": refused["data"]}})
    assert answer["result"]["valid"] is False and answer["result"]["output"] == refused["expected"]


def test_certify_passes_the_reference_on_trust_scorer_and_tool_guard() -> None:
    """[CONF-003] [CONF-032] Through the adapter protocol, the reference passes both profiles."""
    report = certify("reference", ["trust-scorer", "tool-guard"]).to_json()
    assert [(p["id"], p["verdict"]) for p in report["profiles"]] == [
        ("trust-scorer", "passed"),
        ("tool-guard", "passed"),
    ]
    operations = {r["evidence"]["operation"] for r in report["results"]}
    assert {"score", "guard-call"} <= operations


def test_certify_fails_the_accept_all_fake_on_both_naming_what_it_breaks() -> None:
    """[CONF-003] [CONF-032] Accepting everything without an output fails both profiles, naming the IDs."""
    report = certify([sys.executable, str(FAKES / "accept_all.py")], ["trust-scorer", "tool-guard"]).to_json()
    assert [p["verdict"] for p in report["profiles"]] == ["failed", "failed"]
    failed = {rid for p in report["profiles"] for rid, v in p["requirements"].items() if v["verdict"] == "failed"}
    assert {"CORE-090", "TRUST-005", "TRUST-040", "CORE-091", "TOOL-030", "TOOL-032", "TOOL-035"} <= failed


def test_certify_fails_an_adapter_whose_output_differs(tmp_path: Path) -> None:
    """[CONF-032] The right verdict with a wrong value is a failure through the adapter too."""
    doc = _doc(GUARD)
    case = copy.deepcopy(next(c for c in doc["cases"] if c["valid"]))
    case["expected"]["output"] = {"refundId": "re_9", "status": "succeeded"}
    doc["cases"] = [case]
    _write(tmp_path, "tools", doc)
    report = certify("reference", ["tool-guard"], vectors_dir=tmp_path).to_json()
    (result,) = report["results"]
    assert result["outcome"] == "failed" and "/output/refundId" in result["message"]
