"""The spec lint's rules, each shown catching what it should and passing what it should.

# spec-lint: ignore-file  (this file holds made-up requirement IDs)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_spec import load_tool

lint = load_tool("spec_lint")


def rules(text: str) -> list[str]:
    return [p.rule for p in lint.lint_text("spec/x.md", text)]


def test_a_clean_chapter_passes() -> None:
    assert rules("# T\n\nA document MUST be JSON [TEST-001].\n\nThe word may is fine here.\n") == []


@pytest.mark.parametrize(
    "text",
    ["A producer must sign it [TEST-001].\n", "Producers should do it [TEST-001].\n", "It Shall not be [TEST-001].\n"],
)
def test_lowercase_keywords_are_flagged(text: str) -> None:
    assert "lowercase-keyword" in rules(text)


def test_keywords_in_code_are_not_flagged() -> None:
    assert rules("Write `must` in code [TEST-001] MUST.\n\n```\nmust\n```\n") == ["missing-id"]


def test_a_normative_sentence_without_an_id_is_flagged() -> None:
    assert rules("It MUST be UTF-8.\n") == ["missing-id"]
    assert rules("It MUST be UTF-8 [TEST-001]. It SHOULD be short.\n") == ["missing-id"]


def test_the_conventions_paragraph_is_exempt() -> None:
    text = "<!-- lint: conventions -->\nThe key words MUST, SHOULD and MAY are to be read as in BCP 14.\n"
    assert rules(text) == []


def test_a_duplicate_id_is_flagged() -> None:
    assert rules("It MUST be A [TEST-001].\n\nIt MUST be B [TEST-001].\n") == ["duplicate-id"]


def test_broken_anchor_is_flagged() -> None:
    assert rules("# Title\n\nSee [x](#title) and [y](#nowhere).\n") == ["broken-link"]


def test_broken_relative_link_is_flagged(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n")
    found = lint.lint_text("spec/x.md", "See [a](a.md#a), [b](b.md) and [c](a.md#z).\n", path=tmp_path / "x.md")
    assert [p.rule for p in found] == ["broken-link", "broken-link"]


def test_coverage_and_unknown_ids(tmp_path: Path) -> None:
    (tmp_path / "spec").mkdir()
    (tmp_path / "spec" / "a.md").write_text("It MUST be A [TEST-001].\n\nIt MUST be B [TEST-002].\n")
    vectors = tmp_path / "conformance" / "vectors" / "a"
    vectors.mkdir(parents=True)
    (vectors / "v.json").write_text(json.dumps({"spec": ["TEST-001"], "cases": [{"spec": ["TEST-009"]}]}))
    (tmp_path / "tests").mkdir()
    found = {(p.rule, p.message.split()[0]) for p in lint.lint_repo(tmp_path)}
    assert ("uncovered-id", "TEST-002") in found
    assert any(rule == "unknown-id" for rule, _ in found)
    assert not any(rule == "uncovered-id" and word == "TEST-001" for rule, word in found)
    (tmp_path / "tests" / "test_a.py").write_text('"""[TEST-002]"""\n')
    assert ("uncovered-id", "TEST-002") not in {(p.rule, p.message.split()[0]) for p in lint.lint_repo(tmp_path)}


def test_main_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "spec").mkdir()
    (tmp_path / "spec" / "a.md").write_text("It must be A.\n")
    assert lint.main(["--root", str(tmp_path)]) == 1
    assert "lowercase-keyword" in capsys.readouterr().out
