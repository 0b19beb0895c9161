"""The tool-contract model equals the tool-contract schema: instances parse and round-trip, model output validates.

The runtime guard that enforces a contract on calls is a later part; the tests here that name a guard rule's ID
check what can be checked of it without a guard: that no contract the rule could not be applied to is accepted.
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
from hypothesis import HealthCheck, given, settings

from aifabric import schema_url
from aifabric.models.tools import ToolAnnotations, ToolContract
from tests.conftest import assert_model_agrees, assert_vector_agrees, inline_refs, schema_problems
from tests.strategies import from_schema

CONTRACT = schema_url("tool-contract")
DEFAULTED = {"schemaURL", "producer"}
ROOT = Path(__file__).parent.parent
VECTORS = json.loads((ROOT / "conformance/vectors/tools/contract.json").read_text())
BUNDLE = inline_refs(schema_url("common", "1.1.0"))["$defs"]["signatureBundle"]["examples"][0]
MINIMAL = next(case["data"] for case in VECTORS["cases"] if case["description"] == "a minimal tool")
REFUND = yaml.safe_load((ROOT / "examples/tool-contract.yaml").read_text())


def _generable(node: Any) -> Any:
    """The schema in the subset tests/strategies.py draws from, drawing values near its edges.

    A signature bundle is drawn as the common schema's example, broken or not: the model checks bundles against
    that same schema. Numbers with an ``exclusiveMinimum`` are drawn from just above it. ``sideEffect`` and the
    hints are drawn freely, so that the ``if``/``then`` rules, which the generator does not apply, are met about
    as often as they are broken.
    """
    if isinstance(node, list):
        return [_generable(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("required") == ["mediaType", "verificationMaterial", "dsseEnvelope"]:
        return {"enum": [BUNDLE, {**BUNDLE, "mediaType": "application/json"}]}
    out = {key: _generable(value) for key, value in node.items()}
    if "exclusiveMinimum" in out:  # the bound itself is left to the vectors: the generator would draw it often
        out["minimum"] = out["exclusiveMinimum"] + 0.001
    if out.get("required") == ["type"] and "properties" in out:  # an object schema: sometimes of another type
        out["properties"] = {**out["properties"], "type": {"enum": ["object", "array"]}}
    return out


def test_schema_instances_parse_and_round_trip() -> None:
    """[TOOL-001] The model accepts exactly the contracts the schema accepts, and writes them back as given."""

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(from_schema(_generable(inline_refs(CONTRACT))))
    def check(value: Any) -> None:
        assert_model_agrees(value, CONTRACT, ToolContract, DEFAULTED)

    check()


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda case: case["description"][:60])
def test_the_vectors_agree_with_the_model(case: dict[str, Any]) -> None:
    """Every case of the tool vectors is accepted by the model exactly when it is valid."""
    assert_vector_agrees(case, ToolContract, DEFAULTED)


def test_the_example_and_schema_examples_round_trip() -> None:
    for example in [REFUND, *inline_refs(CONTRACT)["examples"]]:
        assert ToolContract.model_validate(example).to_json() == example


def _refused(doc: dict[str, Any]) -> None:
    """Both the schema and the model refuse the contract."""
    assert schema_problems(doc, CONTRACT) is not None
    with pytest.raises(pydantic.ValidationError):
        ToolContract.model_validate(doc)


def _changed(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    for name, value in changes.items():
        if value is None:
            doc.pop(name, None)
        else:
            doc[name] = value
    return doc


def test_every_contract_has_object_schemas_a_guard_can_validate_against() -> None:
    """[TOOL-030] [TOOL-031] Input and output schemas are object schemas, and the shipped ones are valid 2020-12."""
    for bad in [{"type": "array"}, {"type": "string"}, {"properties": {}}, {"type": ["object", "null"]}]:
        _refused(_changed(MINIMAL, inputSchema=bad))
        _refused(_changed(MINIMAL, outputSchema=bad))
    for case in VECTORS["cases"]:
        if case["valid"]:
            for member in ("inputSchema", "outputSchema"):
                if member in case["data"]:
                    jsonschema.Draft202012Validator.check_schema(case["data"][member])


def test_scopes_are_scope_tokens_a_guard_can_compare() -> None:
    """[TOOL-032] Scopes are distinct RFC 6749 scope-tokens, so a guard compares them as strings."""
    for bad in [["a b"], ['a"b'], ["a\\b"], [""], ["x", "x"], []]:
        _refused(_changed(MINIMAL, auth={"required": True, "scopes": bad}))
    ToolContract.model_validate(_changed(MINIMAL, auth={"required": True, "scopes": ["!#[]~", "openid"]}))


def test_consent_names_at_least_one_purpose() -> None:
    """[TOOL-033] A consent member names one or more distinct purposes a guard checks before a call."""
    for bad in [[], ["Payments"], ["x", "x"]]:
        _refused(_changed(MINIMAL, consent={"purposes": bad}))


@pytest.mark.parametrize("effect", ["additive", "destructive"])
def test_no_retry_policy_for_a_tool_with_effects_unless_a_key_is_required(effect: str) -> None:
    """[TOOL-014] [TOOL-034] Retries of an additive or destructive tool need an idempotency key to be required."""
    retried = _changed(REFUND, sideEffect=effect, annotations=None)
    ToolContract.model_validate(retried)
    for idempotency in [None, {"key": "none"}, {"key": "optional", "keyLifetimeS": 60}]:
        _refused(_changed(retried, idempotency=idempotency))
    ToolContract.model_validate(_changed(retried, idempotency=None, retry=None))
    for safe in ["none", "idempotent"]:
        ToolContract.model_validate(_changed(retried, sideEffect=safe, idempotency=None))


def test_a_key_carries_the_lifetime_a_guard_keeps_first_results_for() -> None:
    """[TOOL-011] [TOOL-035] A required or optional key has a keyLifetimeS of one second or more."""
    for bad in [{"key": "required"}, {"key": "optional"}, {"key": "required", "keyLifetimeS": 0}]:
        _refused(_changed(REFUND, idempotency=bad))


def test_a_retry_policy_says_whether_retry_after_is_honoured() -> None:
    """[TOOL-036] A retry policy states honourRetryAfter, true or false, so a guard is never left to guess."""
    retry = {key: value for key, value in REFUND["retry"].items() if key != "honourRetryAfter"}
    _refused(_changed(REFUND, retry=retry))
    _refused(_changed(REFUND, retry={**retry, "honourRetryAfter": "yes"}))


def test_every_contract_has_a_timeout_a_guard_applies() -> None:
    """[TOOL-037] timeoutS is required, above zero and at most a day."""
    for bad in [None, 0, -1, 86401, "5"]:
        _refused(_changed(MINIMAL, timeoutS=bad))


def test_rate_limit_policies_have_a_quota_and_a_window() -> None:
    """[TOOL-038] Each policy has a quota q of zero or more per window w of one second or more."""
    for bad in [{"name": "p", "q": -1, "w": 1}, {"name": "p", "q": 1, "w": 0}, {"name": "p", "w": 1}, {"q": 1, "w": 1}]:
        _refused(_changed(MINIMAL, rateLimit={"policies": [bad]}))
    _refused(_changed(MINIMAL, rateLimit={"policies": []}))


def test_error_codes_are_upper_case_names_a_guard_can_match() -> None:
    """[TOOL-039] Declared and retried error codes are upper-case names, compared exactly."""
    for bad in ["timeout", "Rate_Limited", "1XX", ""]:
        _refused(_changed(MINIMAL, errors=[{"code": bad, "retryable": False}]))
        _refused(_changed(REFUND, retry={**REFUND["retry"], "on": [bad]}))


EXPORTED_HINTS = {
    "none": {"readOnlyHint": True},
    "idempotent": {"readOnlyHint": False, "destructiveHint": False, "idempotentHint": True},
    "additive": {"readOnlyHint": False, "destructiveHint": False, "idempotentHint": False},
    "destructive": {"readOnlyHint": False, "destructiveHint": True, "idempotentHint": False},
}


@pytest.mark.parametrize("effect", sorted(EXPORTED_HINTS))
def test_the_hints_an_export_sets_agree_with_the_side_effect(effect: str) -> None:
    """[TOOL-008] [TOOL-050] The hints of the MCP mapping table are the ones a contract of that sideEffect accepts."""
    base = _changed(REFUND, sideEffect=effect)
    ToolContract.model_validate({**base, "annotations": EXPORTED_HINTS[effect]})
    for other, hints in EXPORTED_HINTS.items():
        if other != effect and hints != EXPORTED_HINTS[effect]:
            _refused({**base, "annotations": hints})
    # An imported MCP tool that is destructive and idempotent stays destructive: the stricter reading.
    ToolContract.model_validate(
        {**_changed(REFUND, sideEffect="destructive"), "annotations": {"destructiveHint": True, "idempotentHint": True}}
    )
    assert ToolAnnotations.model_validate(EXPORTED_HINTS[effect]).to_json() == EXPORTED_HINTS[effect]


def test_names_are_valid_mcp_and_openai_function_names() -> None:
    """[TOOL-002] [TOOL-051] A name that the contract accepts is one OpenAI accepts as a function name."""
    for name in ["a", "A_b-9", "x" * 64]:
        ToolContract.model_validate(_changed(MINIMAL, name=name))
    for name in ["", "x" * 65, "a b", "a.b", "a/b", "é"]:
        _refused(_changed(MINIMAL, name=name))


def _imported_side_effect(hints: dict[str, bool]) -> str:
    """``sideEffect`` as TOOL-050 derives it from an MCP tool's hints, MCP's defaults applied."""
    if hints.get("readOnlyHint", False):
        return "none"
    if not hints.get("destructiveHint", True):
        return "idempotent" if hints.get("idempotentHint", False) else "additive"
    return "destructive"


def test_every_imported_mcp_tool_keeps_its_hints() -> None:
    """[TOOL-050] The side effect an import derives from any MCP hints accepts those hints, kept for round trips."""
    values: list[bool | None] = [None, True, False]
    for read_only in values:
        for destructive in values:
            for idempotent in values:
                named = {"readOnlyHint": read_only, "destructiveHint": destructive, "idempotentHint": idempotent}
                hints = {name: value for name, value in named.items() if value is not None}
                effect = _imported_side_effect(hints)
                ToolContract.model_validate({**MINIMAL, "sideEffect": effect, "annotations": hints})
