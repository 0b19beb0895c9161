"""``aifabric tools``: check, export and import, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.test_cli import invoke, write

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "tool-contract.yaml"


def test_check_names_each_problem_and_exits_by_verdict(tmp_path: Path) -> None:
    result = invoke("tools", "check", EXAMPLE)
    assert result.exit_code == 0 and "valid" in result.output and "refund_payment" in result.output
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["name"] = "refund payment"
    bad = write(tmp_path / "bad.yaml", yaml.safe_dump(doc))
    result = invoke("tools", "check", bad)
    assert result.exit_code == 1
    assert "/name" in result.output and "not a valid tool contract" in result.output


def test_export_to_mcp_and_openai_and_import_back(tmp_path: Path) -> None:
    """[TOOL-050] [TOOL-051] The example exports to both MCP dates and both OpenAI forms, and imports back."""
    mcp = invoke("tools", "export", EXAMPLE, "--to", "mcp")
    assert mcp.exit_code == 0, mcp.output
    document = json.loads(mcp.stdout)
    assert document["name"] == "refund_payment" and document["annotations"]["destructiveHint"] is True
    assert "not kept: /idempotency" in mcp.output or "not kept:" in mcp.output
    for target in ("mcp-2026-07-28", "openai", "openai-responses"):
        assert invoke("tools", "export", EXAMPLE, "--to", target).exit_code == 0
    exported = write(tmp_path / "tool.json", document)
    back = invoke("tools", "import", exported, "--from", "mcp", "--owner", "payments-team")
    assert back.exit_code == 0, back.output
    contract = json.loads(back.stdout)
    assert contract["name"] == "refund_payment" and contract["sideEffect"] == "destructive"
    assert invoke("tools", "check", write(tmp_path / "back.json", contract)).exit_code == 0
    assert invoke("tools", "import", exported, "--from", "mcp").exit_code == 2  # no --owner
    assert invoke("tools", "export", EXAMPLE, "--to", "xml").exit_code == 2


def test_import_an_openapi_operation(tmp_path: Path) -> None:
    spec = {
        "openapi": "3.1.0",
        "paths": {
            "/orders/{id}": {
                "get": {
                    "operationId": "get_order",
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": {"content": {"application/json": {"schema": {"type": "object"}}}}},
                }
            }
        },
    }
    source = write(tmp_path / "openapi.json", spec)
    result = invoke(
        "tools", "import", source, "--from", "openapi", "--path", "/orders/{id}", "--method", "get", "--owner", "shop"
    )
    assert result.exit_code == 0, result.output
    contract = json.loads(result.stdout)
    assert contract["name"] == "get_order" and contract["sideEffect"] == "none"
    assert contract["inputSchema"]["required"] == ["id"]
