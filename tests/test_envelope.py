"""The CloudEvents binding, proven against the CloudEvents Python SDK as the peer on the other side."""

from __future__ import annotations

import contextlib
import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cloudevents.core.bindings import http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from hypothesis import given
from hypothesis import strategies as st

import aifabric
from aifabric import EnvelopeError, envelope, schema_url
from tests.conftest import report

REPORT = schema_url("conformance-report")
VECTOR = schema_url("conformance-vector")
REPORT_TYPE = "dev.aifabric.conformance-report.v1"
STRUCTURED = {"content-type": envelope.STRUCTURED_CONTENT_TYPE}
BATCH = {"content-type": envelope.BATCH_CONTENT_TYPE}


def vector_file() -> dict[str, Any]:
    """A valid document that has no producer: the conformance-vector schema's own example."""
    example: dict[str, Any] = copy.deepcopy(aifabric.Registry.default().info(VECTOR).schema["examples"][0])
    aifabric.validate(example)
    return example


def sdk_event(doc: Any, **changes: Any) -> CloudEvent:
    """An event built by the CloudEvents SDK itself, carrying ``doc`` as aifabric would."""
    attributes: dict[str, Any] = {
        "specversion": "1.0",
        "id": "evt-1",
        "source": "https://example.com/producer",
        "type": REPORT_TYPE,
        "dataschema": REPORT,
        "datacontenttype": "application/json",
    }
    attributes.update(changes)
    return CloudEvent({k: v for k, v in attributes.items() if v is not None}, doc)


def sdk_structured(doc: Any, **changes: Any) -> http.HTTPMessage:
    return http.to_structured(sdk_event(doc, **changes), JSONFormat())


def sdk_binary(doc: Any, **changes: Any) -> http.HTTPMessage:
    return http.to_binary(sdk_event(doc, **changes), JSONFormat())


# --- round trips ------------------------------------------------------------------------------------------


def test_structured_round_trip_is_lossless() -> None:
    doc = report()
    message = envelope.to_structured(doc)
    assert message.headers["content-type"] == "application/cloudevents+json"
    assert envelope.from_http(message.headers, message.body) == doc


def test_binary_round_trip_is_lossless() -> None:
    doc = report()
    message = envelope.to_binary(doc)
    assert message.headers["content-type"] == "application/json"
    assert message.headers["ce-specversion"] == "1.0"
    assert json.loads(message.body) == doc
    assert envelope.from_http(message.headers, message.body) == doc


def test_batch_round_trip_keeps_every_document_in_order() -> None:
    first, second = report(), report()
    second["suite"]["name"] = "another-suite"
    message = envelope.to_batch([first, second, first])
    assert message.headers == {"content-type": envelope.BATCH_CONTENT_TYPE}
    assert envelope.from_batch(message.headers, message.body) == [first, second, first]


def test_an_empty_batch_round_trips() -> None:
    message = envelope.to_batch([])
    assert envelope.from_batch(message.headers, message.body) == []


def test_the_input_document_is_not_modified() -> None:
    doc = report()
    before = copy.deepcopy(doc)
    envelope.to_structured(doc)
    envelope.to_binary(doc)
    envelope.to_batch([doc])
    assert doc == before


def test_headers_are_read_whatever_their_case() -> None:
    doc = report()
    binary = envelope.to_binary(doc)
    shouting = {k.upper() if k.startswith("ce-") else k.title(): v for k, v in binary.headers.items()}
    assert envelope.from_http(shouting, binary.body) == doc
    batch = envelope.to_batch([doc])
    assert envelope.from_batch({"Content-Type": envelope.BATCH_CONTENT_TYPE}, batch.body) == [doc]


# --- attributes -------------------------------------------------------------------------------------------


def test_attributes_name_kind_schema_producer_and_content_type() -> None:
    doc = report()
    event = envelope.to_event(doc)
    assert event.get_type() == REPORT_TYPE == envelope.event_type(REPORT)
    assert event.get_dataschema() == doc["schemaURL"] == REPORT
    assert event.get_source() == doc["producer"]
    assert event.get_datacontenttype() == "application/json"
    assert event.get_specversion() == "1.0"
    assert event.get_data() == doc


def test_id_is_the_canonical_digest() -> None:
    doc = report()
    expected = "sha256:" + aifabric.digest(doc)["sha256"]
    assert envelope.to_event(doc).get_id() == expected
    assert envelope.to_binary(doc).headers["ce-id"] == expected
    assert json.loads(envelope.to_structured(doc).body)["id"] == expected


def test_id_is_stable_across_calls_and_key_order() -> None:
    """``source`` + ``id`` is a dedup key: a retry of the same document gets the same id."""
    doc = report()
    reordered = dict(reversed(list(doc.items())))
    ids = {
        envelope.to_event(doc).get_id(),
        envelope.to_event(doc).get_id(),
        envelope.to_event(reordered).get_id(),
        json.loads(envelope.to_structured(doc).body)["id"],
        envelope.to_binary(reordered).headers["ce-id"],
    }
    assert len(ids) == 1


def test_a_different_document_gets_a_different_id() -> None:
    doc, other = report(), report()
    other["suite"]["name"] = "another-suite"
    assert envelope.to_event(doc).get_id() != envelope.to_event(other).get_id()


def test_a_caller_given_id_wins() -> None:
    doc = report()
    assert envelope.to_event(doc, id="retry-42").get_id() == "retry-42"
    assert envelope.to_binary(doc, id="retry-42").headers["ce-id"] == "retry-42"
    batch = json.loads(envelope.to_batch([doc], id="retry-42").body)
    assert batch[0]["id"] == "retry-42"


def test_subject_is_carried() -> None:
    message = envelope.to_structured(report(), subject="run-7")
    event = http.from_http(http.HTTPMessage(message.headers, message.body), JSONFormat())
    assert event.get_subject() == "run-7"


def test_a_time_string_is_accepted_as_documented() -> None:
    """``to_event(time=...)`` is typed ``str``: an RFC 3339 string must become the event's time."""
    message = envelope.to_structured(report(), time="2026-11-23T08:15:42Z")
    event = http.from_http(http.HTTPMessage(message.headers, message.body), JSONFormat())
    assert event.get_time() == datetime(2026, 11, 23, 8, 15, 42, tzinfo=UTC)


def test_event_type_names_kind_and_major() -> None:
    assert envelope.event_type(REPORT) == "dev.aifabric.conformance-report.v1"
    assert envelope.event_type(VECTOR) == "dev.aifabric.conformance-vector.v1"


# --- the CloudEvents SDK as the peer ----------------------------------------------------------------------


def test_sdk_reads_aifabric_structured_message() -> None:
    doc = report()
    message = envelope.to_structured(doc)
    event = http.from_http(http.HTTPMessage(message.headers, message.body), JSONFormat())
    assert event.get_type() == REPORT_TYPE
    assert event.get_dataschema() == REPORT
    assert event.get_source() == doc["producer"]
    assert event.get_id() == "sha256:" + aifabric.digest(doc)["sha256"]
    assert event.get_datacontenttype() == "application/json"
    assert event.get_specversion() == "1.0"
    assert event.get_data() == doc


def test_sdk_reads_aifabric_binary_message() -> None:
    doc = report()
    message = envelope.to_binary(doc)
    event = http.from_http(http.HTTPMessage(message.headers, message.body), JSONFormat())
    assert event.get_type() == REPORT_TYPE
    assert event.get_dataschema() == REPORT
    assert event.get_source() == doc["producer"]
    assert event.get_data() == doc


def test_sdk_reads_every_element_of_aifabric_batch() -> None:
    docs = [report(), report()]
    docs[1]["suite"]["name"] = "another-suite"
    items = json.loads(envelope.to_batch(docs).body)
    assert isinstance(items, list)
    assert len(items) == 2
    for item, doc in zip(items, docs, strict=True):
        event = JSONFormat().read(None, json.dumps(item).encode())
        assert event.get_type() == REPORT_TYPE
        assert event.get_dataschema() == REPORT
        assert event.get_source() == doc["producer"]
        assert event.get_id() == "sha256:" + aifabric.digest(doc)["sha256"]
        assert event.get_data() == doc


def test_aifabric_reads_sdk_structured_message() -> None:
    doc = report()
    message = sdk_structured(doc)
    assert envelope.from_http(message.headers, message.body) == doc


def test_aifabric_reads_sdk_binary_message() -> None:
    doc = report()
    message = sdk_binary(doc)
    assert any(k.startswith("ce-") for k in message.headers)
    assert envelope.from_http(message.headers, message.body) == doc


def test_aifabric_reads_sdk_event_with_extensions_and_subject() -> None:
    doc = report()
    message = sdk_binary(doc, subject="run-7", traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    assert envelope.from_http(message.headers, message.body) == doc


def test_aifabric_reads_a_batch_of_sdk_events() -> None:
    doc = report()
    body = b"[" + b",".join(JSONFormat().write(sdk_event(doc, id=str(n))) for n in range(3)) + b"]"
    assert envelope.from_batch(BATCH, body) == [doc, doc, doc]


def test_from_event_accepts_an_sdk_event() -> None:
    doc = report()
    assert envelope.from_event(sdk_event(doc)) == doc


# --- rejections: each is an EnvelopeError and nothing else ------------------------------------------------


@pytest.mark.parametrize("value", [[], [1, 2], "a string", 42, None, True])
def test_non_object_data_cannot_be_enveloped(value: Any) -> None:
    with pytest.raises(EnvelopeError, match="object"):
        envelope.to_structured(value)
    with pytest.raises(EnvelopeError):
        envelope.to_batch([value])


@pytest.mark.parametrize("body", [b"[1, 2]", b'"a string"', b"42", b"null", b"true"])
def test_non_object_data_is_refused_on_the_way_in(body: bytes) -> None:
    headers = dict(envelope.to_binary(report()).headers)
    with pytest.raises(EnvelopeError, match=r"object|JSON"):
        envelope.from_http(headers, body)
    structured = json.dumps({**json.loads(envelope.to_structured(report()).body), "data": json.loads(body)})
    with pytest.raises(EnvelopeError, match=r"object|JSON"):
        envelope.from_http(STRUCTURED, structured.encode())


def test_json_string_data_is_not_decoded_a_second_time() -> None:
    """Data that is a JSON *string* (holding a document's text) is non-object data, not the document."""
    doc = report()
    as_string = json.dumps(doc)
    binary = envelope.to_binary(doc)
    with pytest.raises(EnvelopeError):
        envelope.from_http(binary.headers, json.dumps(as_string).encode())
    event = json.loads(envelope.to_structured(doc).body)
    event["data"] = as_string
    with pytest.raises(EnvelopeError):
        envelope.from_http(STRUCTURED, json.dumps(event).encode())


def test_missing_schema_url_is_refused() -> None:
    doc = report()
    del doc["schemaURL"]
    with pytest.raises(EnvelopeError, match="schema"):
        envelope.to_structured(doc)
    message = sdk_structured(doc, dataschema=None)
    with pytest.raises(EnvelopeError):
        envelope.from_http(message.headers, message.body)


def test_unknown_kind_is_refused() -> None:
    unknown = "https://aifabric.dev/schemas/no-such-kind/1.0.0.json"
    doc = report()
    doc["schemaURL"] = unknown
    with pytest.raises(EnvelopeError, match="no-such-kind"):
        envelope.to_structured(doc)
    with pytest.raises(EnvelopeError, match="no-such-kind"):
        envelope.event_type(unknown)
    message = sdk_structured(doc, dataschema=unknown, type="dev.aifabric.no-such-kind.v1")
    with pytest.raises(EnvelopeError, match="no-such-kind"):
        envelope.from_http(message.headers, message.body)


def test_invalid_document_is_refused() -> None:
    """[CORE-078] [CORE-079] A carried document is validated; an invalid one is refused."""
    doc = report()
    doc["createdAt"] = "yesterday"
    with pytest.raises(EnvelopeError, match="createdAt"):
        envelope.to_structured(doc)
    with pytest.raises(EnvelopeError):
        envelope.to_binary(doc)
    with pytest.raises(EnvelopeError):
        envelope.to_batch([report(), doc])


def test_valid_document_without_producer_is_refused() -> None:
    with pytest.raises(EnvelopeError, match="producer"):
        envelope.to_structured(vector_file())


def test_dataschema_that_differs_from_the_document_is_refused() -> None:
    """[CORE-076] A consumer refuses a dataschema that is not the document's schemaURL."""
    doc = report()
    message = sdk_structured(doc, dataschema=schema_url("common"))
    with pytest.raises(EnvelopeError, match="dataschema"):
        envelope.from_http(message.headers, message.body)
    binary = dict(envelope.to_binary(doc).headers)
    binary["ce-dataschema"] = "https://aifabric.dev/schemas/conformance-report/1.0.1.json"
    with pytest.raises(EnvelopeError, match="dataschema"):
        envelope.from_http(binary, json.dumps(doc).encode())


def test_missing_dataschema_is_refused() -> None:
    message = sdk_binary(report(), dataschema=None)
    with pytest.raises(EnvelopeError, match="dataschema"):
        envelope.from_http(message.headers, message.body)


@pytest.mark.parametrize(
    "event_type",
    [
        "dev.aifabric.conformance-vector.v1",  # wrong kind
        "dev.aifabric.conformance-report.v2",  # wrong major
        "dev.aifabric.conformance-report.v0",
        "dev.aifabric.conformance-report",
        "com.example.conformance-report.v1",  # wrong prefix
        "DEV.AIFABRIC.CONFORMANCE-REPORT.V1",
    ],
)
def test_type_naming_another_kind_or_major_is_refused(event_type: str) -> None:
    """[CORE-077] A consumer refuses a type naming another kind or major."""
    doc = report()
    for message in (sdk_structured(doc, type=event_type), sdk_binary(doc, type=event_type)):
        with pytest.raises(EnvelopeError, match="type"):
            envelope.from_http(message.headers, message.body)


def test_tampered_structured_body_is_refused() -> None:
    message = envelope.to_structured(report())
    event = json.loads(message.body)
    event["data"]["summary"]["total"] = "many"
    with pytest.raises(EnvelopeError, match="invalid"):
        envelope.from_http(message.headers, json.dumps(event).encode())


def test_tampered_binary_body_is_refused() -> None:
    doc = report()
    message = envelope.to_binary(doc)
    del doc["producer"]
    with pytest.raises(EnvelopeError, match="producer"):
        envelope.from_http(message.headers, json.dumps(doc).encode())


def test_tampered_batch_item_is_refused() -> None:
    message = envelope.to_batch([report(), report()])
    items = json.loads(message.body)
    items[1]["data"]["reportId"] = "not-a-uuid"
    with pytest.raises(EnvelopeError):
        envelope.from_batch(message.headers, json.dumps(items).encode())


@pytest.mark.parametrize("body", [b"", b"{", b"not json", b"\xff\xfe\x00", b"{'single': 'quotes'}"])
def test_non_json_body_is_refused(body: bytes) -> None:
    binary = envelope.to_binary(report()).headers
    for headers in (STRUCTURED, binary):
        with pytest.raises(EnvelopeError):
            envelope.from_http(headers, body)


@pytest.mark.parametrize("body", [b"", b"[", b"not json", b"\xff\xfe"])
def test_non_json_batch_body_is_refused(body: bytes) -> None:
    with pytest.raises(EnvelopeError, match="JSON"):
        envelope.from_batch(BATCH, body)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"content-type": "application/json"},
        STRUCTURED,
        {"content-type": "application/cloudevents-batchy+json"},
    ],
)
def test_batch_with_wrong_content_type_is_refused(headers: dict[str, str]) -> None:
    body = envelope.to_batch([report()]).body
    with pytest.raises(EnvelopeError, match="content-type"):
        envelope.from_batch(headers, body)


@pytest.mark.parametrize("body", [b"{}", b'{"specversion": "1.0"}', b"42", b'"x"', b"null"])
def test_batch_body_that_is_not_an_array_is_refused(body: bytes) -> None:
    with pytest.raises(EnvelopeError, match="array"):
        envelope.from_batch(BATCH, body)


@pytest.mark.parametrize("item", [1, "x", None, [], {}, {"specversion": "1.0"}, {"id": "1", "source": "s"}])
def test_batch_item_that_is_not_an_event_is_refused(item: Any) -> None:
    good = json.loads(envelope.to_batch([report()]).body)
    body = json.dumps([good[0], item]).encode()
    with pytest.raises(EnvelopeError, match="item 1"):
        envelope.from_batch(BATCH, body)


@pytest.mark.parametrize(
    "headers",
    [{}, {"content-type": "application/json"}, {"content-type": "text/plain"}, {"x-ce-id": "1"}],
)
def test_http_message_without_cloudevent_attributes_is_refused(headers: dict[str, str]) -> None:
    """A bare document (no ``ce-`` headers, not a structured event) is not a CloudEvent."""
    with pytest.raises(EnvelopeError):
        envelope.from_http(headers, json.dumps(report()).encode())


def test_binary_message_missing_a_required_attribute_is_refused() -> None:
    message = envelope.to_binary(report())
    for name in ("ce-source", "ce-type"):
        headers = {k: v for k, v in message.headers.items() if k != name}
        with pytest.raises(EnvelopeError, match="CloudEvent"):
            envelope.from_http(headers, message.body)


def test_unsupported_specversion_is_refused() -> None:
    headers = dict(envelope.to_binary(report()).headers)
    headers["ce-specversion"] = "2.0"
    with pytest.raises(EnvelopeError):
        envelope.from_http(headers, envelope.to_binary(report()).body)


def test_bad_event_option_raises_envelope_error() -> None:
    """An option the CloudEvents SDK refuses is reported as an EnvelopeError, not the SDK's own exception."""
    with pytest.raises(EnvelopeError):
        envelope.to_structured(report(), subject="")


# --- hostile input: only ever EnvelopeError ---------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def _binary_headers() -> dict[str, str]:
    return dict(envelope.to_binary(report()).headers)


HEADER_SETS = st.sampled_from(["structured", "binary", "none", "text"])


def _headers(kind: str) -> dict[str, str]:
    return {
        "structured": STRUCTURED,
        "binary": _binary_headers(),
        "none": {},
        "text": {"content-type": "text/plain"},
    }[kind]


def _only_envelope_errors(headers: dict[str, str], body: bytes) -> None:
    try:
        doc = envelope.from_http(headers, body)
    except EnvelopeError:
        return
    aifabric.validate(doc)  # anything accepted is a valid document


@given(kind=HEADER_SETS, body=st.binary(max_size=512))
def test_arbitrary_bytes_raise_only_envelope_error(kind: str, body: bytes) -> None:
    _only_envelope_errors(_headers(kind), body)
    with contextlib.suppress(EnvelopeError):
        envelope.from_batch(BATCH, body)


@given(kind=HEADER_SETS, value=JSON_VALUES)
def test_arbitrary_json_bodies_raise_only_envelope_error(kind: str, value: Any) -> None:
    body = json.dumps(value).encode()
    _only_envelope_errors(_headers(kind), body)
    with contextlib.suppress(EnvelopeError):
        envelope.from_batch(BATCH, body)


@given(
    attributes=st.dictionaries(
        st.sampled_from(["id", "source", "type", "specversion", "dataschema", "datacontenttype", "time", "subject"]),
        JSON_VALUES,
    ),
    data=JSON_VALUES,
)
def test_arbitrary_structured_events_raise_only_envelope_error(attributes: dict[str, Any], data: Any) -> None:
    body = json.dumps({**attributes, "data": data}).encode()
    _only_envelope_errors(STRUCTURED, body)
    with contextlib.suppress(EnvelopeError):
        envelope.from_batch(BATCH, json.dumps([{**attributes, "data": data}]).encode())


@given(
    headers=st.dictionaries(
        st.sampled_from(
            ["ce-id", "ce-source", "ce-type", "ce-specversion", "ce-dataschema", "ce-time", "content-type"]
        ),
        st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
    )
)
def test_arbitrary_binary_headers_raise_only_envelope_error(headers: dict[str, str]) -> None:
    _only_envelope_errors(headers, json.dumps(report()).encode())


@given(
    mutation=st.sampled_from(["ce-id", "ce-source", "ce-type", "ce-dataschema", "ce-time", "ce-specversion"]),
    value=st.text(max_size=40),
)
def test_mutated_binary_attribute_raises_only_envelope_error(mutation: str, value: str) -> None:
    message = envelope.to_binary(report())
    headers = dict(message.headers)
    headers[mutation] = value
    _only_envelope_errors(headers, message.body)
