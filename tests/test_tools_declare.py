"""``@tool`` makes contracts from typed functions; ``load_contract`` reads them with errors that say where."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pydantic
import pytest

from aifabric import DocumentError, ValidationError, validate
from aifabric.tools.declare import Tool, load_contract, tool

ROOT = Path(__file__).parent.parent
OWNER = {"type": "organization", "id": "payments-team"}


class Refund(pydantic.BaseModel):
    """A refund made."""

    refund_id: str
    status: str


def test_a_sync_function_keeps_working_and_has_a_contract() -> None:
    """[TOOL-001] [TOOL-006] The contract is valid; its schemas are object schemas from the hints and docstring."""

    @tool(
        version="2.0.1",
        owner=OWNER,
        side_effect="destructive",
        timeout_s=10,
        scopes=["payments:refund"],
        idempotency="required",
        retry={
            "maxAttempts": 3,
            "backoff": {"initialS": 0.5, "maxS": 4, "multiplier": 2, "jitter": "full"},
            "honourRetryAfter": True,
            "on": ["UNAVAILABLE"],
        },
        consent=["payments"],
        errors=[{"code": "UNAVAILABLE", "retryable": True}],
    )
    def refund_payment(payment_id: str, amount_minor: int | None = None) -> Refund:
        """Refunds a captured payment.

        In full unless an amount is given.

        Args:
            payment_id: The payment
                to refund.
            amount_minor (int): The amount, in minor units.

        Returns:
            The refund.
        """
        return Refund(refund_id=f"r-{payment_id}", status="pending")

    assert isinstance(refund_payment, Tool)
    assert refund_payment("p1").refund_id == "r-p1"
    assert refund_payment.__name__ == "refund_payment"
    contract = refund_payment.contract
    doc = contract.to_json()
    validate(doc)
    assert doc["description"] == "Refunds a captured payment.\n\nIn full unless an amount is given."
    assert doc["inputSchema"]["properties"]["payment_id"] == {"type": "string", "description": "The payment to refund."}
    assert doc["inputSchema"]["required"] == ["payment_id"]
    assert doc["inputSchema"]["additionalProperties"] is False
    assert doc["outputSchema"]["type"] == "object"
    assert refund_payment.wraps_result is False
    assert doc["auth"] == {"required": True, "scopes": ["payments:refund"]}
    assert doc["idempotency"] == {"key": "required", "keyLifetimeS": 86400}
    assert doc["consent"] == {"purposes": ["payments"]}


def test_an_async_function_and_a_wrapped_result() -> None:
    """[TOOL-006] A non-object return is wrapped as ``{"result": ...}``, its ``$defs`` kept at the root."""

    @tool(version="1.0.0", owner=OWNER, side_effect="none", name="list-refunds", title="List refunds")
    async def refunds(limit: int) -> list[Refund]:
        """Lists refunds."""
        return [Refund(refund_id="r", status="ok")][:limit]

    assert [r.refund_id for r in asyncio.run(refunds(1))] == ["r"]
    schema = refunds.contract.output_schema
    assert schema is not None
    assert refunds.wraps_result is True
    assert schema["required"] == ["result"]
    assert schema["properties"]["result"]["items"] == {"$ref": "#/$defs/Refund"}
    assert "Refund" in schema["$defs"]
    assert (refunds.contract.name, refunds.contract.title, refunds.contract.timeout_s) == (
        "list-refunds",
        "List refunds",
        30,
    )


def test_no_return_hint_means_no_output_schema() -> None:
    """A function that returns nothing has no ``outputSchema``."""

    @tool(version="1.0.0", owner=OWNER, side_effect="additive", description="Sends a note.")
    def send(text: str) -> None:
        del text

    assert send.contract.output_schema is None
    assert send.contract.description == "Sends a note."


def test_functions_a_contract_cannot_describe_are_refused() -> None:
    """Untyped parameters and ``*args`` cannot make an input schema; an invalid contract raises ValidationError."""
    declare = tool(version="1.0.0", owner=OWNER, side_effect="none")
    with pytest.raises(TypeError, match="no type hint"):
        declare(lambda x: x)

    def spread(*rest: int) -> None:
        """Spreads."""

    with pytest.raises(TypeError, match=r"not \*rest"):
        declare(spread)
    with pytest.raises(ValidationError) as caught:

        @tool(version="1", owner=OWNER, side_effect="none")
        def versioned() -> None:
            """A bad version."""

    assert "/version" in [problem.pointer for problem in caught.value.problems]
    with pytest.raises(ValidationError, match="description"):

        @tool(version="1.0.0", owner=OWNER, side_effect="none")
        def undocumented() -> None:
            pass


def test_load_contract_reads_files_and_text() -> None:
    """[TOOL-001] The example reads from its file and from JSON text; the model fills nothing the file lacks."""
    contract = load_contract(ROOT / "examples/tool-contract.yaml")
    assert contract.name == "refund_payment"
    assert load_contract(str(ROOT / "examples/tool-contract.yaml")) == contract
    assert load_contract(json.dumps(contract.to_json()), fmt="json") == contract
    assert load_contract(json.dumps(contract.to_json()).encode()) == contract


def test_load_contract_names_file_pointer_and_rule(tmp_path: Path) -> None:
    """[TOOL-009] [TOOL-014] Problems name the file, the JSON pointer and the rule broken."""
    text = (ROOT / "examples/tool-contract.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("sideEffect: destructive", "sideEffect: sometimes"))
    with pytest.raises(ValidationError) as caught:
        load_contract(bad)
    assert caught.value.source == str(bad)
    assert ("/sideEffect", "enum") in [(p.pointer, p.rule) for p in caught.value.problems]
    with pytest.raises(ValidationError, match="not a tool-contract document"):
        load_contract("schemaURL: https://aifabric.dev/schemas/serving-contract/1.0.0.json\nname: x\n")
    with pytest.raises(DocumentError, match="expected one tool-contract document"):
        load_contract("a: 1\n---\nb: 2\n")
    with pytest.raises(DocumentError, match="directory"):
        load_contract(tmp_path)
    with pytest.raises(DocumentError):
        load_contract(tmp_path / "missing.json", fmt="json")
