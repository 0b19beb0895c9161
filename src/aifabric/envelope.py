"""The CloudEvents binding: any aifabric document to and from a CloudEvent (structured, binary, batch).

``type`` names the kind and major version (``dev.aifabric.<kind>.v<major>``), ``dataschema`` is the
document's schema URL, ``source`` its producer, and ``id`` is derived from the canonical digest unless
given, so that ``source`` + ``id`` is a dedup key across retries. Needs the ``cloudevents`` extra.

Examples:
    >>> from aifabric import envelope
    >>> from aifabric.conformance import run_vectors
    >>> report = run_vectors([]).to_json()  # a conformance report of an empty run
    >>> message = envelope.to_structured(report)
    >>> message.headers["content-type"]
    'application/cloudevents+json'
    >>> envelope.from_http(message.headers, message.body)["schemaURL"]
    'https://aifabric.dev/schemas/conformance-report/1.1.0.json'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import orjson

from aifabric._errors import AifabricError, EnvelopeError
from aifabric.canonical import digest
from aifabric.schemas import Registry
from aifabric.validation import validate

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from cloudevents.core.base import BaseCloudEvent

__all__ = [
    "BATCH_CONTENT_TYPE",
    "STRUCTURED_CONTENT_TYPE",
    "TYPE_PREFIX",
    "Message",
    "event_type",
    "from_batch",
    "from_event",
    "from_http",
    "to_batch",
    "to_binary",
    "to_event",
    "to_structured",
]

TYPE_PREFIX: Final = "dev.aifabric."
STRUCTURED_CONTENT_TYPE: Final = "application/cloudevents+json"
BATCH_CONTENT_TYPE: Final = "application/cloudevents-batch+json"


@dataclass(frozen=True, slots=True)
class Message:
    """An HTTP message: lower-case header names and a body."""

    headers: dict[str, str]
    body: bytes


def event_type(schema_url: str, *, registry: Registry | None = None) -> str:
    """The CloudEvents ``type`` of documents with this schema URL: ``dev.aifabric.<kind>.v<major>``."""
    try:
        info = (registry or Registry.default()).info(schema_url)
    except AifabricError as exc:
        raise EnvelopeError(str(exc)) from None
    return f"{TYPE_PREFIX}{info.kind}.v{info.major}"


def to_event(
    doc: Mapping[str, Any],
    *,
    id: str | None = None,
    time: str | None = None,
    subject: str | None = None,
    registry: Registry | None = None,
) -> BaseCloudEvent:
    """Wrap a valid aifabric document in a CloudEvent (validated first).

    Raises:
        EnvelopeError: not an object, no producer, or not valid against its schema.
    """
    from cloudevents.core.v1.event import CloudEvent

    if not isinstance(doc, dict):
        raise EnvelopeError(f"only a JSON object can be enveloped, not {type(doc).__name__}")
    try:
        validated = validate(doc, registry=registry)
    except AifabricError as exc:
        raise EnvelopeError(f"not a valid aifabric document: {exc}") from None
    producer = doc.get("producer")
    if not isinstance(producer, str) or not producer:
        raise EnvelopeError("the document has no producer to use as the event source")
    attributes: dict[str, Any] = {
        "id": id or "sha256:" + digest(doc)["sha256"],
        "source": producer,
        "type": event_type(validated.schema_url, registry=registry),
        "dataschema": validated.schema_url,
        "datacontenttype": "application/json",
    }
    if time is not None:
        attributes["time"] = _datetime(time)
    if subject is not None:
        attributes["subject"] = subject
    try:
        return CloudEvent(attributes, dict(doc))
    except Exception as exc:  # noqa: BLE001 - the SDK's validation errors share no base class
        raise EnvelopeError(f"not a valid CloudEvent: {_reason(exc)}") from None


def from_event(event: BaseCloudEvent, *, registry: Registry | None = None) -> dict[str, Any]:
    """The aifabric document an event carries, checked against the event's type and dataschema.

    Raises:
        EnvelopeError: no object data, a dataschema or type that does not match the document, or
            a document that does not validate.
    """
    data = event.get_data()
    if isinstance(data, bytes):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise EnvelopeError(f"event data is not JSON: {exc.msg}") from None
    if not isinstance(data, dict):  # a JSON string holding a document is a string, not that document
        raise EnvelopeError("event data is not a JSON object")
    schema_url = data.get("schemaURL")
    if event.get_dataschema() != schema_url:
        raise EnvelopeError(f"dataschema {event.get_dataschema()!r} differs from the document's {schema_url!r}")
    if not isinstance(schema_url, str) or event.get_type() != event_type(schema_url, registry=registry):
        raise EnvelopeError(f"event type {event.get_type()!r} does not name the document's kind and version")
    try:
        validate(data, registry=registry)
    except AifabricError as exc:
        raise EnvelopeError(f"the carried document is invalid: {exc}") from None
    return data


def to_structured(doc: Mapping[str, Any], **options: Any) -> Message:
    """The document as a structured-mode HTTP message (the whole event is the JSON body)."""
    from cloudevents.core.bindings import http
    from cloudevents.core.formats.json import JSONFormat

    message = http.to_structured(to_event(doc, **options), JSONFormat())
    return _lower(message.headers, message.body)


def to_binary(doc: Mapping[str, Any], **options: Any) -> Message:
    """The document as a binary-mode HTTP message (attributes in ``ce-`` headers, the document as body)."""
    from cloudevents.core.bindings import http
    from cloudevents.core.formats.json import JSONFormat

    message = http.to_binary(to_event(doc, **options), JSONFormat())
    return _lower(message.headers, message.body)


def to_batch(docs: Iterable[Mapping[str, Any]], **options: Any) -> Message:
    """Several documents as one batched-mode HTTP message (a JSON array of structured events)."""
    from cloudevents.core.formats.json import JSONFormat

    fmt = JSONFormat()
    body = b"[" + b",".join(fmt.write(to_event(doc, **options)) for doc in docs) + b"]"
    return Message({"content-type": BATCH_CONTENT_TYPE}, body)


def from_http(headers: Mapping[str, str], body: bytes, *, registry: Registry | None = None) -> dict[str, Any]:
    """The document in a structured- or binary-mode HTTP message (the mode is detected)."""
    from cloudevents.core.bindings import http
    from cloudevents.core.formats.json import JSONFormat

    _require_id(headers, body)
    try:
        event = http.from_http(http.HTTPMessage(dict(headers), body), JSONFormat())
    except Exception as exc:  # noqa: BLE001 - the SDK raises many types; all mean "not a CloudEvent"
        raise EnvelopeError(f"not a CloudEvent: {_reason(exc)}") from None
    return from_event(event, registry=registry)


def from_batch(headers: Mapping[str, str], body: bytes, *, registry: Registry | None = None) -> list[dict[str, Any]]:
    """The documents in a batched-mode HTTP message, in order."""
    from cloudevents.core.formats.json import JSONFormat

    content_type = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    if not content_type.startswith(BATCH_CONTENT_TYPE):
        raise EnvelopeError(f"content-type {content_type!r} is not {BATCH_CONTENT_TYPE}")
    try:
        items = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise EnvelopeError(f"batch body is not JSON: {exc.msg}") from None
    if not isinstance(items, list):
        raise EnvelopeError("batch body is not a JSON array")
    fmt = JSONFormat()
    docs = []
    for n, item in enumerate(items):
        if not isinstance(item, dict) or "id" not in item or "specversion" not in item:
            raise EnvelopeError(f"batch item {n} is not a CloudEvent: no id or specversion attribute")
        try:
            event = fmt.read(None, orjson.dumps(item))
        except Exception as exc:  # noqa: BLE001 - see from_http
            raise EnvelopeError(f"batch item {n} is not a CloudEvent: {_reason(exc)}") from None
        docs.append(from_event(event, registry=registry))
    return docs


def _require_id(headers: Mapping[str, str], body: bytes) -> None:
    """The SDK invents an id and specversion when they are missing; a received event must carry its own."""
    names = {k.lower() for k in headers}
    if any(n.startswith("ce-") for n in names):
        present = {n.removeprefix("ce-") for n in names}
    else:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise EnvelopeError(f"not a CloudEvent: the body is not JSON ({exc.msg})") from None
        present = set(parsed) if isinstance(parsed, dict) else set()
    missing = [a for a in ("id", "specversion") if a not in present]
    if missing:
        raise EnvelopeError(f"not a CloudEvent: no {' or '.join(missing)} attribute")


def _datetime(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise EnvelopeError(f"time {value!r} is not an RFC 3339 timestamp") from None


def _lower(headers: Mapping[str, str], body: bytes) -> Message:
    return Message({k.lower(): v for k, v in headers.items()}, body)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
