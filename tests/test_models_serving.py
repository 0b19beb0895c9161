"""The serving models equal the serving schemas: schema instances parse and round-trip, model output validates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings

from aifabric import schema_url, validate
from aifabric.models.serving import ServingContract, ServingReport
from tests.conftest import assert_model_agrees, assert_vector_agrees, inline_refs, schema_problems
from tests.strategies import from_schema

CONTRACT = schema_url("serving-contract")
REPORT = schema_url("serving-report")
DEFAULTED = {"schemaURL", "producer", "contractId", "reportId", "createdAt"}
VECTORS = Path(__file__).parent.parent / "conformance/vectors/serving"
BUNDLE = inline_refs(schema_url("common", "1.1.0"))["$defs"]["signatureBundle"]["examples"][0]


def _generable(node: Any) -> Any:
    """The schema in the subset tests/strategies.py draws from, quick to draw from.

    A signature bundle is drawn as the common schema's example, broken or not: the model checks bundles against
    that same schema, and drawing base64 and certificates from their patterns is slow. ``not``, ``contains`` and
    ``dependentRequired``, which the generator does not apply, are met about as often as they are broken.
    """
    if isinstance(node, list):
        return [_generable(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("required") == ["mediaType", "verificationMaterial", "dsseEnvelope"]:
        return {"enum": [BUNDLE, {**BUNDLE, "mediaType": "application/json"}]}
    return {key: _generable(value) for key, value in node.items()}


@pytest.mark.parametrize(("url", "model"), [(CONTRACT, ServingContract), (REPORT, ServingReport)])
def test_schema_instances_parse_and_round_trip(url: str, model: type[pydantic.BaseModel]) -> None:
    """[SRV-001] [SRV-070] The models accept exactly the documents the schemas accept, and write them back."""

    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
    @given(from_schema(_generable(inline_refs(url))))
    def check(value: Any) -> None:
        assert_model_agrees(value, url, model, DEFAULTED)

    check()


@pytest.mark.parametrize("name", ["contract.json", "report.json"])
def test_the_vectors_agree_with_the_models(name: str) -> None:
    """Every case of the serving vectors is accepted by the model exactly when it is valid."""
    vectors = json.loads((VECTORS / name).read_text())
    model: type[pydantic.BaseModel] = ServingContract if name == "contract.json" else ServingReport
    for case in vectors["cases"]:
        assert_vector_agrees(case, model, DEFAULTED)


def test_examples_round_trip() -> None:
    models: list[tuple[str, type[pydantic.BaseModel]]] = [(CONTRACT, ServingContract), (REPORT, ServingReport)]
    for url, model in models:
        for example in inline_refs(url)["examples"]:
            parsed = model.model_validate(example)
            assert parsed.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True) == example
            validate(parsed.model_dump(mode="json", by_alias=True, exclude_none=True))


def test_defaults_are_filled_in() -> None:
    """[SRV-011] [SRV-013] [SRV-016] The model fills in the defaults the schema states, and still validates."""
    contract = ServingContract(
        name="n",
        owner="o",
        endpoint={"protocol": "oip-v2", "model": {"name": "m"}},  # type: ignore[arg-type]
        load={"mode": "closed", "concurrency": 2, "durationS": 1},  # type: ignore[arg-type]
        overload={"capacityRps": 10, "behaviour": "reject", "maxResponseMs": 50},  # type: ignore[arg-type]
        caching={},  # type: ignore[arg-type]
    )
    assert contract.overload is not None and contract.caching is not None
    assert (contract.overload.factor, contract.overload.statuses, contract.overload.retry_after) == (
        2,
        [429, 503],
        True,
    )
    assert contract.caching.max_speedup == 0.1
    assert (contract.validity.min_duration_s, contract.validity.confidence) == (60, 0.99)
    assert (contract.load.seed, contract.load.warmup_s, contract.load.timeout_s) == (0, 0, 30)
    assert contract.endpoint.stream is False
    doc = contract.to_json()
    assert doc["contractId"][14] == "7" and doc["createdAt"].endswith("Z")
    assert doc["overload"]["statuses"] == [429, 503]


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"stream": True}, "SRV-005"),
        ({"latency": [{"metric": "itl", "percentile": 0.99, "maxMs": 20}]}, "SRV-007"),
        ({"load": {"mode": "open", "concurrency": 4, "durationS": 10}}, "SRV-006"),
        ({"overload": {"capacityRps": 1, "behaviour": "fallback", "maxResponseMs": 10}}, "SRV-011"),
        (
            {
                "accuracy": {
                    "evaluationSet": {"uri": "file:x", "digest": {"sha256": "ab" * 32}},
                    "metric": "abs_tolerance",
                    "floor": 1,
                }
            },
            "SRV-010",
        ),
        ({"gpu": {}}, "SRV-015"),
        ({"signatures": [{**BUNDLE, "mediaType": "application/json"}]}, "SRV-017"),
    ],
)
def test_both_reject(change: dict[str, Any], rule: str) -> None:
    """[SRV-005] [SRV-006] [SRV-007] [SRV-010] [SRV-011] [SRV-015] [SRV-017] Model and schema reject alike."""
    base = inline_refs(CONTRACT)["examples"][0]
    doc = {**base, **change}
    if "stream" in change:
        doc = {**base, "endpoint": {**base["endpoint"], **change}}
    assert schema_problems(doc, CONTRACT) is not None, rule
    with pytest.raises(pydantic.ValidationError):
        ServingContract.model_validate(doc)
