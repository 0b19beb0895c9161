"""The model-card model equals the model-card schema; the consistency rules beyond the schema hold."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings

from aifabric import ValidationError, schema_url
from aifabric.cards.vocabulary import vocabulary
from aifabric.models.cards import ModelCard, license_problem, resolve_pointer
from aifabric.validation import load_documents
from tests.conftest import assert_model_agrees, assert_vector_agrees, inline_refs, schema_problems
from tests.strategies import from_schema

CARD = schema_url("model-card")
DEFAULTED = {"schemaURL", "producer"}
ROOT = Path(__file__).parent.parent
VECTORS = json.loads((ROOT / "conformance/vectors/model-card/card.json").read_text())
EXAMPLE = load_documents((ROOT / "examples/model-card.yaml").read_bytes(), source="model-card.yaml")[0]
BUNDLE = inline_refs(schema_url("common", "1.1.0"))["$defs"]["signatureBundle"]["examples"][0]
TERMS = ["1", "9", "10", "art-12", "MEASURE 2.11", "MAP 1", "GOVERN", "A.6.2.8", "A.6", "1.3", "7", "x"]


def _generable(node: Any) -> Any:
    """The schema in the subset tests/strategies.py draws from.

    Vocabulary IDs are drawn from a mix of terms of every framework and none, so that the ``if``/``then`` rules
    that tie an ID to its framework, which the generator does not apply, are met about as often as broken. The
    evidence ``anyOf`` is left out (the generator would draw only its branches); a signature bundle is the
    common schema's example, broken or not.
    """
    if isinstance(node, list):
        return [_generable(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("required") == ["mediaType", "verificationMaterial", "dsseEnvelope"]:
        return {"enum": [BUNDLE, {**BUNDLE, "mediaType": "application/json"}]}
    out = {key: _generable(value) for key, value in node.items() if key != "anyOf"}
    if "framework" in out.get("properties", {}) or "taxonomy" in out.get("properties", {}):
        out["properties"] = {**out["properties"], "id": {"enum": TERMS}}
    if "exclusiveMinimum" in out:
        out["minimum"] = out["exclusiveMinimum"] + 0.001
    if "exclusiveMaximum" in out:
        out["maximum"] = out["exclusiveMaximum"] - 0.001
    return out


def test_schema_instances_parse_and_round_trip() -> None:
    """[CARD-001] The model accepts exactly the cards the schema accepts, and writes them back as given."""

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(from_schema(_generable(inline_refs(CARD))))
    def check(value: Any) -> None:
        assert_model_agrees(value, CARD, ModelCard, DEFAULTED)

    check()


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda case: case["description"][:60])
def test_the_vectors_agree_with_the_model(case: dict[str, Any]) -> None:
    """Every case of the model-card vectors is accepted by the model exactly when it is valid."""
    assert_vector_agrees(case, ModelCard)


def test_the_example_and_schema_examples_round_trip() -> None:
    for example in [EXAMPLE, *inline_refs(CARD)["examples"]]:
        assert ModelCard.parse_document(example).to_json() == example


def test_the_schema_lists_exactly_the_packaged_vocabularies() -> None:
    """[CARD-040] The schema's ID enums are the terms of the packaged vocabularies, kind for kind."""
    defs = inline_refs(CARD)["$defs"]
    assert defs["annexIvPoint"]["enum"] == vocabulary("eu-ai-act-annex-iv").ids()
    assert defs["euAiActArticle"]["enum"] == vocabulary("eu-ai-act").ids()
    assert defs["nistTerm"]["enum"] == vocabulary("nist-ai-rmf").ids()
    assert defs["nistSubcategory"]["enum"] == vocabulary("nist-ai-rmf").ids("subcategory")
    assert defs["mitRisk"]["enum"] == vocabulary("mit-ai-risk").ids()
    assert defs["isoControl"]["enum"] == vocabulary("iso-iec-42001").ids("control")
    assert defs["quality"]["properties"]["characteristic"]["enum"] == vocabulary("iso-iec-25012").ids()


def _problems(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """The (pointer, rule) of each problem reading the card finds; the schema itself accepts the card."""
    assert schema_problems(doc, CARD) is None
    with pytest.raises(ValidationError) as caught:
        ModelCard.parse_document(doc, source="card.json")
    assert all(p.source == "card.json" for p in caught.value.problems)
    return [(p.pointer, p.rule) for p in caught.value.problems]


def _changed(change: Any) -> dict[str, Any]:
    doc: dict[str, Any] = copy.deepcopy(EXAMPLE)
    change(doc)
    return doc


def test_evidence_pointers_resolve_outside_evidence_and_signatures() -> None:
    """[CARD-030] [CARD-036] An evidence section that does not resolve, or points into evidence, is named."""
    doc = _changed(lambda d: d["evidence"][0].__setitem__("sections", ["/model", "/evaluation/9", "/evidence/0"]))
    assert _problems(doc) == [
        ("/evidence/0/sections/1", "evidence-pointer"),
        ("/evidence/0/sections/2", "evidence-pointer"),
    ]
    escaped = _changed(
        lambda d: (
            d["model"]["hyperparameters"].update({"a/b~c": 1})
            if "hyperparameters" in d["model"]
            else d["model"].__setitem__("hyperparameters", {"a/b~c": 1})
        )
    )
    escaped["evidence"][0]["sections"] = ["/model/hyperparameters/a~1b~0c", "/evaluation/0/dataset/name"]
    assert ModelCard.parse_document(escaped).problems() == []
    assert resolve_pointer(EXAMPLE, "/evaluation/01") == (False, None)
    assert resolve_pointer(EXAMPLE, "/model/tags/1") == (True, "tabular")


def test_one_evidence_entry_per_term() -> None:
    """[CARD-031] A second entry for the same framework term is named."""
    doc = _changed(
        lambda d: d["evidence"].append({"framework": "nist-ai-rmf", "id": "MEASURE 2.11", "sections": ["/risks"]})
    )
    assert _problems(doc) == [("/evidence/5", "unique-evidence")]


def test_a_change_starts_from_a_known_version() -> None:
    """[CARD-032] A change's base is a baseModel version or the version of an earlier change."""
    assert _problems(_changed(lambda d: d["changeLog"][0].__setitem__("base", "1.1.0"))) == [
        ("/changeLog/0/base", "change-base")
    ]
    chained = _changed(
        lambda d: d["changeLog"].extend(
            [
                {"date": "2026-08-01", "base": "1.2.0", "version": "1.2.1", "reason": "A patch."},
                {"date": "2026-08-02", "base": "1.2.1", "reason": "Another."},
            ]
        )
    )
    assert ModelCard.parse_document(chained).problems() == []
    backwards = _changed(
        lambda d: d["changeLog"].extend(
            [
                {"date": "2026-08-02", "base": "1.2.9", "reason": "Before its base."},
                {"date": "2026-08-01", "base": "1.2.0", "version": "1.2.9", "reason": "A patch."},
            ]
        )
    )
    assert _problems(backwards) == [("/changeLog/1/base", "change-base")]


def test_one_thing_has_one_digest() -> None:
    """[CARD-033] The same artifact, base model, dataset or document named with two digests is refused."""
    other = {"sha256": "11" * 32}
    twice = _changed(lambda d: d["model"]["artifacts"].append({**d["model"]["artifacts"][0], "digest": other}))
    assert _problems(twice) == [("/model/artifacts/1/digest", "digest-consistency")] * 2  # by name and by uri
    data = _changed(lambda d: d["evaluation"][1]["dataset"].__setitem__("digest", other))
    assert _problems(data) == [("/evaluation/1/dataset/digest", "digest-consistency")]
    other_algorithm = _changed(lambda d: d["evaluation"][1]["dataset"].__setitem__("digest", {"sha512": "22" * 64}))
    assert ModelCard.parse_document(other_algorithm).problems() == []


def test_a_value_lies_in_its_confidence_interval() -> None:
    """[CARD-034] A value outside its interval is named; the bounds themselves are inside."""
    assert _problems(_changed(lambda d: d["evaluation"][0].__setitem__("value", 0.99))) == [
        ("/evaluation/0/confidenceInterval", "interval")
    ]
    assert ModelCard.parse_document(_changed(lambda d: d["evaluation"][0].__setitem__("value", 0.982))).problems() == []


@pytest.mark.parametrize(
    ("expression", "valid"),
    [
        ("MIT", True),
        ("LicenseRef-acme-1.0", True),
        ("(MIT OR Apache-2.0) AND BSD-3-Clause", True),
        ("GPL-2.0-or-later WITH Classpath-exception-2.0", True),
        ("((MIT))", True),
        ("MIT OR", False),
        ("(MIT", False),
        ("MIT)", False),
        ("AND MIT", False),
        ("MIT Apache-2.0", False),
        ("MIT WITH", False),
        ("MIT WITH (x)", False),
    ],
)
def test_the_license_is_an_spdx_expression(expression: str, valid: bool) -> None:
    """[CARD-035] The license parses by the SPDX expression grammar; the schema's pattern only bounds its characters."""
    assert (license_problem(expression) is None) is valid
    doc = _changed(lambda d: d["model"].__setitem__("license", expression))
    if valid:
        assert ModelCard.parse_document(doc).problems() == []
    else:
        assert _problems(doc) == [("/model/license", "spdx-license")]


def test_unknown_terms_are_refused_with_their_pointer() -> None:
    """[CARD-040] A term the vocabulary lacks is refused by the schema and the model, naming its pointer."""
    doc = _changed(lambda d: d["risks"]["assessments"][0].__setitem__("id", "MEASURE 2.14"))
    with pytest.raises(ValidationError) as caught:
        ModelCard.parse_document(doc)
    assert any(p.pointer == "/risks/assessments/0/id" for p in caught.value.problems)
    with pytest.raises(pydantic.ValidationError, match=r"'MEASURE 2\.14' is not a subcategory of nist-ai-rmf 1\.0"):
        ModelCard.model_validate(doc)


def test_to_json_refuses_an_inconsistent_card() -> None:
    """[CARD-036] A card built in code is held to the consistency rules when it is written out."""
    card = ModelCard.model_validate(_changed(lambda d: d["changeLog"][0].__setitem__("base", "0.9.0")))
    with pytest.raises(ValidationError, match="change-base"):
        card.to_json()
