"""Models of the ``common`` schema's building blocks, and the base every document model derives from.

Examples:
    >>> from aifabric.models.common import ResourceRef
    >>> ResourceRef(type="model", name="acme/sentiment", digest={"sha256": "ab" * 32}).to_json()["type"]
    'model'
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Final, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from aifabric.validation import validate

__all__ = [
    "Actor",
    "DigestSet",
    "Document",
    "Hex",
    "RequirementId",
    "ResourceRef",
    "Timestamp",
    "UUIDv7",
]

_TIMESTAMP = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"


def _parse_timestamp(value: str) -> str:
    datetime.fromisoformat(value.upper().replace("Z", "+00:00"))  # a real date: rejects 2026-02-30
    return value


Timestamp = Annotated[str, Field(pattern=_TIMESTAMP), AfterValidator(_parse_timestamp)]
"""An RFC 3339 date-time with an offset, kept as written (``aifabric.utc_now()`` makes one)."""
UUIDv7 = Annotated[str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")]
RequirementId = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]{1,9}-[0-9]{3}$")]
Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{16,256}$")]
_DIGEST_LENGTHS: Final = {"sha256": 64, "sha384": 96, "sha512": 128, "blake3": 64}
_T = TypeVar("_T")


def _known_digests(digest: dict[str, str]) -> dict[str, str]:
    if not digest:
        raise ValueError("a digest set names at least one digest")
    for name, length in _DIGEST_LENGTHS.items():
        if name in digest and len(digest[name]) != length:
            raise ValueError(f"a {name} digest has {length} hexadecimal digits")
    return digest


def _unique(items: list[_T]) -> list[_T]:
    """For ``uniqueItems``: a list whose items all differ."""
    if len({repr(item) for item in items}) != len(items):
        raise ValueError("items are not unique")
    return items


DigestSet = Annotated[
    dict[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,31}$")], Hex], AfterValidator(_known_digests)
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    def to_json(self) -> dict[str, Any]:
        """The JSON form: aliases used, unset optional members left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Document(_Model):
    """Base of every document model: ``schemaURL`` and ``producer``, and validation against the schema."""

    SCHEMA_URL: ClassVar[str]

    schema_url: str = Field(alias="schemaURL")
    producer: str = Field(min_length=1)

    def to_json(self) -> dict[str, Any]:
        """The JSON form, checked against the document's schema before it is returned."""
        doc = super().to_json()
        validate(doc)
        return doc


class Actor(_Model):
    """Who acted: a person, service, agent, model or organization, optionally on behalf of another."""

    type: Literal["user", "service", "agent", "model", "organization"]
    id: str = Field(min_length=1, max_length=1024)
    display_name: str | None = Field(default=None, alias="displayName", max_length=1024)
    issuer: str | None = None
    email: str | None = None
    on_behalf_of: Actor | None = Field(default=None, alias="onBehalfOf")


class ResourceRef(_Model):
    """A reference to a dataset, model, file, endpoint, tool or document."""

    type: str = Field(pattern=r"^[a-z][a-z0-9_.-]{0,63}$")
    name: str = Field(min_length=1, max_length=4096)
    namespace: str | None = Field(default=None, max_length=1024)
    version: str | None = Field(default=None, max_length=256)
    uri: str | None = None
    digest: DigestSet | None = None
