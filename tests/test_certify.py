"""``aifabric certify``: profiles as data, verdicts, the signed report, JUnit XML and HTML."""

from __future__ import annotations

import json
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from typer.testing import CliRunner

from aifabric._cli import app
from aifabric.conformance._outputs import junit_xml, report_html
from aifabric.conformance.certify import CertifyError, certify, judge, load_profiles
from aifabric.conformance.verify import ReportError, check_report
from aifabric.models.conformance import Result
from aifabric.signing.documents import attach, sign_document
from aifabric.signing.keys import generate_key, public_pem, write_private_key

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from spec_lint import requirement_levels  # noqa: E402

ADAPTER_PROFILES = [p.id for p in load_profiles() if p.target == "adapter"]


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    doc: dict[str, Any] = certify("reference", [*ADAPTER_PROFILES, "lineage-consumer"]).to_json()
    return doc


def _vector_ids() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "conformance" / "vectors").rglob("*.json")):
        doc = json.loads(path.read_bytes())
        ids = set(doc["spec"]) | {i for c in doc["cases"] for i in c.get("spec") or []}
        found[f"{path.parent.name}/{doc['operation']}/{path.name}"] = ids
    return found


def test_profile_requirements_exist_with_the_level_the_spec_gives() -> None:
    """CONF-002: every listed ID is defined in spec/*.md, at the level of its sentence."""
    levels: dict[str, str] = {}
    for chapter in (ROOT / "spec").glob("*.md"):
        levels.update(requirement_levels(chapter.read_text("utf-8")))
    for profile in load_profiles():
        for rid, level in profile.requirements.items():
            assert levels.get(rid) == level, f"{profile.id}: {rid}"
        assert set(profile.conditional) <= set(profile.requirements)


def test_every_vector_id_falls_in_a_profile_that_runs_it() -> None:
    """CONF-004, CONF-002: a vector's IDs are listed by a profile selecting that vector; listed IDs are exercised."""
    profiles = load_profiles()
    exercised: dict[str, set[str]] = {p.id: set() for p in profiles}
    for key, ids in _vector_ids().items():
        area, operation, _ = key.split("/", 2)
        owners = [p for p in profiles if p.selects(area, operation)]
        assert owners, key
        assert any(ids <= set(p.requirements) for p in owners), key
        for p in owners:
            exercised[p.id] |= ids
    for p in profiles:
        if p.target == "adapter":
            assert set(p.requirements) == exercised[p.id], p.id


def test_reference_passes_every_adapter_profile_and_the_collector(reference: dict[str, Any]) -> None:
    """CONF-003, CONF-010, CONF-040: the reference, through its adapter and collector, passes."""
    assert [(p["id"], p["verdict"]) for p in reference["profiles"]] == [
        (pid, "passed") for pid in [*ADAPTER_PROFILES, "lineage-consumer"]
    ]
    assert reference["schemaURL"].endswith("/conformance-report/1.1.0.json")
    assert reference["target"] == "reference"
    assert reference["summary"]["failed"] == reference["summary"]["errors"] == 0


def test_a_skipped_must_fails_the_profile_but_a_should_or_conditional_does_not() -> None:
    """CONF-003, CONF-005, CONF-006: the verdict rules."""
    profile = next(p for p in load_profiles() if p.id == "serving-endpoint")

    def result(rid: str, outcome: Any) -> Result:
        return Result(id=rid, requirements=[rid], outcome=outcome, evidence={"check": "serving-harness"})

    passing = [result(rid, "passed") for rid in profile.requirements if rid not in profile.conditional]
    assert judge(profile, passing).verdict == "passed"
    assert judge(profile, passing).requirements["SRV-051"].verdict == "not-applicable"
    assert judge(profile, passing[1:]).verdict == "failed"
    assert judge(profile, [*passing[1:], result(passing[0].id, "skipped")]).verdict == "failed"
    lineage = next(p for p in load_profiles() if p.id == "lineage-producer")
    should = next(rid for rid, level in lineage.requirements.items() if level == "SHOULD")
    rest = [
        Result(id=r, requirements=[r], outcome="passed", evidence={"area": "lineage", "operation": "validate"})
        for r in lineage.requirements
        if r != should
    ]
    failed_should = Result(
        id="x", requirements=[should], outcome="failed", evidence={"area": "lineage", "operation": "validate"}
    )
    verdict = judge(lineage, [*rest, failed_should])
    assert verdict.verdict == "passed" and verdict.requirements[should].verdict == "failed"


def test_signed_report_verifies_and_fails_after_one_byte_changes(reference: dict[str, Any]) -> None:
    """CONF-011, CONF-012: schema, signature, verdicts and suite digest are checked."""
    key = generate_key("ed25519")
    signed = attach(reference, sign_document(reference, key))
    assert check_report(signed, key=key.public_key()) == []
    changed = json.loads(json.dumps(signed))
    changed["results"][0]["id"] = changed["results"][0]["id"][:-1] + "9"
    with pytest.raises(ReportError):
        check_report(changed, key=key.public_key())
    with pytest.raises(ReportError, match="give the signer's public key"):
        check_report(signed)
    lying = json.loads(json.dumps(reference))
    lying["profiles"][0]["verdict"] = "failed"
    with pytest.raises(ReportError, match="do not follow from the results"):
        check_report(lying)
    other = json.loads(json.dumps(reference))
    other["suite"]["digest"]["sha256"] = "0" * 64
    with pytest.raises(ReportError, match="suite digest"):
        check_report(other)


def test_junit_has_a_suite_per_profile_and_failures_with_evidence(reference: dict[str, Any]) -> None:
    """JUnit: one testsuite per profile, one testcase per case, counts that add up."""
    doc = json.loads(json.dumps(reference))
    doc["results"][0]["outcome"] = "failed"
    doc["results"][0]["message"] = "expected accept, got reject"
    root = ET.fromstring(junit_xml(doc).encode("utf-8"))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [p["id"] for p in doc["profiles"]]
    canon = next(s for s in suites if s.get("name") == "canonicalizer")
    assert int(canon.get("tests", -1)) == len(canon.findall("testcase")) == 44
    first = doc["results"][0]
    owner = next(s for s in suites if s.find(f"testcase[@name='{first['id']}']") is not None)
    assert owner.get("failures") == "1"
    failure = owner.find(f"testcase[@name='{first['id']}']/failure")
    assert failure is not None and "evidence" in (failure.text or "")


class _Balance(HTMLParser):
    VOID = frozenset({"meta", "br", "hr", "img", "input", "link"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, tag


def test_html_is_well_formed_and_shows_badges_matrix_and_failures(reference: dict[str, Any]) -> None:
    """The HTML page: balanced tags, no script, a badge per profile, failures with their evidence."""
    doc = json.loads(json.dumps(reference))
    doc["results"][0].update(outcome="error", message="<script>alert(1)</script>")
    page = report_html(doc)
    parser = _Balance()
    parser.feed(page)
    assert parser.stack == []
    assert "<script" not in page
    assert page.count('class="badge passed"') == len(doc["profiles"])
    assert "&lt;script&gt;" in page


def test_cli_certify_and_verify(tmp_path: Path) -> None:
    """CONF-001: the CLI names profiles by id; exit 0 when they pass, a signed report that verifies, 1 after a
    change, 2 on usage."""
    key = generate_key("ed25519")
    write_private_key(tmp_path / "k.pem", key, unencrypted=True)
    (tmp_path / "k.pub").write_bytes(public_pem(key.public_key()))
    out = tmp_path / "out"
    runner = CliRunner()
    args = [
        "certify",
        "--target",
        "reference",
        "-p",
        "canonicalizer",
        "--report",
        str(out / "r.json"),
        "--junit",
        str(out / "j.xml"),
        "--html",
        str(out / "r.html"),
        "--key",
        str(tmp_path / "k.pem"),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (
        runner.invoke(app, ["certify", "verify", str(out / "r.json"), "--key", str(tmp_path / "k.pub")]).exit_code == 0
    )
    raw = (out / "r.json").read_bytes()
    at = raw.index(b'"canonicalizer"') + 2
    (out / "t.json").write_bytes(raw[:at] + b"C" + raw[at + 1 :])
    bad = runner.invoke(app, ["certify", "verify", str(out / "t.json"), "--key", str(tmp_path / "k.pub")])
    assert bad.exit_code == 1
    assert runner.invoke(app, ["certify", "--target", "reference", "-p", "nope"]).exit_code == 2
    assert runner.invoke(app, ["certify", "--target", "http://127.0.0.1:9", "-p", "canonicalizer"]).exit_code == 2


def test_a_command_target_cannot_run_an_http_profile() -> None:
    """CONF-041: the Serving Endpoint and Lineage Consumer profiles need a URL (or the reference)."""
    with pytest.raises(CertifyError, match="needs a URL target"):
        certify([sys.executable, "-c", "pass"], ["serving-endpoint"])


def test_the_reference_contract_is_lighter_but_asks_for_every_check() -> None:
    """CONF-041: a reference run offers less overload, and runs every check the example contract asks for with its
    own targets."""
    from aifabric.conformance._http import reference_contract
    from aifabric.serving.contract import load_contract

    example = load_contract(ROOT / "examples" / "serving-contract.yaml")
    light = reference_contract(example)
    sections = ("latency", "throughput", "error_budget", "accuracy", "overload", "warmup", "caching", "gpu")
    assert [getattr(light, s) is not None for s in sections] == [getattr(example, s) is not None for s in sections]
    assert example.overload is not None and light.overload is not None
    offered = light.overload.capacity_rps * light.overload.factor
    assert offered < example.overload.capacity_rps * example.overload.factor
    assert light.overload.max_response_ms == example.overload.max_response_ms
    assert light.latency == example.latency
    assert light.load == example.load and light.validity == example.validity
    assert type(light).model_validate(light.to_json()) == light
