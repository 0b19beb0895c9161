"""The broken fakes in conformance/fakes/ break exactly what their docstrings say, on the cases that prove it.

The adapter fakes are driven over the adapter protocol with tests/adapter_driver.py, as the suite drives a vendor's
adapter; the HTTP fakes are started on loopback and shown misbehaving with plain urllib and aiohttp.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from aifabric._ids import uuid7
from aifabric.lineage.collector import start
from tests.adapter_driver import ROOT, Adapter, VectorCase, load_cases

FAKES = ROOT / "conformance" / "fakes"
ADAPTER_OPERATIONS = ("validate", "canonicalize", "verify")


def _fake(name: str) -> Adapter:
    return Adapter([sys.executable, str(FAKES / f"{name}.py")])


def _wrong(adapter: Adapter, cases: list[VectorCase]) -> list[VectorCase]:
    return [case for case, valid, _ in adapter.verdicts(cases) if valid is not case.valid]


def _cases() -> list[VectorCase]:
    return [case for op in ADAPTER_OPERATIONS for case in load_cases(op)]


def test_accept_all_fails_exactly_the_invalid_cases() -> None:
    cases = _cases()
    with _fake("accept_all") as fake:
        wrong = _wrong(fake, cases)
    assert wrong == [case for case in cases if not case.valid]
    failed_ids = {rid for case in wrong for rid in case.requirements}
    assert {"CORE-020", "CORE-025", "CORE-061", "CORE-082", "SIG-032", "SIG-061"} <= failed_ids


def test_reject_all_fails_exactly_the_valid_cases() -> None:
    cases = _cases()
    with _fake("reject_all") as fake:
        wrong = _wrong(fake, cases)
    assert wrong == [case for case in cases if case.valid]
    assert {"CORE-010", "CORE-020", "CORE-060", "SIG-030", "SIG-031"} <= {r for c in wrong for r in c.requirements}


def test_ignore_formats_fails_only_format_cases_and_names_core_082() -> None:
    """[CORE-082] Every case it gets wrong is an invalid value whose only fault is its format."""
    with _fake("ignore_formats") as fake:
        wrong = _wrong(fake, load_cases("validate"))
    assert len(wrong) >= 20
    assert all(not case.valid and "CORE-082" in case.requirements for case in wrong), [
        (c.id, c.requirements) for c in wrong if c.valid or "CORE-082" not in c.requirements
    ]
    named = {(case.file, case.description) for case in wrong}
    assert {
        ("common/timestamp.json", "month 13"),
        ("common/actor.json", "an email address without a domain part"),
        ("common/producer.json", "a relative reference"),
        ("audit/record.json", "a source ip that is not an address"),
    } <= named


def test_no_digest_check_accepts_what_was_altered_after_signing() -> None:
    """[SIG-032] [SIG-061] [SIG-070] It accepts a changed document or model, and gets every other case right."""
    cases = load_cases("verify")
    with _fake("no_digest_check") as fake:
        wrong = _wrong(fake, cases)
    digest_ids = {"SIG-032", "SIG-061", "SIG-070"}
    assert wrong, "the fake verified nothing wrongly"
    assert all(not case.valid and digest_ids & set(case.requirements) for case in wrong)
    named = {(case.file, case.description) for case in wrong}
    assert {
        ("signing/documents.json", "detached, one character of the document changed"),
        ("signing/documents.json", "embedded, one character of the document changed"),
        ("signing/models.json", "one bit of one file changed"),
        ("signing/models.json", "a subject digest that the resources do not hash to"),
    } <= named
    assert {"SIG-032", "SIG-061", "SIG-070"} <= {r for c in wrong for r in c.requirements}
    # what the signature itself proves is still checked: another key is refused
    assert ("signing/models.json", "verified with another P-256 key") not in named


# --- HTTP fakes ----------------------------------------------------------------------------------------------------


def _serve(*argv: str) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on "), (line, proc.stderr.read() if proc.stderr else "")
        yield line.removeprefix("listening on ").strip()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def lossy_collector() -> Iterator[str]:
    yield from _serve(str(FAKES / "lossy_collector.py"))


@pytest.fixture
def timeout_server() -> Iterator[str]:
    yield from _serve(str(FAKES / "timeout_model_server.py"), "--capacity", "2", "--service-ms", "600")


def _events(count: int) -> list[dict[str, Any]]:
    cases = json.loads((ROOT / "conformance" / "vectors" / "lineage" / "run-event.json").read_bytes())["cases"]
    template = next(case["data"] for case in cases if case["valid"] and case["data"]["eventType"] == "START")
    return [{**template, "run": {**template["run"], "runId": uuid7()}} for _ in range(count)]


def _post_and_read_back(url: str, events: list[dict[str, Any]]) -> tuple[list[int], set[str]]:
    statuses = []
    for start_at in range(0, len(events), 50):
        body = json.dumps(events[start_at : start_at + 50]).encode()
        request = urllib.request.Request(f"{url}/api/v1/lineage", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            statuses.append(response.status)
            assert json.load(response)["summary"]["failed"] == 0
    with urllib.request.urlopen(f"{url}/api/v1/events?since=0&limit=1000", timeout=30) as response:
        stored = {event["event"]["run"]["runId"] for event in json.load(response)["events"]}
    return statuses, stored


def test_lossy_collector_acknowledges_every_event_and_loses_every_100th(lossy_collector: str, tmp_path: Path) -> None:
    """[CONF-040] Every post is acknowledged with 2xx; reading back shows the 100th and 200th events missing."""
    events = _events(250)
    run_ids = [event["run"]["runId"] for event in events]
    statuses, stored = _post_and_read_back(lossy_collector, events)
    assert all(200 <= status < 300 for status in statuses)
    assert set(run_ids) - stored == {run_ids[99], run_ids[199]}
    with start(tmp_path / "reference.db") as reference:  # the reference collector keeps all of them
        statuses, stored = _post_and_read_back(reference.url, events)
    assert all(200 <= status < 300 for status in statuses)
    assert stored == set(run_ids)


async def _load(url: str, requests: int, timeout_s: float) -> list[int | str]:
    body = {"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 8], "data": [0.5] * 8}]}
    infer = f"{url}/v2/models/churn-classifier/infer"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:

        async def one() -> int | str:
            try:
                async with session.post(infer, json=body) as response:
                    await response.read()
                    return response.status
            except TimeoutError:
                return "timeout"

        return list(await asyncio.gather(*(one() for _ in range(requests))))


def test_timeout_model_server_answers_like_a_model_then_times_out_above_capacity(timeout_server: str) -> None:
    """[SRV-045] Within capacity: OIP v2 answers; above it: no 429 or 503, the client times out."""
    for path in ("/v2/health/live", "/v2/health/ready", "/v2", "/v2/models/churn-classifier"):
        with urllib.request.urlopen(timeout_server + path, timeout=10) as response:
            assert response.status == 200
    one = asyncio.run(_load(timeout_server, 1, 10))
    assert one == [200]
    outcomes = asyncio.run(_load(timeout_server, 8, 2.0))
    assert outcomes.count(200) >= 1
    assert outcomes.count("timeout") >= 4
    assert not {429, 503} & set(outcomes)
    assert asyncio.run(_load(timeout_server, 1, 10)) == [200]  # and it is a model again once the load is gone
