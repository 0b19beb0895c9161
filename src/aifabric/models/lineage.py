"""Models of aifabric's OpenLineage profile: the events and aifabric's own facets.

OpenLineage's own facets stay plain dict[str, Any] values, kept verbatim; the ``aifabric_*`` keys are typed.
Like the schemas, events, runs, jobs and datasets keep members they do not name.

Examples:
    >>> from aifabric.models.lineage import DatasetFacets, Job, ModelFacet, OutputDataset, Run, RunEvent
    >>> event = RunEvent(
    ...     eventType="COMPLETE",
    ...     eventTime="2026-11-23T08:00:00Z",
    ...     producer="https://github.com/aifabric/aifabric/tree/v0.1.0",
    ...     run=Run(runId="01936f2a-8b40-7c11-9a3e-4f5d6c7b8a90"),
    ...     job=Job(namespace="ml-training", name="sentiment.train"),
    ...     outputs=[OutputDataset(namespace="hf://acme", name="acme/sentiment", facets=DatasetFacets(
    ...         aifabric_model=ModelFacet(_producer="https://github.com/aifabric/aifabric/tree/v0.1.0",
    ...                                   name="acme/sentiment", digest={"sha256": "ab" * 32})))],
    ... )
    >>> event.to_json()["outputs"][0]["facets"]["aifabric_model"]["name"]
    'acme/sentiment'
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from aifabric.models.common import DigestSet, Timestamp, _Model, _unique
from aifabric.validation import validate

__all__ = [
    "AICall",
    "AICallsRunFacet",
    "ConsentPurpose",
    "DataResidency",
    "Dataset",
    "DatasetEvent",
    "DatasetFacets",
    "DeploymentFacet",
    "Framework",
    "InputDataset",
    "Job",
    "JobEvent",
    "JobFacets",
    "Link",
    "ModelFacet",
    "OutputDataset",
    "PolicyDecision",
    "PolicyRunFacet",
    "Run",
    "RunEvent",
    "RunFacets",
    "TrustDatasetFacet",
]

_OL: Final = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/"
_AF: Final = "https://aifabric.dev/schemas/"
_COUNTRIES: Final = (
    "AD|AE|AF|AG|AI|AL|AM|AO|AQ|AR|AS|AT|AU|AW|AX|AZ|BA|BB|BD|BE|BF|BG|BH|BI|BJ|BL|BM|BN|BO|BQ|BR|BS|"
    "BT|BV|BW|BY|BZ|CA|CC|CD|CF|CG|CH|CI|CK|CL|CM|CN|CO|CR|CU|CV|CW|CX|CY|CZ|DE|DJ|DK|DM|DO|DZ|EC|EE|"
    "EG|EH|ER|ES|ET|FI|FJ|FK|FM|FO|FR|GA|GB|GD|GE|GF|GG|GH|GI|GL|GM|GN|GP|GQ|GR|GS|GT|GU|GW|GY|HK|HM|"
    "HN|HR|HT|HU|ID|IE|IL|IM|IN|IO|IQ|IR|IS|IT|JE|JM|JO|JP|KE|KG|KH|KI|KM|KN|KP|KR|KW|KY|KZ|LA|LB|LC|"
    "LI|LK|LR|LS|LT|LU|LV|LY|MA|MC|MD|ME|MF|MG|MH|MK|ML|MM|MN|MO|MP|MQ|MR|MS|MT|MU|MV|MW|MX|MY|MZ|NA|"
    "NC|NE|NF|NG|NI|NL|NO|NP|NR|NU|NZ|OM|PA|PE|PF|PG|PH|PK|PL|PM|PN|PR|PS|PT|PW|PY|QA|RE|RO|RS|RU|RW|"
    "SA|SB|SC|SD|SE|SG|SH|SI|SJ|SK|SL|SM|SN|SO|SR|SS|ST|SV|SX|SY|SZ|TC|TD|TF|TG|TH|TJ|TK|TL|TM|TN|TO|"
    "TR|TT|TV|TW|TZ|UA|UG|UM|US|UY|UZ|VA|VC|VE|VG|VI|VN|VU|WF|WS|YE|YT|ZA|ZM|ZW"
)
_FACET_URL: Final = re.compile(r"^https?://[^\s#]+(#(/\S*)?)?\Z")
_PRODUCER_RE: Final = r"^[A-Za-z][A-Za-z0-9+.-]*:\S*([0-9]+[.-][0-9]+|[0-9a-f]{7,40})"


Producer = Annotated[str, Field(min_length=1, pattern=_PRODUCER_RE)]
Jurisdiction = Annotated[str, Field(pattern=rf"^(EU|{_COUNTRIES})$|^({_COUNTRIES})-[A-Z0-9]{{1,3}}$")]
Jurisdictions = Annotated[list[Jurisdiction], Field(min_length=1), AfterValidator(_unique)]
Digests = DigestSet
_Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
_Text = Annotated[str, Field(min_length=1, max_length=1024)]
_OTelName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")]


class _Lineage(_Model):
    """Base of the lineage models: no member is ever null."""

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(value is None for value in data.values()):
            raise ValueError("no member of a lineage object is null")
        return data


class _Open(_Lineage):
    """A lineage object that keeps members it does not name, verbatim."""

    model_config = ConfigDict(extra="allow")

    @model_serializer(mode="wrap")
    def _keep_extras(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        out.update(self.model_extra or {})  # verbatim: exclude_none does not reach into them
        return out


class _Facet(_Lineage):
    """What every aifabric facet carries."""

    producer: Producer = Field(alias="_producer")


class Framework(_Lineage):
    """The framework a model was built with."""

    name: _Name
    version: str | None = Field(default=None, min_length=1, max_length=64)


class Link(_Lineage):
    """A link to a document, optionally with its digest."""

    uri: str
    digest: Digests | None = None


class ModelFacet(_Facet):
    """The model a job trains or a dataset is (aifabric_model)."""

    schema_url: Literal["https://aifabric.dev/schemas/lineage-model-facet/1.0.0.json#/$defs/ModelFacet"] = Field(
        default="https://aifabric.dev/schemas/lineage-model-facet/1.0.0.json#/$defs/ModelFacet", alias="_schemaURL"
    )
    deleted: bool | None = Field(default=None, alias="_deleted")
    name: str | None = Field(default=None, min_length=1, max_length=4096)
    version: str | None = Field(default=None, min_length=1, max_length=256)
    digest: Digests | None = None
    uri: str | None = None
    format: _Name | None = None
    provider: str | None = Field(default=None, min_length=1, max_length=256)
    framework: Framework | None = None
    task: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    model_card: Link | None = Field(default=None, alias="modelCard")
    signature: Link | None = None

    @model_validator(mode="after")
    def _named_unless_deleted(self) -> ModelFacet:
        if self.deleted is not True and (self.name is None or (self.version is None and self.digest is None)):
            raise ValueError("a model facet names the model and its version or digest")
        return self


class AICall(_Lineage):
    """One generative AI call, in OpenTelemetry's gen_ai names."""

    operation_name: _OTelName = Field(alias="gen_ai.operation.name")
    provider_name: _OTelName = Field(alias="gen_ai.provider.name")
    request_model: _Text | None = Field(default=None, alias="gen_ai.request.model")
    response_model: _Text | None = Field(default=None, alias="gen_ai.response.model")
    response_id: _Text | None = Field(default=None, alias="gen_ai.response.id")
    finish_reasons: list[str] | None = Field(default=None, alias="gen_ai.response.finish_reasons")
    input_tokens: int | None = Field(default=None, ge=0, alias="gen_ai.usage.input_tokens")
    output_tokens: int | None = Field(default=None, ge=0, alias="gen_ai.usage.output_tokens")
    max_tokens: int | None = Field(default=None, ge=0, alias="gen_ai.request.max_tokens")
    temperature: float | None = Field(default=None, alias="gen_ai.request.temperature")
    tool_name: _Text | None = Field(default=None, alias="gen_ai.tool.name")
    tool_call_id: _Text | None = Field(default=None, alias="gen_ai.tool.call.id")
    tool_type: _Text | None = Field(default=None, alias="gen_ai.tool.type")
    agent_id: _Text | None = Field(default=None, alias="gen_ai.agent.id")
    agent_name: _Text | None = Field(default=None, alias="gen_ai.agent.name")
    conversation_id: _Text | None = Field(default=None, alias="gen_ai.conversation.id")
    data_source_id: _Text | None = Field(default=None, alias="gen_ai.data_source.id")
    server_address: _Text | None = Field(default=None, alias="server.address")
    server_port: int | None = Field(default=None, ge=1, le=65535, alias="server.port")
    error_type: _Text | None = Field(default=None, alias="error.type")
    start_time: Timestamp | None = Field(default=None, alias="startTime")
    latency_ms: float = Field(ge=0, alias="latencyMs")
    outcome: Literal["success", "error", "cancelled"]
    trace_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$", alias="traceId")
    span_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{16}$", alias="spanId")

    @model_validator(mode="after")
    def _consistent(self) -> AICall:
        chat = self.operation_name in ("chat", "text_completion", "generate_content", "embeddings")
        if chat and self.request_model is None:
            raise ValueError(f"a {self.operation_name} call names gen_ai.request.model")
        if self.operation_name == "execute_tool" and self.tool_name is None:
            raise ValueError("an execute_tool call names gen_ai.tool.name")
        if (self.outcome == "success") != (self.error_type is None):
            raise ValueError("error.type is set exactly when the outcome is not success")
        if self.trace_id is not None and not self.trace_id.strip("0"):
            raise ValueError("traceId is not all zeros")
        if self.span_id is not None and not self.span_id.strip("0"):
            raise ValueError("spanId is not all zeros")
        return self


class AICallsRunFacet(_Facet):
    """The generative AI calls a run made (aifabric_aiCalls)."""

    schema_url: Literal["https://aifabric.dev/schemas/lineage-ai-call-facet/1.0.0.json#/$defs/AICallsRunFacet"] = Field(
        default="https://aifabric.dev/schemas/lineage-ai-call-facet/1.0.0.json#/$defs/AICallsRunFacet",
        alias="_schemaURL",
    )
    semconv_schema_url: Literal["https://opentelemetry.io/schemas/1.41.0"] = Field(
        default="https://opentelemetry.io/schemas/1.41.0", alias="semconvSchemaURL"
    )
    calls: list[AICall] = Field(min_length=1)


class DataResidency(_Lineage):
    """Where data may be kept and processed, and why."""

    allowed_jurisdictions: Jurisdictions = Field(alias="allowedJurisdictions")
    basis: _Text | None = None


class DeploymentFacet(_Facet):
    """Where a run executed or a dataset is kept, and the law that applies there (aifabric_deployment)."""

    schema_url: Literal["https://aifabric.dev/schemas/lineage-deployment-facet/1.0.0.json#/$defs/DeploymentFacet"] = (
        Field(
            default="https://aifabric.dev/schemas/lineage-deployment-facet/1.0.0.json#/$defs/DeploymentFacet",
            alias="_schemaURL",
        )
    )
    deleted: bool | None = Field(default=None, alias="_deleted")
    cloud: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,63}$")
    region: str | None = Field(default=None, min_length=1, max_length=128)
    site: str | None = Field(default=None, min_length=1, max_length=256)
    jurisdictions: Jurisdictions | None = None
    data_residency: DataResidency | None = Field(default=None, alias="dataResidency")

    @model_validator(mode="after")
    def _located_unless_deleted(self) -> DeploymentFacet:
        if self.deleted is not True and self.jurisdictions is None:
            raise ValueError("a deployment facet names its jurisdictions")
        return self


class TrustDatasetFacet(_Facet):
    """A link to a Data Trust Score document, with its score and grade (aifabric_trust)."""

    schema_url: Literal["https://aifabric.dev/schemas/lineage-trust-facet/1.0.0.json#/$defs/TrustDatasetFacet"] = Field(
        default="https://aifabric.dev/schemas/lineage-trust-facet/1.0.0.json#/$defs/TrustDatasetFacet",
        alias="_schemaURL",
    )
    deleted: bool | None = Field(default=None, alias="_deleted")
    uri: str | None = None
    digest: Digests | None = None
    score: float | None = Field(default=None, ge=0, le=100)
    grade: str | None = Field(default=None, pattern=r"^[A-Z][A-Za-z0-9+-]{0,7}$")
    computed_at: Timestamp | None = Field(default=None, alias="computedAt")

    @model_validator(mode="after")
    def _complete_unless_deleted(self) -> TrustDatasetFacet:
        if self.digest is not None and "sha256" not in self.digest:
            raise ValueError("a trust facet's digest has sha256")
        if self.deleted is not True and None in (self.uri, self.digest, self.score, self.grade):
            raise ValueError("a trust facet has uri, digest, score and grade")
        return self


class PolicyDecision(_Lineage):
    """One policy decision that applied to a run."""

    policy_id: _Text = Field(alias="policyId")
    version: str = Field(min_length=1, max_length=256)
    decision: Literal["allow", "deny", "not_applicable", "indeterminate"]
    decided_at: Timestamp = Field(alias="decidedAt")
    engine: str | None = None
    reason: str | None = Field(default=None, max_length=4096)
    obligations: list[_Text] | None = None


class ConsentPurpose(_Lineage):
    """A purpose data was processed for, with its lawful basis and consent record."""

    purpose: str = Field(pattern=r"^[a-z0-9][a-z0-9._:-]{0,127}$")
    lawful_basis: (
        Literal["consent", "contract", "legal_obligation", "vital_interests", "public_task", "legitimate_interests"]
        | None
    ) = Field(default=None, alias="lawfulBasis")
    record: str | None = None


class PolicyRunFacet(_Facet):
    """The policy decisions and consent purposes that applied to a run (aifabric_policy)."""

    schema_url: Literal["https://aifabric.dev/schemas/lineage-policy-facet/1.0.0.json#/$defs/PolicyRunFacet"] = Field(
        default="https://aifabric.dev/schemas/lineage-policy-facet/1.0.0.json#/$defs/PolicyRunFacet", alias="_schemaURL"
    )
    decisions: list[PolicyDecision] = Field(min_length=1)
    consent: Annotated[list[ConsentPurpose], AfterValidator(_unique)] | None = None


class _Facets(_Open):
    """A facets object: aifabric's keys typed, every other key an OpenLineage facet kept verbatim."""

    DELETABLE: ClassVar[bool] = True

    @model_validator(mode="after")
    def _other_facets(self) -> _Facets:
        for key, facet in (self.model_extra or {}).items():
            if key.startswith("aifabric_"):
                raise ValueError(f"{key} is not an aifabric facet of this level")
            if not isinstance(facet, dict) or "_producer" not in facet or "_schemaURL" not in facet:
                raise ValueError(f"facet {key} is an object with _producer and _schemaURL")
            if not (isinstance(facet["_producer"], str) and re.match(_PRODUCER_RE, facet["_producer"])):
                raise ValueError(f"facet {key}: _producer is not a URI naming a version")
            if not (isinstance(facet["_schemaURL"], str) and _FACET_URL.match(facet["_schemaURL"])):
                raise ValueError(f"facet {key}: _schemaURL is not an http or https URL")
            if self.DELETABLE and "_deleted" in facet and not isinstance(facet["_deleted"], bool):
                raise ValueError(f"facet {key}: _deleted is not a boolean")
        return self


class RunFacets(_Facets):
    """A run's facets."""

    DELETABLE: ClassVar[bool] = False

    aifabric_model: ModelFacet | None = None
    aifabric_ai_calls: AICallsRunFacet | None = Field(default=None, alias="aifabric_aiCalls")
    aifabric_deployment: DeploymentFacet | None = None
    aifabric_policy: PolicyRunFacet | None = None


class JobFacets(_Facets):
    """A job's facets."""

    aifabric_model: ModelFacet | None = None


class DatasetFacets(_Facets):
    """A dataset's facets."""

    aifabric_model: ModelFacet | None = None
    aifabric_deployment: DeploymentFacet | None = None
    aifabric_trust: TrustDatasetFacet | None = None


class _IODatasetFacets(_Facets):
    DELETABLE: ClassVar[bool] = False


class Run(_Open):
    """A run: its UUID and facets."""

    run_id: str = Field(alias="runId", pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    facets: RunFacets | None = None


class Job(_Open):
    """A job: its namespace, name and facets."""

    namespace: str
    name: str
    facets: JobFacets | None = None


class Dataset(_Open):
    """A dataset: its namespace, name and facets."""

    namespace: str
    name: str
    facets: DatasetFacets | None = None


class InputDataset(Dataset):
    """A dataset a run or job reads."""

    input_facets: _IODatasetFacets | None = Field(default=None, alias="inputFacets")


class OutputDataset(Dataset):
    """A dataset a run or job writes."""

    output_facets: _IODatasetFacets | None = Field(default=None, alias="outputFacets")


class _Event(_Open):
    SCHEMA_URL: ClassVar[str]

    event_time: Timestamp = Field(alias="eventTime")
    producer: Producer

    def to_json(self) -> dict[str, Any]:
        """The JSON form, checked against the lineage profile before it is returned."""
        doc = super().to_json()
        validate(doc)
        return doc


class RunEvent(_Event):
    """A run's state change, with its job and the datasets it read and wrote."""

    SCHEMA_URL: ClassVar[str] = f"{_OL}RunEvent"

    schema_url: Literal["https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"] = Field(
        default="https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent", alias="schemaURL"
    )
    event_type: Literal["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"] = Field(alias="eventType")
    run: Run
    job: Job
    inputs: list[InputDataset] | None = None
    outputs: list[OutputDataset] | None = None

    @model_validator(mode="after")
    def _complete_models_have_digests(self) -> RunEvent:
        if self.event_type == "COMPLETE":
            for output in self.outputs or []:
                model = output.facets.aifabric_model if output.facets else None
                if model is not None and model.digest is None and model.deleted is not True:
                    raise ValueError("a COMPLETE event's output model facet has a digest")
        return self


class DatasetEvent(_Event):
    """A dataset's metadata, outside any run."""

    SCHEMA_URL: ClassVar[str] = f"{_OL}DatasetEvent"

    schema_url: Literal["https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent"] = Field(
        default="https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent", alias="schemaURL"
    )
    dataset: Dataset

    @model_validator(mode="after")
    def _not_a_run(self) -> DatasetEvent:
        if {"job", "run"} <= set(self.model_extra or {}):
            raise ValueError("a dataset event does not have both job and run")
        return self


class JobEvent(_Event):
    """A job's metadata, outside any run."""

    SCHEMA_URL: ClassVar[str] = f"{_OL}JobEvent"

    schema_url: Literal["https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent"] = Field(
        default="https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent", alias="schemaURL"
    )
    job: Job
    inputs: list[InputDataset] | None = None
    outputs: list[OutputDataset] | None = None

    @model_validator(mode="after")
    def _not_a_run(self) -> JobEvent:
        if "run" in (self.model_extra or {}):
            raise ValueError("a job event has no run")
        return self
