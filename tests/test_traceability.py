"""The traceability matrix (tools/gen_traceability.py): every requirement ID, what stands behind it, its result.

# spec-lint: ignore-file  (this file holds made-up requirement IDs)
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import ROOT
from tests.test_spec import load_tool

lint = load_tool("spec_lint")
trace = load_tool("gen_traceability")


def _rows(text: str) -> dict[str, list[str]]:
    """The table rows of a traceability page: ID -> its cells."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            rows[cells[0].strip("`")] = cells
    return rows


def test_the_page_lists_every_requirement_of_the_spec_and_is_current() -> None:
    page = (ROOT / trace.PAGE).read_text("utf-8")
    assert trace.generate(ROOT) == {trace.PAGE: page}, "run python tools/gen_docs.py"
    rows = _rows(page)
    defined = {rid for chapter in (ROOT / "spec").glob("*.md") for rid, _ in lint.defined_ids(chapter.read_text())}
    assert defined and set(rows) == defined
    for rid, cells in rows.items():
        assert cells[1] in ("MUST", "SHOULD", "MAY"), rid
        assert cells[5] in ("passed", "test", "check"), f"{rid}: {cells[5]}"


def _repo(tmp_path: Path) -> Path:
    (tmp_path / "spec").mkdir()
    (tmp_path / "spec" / "a.md").write_text(
        "# A\n\nA timestamp MUST carry an offset [TEST-001].\n\nIt MUST be sorted [TEST-002].\n\n"
        "It SHOULD be short [TEST-003].\n",
        "utf-8",
    )
    vectors = tmp_path / "conformance" / "vectors" / "common"
    vectors.mkdir(parents=True)
    vector = {
        "schemaURL": "https://aifabric.dev/schemas/conformance-vector/1.0.0.json",
        "description": "timestamps carry an offset",
        "spec": ["TEST-001"],
        "operation": "validate",
        "schema": "https://aifabric.dev/schemas/common/1.0.0.json#/$defs/timestamp",
        "cases": [
            {"description": "UTC", "data": "2026-11-23T08:15:42Z", "valid": True},
            {"description": "no offset", "data": "2026-11-23T08:15:42", "valid": False},
            {"description": "wrongly said valid", "data": "noon", "valid": True, "spec": ["TEST-003"]},
        ],
    }
    (vectors / "timestamp.json").write_text(json.dumps(vector), "utf-8")
    (tmp_path / "tests").mkdir()
    return tmp_path


def test_each_id_shows_its_vectors_tests_and_reference_result(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    (root / "tests" / "test_a.py").write_text('def test_sorted() -> None:\n    """TEST-002: sorted."""\n', "utf-8")
    rows = _rows(trace.page(root))
    assert rows["TEST-001"][1:] == ["MUST", "`common/timestamp.json#0-2`", "-", "-", "**failed**"]
    assert rows["TEST-002"][1:] == ["MUST", "-", "`tests/test_a.py::test_sorted`", "-", "test"]
    assert rows["TEST-003"][1:] == ["SHOULD", "`common/timestamp.json#2`", "-", "-", "**failed**"]
    assert trace.page(root) == trace.page(root)  # byte-stable


def test_a_must_with_nothing_behind_it_fails_the_lint_and_shows_none(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    assert _rows(trace.page(root))["TEST-002"][5] == "**none**"
    problems = lint.lint_repo(root)
    assert [(p.rule, p.message.split()[0]) for p in problems] == [("uncovered-id", "TEST-002")]
    assert lint.main(["--root", str(root)]) == 1
