"""Model card import and export: Hugging Face, CycloneDX 1.6 and SPDX 3.0.1, each checked by the real peer."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from aifabric._errors import DocumentError, ValidationError
from aifabric.cards.hf import from_hf, to_hf
from tests.conftest import shared

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "model-card.yaml"


@cache
def _example() -> dict[str, Any]:
    loaded = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    plain: dict[str, Any] = json.loads(json.dumps(loaded, default=str))  # dates as ModelCard.to_json() writes them
    return plain


def example() -> dict[str, Any]:
    return copy.deepcopy(_example())


TEXT = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40)  # any text but lone surrogates
WORD = st.text(st.characters(categories=("L", "N"), max_codepoint=0x2FF), min_size=1, max_size=12)
VALUE = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False) | st.integers(-(10**6), 10**6)


@st.composite
def cards(draw: st.DrawFn) -> dict[str, Any]:
    """The example with arbitrary names, descriptions, tags, metrics, values and slices."""
    card = example()
    model = card["model"]
    model["name"] = draw(TEXT)
    model["description"] = draw(TEXT)
    model["task"] = draw(TEXT)
    model["tags"] = draw(st.lists(TEXT, max_size=3))
    model["license"] = draw(st.sampled_from(["Apache-2.0", "MIT", "GPL-3.0-only", "BSD-4-Clause", "MIT OR Apache-2.0"]))
    card["intendedUse"]["primaryUses"] = draw(st.lists(TEXT, min_size=1, max_size=3))
    card["intendedUse"]["limitations"] = draw(st.lists(TEXT, max_size=2))
    card["trainingData"][0]["name"] = draw(TEXT)
    evaluation = []
    for _ in range(draw(st.integers(1, 4))):
        entry: dict[str, Any] = {
            "task": draw(TEXT),
            "dataset": {"name": draw(TEXT), "split": draw(WORD)},
            "metric": draw(TEXT),
            "value": draw(VALUE),
        }
        if draw(st.booleans()):
            entry["slice"] = draw(TEXT)
        if draw(st.booleans()):
            below, above = draw(st.floats(0, 1e3)), draw(st.floats(0, 1e3))
            entry["confidenceInterval"] = {
                "lower": entry["value"] - below,
                "upper": entry["value"] + above,
                "level": 0.9,
            }
        evaluation.append(entry)
    card["evaluation"] = evaluation
    card["energy"]["training"]["value"] = draw(st.floats(min_value=0, max_value=1e6))
    card["energy"]["training"]["co2eKg"] = draw(st.floats(min_value=0, max_value=1e6))
    return card


# --- Hugging Face -------------------------------------------------------------------------------------------


def test_export_loads_in_huggingface_hub_with_the_same_values() -> None:
    from huggingface_hub import EvalResult, ModelCard
    from huggingface_hub.repocard_data import model_index_to_eval_results

    card = example()
    mapped = to_hf(card)
    hub = ModelCard(mapped.document)
    data: Any = hub.data  # huggingface_hub's CardData types its members dynamically
    assert data.license == "apache-2.0"
    assert data.pipeline_tag == "tabular-classification"
    assert data.library_name == "numpy"
    assert data.tags == ["churn", "tabular"]
    assert data.datasets == ["acme/subscribers-2026q2"]
    assert data.base_model == "acme/churn-classifier"
    assert data.to_dict()["base_model_relation"] == "finetune"
    assert data.metrics == ["accuracy", "f1"]
    assert data.to_dict()["co2_eq_emissions"]["emissions"] == pytest.approx(80)
    name, results = model_index_to_eval_results(data.to_dict()["model-index"])
    assert name == "acme/churn-classifier"
    assert all(isinstance(r, EvalResult) for r in results)
    got = [(r.task_type, r.dataset_type, r.dataset_split, r.metric_type, r.metric_value) for r in results]
    want = [
        (e["task"], e["dataset"]["name"], e["dataset"]["split"], e["metric"], e["value"]) for e in card["evaluation"]
    ]
    assert got == want
    assert results[2].metric_name == "accuracy (slice: tenure < 30 days)"
    assert "## Uses" in hub.text and "### Out-of-Scope Use" in hub.text and "## Environmental Impact" in hub.text
    assert "Pricing, credit" in hub.text and "| accuracy | 0.973 |" in hub.text
    assert "/evaluation/0/confidenceInterval: no place in Hugging Face metadata; kept under the aifabric key" in (
        mapped.lost
    )
    assert all(line.startswith("/") for line in mapped.lost)


def test_round_trip_of_the_example_is_exact_and_without_the_key_keeps_what_hf_holds() -> None:
    card = example()
    assert from_hf(to_hf(card).document).document == card
    bare = to_hf(card, embed=False)
    assert "aifabric:" not in bare.document
    assert all(line.endswith("left out") for line in bare.lost)
    _assert_hf_fields_kept(card, from_hf(bare.document).document)


def _assert_hf_fields_kept(card: dict[str, Any], back: dict[str, Any]) -> None:
    """What Hugging Face holds: name, task, framework, tags, license (where the Hub has it), datasets, results."""
    model, got = card["model"], back["model"]
    assert got["name"] == model["name"]
    assert got["task"] == model["task"]
    assert got["framework"] == model["framework"]
    assert got.get("tags", []) == model["tags"]
    if model["license"] in {"Apache-2.0", "MIT", "GPL-3.0-only", "BSD-4-Clause"}:
        assert got["license"] == model["license"]
    assert [d["name"] for d in back["trainingData"]] == [d["name"] for d in card["trainingData"]]
    assert [b["name"] for b in got["baseModel"]] == [b["name"] for b in model["baseModel"]]
    assert got["baseModel"][0]["relation"] == model["baseModel"][0]["relation"]
    held = ("task", "metric", "value", "slice")
    assert [{k: e[k] for k in held if k in e} for e in back["evaluation"]] == [
        {k: e[k] for k in held if k in e} for e in card["evaluation"]
    ]
    assert [e["dataset"] for e in back["evaluation"]] == [
        {k: e["dataset"][k] for k in ("name", "split")} for e in card["evaluation"]
    ]
    assert back["intendedUse"]["outOfScope"] == card["intendedUse"]["outOfScope"]


@settings(max_examples=40)
@given(cards())
def test_round_trip_card_hf_card(card: dict[str, Any]) -> None:
    from huggingface_hub import ModelCard

    mapped = to_hf(card)
    hub: Any = ModelCard(mapped.document)  # the Hub's own reader takes every export
    assert hub.data.to_dict()["model-index"][0]["name"] == card["model"]["name"]
    assert from_hf(mapped.document).document == card
    _assert_hf_fields_kept(card, from_hf(to_hf(card, embed=False).document).document)


TEXT_CLASSIFIER = """\
---
language:
- en
license: apache-2.0
base_model: distilbert-base-uncased
tags:
- generated_from_trainer
datasets:
- imdb
metrics:
- accuracy
- f1
model-index:
- name: distilbert-imdb
  results:
  - task:
      type: text-classification
      name: Text Classification
    dataset:
      name: imdb
      type: imdb
      config: plain_text
      split: test
      args: plain_text
    metrics:
    - type: accuracy
      value: 0.93116
      name: Accuracy
    - type: f1
      value: "93.1%"
widget:
- text: I loved this movie.
---

<!-- This model card has been generated automatically according to the information the Trainer had access to. -->

# distilbert-imdb

This model is a fine-tuned version of [distilbert-base-uncased](https://huggingface.co/distilbert-base-uncased)
on the imdb dataset.

## Intended uses & limitations

More information needed

## Training procedure

### Training hyperparameters

- learning_rate: 2e-05
- num_epochs: 2
"""

LLM = """\
---
license: llama3.1
language: [en, de, fr]
library_name: transformers
pipeline_tag: text-generation
base_model:
- meta-llama/Llama-3.1-8B
- mistralai/Mistral-7B-v0.3
base_model_relation: merge
datasets:
- HuggingFaceH4/ultrachat_200k
- Open-Orca/SlimOrca
- teknium/OpenHermes-2.5
co2_eq_emissions:
  emissions: 41100
  source: CodeCarbon
  training_type: fine-tuning
  hardware_used: 8x NVIDIA A100-SXM4-80GB
---

# Model Card for acme/merged-chat-8b

<!-- Provide a quick summary of what the model is/does. -->

A chat model merged from two base models and tuned on public instruction data.

## Model Details

### Model Description

A general-purpose assistant for English, German and French.

- **Developed by:** Acme
- **License:** llama3.1

## Uses

### Direct Use

- Drafting replies in customer support
- Summarising internal documents

### Out-of-Scope Use

[More Information Needed]

## Bias, Risks, and Limitations

The model can state falsehoods confidently.

It was not evaluated on languages other than the three above.
"""


def test_import_a_text_classification_fine_tune() -> None:
    mapped = from_hf(TEXT_CLASSIFIER)
    card = mapped.document
    model = card["model"]
    assert model["name"] == "distilbert-imdb" and model["version"] == "0.0.0"
    assert model["license"] == "Apache-2.0" and model["languages"] == ["en"]
    assert model["baseModel"] == [{"name": "distilbert-base-uncased", "version": "unknown", "relation": "finetune"}]
    assert model["description"].startswith("This model is a fine-tuned version")
    assert card["trainingData"] == [{"name": "imdb"}]
    assert card["evaluation"] == [
        {
            "task": "text-classification",
            "dataset": {"name": "imdb", "split": "test"},
            "metric": "accuracy",
            "value": 0.93116,
        },
        {"task": "text-classification", "dataset": {"name": "imdb", "split": "test"}, "metric": "f1", "value": 0.931},
    ]
    assert card["intendedUse"]["primaryUses"] == ["Not stated in the Hugging Face model card."]
    for pointer in (
        "/widget",
        "/model-index/0/results/0/dataset/config",
        "/model-index/0/results/0/task/name",
        "/model-index/0/results/0/metrics/0/name",
        "/base_model_relation",
        "/(Direct Use)",
    ):
        assert any(line.startswith(pointer + ":") for line in mapped.lost), pointer


def test_import_an_llm_card_with_several_bases_and_datasets(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(LLM, encoding="utf-8")
    for source in (readme, str(readme)):
        mapped = from_hf(source, version="2.0.0")
        card = mapped.document
        model = card["model"]
        assert model["name"] == "acme/merged-chat-8b" and model["version"] == "2.0.0"
        assert model["license"] == "LicenseRef-llama3.1"
        assert model["framework"] == "transformers" and model["task"] == "text-generation"
        assert [b["name"] for b in model["baseModel"]] == ["meta-llama/Llama-3.1-8B", "mistralai/Mistral-7B-v0.3"]
        assert {b["relation"] for b in model["baseModel"]} == {"merge"}
        assert model["description"] == "A general-purpose assistant for English, German and French."
        assert [d["name"] for d in card["trainingData"]] == [
            "HuggingFaceH4/ultrachat_200k",
            "Open-Orca/SlimOrca",
            "teknium/OpenHermes-2.5",
        ]
        assert card["intendedUse"]["primaryUses"] == [
            "Drafting replies in customer support",
            "Summarising internal documents",
        ]
        assert "outOfScope" not in card["intendedUse"]
        assert card["intendedUse"]["limitations"] == [
            "The model can state falsehoods confidently.",
            "It was not evaluated on languages other than the three above.",
        ]
        assert any(line.startswith("/co2_eq_emissions:") for line in mapped.lost)


@pytest.mark.parametrize(
    ("front", "pointer", "words"),
    [
        ("license: 5\nmodel_name: x", "/license", "expected a string, got a number (5)"),
        ("model-index: {name: x, results: []}", "/model-index", "expected a list"),
        ("model_name: x\ntags: {a: 1}", "/tags", "a string or a list of strings"),
        (
            "model-index:\n- name: x\n  results:\n  - task: {type: t}\n    dataset: {type: d, name: d}\n"
            "    metrics: [{type: acc, value: [1]}]",
            "/model-index/0/results/0/metrics/0/value",
            "expected a number",
        ),
        ("model-index:\n- name: x\n  results: [{task: t}]", "/model-index/0/results/0/task", "a mapping"),
        ("model_name: x\naifabric: [1]", "/aifabric", "a mapping"),
        ("co2_eq_emissions: lots\nmodel_name: x", "/co2_eq_emissions", "number of grams"),
        ("- just\n- a list", "", "a YAML mapping"),
    ],
)
def test_front_matter_of_the_wrong_type_names_the_pointer(front: str, pointer: str, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        from_hf(f"---\n{front}\n---\n\n# x\n")
    problems = caught.value.problems
    assert [p.pointer for p in problems][:1] == [pointer]
    assert words in problems[0].message
    assert "Traceback" not in str(caught.value)


def test_unreadable_front_matter_and_files_are_document_errors(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="front matter is not YAML"):
        from_hf("---\nlicense: [unclosed\n---\n# x\n")
    bad = tmp_path / "README.md"
    bad.write_bytes(b"---\nlicense: \xff\n---\n")
    with pytest.raises(DocumentError, match="not UTF-8"):
        from_hf(bad)
    with pytest.raises(ValidationError, match="no model name"):
        from_hf("just some text\nwith no title")
    with pytest.raises(DocumentError, match="a model card is a JSON object"):
        to_hf(["not", "a", "card"])


def test_a_card_object_with_to_json_is_accepted() -> None:
    class Card:
        def to_json(self) -> dict[str, Any]:
            return example()

    assert to_hf(Card()).document == to_hf(example()).document


def test_cyclonedx_schema_files_are_there() -> None:
    assert shared("cyclonedx", "bom-1.6.schema.json").is_file()


# --- CycloneDX 1.6 ------------------------------------------------------------------------------------------


@cache
def _bom_validator() -> Any:
    from jsonschema import Draft7Validator
    from referencing import Registry, Resource

    folder = shared("cyclonedx")
    resources = []
    for name in ("bom-1.6.schema.json", "spdx.schema.json", "jsf-0.82.schema.json"):
        schema = json.loads((folder / name).read_text(encoding="utf-8"))
        assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
        resources.append((schema["$id"], Resource.from_contents(schema)))
    registry: Registry[Any] = Registry().with_resources(resources)  # nothing is fetched: an unknown $ref fails
    bom_schema = resources[0][1].contents
    Draft7Validator.check_schema(bom_schema)
    return Draft7Validator(bom_schema, registry=registry, format_checker=Draft7Validator.FORMAT_CHECKER)


def _assert_valid_bom(bom: dict[str, Any]) -> None:
    errors = sorted(_bom_validator().iter_errors(bom), key=lambda e: list(e.absolute_path))
    assert not errors, [f"/{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5]]


def test_cyclonedx_export_of_the_example_is_valid_and_carries_the_card() -> None:
    from aifabric.cards.cyclonedx import to_cyclonedx

    card = example()
    mapped = to_cyclonedx(card, serial_number="urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79")
    bom = mapped.document
    _assert_valid_bom(bom)
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.6"
    assert bom["metadata"]["tools"]["components"][0]["name"] == "aifabric"
    model = bom["metadata"]["component"]
    assert (model["type"], model["name"], model["version"]) == (
        "machine-learning-model",
        "acme/churn-classifier",
        "1.3.0",
    )
    assert model["hashes"] == [{"alg": "SHA-256", "content": card["model"]["artifacts"][0]["digest"]["sha256"]}]
    assert model["licenses"] == [{"expression": "Apache-2.0"}]
    assert model["authors"] == [{"name": "Acme ML platform team", "email": "ml@example.com"}]
    assert model["pedigree"]["ancestors"][0]["version"] == "1.2.0"
    mc = model["modelCard"]
    assert mc["modelParameters"]["approach"] == {"type": "supervised"}
    assert mc["modelParameters"]["task"] == "tabular-classification"
    assert mc["modelParameters"]["modelArchitecture"] == "mlp-12-32-2"
    refs = {c["bom-ref"]: c for c in bom["components"]}
    (training,) = [refs[d["ref"]] for d in mc["modelParameters"]["datasets"]]
    assert training["name"] == "acme/subscribers-2026q2" and training["hashes"][0]["alg"] == "SHA-256"
    assert training["data"][0]["type"] == "dataset"
    metrics = mc["quantitativeAnalysis"]["performanceMetrics"]
    assert [(m["type"], float(m["value"]), m.get("slice")) for m in metrics] == [
        (e["metric"], e["value"], e.get("slice")) for e in card["evaluation"]
    ]
    assert metrics[0]["confidenceInterval"] == {"lowerBound": "0.962", "upperBound": "0.982"}
    considerations = mc["considerations"]
    assert considerations["users"] == card["intendedUse"]["primaryUsers"]
    assert considerations["useCases"] == card["intendedUse"]["primaryUses"]
    assert card["intendedUse"]["limitations"][0] in considerations["technicalLimitations"]
    assert any("MEASURE 2.11" in r["name"] for r in considerations["ethicalConsiderations"])
    assert considerations["fairnessAssessments"] == [{"harms": card["trainingData"][0]["knownBias"][0]}]
    energy = considerations["environmentalConsiderations"]["energyConsumptions"]
    assert energy[0]["activity"] == "training"
    assert energy[0]["activityEnergyCost"] == {"value": 0.42, "unit": "kWh"}
    assert energy[0]["co2CostEquivalent"]["value"] == pytest.approx(0.08 / 1000)
    for line in ("/changeLog: ", "/evidence: ", "/evaluation/0/confidenceInterval/level: ", "/model/framework: "):
        assert any(lost.startswith(line) for lost in mapped.lost), line


@settings(max_examples=40)
@given(cards())
def test_cyclonedx_export_of_any_card_is_valid(card: dict[str, Any]) -> None:
    from aifabric.cards.cyclonedx import to_cyclonedx

    bom = to_cyclonedx(card).document
    _assert_valid_bom(bom)
    metrics = bom["metadata"]["component"]["modelCard"]["quantitativeAnalysis"]["performanceMetrics"]
    assert [(m["type"], float(m["value"])) for m in metrics] == [(e["metric"], e["value"]) for e in card["evaluation"]]


# --- SPDX 3.0.1 ---------------------------------------------------------------------------------------------


def test_spdx_export_loads_back_with_spdx_python_model() -> None:
    import io

    from spdx_python_model import v3_0_1 as spdx

    from aifabric.cards.spdx import to_spdx

    card = example()
    mapped = to_spdx(card, namespace="https://example.com/spdx/churn")
    objects = spdx.SHACLObjectSet()
    spdx.JSONLDDeserializer().read(io.BytesIO(json.dumps(mapped.document).encode()), objects)
    package: Any  # spdx-python-model types every property as the union of what it may hold
    (package,) = objects.foreach_type(spdx.ai_AIPackage)
    assert package.name == "acme/churn-classifier" and package.software_packageVersion == "1.3.0"
    assert package.ai_safetyRiskAssessment == spdx.ai_SafetyRiskAssessmentType.low
    assert list(package.ai_typeOfModel) == ["supervised"]
    assert list(package.ai_domain) == ["tabular-classification"]
    assert [(m.key, float(m.value)) for m in package.ai_metric] == [
        ("accuracy", 0.973),
        ("f1", 0.91),
        ("accuracy (tenure < 30 days)", 0.902),
    ]
    assert card["intendedUse"]["limitations"][0] in package.ai_limitation
    training = package.ai_energyConsumption.ai_trainingEnergyConsumption[0]
    assert training.ai_energyQuantity == pytest.approx(0.42)
    assert training.ai_energyUnit == spdx.ai_EnergyUnitType.kilowattHour
    assert [h.hashValue for h in package.verifiedUsing] == [card["model"]["artifacts"][0]["digest"]["sha256"]]
    relations: dict[Any, Any] = {r.relationshipType: r for r in objects.foreach_type(spdx.Relationship)}
    trained = relations[spdx.RelationshipType.trainedOn]
    assert trained.from_ is package or trained.from_ == package._id
    assert [d.name for d in trained.to] == ["acme/subscribers-2026q2"]
    assert [d.name for d in relations[spdx.RelationshipType.testedOn].to] == ["acme/churn-eval-2026q2"]
    (license_,) = objects.foreach_type(spdx.simplelicensing_LicenseExpression)
    assert license_.simplelicensing_licenseExpression == "Apache-2.0"
    assert "/evaluation/0/confidenceInterval: no place in an SPDX 3.0.1 AI package" in mapped.lost


def test_what_cyclonedx_and_spdx_cannot_hold_is_named_not_dropped() -> None:
    """Members a review found dropped without a word are each named in ``lost``: an export never loses silently."""
    from aifabric.cards.cyclonedx import to_cyclonedx
    from aifabric.cards.spdx import to_spdx

    card = example()
    card["model"]["inputs"] = [{"format": "application/json", "description": "twelve account features"}]
    card["model"]["authors"][0]["issuer"] = "https://id.example.com"
    card["evaluation"][0]["decisionThreshold"] = 0.5
    card["trainingData"][0]["personalData"]["present"] = False
    cdx = {line.split(":")[0] for line in to_cyclonedx(card).lost}
    assert {
        "/model/inputs/0/description",
        "/model/authors/0/id",
        "/model/authors/0/issuer",
        "/evaluation/0/decisionThreshold",
        "/evaluation/0/dataset",
        "/trainingData/0/personalData/present",
        "/quantitativeAnalysis/summary",
    } <= cdx
    spdx = {line.split(":")[0] for line in to_spdx(card).lost}
    assert {
        "/model/baseModel",
        "/model/inputs",
        "/model/architecture",
        "/model/artifacts/0/name",
        "/model/artifacts/0/mediaType",
        "/intendedUse/primaryUsers",
        "/trainingData/0/split",
        "/trainingData/0/lineage",
        "/trainingData/0/personalData/legalBasis",
        "/evaluation/0/decisionThreshold",
        "/evaluation/1/dataset",
    } <= spdx
