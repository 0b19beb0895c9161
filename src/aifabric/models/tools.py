"""Models of tool contracts, proven equal to the ``tool-contract`` schema.

A tool contract is a superset of the MCP ``Tool``: its name, description and input and output schemas, and what
MCP leaves as hints made binding: the side effect, authorization, idempotency, timeout, retries, rate limits,
data classification, consent and the error contract. ``schemaURL`` and ``producer`` have defaults.

Examples:
    >>> from aifabric.models.tools import Idempotency, ToolContract
    >>> contract = ToolContract(
    ...     name="refund_payment",
    ...     description="Refunds a captured payment, in full or in part.",
    ...     version="1.0.0",
    ...     owner={"type": "organization", "id": "payments"},
    ...     inputSchema={"type": "object", "properties": {"paymentId": {"type": "string"}}},
    ...     sideEffect="destructive",
    ...     idempotency=Idempotency(key="required", keyLifetimeS=86400),
    ...     timeoutS=10,
    ... )
    >>> doc = contract.to_json()
    >>> doc["sideEffect"], doc["schemaURL"]
    ('destructive', 'https://aifabric.dev/schemas/tool-contract/1.0.0.json')
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import AfterValidator, AllowInfNan, Field, StrictBool, StrictInt, model_validator

from aifabric.models.audit import PRODUCER, Classification
from aifabric.models.common import Actor, Document, Signatures, _Model, _unique
from aifabric.validation import validate

__all__ = [
    "ERROR_CODES",
    "Backoff",
    "DataClassification",
    "Icon",
    "Idempotency",
    "RateLimit",
    "RateLimitPolicy",
    "RetryPolicy",
    "ToolAnnotations",
    "ToolAuth",
    "ToolConsent",
    "ToolContract",
    "ToolError",
]

ERROR_CODES: Final = (
    "INVALID_INPUT",
    "UNAUTHORIZED",
    "FORBIDDEN",
    "RATE_LIMITED",
    "TIMEOUT",
    "CONFLICT",
    "UNAVAILABLE",
    "TOOL_ERROR",
)
"""The error classes the specification names; a contract may declare codes of its own beside them."""

_SemVer = Annotated[
    str,
    Field(
        pattern=r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
        r"(-(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(\.(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?"
        r"(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
    ),
]
_Number = StrictInt | Annotated[float, Field(strict=True), AllowInfNan(False)]
_ErrorCode = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,63}$")]
_Text = Annotated[str, Field(min_length=1, max_length=4096)]


def _object_schema(value: dict[str, Any]) -> dict[str, Any]:
    if value.get("type") != "object":
        raise ValueError('a tool\'s input and output schemas have "type": "object"')
    if "$schema" in value and not isinstance(value["$schema"], str):
        raise ValueError("$schema is a string")
    return value


_ObjectSchema = Annotated[dict[str, Any], AfterValidator(_object_schema)]


class ToolAnnotations(_Model):
    """MCP's ``ToolAnnotations``, kept for round trips; each hint present agrees with the side effect."""

    title: str | None = None
    read_only_hint: StrictBool | None = Field(default=None, alias="readOnlyHint")
    destructive_hint: StrictBool | None = Field(default=None, alias="destructiveHint")
    idempotent_hint: StrictBool | None = Field(default=None, alias="idempotentHint")
    open_world_hint: StrictBool | None = Field(default=None, alias="openWorldHint")


class Icon(_Model):
    """An MCP icon: its source URI, media type, sizes and theme."""

    src: str
    mime_type: str | None = Field(default=None, alias="mimeType")
    sizes: list[str] | None = None
    theme: Literal["dark", "light"] | None = None


class ToolAuth(_Model):
    """Whether a call needs an authenticated caller, and the OAuth 2.1 scopes it needs."""

    required: StrictBool
    scopes: (
        Annotated[list[Annotated[str, Field(pattern=r"^[!#-\[\]-~]+$")]], Field(min_length=1), AfterValidator(_unique)]
        | None
    ) = None


class Idempotency(_Model):
    """Whether a call carries an idempotency key, and how long a key and its first result are kept."""

    key: Literal["required", "optional", "none"]
    key_lifetime_s: StrictInt | None = Field(default=None, ge=1, alias="keyLifetimeS")

    @model_validator(mode="after")
    def _lifetime(self) -> Idempotency:
        if self.key != "none" and self.key_lifetime_s is None:
            raise ValueError("a key that is required or optional has a keyLifetimeS")
        return self


class Backoff(_Model):
    """Exponential back-off: the first delay, the largest, the factor between them, and the jitter."""

    initial_s: _Number = Field(gt=0, le=3600, alias="initialS")
    max_s: _Number = Field(gt=0, le=3600, alias="maxS")
    multiplier: _Number = Field(ge=1, le=10)
    jitter: Literal["full", "equal", "none"]


class RetryPolicy(_Model):
    """How a failed call is retried: attempts in all, back-off, Retry-After, and the error codes retried."""

    max_attempts: StrictInt = Field(ge=1, le=10, alias="maxAttempts")
    backoff: Backoff
    honour_retry_after: StrictBool = Field(alias="honourRetryAfter")
    on: Annotated[list[_ErrorCode], Field(min_length=1), AfterValidator(_unique)]


class RateLimitPolicy(_Model):
    """One quota policy of draft-ietf-httpapi-ratelimit-headers: name, quota, window in seconds, quota unit."""

    name: str = Field(pattern=r"^[a-z*][a-z0-9_.*-]{0,63}$")
    q: StrictInt = Field(ge=0)
    w: StrictInt = Field(ge=1)
    qu: Literal["requests", "content-bytes", "concurrent-requests"] | None = None


class RateLimit(_Model):
    """The quota policies a tool's calls are held to."""

    policies: list[RateLimitPolicy] = Field(min_length=1)


class DataClassification(_Model):
    """How sensitive a call's arguments and results are."""

    inputs: Classification
    outputs: Classification


class ToolConsent(_Model):
    """The purposes the caller's principal consents to before a call."""

    purposes: Annotated[
        list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._:-]{0,127}$")]],
        Field(min_length=1),
        AfterValidator(_unique),
    ]


class ToolError(_Model):
    """One error class of a tool's error contract."""

    code: _ErrorCode
    retryable: StrictBool
    description: _Text | None = None


class ToolContract(Document):
    """What a tool is and how it may be called: an MCP ``Tool`` with its hints made binding."""

    SCHEMA_URL: ClassVar[str] = "https://aifabric.dev/schemas/tool-contract/1.0.0.json"

    schema_url: Literal["https://aifabric.dev/schemas/tool-contract/1.0.0.json"] = Field(
        default="https://aifabric.dev/schemas/tool-contract/1.0.0.json", alias="schemaURL"
    )
    producer: str = Field(default=PRODUCER, min_length=1)
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    title: str | None = Field(default=None, min_length=1, max_length=256)
    description: _Text
    version: _SemVer
    owner: Actor
    input_schema: _ObjectSchema = Field(alias="inputSchema")
    output_schema: _ObjectSchema | None = Field(default=None, alias="outputSchema")
    annotations: ToolAnnotations | None = None
    icons: list[Icon] | None = None
    meta: dict[str, Any] | None = Field(default=None, alias="_meta")
    side_effect: Literal["none", "idempotent", "additive", "destructive"] = Field(alias="sideEffect")
    auth: ToolAuth | None = None
    idempotency: Idempotency | None = None
    timeout_s: _Number = Field(gt=0, le=86400, alias="timeoutS")
    retry: RetryPolicy | None = None
    rate_limit: RateLimit | None = Field(default=None, alias="rateLimit")
    data_classification: DataClassification | None = Field(default=None, alias="dataClassification")
    consent: ToolConsent | None = None
    errors: list[ToolError] | None = Field(default=None, min_length=1)
    signatures: Signatures | None = None

    @model_validator(mode="after")
    def _binding(self) -> ToolContract:
        hints = self.annotations or ToolAnnotations()
        effect = self.side_effect
        if hints.read_only_hint is not None and hints.read_only_hint != (effect == "none"):
            raise ValueError("readOnlyHint is true exactly when sideEffect is none")
        if hints.destructive_hint is not None:
            if effect == "destructive" and not hints.destructive_hint:
                raise ValueError("a destructive tool's destructiveHint is true")
            if effect in {"idempotent", "additive"} and hints.destructive_hint:
                raise ValueError("an idempotent or additive tool's destructiveHint is false")
        if (
            hints.idempotent_hint is not None
            and effect in {"idempotent", "additive"}
            and hints.idempotent_hint != (effect == "idempotent")
        ):
            raise ValueError("idempotentHint is true for an idempotent tool and false for an additive one")
        if (
            self.retry is not None
            and effect in {"additive", "destructive"}
            and (self.idempotency is None or self.idempotency.key != "required")
        ):
            raise ValueError("an additive or destructive tool is retried only when an idempotency key is required")
        return self

    def to_json(self) -> dict[str, Any]:
        """The JSON form, checked against the ``tool-contract`` schema before it is returned."""
        doc = super().to_json()
        validate(doc)
        return doc
