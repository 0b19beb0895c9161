"""Models of the ``common`` schema's building blocks, and the base every document model derives from.

Examples:
    >>> from aifabric.models.common import ResourceRef
    >>> ResourceRef(type="model", name="acme/sentiment", digest={"sha256": "ab" * 32}).to_json()["type"]
    'model'
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Final, Literal, Self, TypeVar

import pydantic
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from aifabric._errors import DocumentError, Problem, ValidationError
from aifabric.validation import iter_documents, load_documents, validate

__all__ = [
    "Actor",
    "DigestSet",
    "Document",
    "Hex",
    "RequirementId",
    "ResourceRef",
    "Signatures",
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


def _bundles(value: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for bundle in value:
        try:
            validate(bundle, schema_url=_BUNDLE)
        except ValidationError as exc:
            raise ValueError(f"not a signature bundle: {exc}") from None
    return value


_BUNDLE: Final = "https://aifabric.dev/schemas/common/1.1.0.json#/$defs/signatureBundle"
Signatures = Annotated[list[dict[str, Any]], Field(min_length=1), AfterValidator(_bundles)]
"""A document's embedded signatures (SIG-031): one or more signature bundles."""


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

    @classmethod
    def parse_document(cls, doc: Any, *, source: str | None = None) -> Self:
        """The model of a parsed document, checked against its schema first.

        Raises:
            ValidationError: the document is of another kind, breaks the schema, or breaks a rule the schema leaves
                to the model; ``problems`` names each with its JSON pointer and rule.
        """
        kind = cls.SCHEMA_URL.rstrip("/").split("/")[-2]
        if isinstance(doc, dict) and doc.get("schemaURL", cls.SCHEMA_URL) != cls.SCHEMA_URL:
            problem = Problem("/schemaURL", "const", f"expected {cls.SCHEMA_URL}: not a {kind} document", source)
            raise ValidationError([problem], source=source, schema_url=cls.SCHEMA_URL)
        validate(doc, schema_url=cls.SCHEMA_URL, source=source)
        try:
            return cls.model_validate(doc)
        except pydantic.ValidationError as exc:  # a rule the schema leaves to the model, such as a real date
            problems = [
                Problem("".join(f"/{part}" for part in error["loc"]), "model", error["msg"], source)
                for error in exc.errors()
            ]
            raise ValidationError(problems, source=source, schema_url=cls.SCHEMA_URL) from None

    @classmethod
    def read(cls, source: str | os.PathLike[str] | bytes, *, fmt: str | None = None) -> Self:
        """Read one document from a file, or from YAML or JSON text, and parse it (:meth:`parse_document`).

        ``source`` is a path (a :class:`os.PathLike`, or a string of one line that does not start with ``{``), or
        the document itself (bytes, or a string of several lines or starting with ``{``). Text is read as YAML,
        which JSON is a subset of, unless ``fmt`` is ``"json"``; a file by its suffix.

        Raises:
            DocumentError: the input cannot be read or parsed, or holds other than exactly one document.
            ValidationError: as :meth:`parse_document`.
        """
        name, docs = _read(source, fmt)
        if len(docs) != 1:
            kind = cls.SCHEMA_URL.rstrip("/").split("/")[-2]
            raise DocumentError(f"expected one {kind} document, found {len(docs)}", source=name)
        return cls.parse_document(docs[0], source=name)


def _read(source: str | os.PathLike[str] | bytes, fmt: str | None) -> tuple[str, list[Any]]:
    """The documents of a path, or of YAML or JSON text or bytes, and the name to report them by."""
    if isinstance(source, bytes):
        return "<input>", load_documents(source, source="<input>", fmt=fmt or "yaml")
    if isinstance(source, str) and ("\n" in source or source.lstrip().startswith("{")):
        return "<input>", load_documents(source.encode(), source="<input>", fmt=fmt or "yaml")
    path = Path(source)
    if path.is_dir():
        raise DocumentError("is a directory, not a document", source=str(path), rule="read")
    if fmt is not None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DocumentError(f"cannot read: {exc.strerror or type(exc).__name__}", source=str(path)) from None
        return str(path), load_documents(data, source=str(path), fmt=fmt)
    for name, found in iter_documents([str(path)]):
        if isinstance(found, DocumentError):
            raise found
        return name, found
    raise DocumentError("cannot read: no such file", source=str(path), rule="read")  # pragma: no cover


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
