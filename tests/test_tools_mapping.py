"""Tool contracts map to MCP ``Tool``s and OpenAI function tools that the peers' own schemas and SDKs accept.

The peers are real: the dated MCP JSON schemas (``../shared/data/mcp``, with ``jsonschema``), the official ``mcp``
Python SDK's ``mcp.types.Tool``, and the ``openai`` package's typed tool params, read by pydantic.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pydantic
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings

from aifabric import ValidationError, schema_url, validate
from aifabric.models.tools import ToolContract
from aifabric.tools.mapping import MCP_VERSIONS, from_mcp, from_openai, from_openapi, to_mcp, to_openai
from tests.conftest import inline_refs, shared
from tests.strategies import from_schema

mcp_types = pytest.importorskip("mcp.types", reason="the mcp SDK is not installed (pip install 'aifabric[dev]')")
openai_chat = pytest.importorskip("openai.types.chat", reason="openai is not installed (pip install 'aifabric[dev]')")
openai_responses = pytest.importorskip("openai.types.responses")

ROOT = Path(__file__).parent.parent
REFUND = ToolContract.model_validate(yaml.safe_load((ROOT / "examples/tool-contract.yaml").read_text()))
OWNER = {"type": "organization", "id": "payments-team"}
CHAT = pydantic.TypeAdapter(openai_chat.ChatCompletionToolParam)
RESPONSES = pydantic.TypeAdapter(openai_responses.FunctionToolParam)
HINTS = {
    "none": {"readOnlyHint": True},
    "idempotent": {"readOnlyHint": False, "destructiveHint": False, "idempotentHint": True},
    "additive": {"readOnlyHint": False, "destructiveHint": False, "idempotentHint": False},
    "destructive": {"readOnlyHint": False, "destructiveHint": True, "idempotentHint": False},
}
MCP_HELD = ("name", "title", "description", "inputSchema", "outputSchema", "icons", "_meta", "sideEffect")


def mcp_validator(version: str) -> jsonschema.Draft202012Validator:
    schema = json.loads(shared("mcp", version, "schema.json").read_bytes())
    return jsonschema.Draft202012Validator({**schema, "$ref": "#/$defs/Tool"})


def _valid_mcp(doc: dict[str, Any], version: str) -> None:
    errors = [error.message for error in mcp_validator(version).iter_errors(doc)]
    assert not errors, errors
    mcp_types.Tool.model_validate(doc)


def _held(contract: ToolContract) -> dict[str, Any]:
    doc = contract.to_json()
    held = {key: doc[key] for key in MCP_HELD if key in doc}
    hints = doc.get("annotations", {})
    held["annotations"] = {key: hints[key] for key in ("title", "openWorldHint") if key in hints}
    return held


@pytest.mark.parametrize("version", MCP_VERSIONS)
def test_the_example_exports_to_a_valid_mcp_tool(version: str) -> None:
    """[TOOL-050] The refund example exports to a Tool the MCP schema and the MCP SDK accept, and back."""
    mapped = to_mcp(REFUND, version=version)  # type: ignore[arg-type]
    _valid_mcp(mapped.document, version)
    assert mapped.document["annotations"] == {**HINTS["destructive"], "openWorldHint": True}
    assert "/retry: no place in an MCP Tool" in mapped.lost
    assert "/owner: no place in an MCP Tool" in mapped.lost
    back = from_mcp(mapped.document, owner=REFUND.owner, version="2.0.1")
    assert back.lost == []
    assert _held(back.document) == _held(REFUND)


@pytest.mark.parametrize("effect", sorted(HINTS))
def test_hints_are_set_from_the_side_effect_and_read_back(effect: str) -> None:
    """[TOOL-050] Export sets the hints of the mapping table whatever ``annotations`` hold; import reads them back."""
    contract = REFUND.model_copy(update={"side_effect": effect, "annotations": None, "retry": None})
    doc = to_mcp(contract).document
    assert doc["annotations"] == HINTS[effect]
    assert from_mcp(doc, owner=OWNER).document.side_effect == effect


@pytest.mark.parametrize(
    ("hints", "effect"),
    [
        ({}, "destructive"),
        ({"readOnlyHint": True, "destructiveHint": True}, "none"),
        ({"destructiveHint": False}, "additive"),
        ({"destructiveHint": False, "idempotentHint": True}, "idempotent"),
        ({"idempotentHint": True}, "destructive"),
        ({"readOnlyHint": False}, "destructive"),
    ],
)
def test_import_applies_mcps_defaults_to_hints_left_out(hints: dict[str, bool], effect: str) -> None:
    """[TOOL-050] A hint left out takes MCP's default: not read-only, destructive, not idempotent."""
    tool = {"name": "t", "inputSchema": {"type": "object"}, "annotations": hints}
    contract = from_mcp(tool, owner=OWNER).document
    assert contract.side_effect == effect
    assert contract.description == "t"
    assert contract.version == "0.0.0"


def test_import_reports_what_a_contract_cannot_hold() -> None:
    """[TOOL-050] ``execution`` (2025-11-25 only) is left out of a contract and reported."""
    tool = {"name": "t", "inputSchema": {"type": "object"}, "execution": {"taskSupport": "optional"}}
    _valid_mcp(tool, "2025-11-25")
    mapped = from_mcp(tool, owner=OWNER)
    assert mapped.lost == ["/execution: no place in a tool contract"]


def test_import_refuses_a_name_openai_would_refuse() -> None:
    """[TOOL-002] An MCP name outside the names OpenAI accepts cannot become a contract."""
    with pytest.raises(ValidationError) as caught:
        from_mcp({"name": "a.b", "inputSchema": {"type": "object"}}, owner=OWNER)
    assert [problem.pointer for problem in caught.value.problems] == ["/name"]


def test_boolean_property_schemas_are_written_as_objects_for_2025_11_25() -> None:
    """The 2025-11-25 schema wants object property schemas: ``true`` is ``{}`` and ``false`` is ``{"not": {}}``."""
    contract = REFUND.model_copy(update={"input_schema": {"type": "object", "properties": {"a": True, "b": False}}})
    old = to_mcp(contract, version="2025-11-25").document
    _valid_mcp(old, "2025-11-25")
    assert old["inputSchema"]["properties"] == {"a": {}, "b": {"not": {}}}
    new = to_mcp(contract, version="2026-07-28").document
    _valid_mcp(new, "2026-07-28")
    assert new["inputSchema"]["properties"] == {"a": True, "b": False}
    with pytest.raises(ValueError, match="unknown MCP schema version"):
        to_mcp(contract, version="2024-11-05")  # type: ignore[arg-type]


def _generable(node: Any) -> Any:
    """The contract schema without signatures and retries, which MCP does not hold, so that draws are valid."""
    if isinstance(node, list):
        return [_generable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _generable(value) for key, value in node.items()}
    if "exclusiveMinimum" in out:
        out["minimum"] = out["exclusiveMinimum"] + 0.001
    if isinstance(out.get("properties"), dict):
        out["properties"] = {
            key: value for key, value in out["properties"].items() if key not in {"signatures", "retry"}
        }
    return out


CONTRACTS = from_schema(_generable(inline_refs(schema_url("tool-contract"))))


def _contract(doc: Any) -> ToolContract:
    try:
        validate(doc, schema_url=schema_url("tool-contract"))
        return ToolContract.model_validate(doc)
    except (ValidationError, pydantic.ValidationError):
        assume(False)
        raise  # pragma: no cover


@pytest.mark.parametrize("version", MCP_VERSIONS)
def test_any_contract_exports_to_a_valid_mcp_tool_and_round_trips(version: str) -> None:
    """[TOOL-050] Every schema-valid contract exports to a Tool valid against the MCP schema and the SDK, and
    imports back equal in every member MCP holds; a second export is the same Tool.
    """
    validator = mcp_validator(version)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(CONTRACTS)
    def check(doc: Any) -> None:
        contract = _contract(doc)
        exported = to_mcp(contract, version=version).document  # type: ignore[arg-type]
        errors = [error.message for error in validator.iter_errors(exported)]
        assert not errors, (errors, exported)
        mcp_types.Tool.model_validate(exported)
        back = from_mcp(exported, owner=contract.owner, version=contract.version, timeout_s=contract.timeout_s)
        assert back.lost == []
        expected = _held(contract)
        if version == "2025-11-25":  # boolean property schemas are written as their object equivalents
            expected = _held(ToolContract.model_validate({**contract.to_json(), **_objects(contract.to_json())}))
        assert _held(back.document) == expected
        assert to_mcp(back.document, version=version).document == exported  # type: ignore[arg-type]

    check()


def _objects(doc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("inputSchema", "outputSchema"):
        props = doc.get(key, {}).get("properties")
        if isinstance(props, dict):
            fixed = {n: {} if s is True else {"not": {}} if s is False else s for n, s in props.items()}
            out[key] = {**doc[key], "properties": fixed}
    return out


def test_the_example_exports_to_openai_tools_the_sdk_types_accept() -> None:
    """[TOOL-051] Both OpenAI forms are accepted by the openai package's typed params; strict mode holds."""
    chat = to_openai(REFUND, form="chat")
    CHAT.validate_python(chat.document)
    function = chat.document["function"]
    assert function["strict"] is True
    assert function["parameters"]["required"] == ["paymentId", "amountMinor", "currency"]
    assert "/sideEffect: no place in an OpenAI function tool" in chat.lost
    responses = to_openai(REFUND, form="responses")
    RESPONSES.validate_python(responses.document)
    assert responses.document == {"type": "function", **function}
    back = from_openai(responses.document, owner=OWNER).document
    assert (back.name, back.description, back.input_schema) == (REFUND.name, REFUND.description, REFUND.input_schema)
    assert back.side_effect == "destructive"
    with pytest.raises(ValueError, match="unknown OpenAI tool form"):
        to_openai(REFUND, form="assistants")  # type: ignore[arg-type]


def _within_strict(schema: Any) -> bool:
    """TOOL-051's reading of strict mode: every object schema closed, all its properties required."""
    if isinstance(schema, list):
        return all(_within_strict(item) for item in schema)
    if not isinstance(schema, dict):
        return True
    if schema.get("type") == "object" or "properties" in schema:
        if schema.get("additionalProperties") is not False:
            return False
        if set(schema.get("required", [])) != set(schema.get("properties", {})):
            return False
    return all(_within_strict(value) for value in schema.values())


def test_optional_arguments_become_nullable_in_strict_mode() -> None:
    """[TOOL-051] Strict mode closes objects and makes optional properties required and nullable, and says so."""
    schema = {
        "type": "object",
        "properties": {"q": {"type": "string"}, "page": {"type": "object", "properties": {"n": {"type": "integer"}}}},
        "required": ["q"],
    }
    mapped = to_openai(REFUND.model_copy(update={"input_schema": schema}))
    params = mapped.document["function"]["parameters"]
    assert mapped.document["function"]["strict"] is True
    assert _within_strict(params)
    assert params["properties"]["page"]["anyOf"][1] == {"type": "null"}
    assert "/inputSchema/properties/page: optional, sent as required and nullable for strict mode" in mapped.lost
    CHAT.validate_python(mapped.document)
    assert schema["required"] == ["q"]  # the contract's schema is not changed


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "additionalProperties": {"type": "string"}},
        {"type": "object", "properties": {"a": {"allOf": [{"type": "string"}]}}},
        {"type": "object", "patternProperties": {"^x": {}}, "additionalProperties": False},
    ],
)
def test_a_schema_strict_mode_cannot_hold_is_sent_with_strict_false(schema: dict[str, Any]) -> None:
    """[TOOL-051] ``strict`` is true only where the parameters are within strict mode; otherwise it is false."""
    mapped = to_openai(REFUND.model_copy(update={"input_schema": schema}), form="responses")
    assert mapped.document["strict"] is False
    assert mapped.document["parameters"] == schema
    assert any("strict false" in line for line in mapped.lost)
    RESPONSES.validate_python(mapped.document)
    assert to_openai(REFUND, strict=False).document["function"]["strict"] is False


def test_any_contract_exports_to_openai_within_the_rules() -> None:
    """[TOOL-051] For every schema-valid contract: the SDK types accept both forms, and ``strict`` is true only
    where the parameters sent are within strict mode.
    """

    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
    @given(CONTRACTS)
    def check(doc: Any) -> None:
        contract = _contract(doc)
        for form, adapter in (("chat", CHAT), ("responses", RESPONSES)):
            document = to_openai(contract, form=form).document  # type: ignore[arg-type]
            adapter.validate_python(document)
            function = document.get("function", document)
            if function["strict"]:
                assert _within_strict(function["parameters"])
            else:
                assert function["parameters"] == contract.input_schema

    check()


OPERATION: dict[str, Any] = {
    "operationId": "refundPayment",
    "summary": "Refund a payment",
    "description": "Refunds a captured payment.",
    "parameters": [
        {"name": "paymentId", "in": "path", "required": True, "schema": {"type": "string"}},
        {"name": "dryRun", "in": "query", "description": "Only check.", "schema": {"type": "boolean"}},
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object", "properties": {"amount": {"type": "integer"}}}}},
    },
    "responses": {
        "201": {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}},
        "409": {"description": "in flight"},
        "422": {"description": "bad"},
    },
    "security": [{"oauth": ["payments:refund"]}],
    "deprecated": False,
}


def test_an_openapi_operation_becomes_a_contract() -> None:
    """[TOOL-006] [TOOL-018] Parameters and body make the input schema; method, statuses and security the rest."""
    mapped = from_openapi(OPERATION, path="/payments/{paymentId}/refunds", method="POST", owner=OWNER, version="1.2.0")
    contract = mapped.document
    assert contract.name == "refundPayment"
    assert contract.title == "Refund a payment"
    assert contract.side_effect == "additive"
    assert contract.input_schema["required"] == ["paymentId", "body"]
    assert contract.input_schema["properties"]["dryRun"] == {"type": "boolean", "description": "Only check."}
    assert contract.output_schema == {"type": "object"}
    assert [(e.code, e.retryable) for e in contract.errors or []] == [("CONFLICT", True), ("INVALID_INPUT", False)]
    assert contract.auth is not None
    assert contract.auth.scopes == ["payments:refund"]
    assert mapped.lost == ["/deprecated: no place in a tool contract"]
    _valid_mcp(to_mcp(contract).document, "2025-11-25")
    unnamed = from_openapi({"responses": {}}, path="/orders/{id}", method="delete", owner=OWNER).document
    assert (unnamed.name, unnamed.side_effect) == ("delete__orders_id", "destructive")


def test_an_openapi_operation_reports_what_it_cannot_map() -> None:
    """References left unresolved, other media types and non-object results are reported, not guessed."""
    operation = copy.deepcopy(OPERATION)
    operation["parameters"].append({"$ref": "#/components/parameters/Limit"})
    operation["requestBody"] = {"content": {"text/plain": {"schema": {"type": "string"}}}}
    operation["responses"]["201"]["content"]["application/json"]["schema"] = {"type": "array"}
    lost = from_openapi(operation, path="/p", method="get", owner=OWNER).lost
    assert lost[:3] == [
        "/parameters/2: a $ref, not resolved",
        "/requestBody: no application/json content",
        "/responses/201: a result that is not a JSON object",
    ]
