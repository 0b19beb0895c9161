"""Models of model cards, proven equal to the ``model-card`` schema, and the card's consistency rules.

A model card documents one model: what it is, what it is for, what it was trained on, how it changed, how it
performs, its risks, red-team results, energy use, and an evidence map from the EU AI Act and NIST AI RMF to the
card's sections and to external documents. ``schemaURL`` and ``producer`` have defaults.

The schema cannot state every rule: evidence pointers that resolve, a change log that starts from a known
version, one digest per artifact, a value inside its confidence interval, an SPDX license expression that parses.
:meth:`ModelCard.problems` checks those; :meth:`ModelCard.parse_document` and :meth:`ModelCard.to_json` raise on
them.

Examples:
    >>> from aifabric.models.cards import ModelCard
    >>> card = ModelCard(
    ...     model={"name": "acme/sentiment-small", "version": "3.0.0", "license": "Apache-2.0"},
    ...     intendedUse={"primaryUses": ["Classify the sentiment of English product reviews."]},
    ...     evidence=[{"framework": "eu-ai-act-annex-iv", "id": "1", "sections": ["/model", "/intendedUse"]}],
    ... )
    >>> card.to_json()["evidence"][0]["id"]
    '1'
    >>> bad = {**card.to_json(), "evidence": [{"framework": "nist-ai-rmf", "id": "MAP 1", "sections": ["/risks"]}]}
    >>> [str(p) for p in ModelCard.model_validate(bad).problems()]
    ['/evidence/0/sections/0: evidence-pointer: /risks does not resolve in this card']
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, ClassVar, Final, Literal, Self

from pydantic import AfterValidator, AllowInfNan, Field, StrictBool, StrictInt, StrictStr, model_validator

from aifabric._errors import Problem, ValidationError
from aifabric._vocabularies import unknown_term
from aifabric.models.audit import PRODUCER
from aifabric.models.common import Actor, DigestSet, Document, Signatures, _Model
from aifabric.validation import validate

__all__ = [
    "MODEL_CARD",
    "Artifact",
    "BaseModelRef",
    "CardDataset",
    "Change",
    "ConfidenceInterval",
    "Delta",
    "Energy",
    "EnergyUse",
    "EvaluationDataset",
    "EvaluationResult",
    "Evidence",
    "EvidenceDocument",
    "Finding",
    "IntendedUse",
    "Lineage",
    "ModelCard",
    "ModelDetails",
    "ModelIO",
    "PersonalData",
    "Quality",
    "QuantitativeAnalysis",
    "RedTeam",
    "RiskAssessment",
    "Risks",
    "consistency_problems",
    "license_problem",
    "resolve_pointer",
]

MODEL_CARD: Final = "https://aifabric.dev/schemas/model-card/1.0.0.json"
"""The ``$id`` of the model-card schema this module models."""

_Number = StrictInt | Annotated[float, Field(strict=True), AllowInfNan(False)]
_Level = Literal["serious", "high", "medium", "low"]


def _real_date(value: str) -> str:
    date.fromisoformat(value)
    return value


_Text = Annotated[str, Field(min_length=1, max_length=4096)]
_T128 = Annotated[str, Field(min_length=1, max_length=128)]
_T256 = Annotated[str, Field(min_length=1, max_length=256)]
_T1024 = Annotated[str, Field(min_length=1, max_length=1024)]
_T8192 = Annotated[str, Field(min_length=1, max_length=8192)]
_Texts = list[_Text]
_Uri = str
_Date = Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"), AfterValidator(_real_date)]


class BaseModelRef(_Model):
    """A model this one derives from, and how."""

    name: _T256
    version: _T256
    relation: Literal["finetune", "adapter", "quantized", "merge", "distillation", "continued-pretraining"]
    uri: _Uri | None = None
    digest: DigestSet | None = None


class Artifact(_Model):
    """One file of the model, with its digest."""

    name: _T1024
    uri: _Uri | None = None
    media_type: str | None = Field(default=None, alias="mediaType", pattern=r"^[a-z]+/[A-Za-z0-9.+_-]+$")
    digest: DigestSet


class ModelIO(_Model):
    """One input or output of the model."""

    format: _T256
    description: _Text | None = None


class ModelDetails(_Model):
    """What the model is: name, version, artifacts, license, authors and base models."""

    name: _T256
    version: _T256
    description: _T8192 | None = None
    task: _T128 | None = None
    type: _T128 | None = None
    architecture: _T1024 | None = None
    framework: _T256 | None = None
    license: str | None = Field(
        default=None, min_length=1, max_length=1024, pattern=r"^[A-Za-z0-9.+:()-]+( [A-Za-z0-9.+:()-]+)*$"
    )
    authors: list[Actor] | None = None
    base_model: list[BaseModelRef] | None = Field(default=None, alias="baseModel")
    artifacts: list[Artifact] | None = None
    languages: list[Annotated[str, Field(pattern=r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")]] | None = None
    tags: list[_T256] | None = None
    hyperparameters: dict[str, StrictStr | StrictBool | _Number] | None = None
    inputs: list[ModelIO] | None = None
    outputs: list[ModelIO] | None = None
    autonomy_type: Literal["yes", "no", "noAssertion"] | None = Field(default=None, alias="autonomyType")
    explainability: _Text | None = None


class IntendedUse(_Model):
    """What the model is for, for whom, and what it is not for."""

    primary_uses: list[_Text] = Field(alias="primaryUses", min_length=1)
    primary_users: _Texts | None = Field(default=None, alias="primaryUsers")
    out_of_scope: _Texts | None = Field(default=None, alias="outOfScope")
    limitations: _Texts | None = None


class PersonalData(_Model):
    """Whether a dataset holds personal data, which, on what legal basis, and how it is protected."""

    present: StrictBool
    categories: list[_T256] | None = Field(default=None, min_length=1)
    sensitive: StrictBool | None = None
    legal_basis: (
        Literal["consent", "contract", "legal-obligation", "vital-interests", "public-task", "legitimate-interests"]
        | None
    ) = Field(default=None, alias="legalBasis")
    measures: _Text | None = None

    @model_validator(mode="after")
    def _declared(self) -> Self:
        if self.present and (self.categories is None or self.legal_basis is None):
            raise ValueError("personal data that is present has categories and a legalBasis")
        return self


class Lineage(_Model):
    """A dataset's OpenLineage identity."""

    namespace: _T1024
    name: _Text


class Quality(_Model):
    """One ISO/IEC 25012 data quality characteristic and what is known of it."""

    characteristic: str
    description: _Text
    value: _Number | None = None

    @model_validator(mode="after")
    def _known(self) -> Self:
        if (why := unknown_term("iso-iec-25012", self.characteristic)) is not None:
            raise ValueError(why)
        return self


class CardDataset(_Model):
    """A dataset the model was trained on."""

    name: _T1024
    version: _T256 | None = None
    uri: _Uri | None = None
    digest: DigestSet | None = None
    lineage: Lineage | None = None
    split: _T128 | None = None
    collection: _Text | None = None
    preprocessing: _Text | None = None
    personal_data: PersonalData | None = Field(default=None, alias="personalData")
    known_bias: _Texts | None = Field(default=None, alias="knownBias")
    quality: list[Quality] | None = None


class Delta(_Model):
    """How one metric moved in a change."""

    metric: _T256
    dataset: _T1024 | None = None
    before: _Number
    after: _Number


class Change(_Model):
    """One fine-tuning or retraining step."""

    date: _Date
    version: _T256 | None = None
    base: _T256
    data: list[_T1024] | None = None
    reason: _Text
    evaluation_delta: list[Delta] | None = Field(default=None, alias="evaluationDelta")


class EvaluationDataset(_Model):
    """The dataset an evaluation result was measured on."""

    name: _T1024
    split: _T128 | None = None
    version: _T256 | None = None
    uri: _Uri | None = None
    digest: DigestSet | None = None


class ConfidenceInterval(_Model):
    """A confidence interval around a value, at a level between 0 and 1."""

    lower: _Number
    upper: _Number
    level: _Number = Field(gt=0, lt=1)


class EvaluationResult(_Model):
    """One evaluation result: task, dataset, metric, value, slice and confidence interval."""

    task: _T128
    dataset: EvaluationDataset
    metric: _T256
    value: _Number
    slice: _T1024 | None = None
    confidence_interval: ConfidenceInterval | None = Field(default=None, alias="confidenceInterval")
    decision_threshold: _Number | None = Field(default=None, alias="decisionThreshold")


class QuantitativeAnalysis(_Model):
    """What the results mean together."""

    summary: _T8192
    findings: _Texts | None = None


class RiskAssessment(_Model):
    """One risk, named by a NIST AI RMF subcategory or a MIT AI Risk Repository domain or subdomain."""

    taxonomy: Literal["nist-ai-rmf", "mit-ai-risk"]
    id: str
    description: _Text
    level: _Level
    mitigations: _Texts | None = None

    @model_validator(mode="after")
    def _known(self) -> Self:
        if (why := unknown_term(self.taxonomy, self.id, risk=True)) is not None:
            raise ValueError(why)
        return self


class Risks(_Model):
    """The overall risk level (SPDX ``safetyRiskAssessment``) and the assessments behind it."""

    level: _Level
    assessments: list[RiskAssessment] | None = None


class Finding(_Model):
    """One red-team finding."""

    description: _Text
    severity: _Level
    mitigation: _Text | None = None
    status: Literal["open", "mitigated", "accepted", "fixed"]


class RedTeam(_Model):
    """One red-team exercise: its protocol and findings."""

    protocol: _Text
    date: _Date | None = None
    findings: list[Finding]


class EnergyUse(_Model):
    """An amount of energy, for a whole activity or per unit (``per``)."""

    value: _Number = Field(ge=0)
    unit: Literal["kWh", "MWh", "J"]
    per: _T128 | None = None
    hardware: _T1024 | None = None
    co2e_kg: _Number | None = Field(default=None, ge=0, alias="co2eKg")


class Energy(_Model):
    """Energy used to train, fine-tune and run the model."""

    training: EnergyUse | None = None
    finetuning: EnergyUse | None = None
    inference: EnergyUse | None = None

    @model_validator(mode="after")
    def _some(self) -> Self:
        if self.training is None and self.finetuning is None and self.inference is None:
            raise ValueError("energy names at least one of training, finetuning and inference")
        return self


class EvidenceDocument(_Model):
    """An external document, by digest."""

    name: _T1024
    uri: _Uri | None = None
    digest: DigestSet


class Evidence(_Model):
    """What satisfies one requirement of a framework: card sections (JSON pointers) and documents."""

    framework: Literal["eu-ai-act-annex-iv", "eu-ai-act", "nist-ai-rmf", "iso-iec-42001"]
    id: str
    sections: list[Annotated[str, Field(pattern=r"^(/([^~]|~[01])*)+$")]] | None = None
    documents: list[EvidenceDocument] | None = None
    note: _Text | None = None

    @model_validator(mode="after")
    def _known(self) -> Self:
        if not self.sections and not self.documents:
            raise ValueError("evidence names at least one section or document")
        if (why := unknown_term(self.framework, self.id)) is not None:
            raise ValueError(why)
        return self


class ModelCard(Document):
    """One model's documentation, with the evidence that satisfies each requirement of a framework."""

    SCHEMA_URL: ClassVar[str] = MODEL_CARD

    schema_url: Literal["https://aifabric.dev/schemas/model-card/1.0.0.json"] = Field(
        default=MODEL_CARD, alias="schemaURL"
    )
    producer: str = Field(default=PRODUCER, min_length=1)
    model: ModelDetails
    intended_use: IntendedUse = Field(alias="intendedUse")
    training_data: list[CardDataset] | None = Field(default=None, alias="trainingData")
    change_log: list[Change] | None = Field(default=None, alias="changeLog")
    evaluation: list[EvaluationResult] | None = None
    quantitative_analysis: QuantitativeAnalysis | None = Field(default=None, alias="quantitativeAnalysis")
    risks: Risks | None = None
    red_team: list[RedTeam] | None = Field(default=None, alias="redTeam")
    energy: Energy | None = None
    evidence: list[Evidence] | None = None
    signatures: Signatures | None = None

    def problems(self, *, source: str | None = None) -> list[Problem]:
        """The consistency rules the card breaks (CARD-030 to CARD-035), each with its JSON pointer."""
        return consistency_problems(self.model_dump(mode="json", by_alias=True, exclude_none=True), source=source)

    @classmethod
    def parse_document(cls, doc: Any, *, source: str | None = None) -> Self:
        """The model of a parsed card, checked against the schema and then against the consistency rules.

        Raises:
            ValidationError: as :meth:`Document.parse_document`, or a consistency rule broken (``problems``).
        """
        card = super().parse_document(doc, source=source)
        if found := card.problems(source=source):
            raise ValidationError(found, source=source, schema_url=MODEL_CARD)
        return card

    def to_json(self) -> dict[str, Any]:
        """The JSON form, checked against the schema and the consistency rules before it is returned."""
        doc = _Model.to_json(self)
        validate(doc)
        if found := consistency_problems(doc):
            raise ValidationError(found, schema_url=MODEL_CARD)
        return doc


# --- consistency rules the schema cannot state ---------------------------------------------------------------

_LICENSE_TOKEN: Final = re.compile(r"\(|\)|[A-Za-z0-9.+:-]+")
_NOT_COVERED: Final = ("/signatures", "/evidence")


def resolve_pointer(doc: Any, pointer: str) -> tuple[bool, Any]:
    """Follow an RFC 6901 JSON pointer into ``doc``: ``(True, value)``, or ``(False, None)`` if it does not resolve."""
    node = doc
    for raw in pointer.split("/")[1:] if pointer else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and re.fullmatch(r"0|[1-9][0-9]*", part) and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def license_problem(expression: str) -> str | None:
    """Why ``expression`` is not an SPDX license expression (SPDX 3.0 Annex D grammar), or None."""
    tokens = _LICENSE_TOKEN.findall(expression)
    if "".join(tokens) != expression.replace(" ", ""):
        return "holds characters outside an SPDX license expression"
    position = 0

    def compound() -> str | None:
        nonlocal position
        while True:
            if (why := simple()) is not None:
                return why
            if position < len(tokens) and tokens[position] in ("AND", "OR"):
                position += 1
                continue
            return None

    def simple() -> str | None:
        nonlocal position
        if position >= len(tokens):
            return "ends where a license was expected"
        word = tokens[position]
        position += 1
        if word == "(":
            if (why := compound()) is not None:
                return why
            if position >= len(tokens) or tokens[position] != ")":
                return "has a '(' without its ')'"
            position += 1
            return None
        if word in ("AND", "OR", "WITH", ")"):
            return f"has {word!r} where a license was expected"
        if position < len(tokens) and tokens[position] == "WITH":
            position += 1
            if position >= len(tokens) or tokens[position] in ("AND", "OR", "WITH", "(", ")"):
                return "has WITH without an exception after it"
            position += 1
        return None

    why = compound()
    if why is None and position < len(tokens):
        why = f"has {tokens[position]!r} where AND, OR or the end was expected"
    return why


def consistency_problems(doc: dict[str, Any], *, source: str | None = None) -> list[Problem]:
    """The consistency rules a schema-valid card's JSON form breaks (CARD-030 to CARD-035)."""
    found: list[Problem] = []

    def add(pointer: str, rule: str, message: str) -> None:
        found.append(Problem(pointer, rule, message, source))

    model = doc.get("model", {})
    if isinstance(model.get("license"), str) and (why := license_problem(model["license"])):
        add("/model/license", "spdx-license", f"{model['license']!r} {why}")
    seen: dict[tuple[str, str], int] = {}
    for i, item in enumerate(doc.get("evidence", [])):
        key = (item["framework"], item["id"])
        if key in seen:
            add(f"/evidence/{i}", "unique-evidence", f"{key[0]} {key[1]} already has evidence at /evidence/{seen[key]}")
        seen.setdefault(key, i)
        for j, pointer in enumerate(item.get("sections", [])):
            here = f"/evidence/{i}/sections/{j}"
            if any(pointer == p or pointer.startswith(p + "/") for p in _NOT_COVERED):
                add(here, "evidence-pointer", f"{pointer} points into {pointer.split('/')[1]}, which is not evidence")
            elif not resolve_pointer(doc, pointer)[0]:
                add(here, "evidence-pointer", f"{pointer} does not resolve in this card")
    known = {b["version"] for b in model.get("baseModel", [])}
    for i, change in enumerate(doc.get("changeLog", [])):
        if change["base"] not in known:
            versions = ", ".join(sorted(known)) or "none"
            add(
                f"/changeLog/{i}/base",
                "change-base",
                f"{change['base']} is not a baseModel version or the version of an earlier change (known: {versions})",
            )
        if "version" in change:
            known.add(change["version"])
    _digests(doc, add)
    for i, result in enumerate(doc.get("evaluation", [])):
        interval = result.get("confidenceInterval")
        if interval and not interval["lower"] <= result["value"] <= interval["upper"]:
            add(
                f"/evaluation/{i}/confidenceInterval",
                "interval",
                f"the value {result['value']} is not within [{interval['lower']}, {interval['upper']}]",
            )
    return found


def _digests(doc: dict[str, Any], add: Any) -> None:
    """CARD-033: every mention of one artifact, base model or dataset that gives a digest gives the same one."""
    mentions: list[tuple[tuple[str, ...], str, dict[str, str]]] = []
    key: tuple[str, ...]
    model = doc.get("model", {})
    for i, item in enumerate(model.get("artifacts", [])):
        mentions.append((("artifact", item["name"]), f"/model/artifacts/{i}/digest", item["digest"]))
        if "uri" in item:
            mentions.append((("uri", item["uri"]), f"/model/artifacts/{i}/digest", item["digest"]))
    for i, item in enumerate(model.get("baseModel", [])):
        if "digest" in item:
            mentions.append((("model", item["name"], item["version"]), f"/model/baseModel/{i}/digest", item["digest"]))
    for i, item in enumerate(doc.get("trainingData", [])):
        if "digest" in item:
            key = ("dataset", item["name"], item.get("version", ""), item.get("split", ""))
            mentions.append((key, f"/trainingData/{i}/digest", item["digest"]))
    for i, item in enumerate(doc.get("evaluation", [])):
        data = item["dataset"]
        if "digest" in data:
            key = ("dataset", data["name"], data.get("version", ""), data.get("split", ""))
            mentions.append((key, f"/evaluation/{i}/dataset/digest", data["digest"]))
    for i, item in enumerate(doc.get("evidence", [])):
        for j, document in enumerate(item.get("documents", [])):
            if "uri" in document:
                mentions.append((("uri", document["uri"]), f"/evidence/{i}/documents/{j}/digest", document["digest"]))
    first: dict[tuple[tuple[str, ...], str], tuple[str, str]] = {}
    for key, pointer, digest in mentions:
        for algorithm, value in digest.items():
            earlier = first.setdefault((key, algorithm), (pointer, value))
            if earlier[1] != value:
                add(
                    pointer,
                    "digest-consistency",
                    f"{algorithm} differs from the one at {earlier[0]} for the same {key[0]} {_named(key)}",
                )


def _named(key: tuple[str, ...]) -> str:
    return " ".join(part for part in key[1:] if part)
