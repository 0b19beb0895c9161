"""The data-contract and trust-score models equal their schemas: instances parse and round-trip, output validates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from aifabric import schema_url, validate
from aifabric.models import DataContract, TrustScore
from tests.conftest import assert_model_agrees, assert_vector_agrees, inline_refs
from tests.strategies import from_schema

CONTRACT = schema_url("data-contract")
SCORE = schema_url("trust-score")
DEFAULTED = {"schemaURL", "producer"}
ROOT = Path(__file__).parent.parent
BUNDLE = inline_refs(schema_url("common", "1.1.0"))["$defs"]["signatureBundle"]["examples"][0]
MODELS: dict[str, type[pydantic.BaseModel]] = {CONTRACT: DataContract, SCORE: TrustScore}


def _generable(node: Any) -> Any:
    """The schema in the subset tests/strategies.py draws from; a signature bundle drawn as the common example."""
    if isinstance(node, list):
        return [_generable(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("required") == ["mediaType", "verificationMaterial", "dsseEnvelope"]:
        return {"enum": [BUNDLE, {**BUNDLE, "mediaType": "application/json"}]}
    out = {key: _generable(value) for key, value in node.items()}
    if "exclusiveMinimum" in out and "minimum" not in out:  # the bound itself is left to the vectors
        out["minimum"] = out["exclusiveMinimum"] + 0.001
    return out


@pytest.mark.parametrize("url", [CONTRACT, SCORE], ids=["data-contract", "trust-score"])
def test_schema_instances_parse_and_round_trip(url: str) -> None:
    """[TRUST-001] [TRUST-010] The models accept exactly the documents the schemas accept, and write them back."""

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(from_schema(_generable(inline_refs(url))))
    def check(value: Any) -> None:
        assert_model_agrees(value, url, MODELS[url], DEFAULTED)

    check()


@pytest.mark.parametrize(
    ("name", "url"),
    [("data-contract/contract.json", CONTRACT), ("trust-score/score.json", SCORE)],
)
def test_the_vectors_agree_with_the_models(name: str, url: str) -> None:
    """Every case of the trust vectors is accepted by the model exactly when it is valid."""
    vectors = json.loads((ROOT / "conformance/vectors" / name).read_text())
    for case in vectors["cases"]:
        assert_vector_agrees(case, MODELS[url], DEFAULTED)


def test_examples_round_trip() -> None:
    examples = [
        (CONTRACT, yaml.safe_load((ROOT / "examples/data-contract.yaml").read_text())),
        (SCORE, json.loads((ROOT / "examples/trust-score.json").read_text())),
    ]
    examples += [(url, example) for url in (CONTRACT, SCORE) for example in inline_refs(url)["examples"]]
    for url, example in examples:
        parsed = MODELS[url].model_validate(example)
        assert parsed.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True) == example
        validate(parsed.model_dump(mode="json", by_alias=True, exclude_none=True))
