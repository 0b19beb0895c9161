"""OCSF export and import: every export is a valid OCSF 1.3.0 event to an independent peer, and round-trips exactly.

The peer is ``ocsf-json-schema``, which ships the OCSF schema's own exported definitions of every class and
object and turns them into JSON Schemas offline; ``jsonschema`` checks the events against them.
"""

from __future__ import annotations

import contextlib
import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aifabric import DocumentError, ValidationError, validate
from aifabric.audit.ocsf import from_ocsf, to_ocsf
from aifabric.models.audit import AuditRecord
from tests.strategies import from_schema
from tests.test_models_audit import RECORD, _bundled, _generable

ocsf_json_schema = pytest.importorskip("ocsf_json_schema")
VECTORS = Path(__file__).parent.parent / "conformance/vectors/audit/record.json"


@cache
def _peer(class_uid: int) -> jsonschema.protocols.Validator:
    schema = ocsf_json_schema.OcsfJsonSchemaEmbedded(ocsf_json_schema.get_ocsf_schema(version="1.3.0"))
    definition = schema.get_class_schema(schema.lookup_class_name_from_uid(class_uid), profiles=[])
    validator: jsonschema.protocols.Validator = jsonschema.Draft202012Validator(
        definition, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return validator


def _assert_ocsf(event: dict[str, Any]) -> None:
    errors = sorted(_peer(event["class_uid"]).iter_errors(event), key=lambda e: list(e.path))
    assert not errors, [f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors]


def _valid_records() -> list[dict[str, Any]]:
    cases = json.loads(VECTORS.read_text())["cases"]
    return [case["data"] for case in cases if case["valid"]]


@pytest.mark.parametrize(
    "record", _valid_records(), ids=lambda r: f"{r['classUid']}-{r['action']}-{r['recordId'][-4:]}"
)
def test_vector_records_export_to_valid_ocsf_and_round_trip(record: dict[str, Any]) -> None:
    """[AUD-116] Each valid record of the vectors exports to an OCSF event the peer accepts, and imports back."""
    event = to_ocsf(record)
    _assert_ocsf(event)
    assert from_ocsf(json.loads(json.dumps(event))).to_json() == record


def test_the_mapping_table() -> None:
    """[AUD-116] The export follows the mapping table of the audit chapter."""
    record = _valid_records()[0]
    event = to_ocsf(record)
    assert event["class_uid"] == 6003
    assert event["category_uid"] == 6
    assert event["type_uid"] == 6003 * 100 + record["activityId"]
    assert event["time"] == 1795421742010
    assert event["timezone_offset"] == 0
    assert event["metadata"]["uid"] == record["recordId"]
    assert event["metadata"]["version"] == "1.3.0"
    assert event["metadata"]["product"]["name"] == "aifabric"
    assert event["metadata"]["correlation_uid"] == record["trace"]["traceparent"]
    assert event["api"] == {"operation": "tool.call", "request": {"uid": "req-1234"}}
    assert event["http_request"] == {"user_agent": "aifabric-agent/0.1", "uid": "req-1234"}
    assert event["actor"]["app_uid"] == record["actor"]["id"]
    assert event["actor"]["user"]["uid"] == "alice@example.com"
    assert event["actor"]["session"] == {"uid": "sess-4711"}
    assert event["actor"]["authorizations"] == [{"decision": "allow", "policy": {"uid": "pii-export", "version": "4"}}]
    assert event["resources"] == [{"type": "tool", "name": "lookup_order", "version": "2"}]
    assert (event["status_id"], event["status"], event["severity_id"]) == (1, "Success", 1)
    assert event["src_endpoint"] == {"ip": "192.0.2.10", "port": 44312}
    assert event["dst_endpoint"] == record["ocsf"]["dst_endpoint"]
    assert event["unmapped"]["ticket"] == "SUP-981"
    carried = event["unmapped"]["aifabric"]
    assert carried["consent"] == record["consent"] and carried["logPurposes"] == record["logPurposes"]
    auth = to_ocsf(_valid_records()[1])
    assert (auth["class_uid"], auth["category_uid"], auth["type_uid"]) == (3002, 3, 300201)
    assert (auth["auth_protocol_id"], auth["auth_protocol"], auth["is_mfa"]) == (4, "OpenID", True)
    assert auth["logon_type_id"] == 10
    assert auth["user"]["uid"] == "alice@example.com"
    assert auth["service"] == {"name": "support-console"}
    assert auth["timezone_offset"] == 60


def test_a_denied_record_is_a_failure_with_its_reason() -> None:
    """[AUD-116] OCSF has no denied status: it is Failure, and the record's outcome travels in unmapped."""
    denied = next(r for r in _valid_records() if r["outcome"] == "denied")
    event = to_ocsf(denied)
    assert (event["status_id"], event["status_detail"]) == (2, "destination outside the EU")
    assert event["actor"]["authorizations"][0]["decision"] == "deny"
    assert from_ocsf(event).outcome == "denied"


def _without_ocsf(schema: dict[str, Any]) -> dict[str, Any]:
    """The record schema without ``ocsf``, whose values OCSF constrains (AUD-021): the vectors cover it."""
    return {**schema, "properties": {k: v for k, v in schema["properties"].items() if k != "ocsf"}}


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(from_schema(_without_ocsf(_generable(_bundled(RECORD)))))
def test_arbitrary_records_round_trip_and_validate_with_the_peer(value: Any) -> None:
    """[AUD-116] Every schema-valid record exports to a valid OCSF event and imports back exactly."""
    try:
        validate(value)
    except ValidationError:
        return
    record = AuditRecord.model_validate(value).to_json()
    event = to_ocsf(record)
    _assert_ocsf(event)
    assert from_ocsf(json.loads(json.dumps(event))).to_json() == record


def test_foreign_events_import() -> None:
    """An OCSF event another producer wrote imports as a valid record; what aifabric does not map stays in ocsf."""
    event = {
        "class_uid": 6003,
        "category_uid": 6,
        "activity_id": 3,
        "type_uid": 600303,
        "severity_id": 2,
        "time": 1700000000000,
        "metadata": {"version": "1.3.0", "product": {"name": "CloudTrail", "vendor_name": "AWS"}, "uid": "abc"},
        "actor": {"user": {"uid": "AIDA123", "name": "bob"}},
        "api": {"operation": "PutObject", "service": {"name": "s3.amazonaws.com"}},
        "src_endpoint": {"ip": "198.51.100.7"},
        "resources": [{"uid": "arn:aws:s3:::bucket", "type": "AWS::S3::Bucket"}],
        "status_id": 1,
        "message": "ok",
    }
    _assert_ocsf(event)
    with pytest.raises(ValidationError) as caught:
        from_ocsf(event)  # PutObject is not a dotted lower-case verb
    assert any(problem.pointer == "/action" for problem in caught.value.problems)
    record = from_ocsf({**event, "api": {"operation": "s3.put_object"}})
    assert record.actor.id == "AIDA123" and record.target.name == "arn:aws:s3:::bucket"
    assert record.ocsf == {"message": "ok"}
    assert record.outcome == "success"


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"class_uid": 4001}, "/class_uid"),
        ({"class_uid": "6003"}, "/class_uid"),
        ({"time": None}, "/time"),
        ({"time": "2026-11-23T08:15:42Z"}, "/time"),
        ({"activity_id": True}, "/activity_id"),
        ({"actor": {}}, "/actor"),
        ({"actor": {"user": {"name": 7}}}, "/actor/user/uid"),
        ({"api": {"operation": 5}}, "/api/operation"),
        ({"unmapped": []}, "/unmapped"),
        ({"unmapped": {"aifabric": "x"}}, "/unmapped/aifabric"),
        ({"metadata": {"uid": 5}}, "/metadata/uid"),
        ({"severity_id": 7}, "/severityId"),
        ({"src_endpoint": "host"}, "/src_endpoint"),
    ],
)
def test_bad_events_raise_document_errors_naming_the_member(change: dict[str, Any], pointer: str) -> None:
    """Bad input raises DocumentError (or ValidationError) with the JSON pointer, never a KeyError or TypeError."""
    event = copy.deepcopy(to_ocsf(_valid_records()[2]))
    for key, value in change.items():
        if value is None:
            del event[key]
        else:
            event[key] = value
    with pytest.raises(DocumentError) as caught:
        from_ocsf(event)
    pointers = [p.pointer for p in caught.value.problems] if isinstance(caught.value, ValidationError) else []
    assert pointer in [caught.value.pointer, *pointers]


def test_not_an_object() -> None:
    with pytest.raises(DocumentError):
        from_ocsf([])  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        to_ocsf({"classUid": 6003})


@given(st.dictionaries(st.sampled_from(["class_uid", "activity_id", "time", "actor", "user", "api"]), st.integers()))
def test_from_ocsf_never_leaks_other_errors(event: dict[str, Any]) -> None:
    """Whatever the event, from_ocsf raises only aifabric's document errors."""
    with contextlib.suppress(DocumentError):
        from_ocsf(event)
