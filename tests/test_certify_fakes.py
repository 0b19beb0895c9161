"""``aifabric certify`` fails each broken fake in conformance/fakes/ naming the requirements it breaks, and passes
the Node.js ajv adapter for Document Validator and Canonicalizer (CONF-003, CONF-040, CONF-041)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from aifabric.conformance.certify import certify
from tests.test_fakes import FAKES, _serve

ROOT = Path(__file__).resolve().parents[1]
NODE_ADAPTER = ROOT / "conformance" / "adapters" / "node-ajv"


def verdicts(report: Any) -> tuple[dict[str, str], set[str]]:
    """Each profile's verdict, and the requirement IDs that failed in any profile."""
    doc = report.to_json()
    failed = {
        rid for p in doc["profiles"] for rid, v in p["requirements"].items() if v["verdict"] in ("failed", "skipped")
    }
    return {p["id"]: p["verdict"] for p in doc["profiles"]}, failed


@pytest.mark.parametrize(
    ("fake", "profile", "named"),
    [
        ("accept_all", "document-validator", {"CORE-020", "CORE-082"}),
        ("reject_all", "document-validator", {"CORE-020"}),
        ("ignore_formats", "document-validator", {"CORE-082"}),
        ("no_digest_check", "signature-verifier", {"SIG-032", "SIG-061", "SIG-070"}),
    ],
)
def test_each_broken_adapter_fails_its_profile_naming_what_it_breaks(fake: str, profile: str, named: set[str]) -> None:
    """[CONF-003] A profile with a MUST that did not pass fails, and the report names that MUST."""
    report = certify([sys.executable, str(FAKES / f"{fake}.py")], [profile], timeout=30)
    profiles, failed = verdicts(report)
    assert profiles == {profile: "failed"}
    assert named <= failed, sorted(failed)


def test_ignore_formats_fails_only_on_format_requirements() -> None:
    """[CONF-003] An adapter that skips format assertions passes every case but those whose only fault is a format."""
    report = certify([sys.executable, str(FAKES / "ignore_formats.py")], ["document-validator"], timeout=30)
    bad = [r for r in report.to_json()["results"] if r["outcome"] != "passed"]
    assert bad and all("CORE-082" in r["requirements"] for r in bad)


def test_a_collector_that_loses_one_event_in_a_hundred_fails_lineage_consumer() -> None:
    """[CONF-040] Every post is acknowledged, but reading back after the volume run shows events missing."""
    for url in _serve(str(FAKES / "lossy_collector.py")):
        report = certify(url, ["lineage-consumer"])
        profiles, failed = verdicts(report)
        assert profiles == {"lineage-consumer": "failed"} and "CONF-040" in failed
        read_back = next(r for r in report.to_json()["results"] if r["id"] == "lineage-collector/read-back")
        assert "accepted events lost or altered" in read_back["message"]


@pytest.fixture
def short_contract(tmp_path: Path) -> Path:
    """The example contract with a short, light load: a capacity of 10 requests per second, overload at 20."""
    doc = yaml.safe_load((ROOT / "examples" / "serving-contract.yaml").read_text())
    doc.pop("accuracy")  # its evaluation set is named relative to the example's folder
    doc["load"].update(rate=5, durationS=3, warmupS=0.5, timeoutS=2)
    doc["throughput"] = {"minRps": 4}
    doc["overload"].update(capacityRps=10, durationS=3)
    doc["validity"] = {"minDurationS": 3, "minRequests": 10, "confidence": 0.99}
    path = tmp_path / "contract.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_model_server_that_times_out_instead_of_rejecting_fails_overload(short_contract: Path) -> None:
    """[CONF-041] [SRV-045] Above its capacity the fake holds requests until the client gives up: no 429 or 503."""
    for url in _serve(str(FAKES / "timeout_model_server.py"), "--capacity", "2", "--service-ms", "600"):
        report = certify(url, ["serving-endpoint"], contract=short_contract)
        profiles, failed = verdicts(report)
        assert profiles == {"serving-endpoint": "failed"} and "SRV-045" in failed
        overload = next(r for r in report.to_json()["results"] if r["id"] == "serving-harness/overload")
        assert overload["outcome"] == "failed" and "queues instead of rejecting" in overload["message"]


@pytest.fixture(scope="module")
def node_adapter() -> list[str]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: the ajv adapter needs `node` (20 or later) on PATH")
    installed = subprocess.run(["bash", str(NODE_ADAPTER / "install.sh")], capture_output=True, timeout=600)
    if installed.returncode != 0:
        pytest.skip(f"the ajv adapter's npm packages cannot be installed: {installed.stderr[-300:]!r}")
    return [node, str(NODE_ADAPTER / "adapter.js")]


def test_the_node_ajv_adapter_passes_document_validator_and_canonicalizer(node_adapter: list[str]) -> None:
    """[CONF-001] The suite and the schemas are language-neutral: ajv, in JavaScript, passes both profiles."""
    report = certify(node_adapter, ["document-validator", "canonicalizer"], timeout=30)
    profiles, failed = verdicts(report)
    assert profiles == {"document-validator": "passed", "canonicalizer": "passed"}, sorted(failed)


def test_a_collector_whose_read_api_is_not_the_collectors_fails_cleanly() -> None:
    """[CONF-040] A collector that accepts everything but answers reads with a bare list fails the read-back check
    with a message; the run does not break."""
    from aiohttp import web

    from aifabric._web import BackgroundServer, bind, serve_socket

    async def accept(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"ok": True})

    async def events(_: web.Request) -> web.Response:
        return web.json_response([])

    app = web.Application()
    app.router.add_post("/api/v1/lineage", accept)
    app.router.add_get("/api/v1/events", events)
    sock = bind("127.0.0.1", 0)
    server = BackgroundServer(lambda ready, stop: serve_socket(app, sock, ready, stop), sock, name="odd-collector")
    try:
        report = certify(server.url, ["lineage-consumer"])
    finally:
        server.stop()
    read_back = next(r for r in report.to_json()["results"] if r["id"] == "lineage-collector/read-back")
    assert read_back["outcome"] == "failed" and "not a page of events" in read_back["message"]
    assert verdicts(report)[0] == {"lineage-consumer": "failed"}


def test_a_vector_file_that_cannot_be_read_fails_every_profile_that_reads_its_area(tmp_path: Path) -> None:
    """[CONF-003] A broken file in the suite is not skipped: the profiles that read its area fail."""
    vectors = tmp_path / "vectors"
    shutil.copytree(ROOT / "conformance" / "vectors" / "canonical", vectors / "canonical")
    (vectors / "canonical" / "broken.json").write_text('{"operation": "canonicalize", "cases": "oops"}')
    (vectors / "canonical" / "garbage.json").write_text("{ not json")
    report = certify("reference", ["canonicalizer"], vectors_dir=vectors)
    broken = [r for r in report.to_json()["results"] if r["outcome"] == "error"]
    assert {r["id"] for r in broken} == {"canonical/broken.json", "canonical/garbage.json"}
    assert verdicts(report)[0] == {"canonicalizer": "failed"}
