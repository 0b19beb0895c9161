"""Generate the traceability matrix: every requirement ID -> its vectors, tests and checks -> its reference result.

Writes ``docs/reference/traceability.md``. For each ID that ``spec/*.md`` defines (with its level and chapter) it
lists the vector cases that name it, the test functions whose text names it (found as ``tools/spec_lint.py``
finds them), the HTTP checks of ``aifabric certify`` behind it, and the verdict of aifabric's own implementation,
got by running the vectors in-process right now. Output is byte-stable: sorted, no timestamps. Called by
``tools/gen_docs.py``, so ``gen_docs.py --check`` catches drift; run on its own it prints the page.

Usage:
    python tools/gen_traceability.py    # print the page
"""

from __future__ import annotations

import ast
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import spec_lint

PAGE: Final = "docs/reference/traceability.md"
MARK: Final = "<!-- generated from spec/, conformance/vectors/ and tests/ by tools/gen_traceability.py; do not edit -->"
_LINEAGE_EVENT: Final = "https://aifabric.dev/schemas/lineage-event/"
_LIST_MAX: Final = 8
"""How many test functions a cell names before it says how many more there are."""


@dataclass(slots=True)
class Row:
    """What stands behind one requirement ID."""

    rid: str
    level: str
    chapter: str
    vectors: dict[str, list[int]] = field(default_factory=dict)  # vector file -> case numbers
    tests: list[str] = field(default_factory=list)  # "tests/file.py::function" ("tests/file.py" outside one)
    checks: list[str] = field(default_factory=list)  # HTTP checks of aifabric certify
    result: str = "none"


def _chapters(root: Path) -> list[Path]:
    """The spec chapters, in the order of the site's nav (tools/gen_docs.py)."""
    return sorted(
        (p for p in (root / "spec").glob("*.md") if p.name.lower() != "releases.md"),
        key=lambda p: (0 if p.name.lower() in ("readme.md", "index.md") else 1, p.name),
    )


def _rows(root: Path) -> list[Row]:
    rows: list[Row] = []
    for chapter in _chapters(root):
        text = chapter.read_text(encoding="utf-8")
        levels = spec_lint.requirement_levels(text)
        seen: set[str] = set()
        for rid, _ in spec_lint.defined_ids(text):
            if rid not in seen:
                seen.add(rid)
                rows.append(Row(rid, levels.get(rid, "MAY"), chapter.name))
    return rows


def _vector_cases(vectors: Path) -> dict[str, dict[str, list[int]]]:
    """Each ID -> vector file (relative to the vectors folder) -> the numbers of the cases that name it."""
    found: dict[str, dict[str, list[int]]] = {}
    for path in sorted(vectors.rglob("*.json")):
        try:
            doc = json.loads(path.read_bytes())
        except ValueError:
            continue  # spec_lint reports it (bad-vector)
        if not isinstance(doc, dict) or not isinstance(doc.get("cases"), list):
            continue
        name = path.relative_to(vectors).as_posix()
        common = spec_lint.ids_in_vector({"spec": doc.get("spec")})
        for n, case in enumerate(doc["cases"]):
            own = spec_lint.ids_in_vector({"spec": case.get("spec")}) if isinstance(case, dict) else set()
            for rid in common | own:
                found.setdefault(rid, {}).setdefault(name, []).append(n)
    return found


def _test_functions(tests: Path) -> dict[str, list[str]]:
    """Each ID-shaped string in the tests -> the test functions (or modules) it is written in."""
    found: dict[str, list[str]] = {}
    for path in sorted(tests.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        ids = spec_lint.ids_in_test(text)
        if not ids:
            continue
        spans = sorted(
            (node.lineno, node.end_lineno or node.lineno, node.name)
            for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
        )
        name = path.relative_to(tests.parent).as_posix()
        for number, line in enumerate(text.splitlines(), 1):
            for rid in spec_lint.ids_in_test(line):
                inside = [f for start, end, f in spans if start <= number <= end]
                where = f"{name}::{inside[-1]}" if inside else name
                if where not in found.setdefault(rid, []):
                    found[rid].append(where)
    return found


def _http_checks(vectors: Path) -> dict[str, list[str]]:
    """Each ID -> the HTTP checks that exercise it (CONF-040's lineage collector, CONF-041's serving harness)."""
    from aifabric.serving.checks import REQUIREMENTS

    found: dict[str, set[str]] = {"CONF-040": {"lineage-collector"}, "CONF-041": set()}
    for path in sorted((vectors / "lineage").glob("*.json")):
        doc = json.loads(path.read_bytes())
        if str(doc.get("schema", "")).startswith(_LINEAGE_EVENT):
            for rid in spec_lint.ids_in_vector(doc):
                found.setdefault(rid, set()).add("lineage-collector")
    for check, ids in REQUIREMENTS.items():
        for rid in (*ids, "CONF-041"):
            found.setdefault(rid, set()).add(f"serving-harness/{check}")
    return {rid: sorted(checks) for rid, checks in found.items()}


def _reference(vectors: Path) -> dict[str, str]:
    """Each ID -> the verdict of aifabric's own implementation over the vectors that name it, run in-process."""
    from aifabric.conformance import run_vectors

    return dict(run_vectors([vectors]).summary.requirements)


def matrix(root: Path) -> list[Row]:
    """Every requirement ID of ``root``'s spec with what stands behind it, in the order the spec defines them."""
    vectors = root / "conformance" / "vectors"
    cases, tests, checks = _vector_cases(vectors), _test_functions(root / "tests"), _http_checks(vectors)
    results = _reference(vectors)
    rows = _rows(root)
    for row in rows:
        row.vectors = cases.get(row.rid, {})
        row.tests = tests.get(row.rid, [])
        row.checks = checks.get(row.rid, [])
        if row.rid in results:
            row.result = results[row.rid]
        elif row.checks:
            row.result = "check"
        elif row.tests:
            row.result = "test"
    return rows


def _ranges(numbers: Iterable[int]) -> str:
    """Case numbers as ``#0-3, #7``."""
    spans: list[list[int]] = []
    for n in sorted(numbers):
        if spans and spans[-1][1] == n - 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(f"#{a}" if a == b else f"#{a}-{b}" for a, b in spans)


def _cell(items: list[str], limit: int | None = None) -> str:
    shown = items if limit is None or len(items) <= limit else items[:limit]
    text = "<br>".join(f"`{item}`" for item in shown)
    if len(shown) < len(items):
        text += f"<br>and {len(items) - len(shown)} more"
    return text or "-"


def page(root: Path) -> str:
    """The Markdown of the traceability page."""
    rows = matrix(root)
    out = [
        MARK,
        "# Traceability",
        "",
        "Every requirement the specification defines, what stands behind it, and how aifabric's own",
        "implementation does. **Vectors** are the vector files (under `conformance/vectors/`) and case numbers",
        "that name the ID; **Tests** are the test functions (under `tests/`) that name it; **HTTP checks** are",
        "the checks `aifabric certify` runs against a lineage collector or a model endpoint.",
        "",
        "**Reference** is the verdict of aifabric's Python implementation over the vectors, from running them",
        "when this page was generated: `passed`, `failed` or `skipped`. An ID without vectors shows `check`",
        "when an HTTP check proves it (run by `aifabric certify --target reference`) and `test` when only the",
        "test suite does. `tools/spec_lint.py` fails any ID with neither a vector nor a test behind it.",
        "",
    ]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.result] = counts.get(row.result, 0) + 1
    levels = {lv: sum(r.level == lv for r in rows) for lv in ("MUST", "SHOULD", "MAY")}
    out += [
        f"{len(rows)} requirements ({levels['MUST']} MUST, {levels['SHOULD']} SHOULD, {levels['MAY']} MAY); "
        + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        + ".",
    ]
    for chapter in dict.fromkeys(r.chapter for r in rows):
        mine = [r for r in rows if r.chapter == chapter]
        out += [
            "",
            f"## {chapter.removesuffix('.md')}",
            "",
            f"Defined in [spec/{chapter}](../spec/{chapter}).",
            "",
            "| ID | Level | Vectors | Tests | HTTP checks | Reference |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for r in mine:
            vectors = [f"{name}{_ranges(cases)}" for name, cases in sorted(r.vectors.items())]
            cells = [
                f"`{r.rid}`",
                r.level,
                _cell(vectors),
                _cell(r.tests, _LIST_MAX),
                _cell(r.checks),
                f"**{r.result}**" if r.result in ("failed", "none") else r.result,
            ]
            out.append("| " + " | ".join(cells) + " |")
    return "\n".join(line.rstrip() for line in out) + "\n"


def generate(root: Path) -> dict[str, str]:
    """The generated file (path relative to the root -> text)."""
    return {PAGE: page(root)}


if __name__ == "__main__":
    sys.stdout.write(page(Path(__file__).resolve().parent.parent))
