"""``aifabric trust``: score and drift, as a user runs them; bad input is one line per problem, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from aifabric import validate
from tests.test_cli import invoke, write

pytest.importorskip("duckdb")

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "conformance" / "trust"
CONTRACT = ROOT / "examples" / "data-contract.yaml"


def test_score_prints_a_valid_document_and_exits_by_min_score(tmp_path: Path) -> None:
    """[TRUST-041] Below the contract's minScore is exit 1; without a minScore, 0."""
    result = invoke("trust", "score", CASES / "orders.csv", "--contract", CONTRACT, "--as-of", "2026-11-23T16:00:00Z")
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    validate(doc)
    assert (doc["score"], doc["grade"], doc["passed"]) == (76.1, "C", False)
    assert "score 76.1 grade C below minScore" in result.stderr
    relaxed = yaml.safe_load(CONTRACT.read_text())
    del relaxed["minScore"]
    contract = write(tmp_path / "c.yaml", yaml.safe_dump(relaxed))
    out = tmp_path / "score.json"
    result = invoke(
        "trust", "score", CASES / "orders.csv", "-c", contract, "-o", out, "--as-of", "2026-11-23T16:00:00Z"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["score"] == 76.1 and result.stdout == ""


VECTORS = ROOT / "conformance" / "vectors" / "trust-score" / "computation.json"


def _case(tmp_path: Path, name: str) -> tuple[Path, Path, Path]:
    """The data, reference and contract of the computation vector case named ``name``, as files."""
    cases = json.loads(VECTORS.read_text())["cases"]
    found = next(case["data"] for case in cases if case["description"].startswith(name))
    data = write(tmp_path / f"{name}.csv", found["data"])
    reference = write(tmp_path / f"{name}-reference.csv", found.get("reference", ""))
    return data, reference, write(tmp_path / f"{name}.json", found["contract"])


def test_score_with_a_reference_includes_drift(tmp_path: Path) -> None:
    data, reference, contract = _case(tmp_path, "ties")
    result = invoke("trust", "score", data, "-c", contract, "-r", reference)
    assert result.exit_code == 0, result.output
    pillars = {p["name"]: p for p in json.loads(result.stdout)["pillars"]}
    assert pillars["drift"]["score"] == 1 and pillars["drift"]["evidence"][0]["method"] == "ks"


def test_drift_reports_each_column_and_exits_1_on_drift(tmp_path: Path) -> None:
    data, reference, contract = _case(tmp_path, "large-sample")
    result = invoke("trust", "drift", data, "--reference", reference)
    assert result.exit_code == 0, result.output
    assert "x: ok ks=0.1 p=1" in result.stdout and "c: ok chisquare=" in result.stdout
    unseen, unseen_reference, _ = _case(tmp_path, "unseen")
    result = invoke("trust", "drift", unseen, "-r", unseen_reference, "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)[0]["unseen"] == 1
    moved = invoke("trust", "drift", data, "-r", reference, "-c", contract)
    assert moved.exit_code == 1
    assert "x: DRIFT wasserstein=0.348155" in moved.stdout and "c: DRIFT jensenshannon=0.193496" in moved.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["score", "missing.csv", "-c", str(CONTRACT)], "missing.csv: cannot read: no such file"),
        (["score", str(CASES / "orders.csv"), "-c", "nothere.yaml"], "nothere.yaml: cannot read"),
        (["score", str(CASES / "orders.csv"), "-c", str(CONTRACT), "--as-of", "yesterday"], "--as-of 'yesterday'"),
        (["drift", str(CASES / "orders.csv"), "-r", "missing.parquet"], "missing.parquet: cannot read"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], expected: str) -> None:
    result = invoke("trust", *args)
    assert result.exit_code == 2
    assert expected in result.output


def test_a_bad_contract_names_file_pointer_and_rule(tmp_path: Path) -> None:
    """[TRUST-005] Each problem as file: pointer: rule: message."""
    doc = yaml.safe_load(CONTRACT.read_text())
    doc["columns"][0]["pattern"] = "x"
    doc["rules"].append({"name": "unknown-column", "expression": "discount > 0"})
    bad = write(tmp_path / "bad.yaml", yaml.safe_dump(doc))
    result = invoke("trust", "score", CASES / "orders.csv", "-c", bad)
    assert result.exit_code == 2
    assert f"invalid {bad}: /columns/0/pattern: type: pattern does not apply to a integer column" in result.stderr
    assert "not a valid data contract" in result.stderr
    doc["columns"][0].pop("pattern")
    bad = write(tmp_path / "bad.yaml", yaml.safe_dump(doc))
    result = invoke("trust", "score", CASES / "orders.csv", "-c", bad)
    assert result.exit_code == 2
    assert f"invalid {bad}: /rules/2/expression: expression:" in result.stderr
    doc["version"] = "one"
    result = invoke("trust", "score", CASES / "orders.csv", "-c", write(tmp_path / "bad.yaml", yaml.safe_dump(doc)))
    assert result.exit_code == 2 and "/version" in result.stderr
