"""aifabric.cards: vocabularies, completeness per profile, rendering, signing."""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings

from aifabric import AifabricError, ValidationError, schema_url
from aifabric._errors import DigestMismatchError
from aifabric.cards import (
    ModelCard,
    completeness,
    evaluation_chart,
    load_card,
    profile,
    profiles,
    render_html,
    render_markdown,
    sign_card,
    verify_card,
    vocabulary,
)
from aifabric.cards.vocabulary import names
from aifabric.signing.keys import generate_key
from tests.conftest import inline_refs, schema_problems
from tests.strategies import from_schema
from tests.test_models_cards import _generable

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "model-card.yaml"
CARD = schema_url("model-card")


@pytest.fixture(scope="module")
def card() -> ModelCard:
    return load_card(EXAMPLE)


def _with(card: ModelCard, **changes: Any) -> ModelCard:
    doc = copy.deepcopy(card.to_json())
    doc.update(changes)
    return ModelCard.parse_document(doc)


def test_vocabularies_load_from_the_package_with_their_real_sizes() -> None:
    assert names() == (
        "eu-ai-act",
        "eu-ai-act-annex-iv",
        "iso-iec-25012",
        "iso-iec-42001",
        "mit-ai-risk",
        "nist-ai-rmf",
    )
    rmf = vocabulary("nist-ai-rmf")
    assert [len(rmf.ids(kind)) for kind in ("function", "category", "subcategory")] == [4, 19, 72]
    assert rmf.ids("subcategory")[0] == "GOVERN 1.1" and rmf.ids("subcategory")[-1] == "MANAGE 4.3"
    assert "fairness" in rmf.term("MEASURE 2.11").title.lower()
    mit = vocabulary("mit-ai-risk")
    assert len(mit.ids("domain")) == 7 and len(mit.ids("subdomain")) == 24
    assert mit.term("1.3").title == "Unequal performance across groups"
    assert len(vocabulary("iso-iec-42001").ids("control")) == 38
    assert len(vocabulary("iso-iec-25012").ids()) == 15
    assert vocabulary("eu-ai-act-annex-iv").ids() == [str(n) for n in range(1, 10)]
    assert {"art-12", "art-9", "art-15"} <= set(vocabulary("eu-ai-act").ids())
    for name in names():  # every term's parent is a term of the same vocabulary
        vocab = vocabulary(name)
        assert all(t.parent is None or t.parent in vocab or vocab.id == "iso-iec-25012" for t in vocab.terms)
    with pytest.raises(KeyError, match="no vocabulary 'owasp'"):
        vocabulary("owasp")


def test_the_high_risk_profile_wants_every_annex_iv_point_and_art_12(card: ModelCard) -> None:
    """[CARD-050] [CARD-051] The example lacks Annex IV points 4 to 9; adding them completes it."""
    report = completeness(card, "eu-ai-act-high-risk")
    assert not report.complete
    assert report.missing_evidence == [("eu-ai-act-annex-iv", str(n)) for n in range(4, 10)]
    assert report.missing_sections == []
    assert ("eu-ai-act", "art-12") in report.satisfied
    assert report.lines()[0] == "missing evidence: eu-ai-act-annex-iv 4"
    more = [{"framework": "eu-ai-act-annex-iv", "id": str(n), "sections": ["/risks"]} for n in range(4, 10)]
    assert completeness(_with(card, evidence=[*card.to_json()["evidence"], *more]), "eu-ai-act-high-risk").complete
    gone = _with(card, evaluation=[], evidence=[e for e in card.to_json()["evidence"] if e["id"] != "art-12"])
    report = completeness(gone, "eu-ai-act-high-risk")
    assert report.missing_sections == ["evaluation"] and ("eu-ai-act", "art-12") in report.missing_evidence


def test_the_nist_profile_counts_a_subcategory_toward_its_category(card: ModelCard) -> None:
    """[CARD-050] [CARD-052] MEASURE 2.11 is evidence for MEASURE 2; the other categories are missing."""
    report = completeness(card, "nist-ai-rmf")
    assert report.satisfied == [("nist-ai-rmf", "MEASURE 2")]
    assert ("nist-ai-rmf", "MAP 1") in report.missing_evidence and len(report.missing_evidence) == 6
    ids = ["MAP 1.1", "MAP 2", "MAP 3.5", "MEASURE 1.1", "MANAGE 1", "MANAGE 4.3"]
    more = [
        {"framework": "nist-ai-rmf", "id": i, "documents": [{"name": i, "digest": {"sha256": "ab" * 32}}]} for i in ids
    ]
    assert completeness(_with(card, evidence=[*card.to_json()["evidence"], *more]), "nist-ai-rmf").complete
    assert profile("nist-ai-rmf").sections == ("evaluation", "risks")


def test_the_minimal_profile_wants_use_and_evaluation_only(card: ModelCard) -> None:
    """[CARD-050] [CARD-053] No evidence needed; an empty evaluation is missing."""
    assert completeness(card, "minimal").complete and profile("minimal").evidence == ()
    assert completeness(_with(card, evaluation=[]), "minimal").missing_sections == ["evaluation"]
    assert profiles() == ("eu-ai-act-high-risk", "minimal", "nist-ai-rmf")
    with pytest.raises(AifabricError, match="no profile 'iso'"):
        completeness(card, "iso")


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.seen: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append(tag)
        if tag not in {"meta", "br", "path", "rect"}:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, (self.stack[-3:], tag)
        self.stack.pop()


def _svg(page: str) -> ET.Element:
    found = re.search(r"<svg.*?</svg>", page, re.S)
    assert found is not None
    return ET.fromstring(found.group(0))


def test_html_is_one_self_contained_page_with_tables_and_a_chart(card: ModelCard) -> None:
    page = render_html(card)
    tags = _Tags()
    tags.feed(page)
    assert tags.stack == []  # every element closed, in order
    assert "script" not in tags.seen and "link" not in tags.seen and "img" not in tags.seen
    assert not re.search(r"""(src|href)=["']?https?:""", page)
    for heading in ("Evaluation", "Risks", "Red team", "Evidence", "Completeness", "Training data", "Change log"):
        assert f"<h2>{heading}</h2>" in page
    assert "<td>tenure &lt; 30 days</td>" in page  # escaped
    assert "<td>MEASURE 2.11</td>" in page and "<td>eu-ai-act-high-risk</td>" in page
    svg = _svg(page)
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert len(svg.findall("{http://www.w3.org/2000/svg}rect")) == 3  # one bar per result
    assert len(svg.findall("{http://www.w3.org/2000/svg}path")) == 1  # one interval: the first result's


def test_markdown_has_a_table_per_section(card: ModelCard) -> None:
    page = render_markdown(card)
    assert page.startswith("# acme/churn-classifier 1.3.0\n")
    assert (
        "| tabular-classification | acme/churn-eval-2026q2 | all | accuracy | 0.973 | [0.962, 0.982] at 0.95 |" in page
    )
    assert "| mit-ai-risk | 1.3 | low |" in page
    assert "| eu-ai-act | art-12 |  | audit log checkpoint (sha256:fcde2b2edba5) |" in page
    assert "| eu-ai-act-high-risk | no | missing evidence: eu-ai-act-annex-iv 4;" in page
    pipes = _with(
        card, quantitativeAnalysis={"summary": "a | b"}, intendedUse={"primaryUses": ["x | y"], "limitations": ["z"]}
    )
    assert "- x \\| y" in render_markdown(pipes)


def test_the_chart_scales_negative_values_and_no_results() -> None:
    doc = ModelCard.model_validate(
        {
            "model": {"name": "m", "version": "1"},
            "intendedUse": {"primaryUses": ["u"]},
            "evaluation": [
                {"task": "t", "dataset": {"name": "d"}, "metric": "delta", "value": -2.5},
                {
                    "task": "t",
                    "dataset": {"name": "d"},
                    "metric": "gain",
                    "value": 4,
                    "confidenceInterval": {"lower": 3, "upper": 5, "level": 0.9},
                },
            ],
        }
    )
    svg = ET.fromstring(evaluation_chart(doc.evaluation or []))
    widths = [float(r.get("width", "0")) for r in svg.iter("{http://www.w3.org/2000/svg}rect")]
    assert widths[0] > 0 and widths[1] > widths[0]
    assert ET.fromstring(evaluation_chart([])).tag.endswith("svg")
    control = doc.model_copy(update={"evaluation": [(doc.evaluation or [])[0].model_copy(update={"slice": "a\x00<b"})]})
    assert "a\ufffd<b" in ET.fromstring(evaluation_chart(control.evaluation or [])).findtext(
        "{http://www.w3.org/2000/svg}text", ""
    )


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(from_schema(_generable(inline_refs(CARD))))
def test_every_valid_card_renders(value: Any) -> None:
    assume(schema_problems(value, CARD) is None)
    card = ModelCard.model_validate(value)
    page = render_html(card)
    if card.evaluation:
        assert len(list(_svg(page).iter("{http://www.w3.org/2000/svg}rect"))) == len(card.evaluation)
    tags = _Tags()
    tags.feed(page)
    assert tags.stack == []
    assert render_markdown(card).startswith(f"# {card.model.name}")


def test_signing_round_trip_and_tamper_detection(card: ModelCard) -> None:
    """[CARD-020] A signed card verifies; a changed value or a wrong key does not."""
    key = generate_key("ed25519")
    signed = sign_card(card, key)
    assert signed.signatures is not None and len(signed.signatures) == 1
    assert verify_card(signed, key=key.public_key()) == signed
    twice = sign_card(signed, generate_key("ecdsa-p256"))
    assert twice.signatures is not None and len(twice.signatures) == 2
    assert verify_card(twice, key=key.public_key()).model.name == card.model.name
    tampered = signed.to_json()
    tampered["evaluation"][0]["value"] = 0.99
    tampered["evaluation"][0]["confidenceInterval"]["upper"] = 0.995
    with pytest.raises(DigestMismatchError):
        verify_card(tampered, key=key.public_key())
    with pytest.raises(AifabricError):
        verify_card(signed, key=generate_key("ed25519").public_key())


def test_bad_input_names_the_file_and_pointer(tmp_path: Path) -> None:
    """[CARD-036] Schema and consistency problems alike carry the file, the pointer and the rule."""
    text = EXAMPLE.read_text().replace("id: MEASURE 2.11\n    sections", "id: MEASURE 2.99\n    sections")
    text = text.replace("base: 1.2.0", "base: 1.1.0")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(ValidationError) as caught:
        load_card(bad)
    lines = [str(p) for p in caught.value.problems]
    assert any(line.startswith(f"{bad}: /evidence/4/id: ") for line in lines), lines
    bad.write_text(EXAMPLE.read_text().replace("base: 1.2.0", "base: 1.1.0"))
    with pytest.raises(ValidationError) as caught:
        load_card(bad)
    assert [str(p) for p in caught.value.problems] == [
        f"{bad}: /changeLog/0/base: change-base: 1.1.0 is not a baseModel version or the version of an earlier "
        "change (known: 1.2.0)"
    ]
