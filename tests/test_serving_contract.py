"""Reading serving contracts, their digest and sign-off, and the numbers the serving chapter states."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from math import comb
from pathlib import Path

import pytest

from aifabric import DocumentError, ValidationError
from aifabric.serving._stats import min_requests, percentile
from aifabric.serving.contract import contract_digest, load_contract
from aifabric.signing.documents import attach, document_digest, sign_document, verify_document
from aifabric.signing.keys import generate_key

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples/serving-contract.yaml"
SPEC = ROOT / "spec/serving.md"


def test_the_example_contract_reads_from_yaml_and_from_json(tmp_path: Path) -> None:
    """[SRV-001] The example contract is valid YAML, and the same document as JSON reads the same."""
    contract = load_contract(EXAMPLE)
    assert contract.endpoint.protocol == "oip-v2" and contract.endpoint.model.name == "churn-classifier"
    assert [(t.percentile, t.max_ms) for t in contract.latency or ()] == [(0.95, 50), (0.99, 100)]
    assert contract.validity.min_requests == 700
    doc = contract.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)
    path = tmp_path / "contract.json"
    path.write_text(json.dumps(doc))
    assert load_contract(path) == contract
    assert load_contract(json.dumps(doc)) == contract
    assert load_contract(path.read_bytes(), fmt="json") == contract


def test_defaults_are_filled_in_but_not_digested() -> None:
    """[SRV-071] Defaults fill the model; the digest is that of the document as written, without signatures."""
    text = EXAMPLE.read_text().replace("  factor: 2           # the check drives 400 requests per second\n", "")
    contract = load_contract(text)
    assert contract.overload is not None and contract.overload.factor == 2
    written = contract.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)
    assert "factor" not in written["overload"]
    assert contract_digest(contract) == contract_digest(written) == {"sha256": document_digest(written)}


@pytest.mark.parametrize(
    ("text", "error", "where"),
    [
        ("name: [unclosed\n", DocumentError, "malformed YAML"),
        ("- 1\n- 2\n---\n- 3\n", DocumentError, "expected one serving-contract document"),
        ('{"schemaURL": "https://aifabric.dev/schemas/serving-report/1.0.0.json"}', ValidationError, "/schemaURL"),
        ('{"name": "x"}', ValidationError, "required"),
    ],
)
def test_bad_input_raises_aifabric_errors(text: str, error: type[Exception], where: str) -> None:
    with pytest.raises(error, match=re.escape(where)):
        load_contract(text)


def test_errors_name_the_file_the_pointer_and_the_rule(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(EXAMPLE.read_text().replace("percentile: 0.99", "percentile: 99"))
    with pytest.raises(ValidationError) as caught:
        load_contract(path)
    problem = caught.value.problems[0]
    assert (problem.source, problem.pointer, problem.rule) == (str(path), "/latency/1/percentile", "exclusiveMaximum")
    with pytest.raises(DocumentError, match="cannot read"):
        load_contract(tmp_path / "missing.yaml")
    with pytest.raises(DocumentError, match="directory"):
        load_contract(tmp_path)


def test_a_signed_contract_loads_verifies_and_keeps_its_digest() -> None:
    """[SRV-060] [SRV-017] A contract signed off with an embedded signature still loads, and the signature verifies."""
    doc = load_contract(EXAMPLE).model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)
    key = generate_key()
    signed = attach(doc, sign_document(doc, key))
    contract = load_contract(json.dumps(signed))
    assert contract.signatures is not None and len(contract.signatures) == 1
    assert contract_digest(contract) == contract_digest(doc)
    verify_document(signed, key=key.public_key())


def _needed(p: Fraction, slow: int, confidence: Fraction) -> int:
    """The smallest n with P[Binomial(n, 1 - p) <= slow] <= 1 - confidence, by the formula of SRV-031."""
    n = slow + 1
    while sum(comb(n, k) * (1 - p) ** k * p ** (n - k) for k in range(slow + 1)) > 1 - confidence:
        n += 1
    return n


def test_the_early_stopping_table_is_the_formula_and_the_harness_agrees() -> None:
    """[SRV-031] The spec's table of required requests is the binomial formula, and min_requests computes it."""
    rows = re.findall(r"^\| (0\.\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|$", SPEC.read_text(), re.M)
    assert len(rows) == 4
    for p, *counts in rows:
        for slow, count in enumerate(counts):
            if int(count) < 2000:  # the p999 row is checked by min_requests alone, to keep the test quick
                assert _needed(Fraction(p), slow, Fraction("0.99")) == int(count), (p, slow)
            assert min_requests(float(p), slow, 0.99) == int(count), (p, slow)
    assert min_requests(0.99, 1, 0.99) == 662


def test_percentiles_take_the_value_at_floor_n_p() -> None:
    """[SRV-024] p99 of 100 values is the largest; of 1000 values the one at index 990; no interpolation."""
    values = [float(v) for v in range(100)]
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 0.5) == 50.0
    assert percentile([float(v) for v in range(1000)], 0.99) == 990.0
    assert percentile([1.0, 10.0], 0.5) == 10.0
