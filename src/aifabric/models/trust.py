"""Models of data contracts and Data Trust Scores, proven equal to the ``data-contract`` and ``trust-score`` schemas.

A data contract declares a dataset's columns, constraints, freshness SLA, consistency rules, pillar weights and
drift thresholds; a trust score is what :func:`aifabric.trust.score` computed from data under one. Rules the schemas
cannot state, such as column names being unique, are checked by :func:`aifabric.trust.load_contract`.

Examples:
    >>> from aifabric.models.trust import ContractColumn, DataContract
    >>> contract = DataContract(name="orders", version="1.0.0", columns=[ContractColumn(name="id", type="integer")])
    >>> contract.to_json()["schemaURL"]
    'https://aifabric.dev/schemas/data-contract/1.0.0.json'
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Final, Literal

from pydantic import AfterValidator, AllowInfNan, Field, StrictBool, StrictInt, model_validator

from aifabric.models.audit import PRODUCER
from aifabric.models.common import (
    Actor,
    DigestSet,
    Document,
    ResourceRef,
    Signatures,
    Timestamp,
    UUIDv7,
    _Model,
    _unique,
)

__all__ = [
    "CONTRACT_SCHEMA_URL",
    "PILLARS",
    "SCORE_SCHEMA_URL",
    "ColumnDrift",
    "ColumnSource",
    "ConsistencyRule",
    "ContractColumn",
    "DataContract",
    "DataContractRef",
    "DriftSettings",
    "Evidence",
    "Freshness",
    "Pillar",
    "TrustMethod",
    "TrustScore",
]

CONTRACT_SCHEMA_URL: Final = "https://aifabric.dev/schemas/data-contract/1.0.0.json"
SCORE_SCHEMA_URL: Final = "https://aifabric.dev/schemas/trust-score/1.0.0.json"
PILLARS: Final = (
    "completeness",
    "validity",
    "uniqueness",
    "freshness",
    "consistency",
    "drift",
    "lineage",
    "documentation",
)
"""The pillars of a trust score, in the order a score lists them."""

PillarName = Literal[
    "completeness", "validity", "uniqueness", "freshness", "consistency", "drift", "lineage", "documentation"
]
DriftMethod = Literal["ks", "chisquare", "wasserstein", "jensenshannon", "psi"]
ISO25012 = Literal[
    "accuracy",
    "completeness",
    "consistency",
    "credibility",
    "currentness",
    "accessibility",
    "compliance",
    "confidentiality",
    "efficiency",
    "precision",
    "traceability",
    "understandability",
    "availability",
    "portability",
    "recoverability",
]

_Number = StrictInt | Annotated[float, Field(strict=True), AllowInfNan(False)]
_SemVer = Annotated[
    str,
    Field(
        pattern=r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
        r"(-(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(\.(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?"
        r"(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
    ),
]
_Text = Annotated[str, Field(min_length=1, max_length=4096)]
_ColumnName = Annotated[str, Field(min_length=1, max_length=256)]


def _sha256(digest: dict[str, str]) -> dict[str, str]:
    if "sha256" not in digest:
        raise ValueError("the digest set has a sha256 digest")
    return digest


class ColumnSource(_Model):
    """An upstream column a column is derived from."""

    namespace: str | None = Field(default=None, min_length=1, max_length=1024)
    dataset: str = Field(min_length=1, max_length=4096)
    column: _ColumnName


class ColumnDrift(_Model):
    """How one column is tested for drift: its method and threshold, or ``none``."""

    method: Literal["ks", "chisquare", "wasserstein", "jensenshannon", "psi", "none"] | None = None
    threshold: _Number | None = Field(default=None, gt=0)


class ContractColumn(_Model):
    """One column of a data contract: its type, constraints, documentation, sources and drift test."""

    name: _ColumnName
    type: Literal["string", "integer", "number", "boolean", "date", "timestamp"]
    description: _Text | None = None
    unique: StrictBool | None = None
    min: _Number | None = None
    max: _Number | None = None
    allowed_values: Annotated[list[str], Field(min_length=1), AfterValidator(_unique)] | None = Field(
        default=None, alias="allowedValues"
    )
    pattern: str | None = Field(default=None, min_length=1)
    min_length: StrictInt | None = Field(default=None, ge=0, alias="minLength")
    max_length: StrictInt | None = Field(default=None, ge=0, alias="maxLength")
    sources: list[ColumnSource] | None = Field(default=None, min_length=1)
    drift: ColumnDrift | None = None


class Freshness(_Model):
    """The freshness SLA: the timestamp column and the greatest age of its latest value, in seconds."""

    column: _ColumnName
    max_age_s: StrictInt = Field(ge=1, alias="maxAgeS")


class ConsistencyRule(_Model):
    """A consistency rule: a SQL boolean expression over one row."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    expression: _Text
    description: _Text | None = None


class DriftSettings(_Model):
    """Drift thresholds other than the defaults."""

    small_sample_max: StrictInt | None = Field(default=None, ge=1, alias="smallSampleMax")
    p_value: _Number | None = Field(default=None, gt=0, lt=1, alias="pValue")
    distance: _Number | None = Field(default=None, gt=0)
    psi: _Number | None = Field(default=None, gt=0)
    categorical_max_distinct: StrictInt | None = Field(default=None, ge=0, alias="categoricalMaxDistinct")
    bins: StrictInt | None = Field(default=None, ge=2, le=1000)


class DataContract(Document):
    """What a dataset promises, and the weights and thresholds its trust score is computed with."""

    SCHEMA_URL: ClassVar[str] = CONTRACT_SCHEMA_URL

    schema_url: Literal["https://aifabric.dev/schemas/data-contract/1.0.0.json"] = Field(
        default=CONTRACT_SCHEMA_URL, alias="schemaURL"
    )
    producer: str = Field(default=PRODUCER, min_length=1)
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,255}$")
    version: _SemVer
    description: _Text | None = None
    owner: Actor | None = None
    license: str | None = Field(default=None, min_length=1, max_length=256)
    classification: Literal["public", "internal", "confidential", "restricted"] | None = None
    dataset: ResourceRef | None = None
    columns: list[ContractColumn] = Field(min_length=1)
    primary_key: Annotated[list[_ColumnName], Field(min_length=1), AfterValidator(_unique)] | None = Field(
        default=None, alias="primaryKey"
    )
    freshness: Freshness | None = None
    rules: list[ConsistencyRule] | None = Field(default=None, min_length=1)
    weights: dict[PillarName, Annotated[_Number, Field(ge=0, le=1000)]] | None = None
    drift: DriftSettings | None = None
    min_score: _Number | None = Field(default=None, ge=0, le=100, alias="minScore")


class TrustMethod(_Model):
    """The computation's name and version."""

    name: str = Field(min_length=1, max_length=256)
    version: _SemVer


class DataContractRef(_Model):
    """The data contract a score was computed with: name, version and the digest of its canonical form."""

    name: str = Field(min_length=1, max_length=256)
    version: _SemVer
    uri: str | None = None
    digest: Annotated[DigestSet, AfterValidator(_sha256)]


class Evidence(_Model):
    """One measurement behind a pillar."""

    metric: PillarName
    column: str | None = Field(default=None, min_length=1, max_length=256)
    rule: str | None = Field(default=None, min_length=1, max_length=64)
    numerator: StrictInt | None = Field(default=None, ge=0)
    denominator: StrictInt | None = Field(default=None, ge=0)
    value: _Number | None = None
    age_s: _Number | None = Field(default=None, alias="ageS")
    method: DriftMethod | None = None
    statistic: _Number | None = Field(default=None, ge=0)
    p_value: _Number | None = Field(default=None, ge=0, le=1, alias="pValue")
    threshold: _Number | None = Field(default=None, gt=0)
    drifted: StrictBool | None = None
    psi: _Number | None = Field(default=None, ge=0)
    reference_count: StrictInt | None = Field(default=None, ge=0, alias="referenceCount")
    current_count: StrictInt | None = Field(default=None, ge=0, alias="currentCount")
    unseen: StrictInt | None = Field(default=None, ge=0)
    reason: str | None = Field(default=None, min_length=1, max_length=1024)


class Pillar(_Model):
    """One pillar: its score (``None``, left out: not applicable), weight, mappings and evidence."""

    name: PillarName
    score: _Number | None = Field(default=None, ge=0, le=1)
    weight: _Number = Field(ge=0, le=1000)
    iso25012: Annotated[list[ISO25012], AfterValidator(_unique)]
    nist_ai_rmf: Annotated[
        list[Annotated[str, Field(pattern=r"^(GOVERN|MAP|MEASURE|MANAGE) [1-6]\.[1-9][0-9]?$")]],
        AfterValidator(_unique),
    ] = Field(alias="nistAiRmf")
    evidence: list[Evidence]


class TrustScore(Document):
    """A Data Trust Score: pillar scores with evidence, their aggregate and grade, and what they came from."""

    SCHEMA_URL: ClassVar[str] = SCORE_SCHEMA_URL

    schema_url: Literal["https://aifabric.dev/schemas/trust-score/1.0.0.json"] = Field(
        default=SCORE_SCHEMA_URL, alias="schemaURL"
    )
    producer: str = Field(default=PRODUCER, min_length=1)
    id: UUIDv7
    subject: ResourceRef
    method: TrustMethod
    contract: DataContractRef
    reference: ResourceRef | None = None
    computed_at: Timestamp = Field(alias="computedAt")
    as_of: Timestamp = Field(alias="asOf")
    rows: StrictInt = Field(ge=0)
    reference_rows: StrictInt | None = Field(default=None, ge=0, alias="referenceRows")
    pillars: list[Pillar] = Field(min_length=8, max_length=8)
    score: _Number | None = Field(default=None, ge=0, le=100)
    grade: Literal["A", "B", "C", "D", "F", "N/A"]
    passed: StrictBool | None = None
    signatures: Signatures | None = None

    @model_validator(mode="after")
    def _datasets_or_models(self) -> TrustScore:
        for ref in (self.subject, self.reference):
            if ref is not None and ref.type not in ("dataset", "model"):
                raise ValueError("a trust score's subject and reference are a dataset or a model")
        return self
