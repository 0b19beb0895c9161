"""The conformance guide's minimal adapter works as printed: it passes Document Validator through the CLI."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from aifabric._cli import app

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "guides" / "conformance.md"


def _adapter_source() -> str:
    """The Python block that follows "A complete adapter" in the guide."""
    text = GUIDE.read_text("utf-8")
    found = re.search(r"A complete adapter.*?```python\n(.*?)```", text, re.S)
    assert found, "the guide has no adapter example"
    return found[1]


def _certify(adapter: Path, out: Path) -> tuple[int, dict[str, Any]]:
    report = out / "report.json"
    target = f"{sys.executable} {adapter}"
    args = ["certify", "--target", target, "-p", "document-validator", "--report", str(report)]
    result = CliRunner().invoke(app, args)
    return result.exit_code, json.loads(report.read_text("utf-8"))


def test_the_guides_adapter_passes_document_validator(tmp_path: Path) -> None:
    """CONF-020, CONF-023, CONF-025, CONF-027, CONF-028: the printed adapter speaks the protocol and passes."""
    source = _adapter_source()
    assert len(source.splitlines()) <= 40
    adapter = tmp_path / "my_adapter.py"
    adapter.write_text(source, "utf-8")
    code, report = _certify(adapter, tmp_path)
    assert code == 0
    assert report["implementation"] == {"name": "my-validator", "version": "1.0"}
    assert [(p["id"], p["verdict"]) for p in report["profiles"]] == [("document-validator", "passed")]


def test_the_same_adapter_accepting_everything_fails(tmp_path: Path) -> None:
    """CONF-003: an adapter whose implementation accepts every document fails the profile."""
    source = _adapter_source().replace("validate(document, schema_url=schema_url, registry=REGISTRY)", "pass")
    adapter = tmp_path / "accept_all.py"
    adapter.write_text(source, "utf-8")
    code, report = _certify(adapter, tmp_path)
    assert code == 1
    assert report["profiles"][0]["verdict"] == "failed"
