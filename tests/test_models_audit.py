"""The audit models equal the audit schemas: schema instances parse and round-trip, model output validates."""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings

from aifabric import schema_url
from aifabric.models.audit import AuditActor, AuditPolicy, AuditProof, AuditRecord, Source
from aifabric.schemas import Registry
from tests.conftest import assert_model_agrees, assert_vector_agrees, inline_refs, schema_problems
from tests.strategies import from_schema

RECORD = schema_url("audit-record")
PROOF = schema_url("audit-proof")
DEFAULTED = {"schemaURL", "producer", "recordId", "time"}
IPV4 = r"^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$"


def _generable(node: Any) -> Any:
    """The schema in the subset tests/strategies.py draws from, drawing values near its edges.

    ``activityId`` draws from both classes' activities and ``source`` from IPv4 addresses or host names, so that
    the ``if``/``then`` rules, which the generator does not apply, are met about as often as they are broken.
    """
    if isinstance(node, list):
        return [_generable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _generable(value) for key, value in node.items()}
    if out.get("description", "").startswith("The OCSF activity of the class"):
        out = {"enum": [0, 1, 2, 3, 4, 5, 6, 7, 99]}
    if "anyOf" in out and out.get("type") == "string":  # source.ip: an IPv4 or IPv6 address
        out = {"type": "string", "pattern": IPV4}
    if out.get("anyOf") == [{"required": ["ip"]}, {"required": ["hostname"]}]:
        out = {key: value for key, value in out.items() if key != "anyOf"}
    return out


def _bundled(url: str) -> dict[str, Any]:
    """The schema with its references inlined; the proof's reference to the whole record schema as well."""
    if url == RECORD:
        return inline_refs(RECORD)
    record = inline_refs(RECORD)
    proof: dict[str, Any] = json.loads(json.dumps(dict(Registry.default().info(PROOF).schema)))
    proof.pop("$id")
    proof["properties"]["record"] = {"$ref": "#/$defs/record"}
    proof["properties"]["producer"] = {"$ref": "#/$defs/common.producer"}
    proof["$defs"] = {**record["$defs"], "record": {k: v for k, v in record.items() if k != "$defs"}}
    return proof


@pytest.mark.parametrize(("url", "model"), [(RECORD, AuditRecord), (PROOF, AuditProof)])
def test_schema_instances_parse_and_round_trip(url: str, model: type[pydantic.BaseModel]) -> None:
    """[AUD-001] [AUD-115] The models accept exactly the documents the schemas accept, and write them back as given."""

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(from_schema(_generable(_bundled(url))))
    def check(value: Any) -> None:
        assert_model_agrees(value, url, model, DEFAULTED)

    check()


@pytest.mark.parametrize("name", ["record.json", "proof.json"])
def test_the_vectors_agree_with_the_models(name: str) -> None:
    """Every case of the audit vectors is accepted by the model exactly when it is valid."""
    from pathlib import Path

    vectors = json.loads((Path(__file__).parent.parent / "conformance/vectors/audit" / name).read_text())
    model = AuditRecord if name == "record.json" else AuditProof
    for case in vectors["cases"]:
        assert_vector_agrees(case, model, DEFAULTED)


def test_examples_round_trip() -> None:
    for url, model in [(RECORD, AuditRecord), (PROOF, AuditProof)]:
        for example in _bundled(url)["examples"]:
            assert model.model_validate(example).to_json() == example  # type: ignore[attr-defined]


def test_defaults_make_a_valid_record() -> None:
    """[AUD-002] [AUD-003] A record built from its required members gets a UUIDv7, the current time, and validates."""
    record = AuditRecord(
        classUid=6003,
        activityId=1,
        severityId=1,
        action="model.deploy",
        actor=AuditActor(type="service", id="deployer"),
        target={"type": "model", "name": "acme/sentiment"},  # type: ignore[arg-type]
        outcome="denied",
        policy=AuditPolicy(policyId="release-gate", effect="deny"),
        source=Source(hostname="ci.example.com"),
    )
    doc = record.to_json()
    assert doc["recordId"][14] == "7"
    assert doc["time"].endswith("Z")
    assert doc["producer"].startswith("https://github.com/aifabric/aifabric/tree/v")
    other = AuditRecord.model_validate({**doc, "recordId": record.record_id})
    assert other == record


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"outcome": "denied"}, "AUD-011"),
        ({"outcome": "denied", "policy": {"policyId": "p", "effect": "allow"}}, "AUD-011"),
        ({"classUid": 3002}, "AUD-016"),
        ({"activityId": 5}, "AUD-005"),
        ({"severityId": 7}, "AUD-006"),
        ({"trace": {"traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}}, "AUD-013"),
        ({"trace": {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"}}, "AUD-013"),
        ({"trace": {"traceparent": "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}, "AUD-013"),
        ({"source": {"userAgent": "curl/8"}}, "AUD-019"),
        ({"source": {"ip": "999.1.1.1"}}, "AUD-019"),
        ({"ocsf": {"status_id": 1}}, "AUD-021"),
        ({"previousHash": "sha256:" + "A" * 64}, "AUD-110"),
    ],
)
def test_both_reject(change: dict[str, Any], rule: str) -> None:
    """[AUD-005] [AUD-006] [AUD-011] [AUD-013] [AUD-016] [AUD-019] [AUD-021] Model and schema reject alike."""
    base = inline_refs(RECORD)["examples"][0]
    doc = {**base, **change}
    assert schema_problems(doc, RECORD) is not None, rule
    with pytest.raises(pydantic.ValidationError):
        AuditRecord.model_validate(doc)
