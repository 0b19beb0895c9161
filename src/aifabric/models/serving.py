"""Models of serving contracts and reports, proven equal to the ``serving-contract`` and ``serving-report`` schemas.

A serving contract is the signed-off statement of what a model endpoint must do at a stated load; a serving
report is what the harness proved about an endpoint against one. Members the schemas give a ``default`` for
are filled in (``factor`` 2, ``statuses`` [429, 503], ``confidence`` 0.99, ``maxSpeedup`` 0.10 and the
others); ``model_dump(exclude_unset=True)`` gives back the document as it was written.

Examples:
    >>> from aifabric.models.serving import ServingContract
    >>> contract = ServingContract(
    ...     name="churn-classifier production",
    ...     owner="ml-platform@example.com",
    ...     endpoint={"protocol": "oip-v2", "model": {"name": "churn-classifier", "version": "1"}},
    ...     load={"mode": "open", "rate": 50, "durationS": 20},
    ...     latency=[{"metric": "e2e", "percentile": 0.99, "maxMs": 100}],
    ...     overload={"capacityRps": 200, "behaviour": "reject", "maxResponseMs": 100},
    ... )
    >>> contract.overload.factor, contract.overload.statuses, contract.validity.confidence
    (2, [429, 503], 0.99)
    >>> contract.to_json()["schemaURL"]
    'https://aifabric.dev/schemas/serving-contract/1.0.0.json'
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import AfterValidator, AllowInfNan, Field, StrictBool, StrictInt, model_validator

from aifabric._ids import utc_now, uuid7
from aifabric._version import __version__
from aifabric.models.common import (
    DigestSet,
    Document,
    RequirementId,
    Signatures,
    Timestamp,
    UUIDv7,
    _Model,
    _unique,
)
from aifabric.serving._types import CheckId, CheckOutcome

__all__ = [
    "CONTRACT_SCHEMA_URL",
    "DCGM_METRICS",
    "PRODUCER",
    "REPORT_SCHEMA_URL",
    "Accuracy",
    "Caching",
    "ContractRef",
    "EarlyStopping",
    "Endpoint",
    "Environment",
    "ErrorBudget",
    "EvaluationSet",
    "Fallback",
    "GpuBounds",
    "GpuInfo",
    "Harness",
    "LatencySummary",
    "LatencyTarget",
    "Load",
    "LoadRun",
    "Measurement",
    "MetricSummary",
    "Overload",
    "ReportEndpoint",
    "RunValidity",
    "SendLag",
    "ServedModel",
    "ServingCheck",
    "ServingContract",
    "ServingReport",
    "TelemetryReport",
    "TelemetryRequirements",
    "TelemetrySample",
    "Throughput",
    "Validity",
    "Warmup",
]

PRODUCER: Final = f"https://github.com/aifabric/aifabric/tree/v{__version__}"
"""The ``producer`` the models fill in when none is given: this SDK, at its version."""
CONTRACT_SCHEMA_URL: Final = "https://aifabric.dev/schemas/serving-contract/1.0.0.json"
REPORT_SCHEMA_URL: Final = "https://aifabric.dev/schemas/serving-report/1.0.0.json"
DCGM_METRICS: Final = (
    "DCGM_FI_DEV_GPU_UTIL",
    "DCGM_FI_DEV_FB_USED",
    "DCGM_FI_DEV_FB_FREE",
    "DCGM_FI_DEV_POWER_USAGE",
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
    "DCGM_FI_DEV_SM_CLOCK",
    "DCGM_FI_DEV_GPU_TEMP",
    "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS",
)
"""The GPU metrics a contract may require, named as the NVIDIA DCGM exporter names them."""


_Number = StrictInt | Annotated[float, Field(strict=True), AllowInfNan(False)]
_Positive = Annotated[_Number, Field(gt=0)]
_NonNegative = Annotated[_Number, Field(ge=0)]
_Fraction = Annotated[_Number, Field(ge=0, le=1)]
_Percentile = Annotated[_Number, Field(gt=0, lt=1)]
_Count = Annotated[StrictInt, Field(ge=0)]
_Name = Annotated[str, Field(min_length=1, max_length=256)]
_Text = Annotated[str, Field(min_length=1, max_length=4096)]
_Unit = Annotated[str, Field(min_length=1, max_length=32)]
_DcgmName = Annotated[str, Field(pattern=r"^DCGM_FI_[A-Z0-9_]+$")]

_Protocol = Literal["oip-v2", "openai-chat", "openai-completions"]
_LatencyMetric = Literal["e2e", "service", "ttft", "itl"]
_DcgmMetric = Literal[
    "DCGM_FI_DEV_GPU_UTIL",
    "DCGM_FI_DEV_FB_USED",
    "DCGM_FI_DEV_FB_FREE",
    "DCGM_FI_DEV_POWER_USAGE",
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
    "DCGM_FI_DEV_SM_CLOCK",
    "DCGM_FI_DEV_GPU_TEMP",
    "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS",
]


def _open_or_closed(mode: str, rate: object, concurrency: object) -> None:
    if mode == "open" and (rate is None or concurrency is not None):
        raise ValueError("an open-loop load has a rate and no concurrency")
    if mode == "closed" and (concurrency is None or rate is not None):
        raise ValueError("a closed-loop load has a concurrency and no rate")


# serving-contract


class ServedModel(_Model):
    """The model an endpoint serves: its name and, optionally, its version."""

    name: _Name
    version: _Name | None = None


class Endpoint(_Model):
    """The endpoint a contract is about: protocol, model, whether answers stream, and optionally its URL."""

    protocol: _Protocol
    model: ServedModel
    stream: StrictBool = False
    url: str | None = None

    @model_validator(mode="after")
    def _stream_only_openai(self) -> Endpoint:
        if self.stream and self.protocol == "oip-v2":
            raise ValueError("only the OpenAI protocols stream")
        return self


class Load(_Model):
    """The load at which a contract's targets hold: open loop at ``rate`` or closed loop at ``concurrency``."""

    mode: Literal["open", "closed"]
    rate: _Positive | None = None
    concurrency: Annotated[StrictInt, Field(ge=1)] | None = None
    duration_s: _Positive = Field(alias="durationS")
    seed: _Count = 0
    warmup_s: _NonNegative = Field(default=0, alias="warmupS")
    timeout_s: _Positive = Field(default=30, alias="timeoutS")

    @model_validator(mode="after")
    def _mode(self) -> Load:
        _open_or_closed(self.mode, self.rate, self.concurrency)
        return self


class LatencyTarget(_Model):
    """A percentile of a latency metric at most ``maxMs`` milliseconds."""

    metric: _LatencyMetric
    percentile: _Percentile
    max_ms: _Positive = Field(alias="maxMs")


class Throughput(_Model):
    """Completed successful requests per second over the measured window, at least ``minRps``."""

    min_rps: _Positive = Field(alias="minRps")


class ErrorBudget(_Model):
    """The largest fraction of measured requests that may fail."""

    max_error_rate: _Fraction = Field(alias="maxErrorRate")


class EvaluationSet(_Model):
    """A pinned evaluation set: where it is and the digest it must have."""

    uri: str
    digest: DigestSet


class Accuracy(_Model):
    """An accuracy floor on an evaluation set, by exact match, top-1 or absolute tolerance."""

    evaluation_set: EvaluationSet = Field(alias="evaluationSet")
    metric: Literal["exact_match", "top1", "abs_tolerance"]
    tolerance: _NonNegative | None = None
    floor: _Fraction

    @model_validator(mode="after")
    def _tolerance(self) -> Accuracy:
        if self.metric == "abs_tolerance" and self.tolerance is None:
            raise ValueError("abs_tolerance needs a tolerance")
        return self


class Fallback(_Model):
    """The shape of a fallback answer: status, marking headers, and a JSON Schema for its body."""

    status: Annotated[StrictInt, Field(ge=200, le=599)]
    headers: (
        Annotated[dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")], str], Field(min_length=1)]
        | None
    ) = None
    body_schema: dict[str, Any] | None = Field(default=None, alias="bodySchema")


class Overload(_Model):
    """What the endpoint does above its capacity: refuse quickly, or answer with its declared fallback."""

    capacity_rps: _Positive = Field(alias="capacityRps")
    factor: Annotated[_Number, Field(gt=1)] = 2
    duration_s: _Positive = Field(default=10, alias="durationS")
    behaviour: Literal["reject", "fallback"]
    statuses: Annotated[
        list[Annotated[StrictInt, Field(ge=400, le=599)]], Field(min_length=1), AfterValidator(_unique)
    ] = Field(default_factory=lambda: [429, 503])
    retry_after: StrictBool = Field(default=True, alias="retryAfter")
    max_response_ms: _Positive = Field(alias="maxResponseMs")
    fallback: Fallback | None = None

    @model_validator(mode="after")
    def _fallback(self) -> Overload:
        if self.behaviour == "fallback" and self.fallback is None:
            raise ValueError("behaviour fallback needs the fallback's shape")
        return self


class Warmup(_Model):
    """The first inference request after the endpoint reports ready is answered within ``maxFirstRequestMs``."""

    max_first_request_ms: _Positive = Field(alias="maxFirstRequestMs")


class Caching(_Model):
    """Repeating one sample is at most ``maxSpeedup`` faster than distinct samples."""

    max_speedup: _Fraction = Field(default=0.1, alias="maxSpeedup")


class TelemetryRequirements(_Model):
    """The GPU metrics a run must record, and optionally the Prometheus server to read them from."""

    required: Annotated[list[_DcgmMetric], AfterValidator(_unique)] | None = None
    prometheus_url: str | None = Field(default=None, alias="prometheusUrl")


class GpuBounds(_Model):
    """Bounds on the GPU while the load runs."""

    max_memory_bytes: Annotated[StrictInt, Field(ge=1)] | None = Field(default=None, alias="maxMemoryBytes")
    max_power_w: _Positive | None = Field(default=None, alias="maxPowerW")
    max_temperature_c: _Positive | None = Field(default=None, alias="maxTemperatureC")

    @model_validator(mode="after")
    def _not_empty(self) -> GpuBounds:
        if self.max_memory_bytes is None and self.max_power_w is None and self.max_temperature_c is None:
            raise ValueError("GPU bounds name at least one bound")
        return self


class Validity(_Model):
    """When a run's measurement can be trusted: its length, its requests, and the early-stopping confidence."""

    min_duration_s: _NonNegative = Field(default=60, alias="minDurationS")
    min_requests: _Count = Field(default=0, alias="minRequests")
    confidence: _Percentile = 0.99


class ServingContract(Document):
    """What a model endpoint must do: latency percentiles at a stated load, throughput, errors, overload, and more."""

    SCHEMA_URL: ClassVar[str] = CONTRACT_SCHEMA_URL

    schema_url: Literal["https://aifabric.dev/schemas/serving-contract/1.0.0.json"] = Field(
        default=CONTRACT_SCHEMA_URL, alias="schemaURL"
    )
    producer: str = Field(default=PRODUCER, min_length=1)
    contract_id: UUIDv7 = Field(default_factory=uuid7, alias="contractId")
    name: _Name
    description: _Text | None = None
    owner: Annotated[str, Field(min_length=1, max_length=1024)]
    created_at: Timestamp = Field(default_factory=utc_now, alias="createdAt")
    endpoint: Endpoint
    load: Load
    latency: Annotated[list[LatencyTarget], Field(min_length=1), AfterValidator(_unique)] | None = None
    throughput: Throughput | None = None
    error_budget: ErrorBudget | None = Field(default=None, alias="errorBudget")
    accuracy: Accuracy | None = None
    overload: Overload | None = None
    warmup: Warmup | None = None
    caching: Caching | None = None
    telemetry: TelemetryRequirements | None = None
    gpu: GpuBounds | None = None
    validity: Validity = Field(default_factory=Validity)
    signatures: Signatures | None = None

    @model_validator(mode="after")
    def _streamed_metrics(self) -> ServingContract:
        if any(t.metric in ("ttft", "itl") for t in self.latency or ()) and not self.endpoint.stream:
            raise ValueError("ttft and itl targets need a streaming endpoint (endpoint.stream true)")
        return self


# serving-report


class ContractRef(_Model):
    """The contract a report is about: its identifier, name and digest."""

    contract_id: UUIDv7 = Field(alias="contractId")
    name: _Name
    digest: DigestSet


class ReportEndpoint(_Model):
    """The endpoint a report is about."""

    url: str
    protocol: _Protocol
    model: ServedModel


class Harness(_Model):
    """The software that ran the checks."""

    name: _Name
    version: _Name


class GpuInfo(_Model):
    """One GPU of the machine the harness ran on."""

    name: _Name
    memory_bytes: _Count | None = Field(default=None, alias="memoryBytes")
    driver: _Name | None = None


class Environment(_Model):
    """Where the harness ran."""

    host: _Name | None = None
    cpus: Annotated[StrictInt, Field(ge=1)] | None = None
    gpus: list[GpuInfo] | None = None


class Measurement(_Model):
    """One measured value, with the target it was compared with and how."""

    name: _Name
    value: _Number
    unit: _Unit
    target: _Number | None = None
    comparison: Literal["le", "ge"] | None = None
    percentile: _Percentile | None = None
    method: _Name | None = None

    @model_validator(mode="after")
    def _compared(self) -> Measurement:
        if (self.target is None) != (self.comparison is None):
            raise ValueError("a target and a comparison go together")
        return self


class ServingCheck(_Model):
    """The outcome of one check, the requirements it tested and what it measured."""

    id: CheckId
    outcome: CheckOutcome
    message: _Text | None = None
    requirements: Annotated[list[RequirementId], AfterValidator(_unique)]
    measurements: list[Measurement] | None = None


_SUMMARY_KEYS: Final = ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms")


class LatencySummary(_Model):
    """Percentiles of one latency metric by the rule index floor(n*p) of the sorted values, and the largest."""

    count: _Count
    p50_ms: _NonNegative | None = Field(default=None, alias="p50Ms")
    p90_ms: _NonNegative | None = Field(default=None, alias="p90Ms")
    p95_ms: _NonNegative | None = Field(default=None, alias="p95Ms")
    p99_ms: _NonNegative | None = Field(default=None, alias="p99Ms")
    p999_ms: _NonNegative | None = Field(default=None, alias="p999Ms")
    max_ms: _NonNegative | None = Field(default=None, alias="maxMs")
    method: Literal["floor(n*p)"]

    @model_validator(mode="after")
    def _present_when_counted(self) -> LatencySummary:
        present = [getattr(self, key) is not None for key in _SUMMARY_KEYS]
        if self.count >= 1 and not all(present):
            raise ValueError("a summary of one value or more has every percentile and the largest")
        if self.count == 0 and any(present):
            raise ValueError("a summary of no values has no percentiles")
        return self


class SendLag(_Model):
    """How late the harness sent requests after their scheduled time."""

    p50_ms: _NonNegative = Field(alias="p50Ms")
    p99_ms: _NonNegative = Field(alias="p99Ms")
    max_ms: _NonNegative = Field(alias="maxMs")


class EarlyStopping(_Model):
    """For one percentile target: slow requests seen, requests the binomial test needs, requests made."""

    metric: _LatencyMetric
    percentile: _Percentile
    slow: _Count
    required: Annotated[StrictInt, Field(ge=1)]
    observed: _Count


class RunValidity(_Model):
    """Why a run is valid or not."""

    duration_ok: StrictBool = Field(alias="durationOk")
    requests_ok: StrictBool = Field(alias="requestsOk")
    early_stopping: list[EarlyStopping] = Field(alias="earlyStopping")
    reasons: list[_Text]


class LoadRun(_Model):
    """One load run: how it was driven, what came back, its latencies and whether it is valid."""

    label: _Name | None = None
    mode: Literal["open", "closed"]
    rate: _Positive | None = None
    concurrency: Annotated[StrictInt, Field(ge=1)] | None = None
    duration_s: _NonNegative = Field(alias="durationS")
    requests: _Count
    ok: _Count
    errors: dict[
        Annotated[str, Field(pattern=r"^([1-5][0-9]{2}|timeout|connect|stream error|protocol)$")],
        Annotated[StrictInt, Field(ge=1)],
    ]
    throughput_rps: _NonNegative = Field(alias="throughputRps")
    send_lag: SendLag = Field(alias="sendLag")
    kept_up: StrictBool = Field(alias="keptUp")
    latencies: dict[_LatencyMetric, LatencySummary]
    histogram: (
        Annotated[
            dict[_LatencyMetric, Annotated[str, Field(pattern=r"^[A-Za-z0-9+/_-]*={0,2}$")]],
            Field(min_length=1),
        ]
        | None
    ) = None
    valid: StrictBool
    validity: RunValidity

    @model_validator(mode="after")
    def _consistent(self) -> LoadRun:
        _open_or_closed(self.mode, self.rate, self.concurrency)
        if not self.kept_up and self.valid:
            raise ValueError("a run in which the harness did not keep up is not valid")
        return self


class MetricSummary(_Model):
    """The least, mean and largest reading of one GPU metric, and its unit."""

    min: _Number
    mean: _Number
    max: _Number
    unit: _Unit


class TelemetrySample(_Model):
    """The readings at one time, in seconds from the start of the first run."""

    t: _NonNegative
    values: dict[_DcgmName, _Number]


class TelemetryReport(_Model):
    """GPU telemetry recorded during the runs, or why there is none."""

    available: StrictBool
    source: Literal["nvml", "prometheus", "none"]
    reason: _Text | None = None
    metrics: dict[_DcgmName, MetricSummary] | None = None
    samples: list[TelemetrySample] | None = None

    @model_validator(mode="after")
    def _explained(self) -> TelemetryReport:
        if self.available:
            if self.source == "none":
                raise ValueError("available telemetry names its source")
        elif (
            self.source != "none"
            or self.reason is None
            or not self.reason.startswith("no GPU telemetry")
            or self.metrics is not None
            or self.samples is not None
        ):
            raise ValueError('unavailable telemetry has source none, a reason starting "no GPU telemetry", no data')
        return self


class ServingReport(Document):
    """What one run of the harness proved about one endpoint against one contract."""

    SCHEMA_URL: ClassVar[str] = REPORT_SCHEMA_URL

    schema_url: Literal["https://aifabric.dev/schemas/serving-report/1.0.0.json"] = Field(
        default=REPORT_SCHEMA_URL, alias="schemaURL"
    )
    producer: str = Field(default=PRODUCER, min_length=1)
    report_id: UUIDv7 = Field(default_factory=uuid7, alias="reportId")
    created_at: Timestamp = Field(default_factory=utc_now, alias="createdAt")
    contract: ContractRef
    endpoint: ReportEndpoint
    harness: Harness
    environment: Environment | None = None
    outcome: Literal["passed", "failed", "invalid"]
    checks: list[ServingCheck]
    runs: list[LoadRun]
    telemetry: TelemetryReport
    signatures: Signatures | None = None

    @model_validator(mode="after")
    def _outcome(self) -> ServingReport:
        broken = any(c.outcome in ("invalid", "error") for c in self.checks) or any(not r.valid for r in self.runs)
        if broken and self.outcome != "invalid":
            raise ValueError("a report with an invalid or broken check, or an invalid run, is invalid")
        if any(c.outcome == "failed" for c in self.checks) and self.outcome == "passed":
            raise ValueError("a report with a failed check has not passed")
        return self
