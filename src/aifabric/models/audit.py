"""Models of audit records and audit proofs, proven equal to the ``audit-record`` and ``audit-proof`` schemas.

An audit record says who called what, on whose behalf, under which policy decision and consent, and how it
ended; it is a superset of OCSF API Activity (6003) and Authentication (3002). ``recordId``, ``time``,
``schemaURL`` and ``producer`` have defaults.

Examples:
    >>> from aifabric.models.audit import AuditActor, AuditRecord, Source
    >>> record = AuditRecord(
    ...     classUid=6003,
    ...     activityId=2,
    ...     severityId=1,
    ...     action="tool.call",
    ...     actor=AuditActor(type="agent", id="triage-agent", onBehalfOf=AuditActor(type="user", id="alice")),
    ...     target={"type": "tool", "name": "lookup_order"},
    ...     outcome="success",
    ...     source=Source(ip="192.0.2.10"),
    ... )
    >>> doc = record.to_json()
    >>> doc["actor"]["onBehalfOf"]["id"], doc["schemaURL"]
    ('alice', 'https://aifabric.dev/schemas/audit-record/1.0.0.json')
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import AfterValidator, Field, StrictFloat, StrictInt, model_validator

from aifabric._ids import utc_now, uuid7
from aifabric._version import __version__
from aifabric.models.common import ResourceRef, Timestamp, UUIDv7, _Model, _unique
from aifabric.validation import validate

__all__ = [
    "PRODUCER",
    "AuditActor",
    "AuditPolicy",
    "AuditProof",
    "AuditRecord",
    "Authentication",
    "Classification",
    "Consent",
    "LineageJob",
    "LineageLink",
    "ResourceRef",
    "Source",
    "TraceContext",
]

PRODUCER: Final = f"https://github.com/aifabric/aifabric/tree/v{__version__}"
"""The ``producer`` the models fill in when none is given: this SDK, at its version."""

_API_ACTIVITIES: Final = frozenset({0, 1, 2, 3, 4, 99})
_SEVERITIES: Final = frozenset({0, 1, 2, 3, 4, 5, 6, 99})
_AUTH_ACTIVITIES: Final = frozenset({0, 1, 2, 3, 4, 5, 6, 99})
_OCSF_API: Final = frozenset(
    {
        "count",
        "dst_endpoint",
        "end_time",
        "enrichments",
        "message",
        "observables",
        "raw_data",
        "start_time",
        "status_code",
    }
)
_OCSF_AUTH: Final = _OCSF_API | {
    "auth_factors",
    "certificate",
    "device",
    "is_cleartext",
    "is_new_logon",
    "logon_process",
}


def _ip(value: str) -> str:
    ipaddress.ip_address(value)  # raises ValueError for anything but an IPv4 or IPv6 address
    if "%" in value:
        raise ValueError("an IP address without a zone")
    return value


def _ocsf_names(value: dict[str, Any]) -> dict[str, Any]:
    for name in value:
        if name not in _OCSF_AUTH:
            raise ValueError(f"{name!r} is not an OCSF attribute that no other member of the record maps to")
    return value


_Text = Annotated[str, Field(min_length=1, max_length=1024)]
_Long = Annotated[str, Field(min_length=1, max_length=4096)]
_Hash = Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$")]


class AuditActor(_Model):
    """Who acted, on whose behalf, with which model behind it, in which session."""

    type: Literal["user", "service", "agent", "model", "organization"]
    id: _Text
    display_name: _Text | None = Field(default=None, alias="displayName")
    issuer: str | None = None
    email: str | None = None
    on_behalf_of: AuditActor | None = Field(default=None, alias="onBehalfOf")
    model: ResourceRef | None = None
    session_id: _Text | None = Field(default=None, alias="sessionId")


class AuditPolicy(_Model):
    """The policy decision that admitted or refused an activity."""

    policy_id: _Text = Field(alias="policyId")
    effect: Literal["allow", "deny"]
    version: str | None = Field(default=None, min_length=1, max_length=256)
    reasons: list[_Long] | None = Field(default=None, min_length=1)
    engine: str | None = None


class Consent(_Model):
    """The purposes data was processed for and the GDPR Article 6(1) lawful basis."""

    purposes: Annotated[
        list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._:-]{0,127}$")]],
        Field(min_length=1),
        AfterValidator(_unique),
    ]
    legal_basis: Literal[
        "consent", "contract", "legal_obligation", "vital_interests", "public_task", "legitimate_interests"
    ] = Field(alias="legalBasis")
    consent_id: _Text | None = Field(default=None, alias="consentId")


class TraceContext(_Model):
    """A W3C Trace Context ``traceparent`` (version 00) and ``tracestate``, and the request's identifier."""

    traceparent: str | None = Field(default=None, pattern=r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
    tracestate: str | None = Field(default=None, min_length=1, max_length=512)
    request_id: _Text | None = Field(default=None, alias="requestId")

    @model_validator(mode="after")
    def _valid(self) -> TraceContext:
        if self.traceparent is None and self.tracestate is None and self.request_id is None:
            raise ValueError("a trace context has at least one member")
        if self.traceparent is not None:
            _, trace_id, parent_id, _ = self.traceparent.split("-")
            if set(trace_id) == {"0"} or set(parent_id) == {"0"}:
                raise ValueError("a traceparent's trace-id and parent-id are not all zero")
        return self


class Classification(_Model):
    """How sensitive the data an activity touched is."""

    level: Literal["public", "internal", "confidential", "restricted"]
    categories: (
        Annotated[list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]], AfterValidator(_unique)] | None
    ) = None


class LineageJob(_Model):
    """An OpenLineage job: its namespace and name."""

    namespace: _Text
    name: str = Field(min_length=1, max_length=4096)


class LineageLink(_Model):
    """The OpenLineage runs and job an activity belongs to."""

    run_ids: (
        Annotated[
            list[Annotated[str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]],
            Field(min_length=1),
            AfterValidator(_unique),
        ]
        | None
    ) = Field(default=None, alias="runIds")
    job: LineageJob | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> LineageLink:
        if self.run_ids is None and self.job is None:
            raise ValueError("a lineage link has runIds or a job")
        return self


class Authentication(_Model):
    """How an Authentication (3002) record's actor authenticated."""

    protocol: Literal[
        "unknown", "ntlm", "kerberos", "digest", "openid", "saml", "oauth2", "pap", "chap", "eap", "radius", "other"
    ]
    mfa: bool | None = None
    remote: bool | None = None
    logon_type: (
        Literal[
            "unknown",
            "system",
            "interactive",
            "network",
            "batch",
            "os_service",
            "unlock",
            "network_cleartext",
            "new_credentials",
            "remote_interactive",
            "cached_interactive",
            "cached_remote_interactive",
            "cached_unlock",
            "other",
        ]
        | None
    ) = Field(default=None, alias="logonType")


class Source(_Model):
    """Where a request came from: an IP address or a host name, a port, the client's user agent."""

    ip: Annotated[str, AfterValidator(_ip)] | None = None
    hostname: str | None = Field(
        default=None,
        max_length=253,
        pattern=r"^([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$",
    )
    port: int | None = Field(default=None, ge=0, le=65535, strict=True)
    user_agent: _Long | None = Field(default=None, alias="userAgent")

    @model_validator(mode="after")
    def _named(self) -> Source:
        if self.ip is None and self.hostname is None:
            raise ValueError("a source has an ip or a hostname")
        return self


class AuditRecord(_Model):
    """One audit record: who called what, on whose behalf, under which policy decision and consent."""

    SCHEMA_URL: ClassVar[str] = "https://aifabric.dev/schemas/audit-record/1.0.0.json"

    schema_url: Literal["https://aifabric.dev/schemas/audit-record/1.0.0.json"] = Field(
        default="https://aifabric.dev/schemas/audit-record/1.0.0.json", alias="schemaURL"
    )
    producer: str = Field(default=PRODUCER, min_length=1)
    record_id: UUIDv7 = Field(default_factory=uuid7, alias="recordId")
    time: Timestamp = Field(default_factory=utc_now)
    class_uid: Literal[6003, 3002] = Field(alias="classUid")
    activity_id: int = Field(alias="activityId", strict=True)
    severity_id: int = Field(alias="severityId", strict=True)
    action: str = Field(max_length=256, pattern=r"^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)+$")
    actor: AuditActor
    target: ResourceRef
    outcome: Literal["success", "failure", "denied", "unknown"]
    outcome_reason: _Long | None = Field(default=None, alias="outcomeReason")
    policy: AuditPolicy | None = None
    consent: Consent | None = None
    trace: TraceContext | None = None
    classification: Classification | None = None
    lineage: LineageLink | None = None
    authentication: Authentication | None = None
    source: Source | None = None
    duration_ms: StrictInt | StrictFloat | None = Field(default=None, ge=0, alias="durationMs")
    log_purposes: (
        Annotated[
            list[Literal["risk_identification", "post_market_monitoring", "operation_monitoring"]],
            Field(min_length=1),
            AfterValidator(_unique),
        ]
        | None
    ) = Field(default=None, alias="logPurposes")
    previous_hash: str | None = Field(default=None, pattern=r"^sha256:[0-9a-f]{64}$", alias="previousHash")
    ocsf: Annotated[dict[str, Any], AfterValidator(_ocsf_names)] | None = None
    attributes: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _per_class_and_outcome(self) -> AuditRecord:
        if self.severity_id not in _SEVERITIES:
            raise ValueError(f"severityId {self.severity_id} is not an OCSF severity")
        if self.class_uid == 6003:
            if self.activity_id not in _API_ACTIVITIES:
                raise ValueError(f"activityId {self.activity_id} is not an OCSF API Activity activity")
            if self.ocsf is not None and not set(self.ocsf) <= _OCSF_API:
                raise ValueError("the ocsf member names an attribute API Activity does not have")
            if self.source is None:
                raise ValueError("an API Activity (6003) record has a source")
        else:
            if self.activity_id not in _AUTH_ACTIVITIES:
                raise ValueError(f"activityId {self.activity_id} is not an OCSF Authentication activity")
            if self.authentication is None:
                raise ValueError("an Authentication (3002) record has authentication")
        if self.outcome == "denied" and (self.policy is None or self.policy.effect != "deny"):
            raise ValueError("a denied outcome carries a policy whose effect is deny")
        return self

    def to_json(self) -> dict[str, Any]:
        """The JSON form, checked against the ``audit-record`` schema before it is returned."""
        doc = super().to_json()
        validate(doc)
        return doc


class AuditProof(_Model):
    """An inclusion or consistency proof about an audit log, checkable with nothing else."""

    SCHEMA_URL: ClassVar[str] = "https://aifabric.dev/schemas/audit-proof/1.0.0.json"

    schema_url: Literal["https://aifabric.dev/schemas/audit-proof/1.0.0.json"] = Field(
        default="https://aifabric.dev/schemas/audit-proof/1.0.0.json", alias="schemaURL"
    )
    producer: str = Field(default=PRODUCER, min_length=1)
    type: Literal["inclusion", "consistency"]
    origin: str = Field(min_length=1, max_length=1024, pattern=r"^[^\n]+$")
    tree_size: int = Field(ge=0, alias="treeSize", strict=True)
    leaf_index: int | None = Field(default=None, ge=0, alias="leafIndex", strict=True)
    record: AuditRecord | None = None
    old_size: int | None = Field(default=None, ge=0, alias="oldSize", strict=True)
    hashes: list[_Hash] = Field(max_length=128)
    checkpoint: str | None = Field(default=None, min_length=1, max_length=65536)
    old_checkpoint: str | None = Field(default=None, min_length=1, max_length=65536, alias="oldCheckpoint")

    @model_validator(mode="after")
    def _per_type(self) -> AuditProof:
        if self.type == "inclusion":
            if self.leaf_index is None or self.record is None:
                raise ValueError("an inclusion proof has leafIndex and record")
            if self.tree_size < 1:
                raise ValueError("an inclusion proof is against a tree of one entry or more")
            if self.old_size is not None or self.old_checkpoint is not None:
                raise ValueError("an inclusion proof has no oldSize or oldCheckpoint")
        else:
            if self.old_size is None:
                raise ValueError("a consistency proof has oldSize")
            if self.leaf_index is not None or self.record is not None:
                raise ValueError("a consistency proof has no leafIndex or record")
        return self

    def to_json(self) -> dict[str, Any]:
        """The JSON form, checked against the ``audit-proof`` schema before it is returned."""
        doc = super().to_json()
        validate(doc)
        return doc
