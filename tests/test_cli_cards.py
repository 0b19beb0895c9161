"""``aifabric card``: new, validate, render, check, export and import, as a user runs them."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from tests.test_cli import invoke, script, write

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "model-card.yaml"


def test_new_writes_a_valid_card_complete_for_the_minimal_profile(tmp_path: Path) -> None:
    out = tmp_path / "card.yaml"
    result = invoke("card", "new", "-o", out, "--name", "acme/x: y", "--version", "2.0")
    assert result.exit_code == 0, result.output
    assert invoke("card", "validate", out).exit_code == 0
    check = invoke("card", "check", out, "--profile", "minimal")
    assert check.exit_code == 0 and "complete" in check.output
    assert "acme/x: y 2.0" in invoke("card", "validate", out).output
    again = invoke("card", "new", "-o", out)
    assert again.exit_code == 2 and "--force" in again.output
    assert invoke("card", "new", "-o", out, "--force").exit_code == 0


def test_validate_names_file_pointer_and_rule_and_exits_1(tmp_path: Path) -> None:
    """[CARD-036] One line per problem, the file and pointer in each; a valid file beside it still passes."""
    bad = write(
        tmp_path / "bad.yaml", EXAMPLE.read_text().replace('id: "1.3"', 'id: "9.9"').replace("/risks]", "/nope]")
    )
    result = invoke("card", "validate", EXAMPLE, bad)
    assert result.exit_code == 1
    assert f"valid   {EXAMPLE}" in result.output
    assert f"invalid {bad}: /risks/assessments/1/id: " in result.output
    assert "1 of 2 cards invalid" in result.output
    consistency = write(tmp_path / "c.yaml", EXAMPLE.read_text().replace("/risks]", "/nope]"))
    result = invoke("card", "validate", consistency)
    assert result.exit_code == 1
    assert f"invalid {consistency}: /evidence/4/sections/1: evidence-pointer: /nope does not resolve" in result.output
    for text in ("model: [", "a: 1\n---\nb: 2\n"):
        broken = write(tmp_path / "broken.yaml", text)
        result = invoke("card", "validate", broken)
        assert result.exit_code == 1 and str(broken) in result.output
    assert invoke("card", "validate", tmp_path / "absent.yaml").exit_code == 1


def test_render_writes_markdown_and_html(tmp_path: Path) -> None:
    md = invoke("card", "render", EXAMPLE)
    assert md.exit_code == 0 and md.stdout.startswith("# acme/churn-classifier 1.3.0")
    out = tmp_path / "card.html"
    assert invoke("card", "render", EXAMPLE, "--format", "html", "-o", out).exit_code == 0
    page = out.read_text()
    svg = page[page.index("<svg") : page.index("</svg>") + 6]
    assert ET.fromstring(svg).tag.endswith("svg")
    wrong = invoke("card", "render", EXAMPLE, "--format", "pdf")
    assert wrong.exit_code == 2 and "md or html" in wrong.output


def test_check_exits_by_completeness_and_lists_what_is_missing() -> None:
    """[CARD-050] [CARD-051] Exit 1 lists each missing Annex IV point; an unknown profile is a usage error."""
    result = invoke("card", "check", EXAMPLE, "--profile", "eu-ai-act-high-risk")
    assert result.exit_code == 1
    for point in range(4, 10):
        assert f"missing evidence: eu-ai-act-annex-iv {point}\n" in result.output
    assert "incomplete for eu-ai-act-high-risk: 6 missing" in result.output
    assert invoke("card", "check", EXAMPLE, "--profile", "minimal").exit_code == 0
    unknown = invoke("card", "check", EXAMPLE, "--profile", "iso")
    assert unknown.exit_code == 2 and "eu-ai-act-high-risk, minimal, nist-ai-rmf" in unknown.output


def test_the_console_script_has_the_card_group() -> None:
    result = script("card", "--help")
    assert result.returncode == 0
    for command in ("new", "validate", "render", "check", "export", "import"):
        assert command in result.stdout


def _card(tmp_path: Path) -> Path:
    doc = json.loads(json.dumps(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")), default=str))
    path = tmp_path / "card.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_export_to_each_target_and_import_back(tmp_path: Path) -> None:
    card = _card(tmp_path)
    for target in ("cyclonedx", "spdx"):
        result = invoke("card", "export", card, "--to", target)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)
        assert "not kept: /changeLog" in result.stderr
    readme = tmp_path / "README.md"
    result = invoke("card", "export", card, "--to", "hf", "-o", readme)
    assert result.exit_code == 0, result.output
    assert readme.read_text(encoding="utf-8").startswith("---\nlicense: apache-2.0")
    out = tmp_path / "back.yaml"
    result = invoke("card", "import", readme, "--from", "hf", "-o", out)
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(out.read_text(encoding="utf-8")) == json.loads(card.read_text(encoding="utf-8"))


def test_bad_input_is_one_clear_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    card = _card(tmp_path)
    assert invoke("card", "export", card, "--to", "xml").exit_code == 2
    assert invoke("card", "import", card, "--from", "mcp").exit_code == 2
    bad = tmp_path / "README.md"
    bad.write_text("---\nlicense: 5\nmodel_name: x\n---\n# x\n", encoding="utf-8")
    result = invoke("card", "import", bad)
    assert result.exit_code == 1 and "/license" in result.stderr
    missing = invoke("card", "export", tmp_path / "nope.yaml")
    assert missing.exit_code == 1 and "nope.yaml" in missing.stderr


def test_new_into_a_folder_that_does_not_exist_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = invoke("card", "new", "-o", tmp_path / "missing" / "card.yaml")
    assert result.exit_code == 2 and "cannot write" in result.output
