"""The Node.js ajv adapter passes Document Validator: every validate vector gets the expected verdict from ajv too.

It runs ``node conformance/adapters/node-ajv/adapter.js`` over the conformance adapter protocol (version 1), with
aifabric's published schemas, and compares ajv's verdicts with the vectors' and with aifabric's own validator.
Skipped when Node.js is absent or its dependencies cannot be installed (``conformance/adapters/node-ajv/install.sh``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aifabric.schemas import Registry
from aifabric.validation import problems
from tests.adapter_driver import ROOT, SCHEMAS, Adapter, VectorCase, load_cases

ADAPTER = ROOT / "conformance" / "adapters" / "node-ajv"
FORMATS = ["date", "date-time", "email", "ipv4", "ipv6", "time", "uri", "uuid"]
PROBE_URL = "https://aifabric.dev/schemas/format-probe/1.0.0.json"

# The vector cases on which ajv-formats' own format checks (AIFABRIC_AJV_STOCK_FORMATS=1) break JSON Schema
# 2020-12, which the adapter's formats.js fixes; README.md "Where ajv departs from JSON Schema" explains each.
STOCK_FORMAT_FAILURES = {
    "common/actor.json": {
        "an email address whose domain is one label (RFC 5321 Mailbox; ajv-formats refuses it)",
        "an email address with a quoted local part (RFC 5321 Quoted-string; ajv-formats refuses it)",
        "an email address at an IPv4 address literal (RFC 5321; ajv-formats refuses it)",
    },
    "common/producer.json": {
        "a port that is not digits (RFC 3986 port = *DIGIT; ajv-formats accepts it)",
        "a URI with an empty hier-part (RFC 3986 path-empty; ajv-formats refuses it)",
        "a port followed by a letter",
    },
}

# Format edge cases on which ajv-formats, jsonschema-rs or both once disagreed with the RFCs: (format, value, valid).
FORMAT_PROBES = [
    ("date", "2026-02-29", False),
    ("date", "2024-02-29", True),
    ("date", "2-26-02-28", False),  # jsonschema-rs 0.60 took the "-" for a digit
    ("date", "-026-02-28", False),
    ("date-time", "2026-11-23T08:00:00Z", True),
    ("date-time", "2026-11-23t08:00:00z", True),
    ("date-time", "2026-11-23 08:00:00Z", False),  # ajv-formats: a space for the T
    ("date-time", "2026-11-23T08:00:00+0100", False),  # ajv-formats: an offset without its colon
    ("date-time", "2026-11-23T23:59:60Z", True),
    ("date-time", "2026-11-23T23:59:60+0000", False),
    ("date-time", "2026-11-24T00:59:60+01:00", True),
    ("date-time", "2026-11-23T08:59:60Z", False),
    ("date-time", "20.6-11-23T08:00:00Z", False),  # jsonschema-rs 0.60
    ("date-time", "+026-11-23T08:00:00Z", False),  # jsonschema-rs 0.60
    ("date-time", "2026-11-23T0.:00:00Z", False),  # jsonschema-rs 0.60
    ("time", "08:00:0-Z", False),  # jsonschema-rs 0.60
    ("time", "08:00:00+01:00", True),
    ("email", "root@localhost", True),  # ajv-formats refuses
    ("email", '"on call"@example.com', True),  # ajv-formats refuses
    ("email", "ops@[192.0.2.1]", True),  # ajv-formats refuses
    ("email", "ops@[IPv6:2001:db8::1]", True),  # ajv-formats refuses
    ("email", "ops@[192.0.2.300]", False),
    ("email", "ops@[x:y]", False),
    ("email", "ops@example..com", False),
    ("email", "on call@example.com", False),
    ("uri", "https://example.com:port/", False),  # ajv-formats accepts
    ("uri", "https://example.com:8080/", True),
    ("uri", "urn:", True),  # ajv-formats refuses
    ("uri", "https://[::1]/", True),
    ("uri", "https://[::1/", False),
    ("uri", "https://example.com/ä", False),
    ("uri", "https://example.com/%zz", False),
    ("uri", "//example.com/", False),
    ("uuid", "01936f2b-0c21-7d22-8b4f-5e6d7c8b9aa1", True),
    ("uuid", "urn:uuid:01936f2b-0c21-7d22-8b4f-5e6d7c8b9aa1", False),  # ajv-formats accepts
    ("ipv4", "127.0.0.01", False),
    ("ipv6", "fe80::1%eth0", False),
]


def _node_ready() -> Path:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: the ajv adapter needs `node` (20 or later) on PATH")
    try:
        subprocess.run(["bash", str(ADAPTER / "install.sh")], check=True, capture_output=True, timeout=600)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        pytest.skip(
            f"the ajv adapter's node_modules are absent and install.sh failed: {detail.decode(errors='replace')[-300:]}"
        )
    return Path(node)


@pytest.fixture(scope="module")
def node() -> Path:
    return _node_ready()


def _adapter(node: Path, **env: str) -> Adapter:
    return Adapter([str(node), str(ADAPTER / "adapter.js")], env=env)


@pytest.fixture(scope="module")
def ajv(node: Path) -> Iterator[Adapter]:
    with _adapter(node) as adapter:
        yield adapter


def _mismatches(adapter: Adapter, cases: list[VectorCase]) -> list[str]:
    return [
        f"{case.id} [{case.description}]: expected {case.valid}, got {answer}"
        for case, valid, answer in adapter.verdicts(cases)
        if valid is not case.valid
    ]


def test_start_answer_names_ajv_and_its_operations(ajv: Adapter) -> None:
    assert ajv.hello["version"] == 1
    assert ajv.hello["implementation"]["name"] == "ajv"
    assert ajv.hello["implementation"]["language"] == "javascript"
    assert ajv.hello["operations"] == ["validate", "canonicalize"]


def test_ajv_passes_every_validate_vector(ajv: Adapter) -> None:
    """[CORE-040] Document Validator: ajv with aifabric's published schemas gives every validate case's verdict."""
    cases = load_cases("validate")
    assert len(cases) >= 600
    assert _mismatches(ajv, cases) == []


def test_ajv_and_aifabric_agree_on_every_validate_vector(ajv: Adapter) -> None:
    disagreements = []
    for case, valid, _ in ajv.verdicts(load_cases("validate")):
        ours = not problems(case.request["data"], schema_url=case.request["schema"])
        if ours is not valid:
            disagreements.append(f"{case.id}: aifabric {ours}, ajv {valid}")
    assert disagreements == []


def test_ajv_adapter_canonicalizes_as_the_vectors_expect(ajv: Adapter) -> None:
    """[CORE-060] [CORE-061] RFC 8785 in JavaScript, refusing what I-JSON cannot carry exactly."""
    wrong = []
    for case, valid, answer in ajv.verdicts(load_cases("canonicalize")):
        output = answer.get("result", {}).get("output")
        if valid is not case.valid or (case.valid and case.expected is not None and output != case.expected):
            wrong.append(f"{case.id} [{case.description}]: {answer}")
    assert wrong == []


@pytest.mark.parametrize("operation", ["envelope", "verify", "lifecycle", "checkpoint", "proof"])
def test_operations_it_does_not_implement_are_skipped(ajv: Adapter, operation: str) -> None:
    case = load_cases(operation)[0]
    answer = ajv.run(case)
    assert set(answer) == {"seq", "skipped"}
    assert operation in answer["skipped"]["reason"]


def test_stock_ajv_formats_fail_exactly_the_cases_formats_js_fixes(node: Path) -> None:
    """Without formats.js, ajv-formats gets the RFC 5321 and RFC 3986 edge cases wrong, and nothing else."""
    with _adapter(node, AIFABRIC_AJV_STOCK_FORMATS="1") as stock:
        wrong = [case for case, valid, _ in stock.verdicts(load_cases("validate")) if valid is not case.valid]
    found: dict[str, set[str]] = {}
    for case in wrong:
        found.setdefault(case.file, set()).add(case.description)
    assert found == STOCK_FORMAT_FAILURES


def test_ajv_and_aifabric_agree_on_format_edge_cases(node: Path, tmp_path: Path) -> None:
    """[CORE-082] The formats both implementations assert mean the same RFC grammar, edge cases included."""
    probe: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": PROBE_URL,
        "$defs": {name: {"type": "string", "format": name} for name in FORMATS},
    }
    schemas = tmp_path / "schemas"
    shutil.copytree(SCHEMAS, schemas)
    (schemas / "format-probe").mkdir()
    (schemas / "format-probe" / "1.0.0.json").write_text(json.dumps(probe))
    registry = Registry.default().copy()
    registry.add(probe)
    cases = [
        VectorCase(
            "probe",
            n,
            "validate",
            f"{fmt} {value!r}",
            (),
            {"schema": f"{PROBE_URL}#/$defs/{fmt}", "data": value},
            valid,
            None,
        )
        for n, (fmt, value, valid) in enumerate(FORMAT_PROBES)
    ]
    with Adapter([str(node), str(ADAPTER / "adapter.js")], env={"AIFABRIC_SCHEMAS_DIR": str(schemas)}) as adapter:
        assert _mismatches(adapter, cases) == []
    ours = [
        c.description
        for c in cases
        if (not problems(c.request["data"], schema_url=c.request["schema"], registry=registry)) is not c.valid
    ]
    assert ours == []


def _run(seq: int, operation: str, case: bytes) -> bytes:
    return b'{"seq": %d, "cmd": "run", "operation": "%s", "case": %s}' % (seq, operation.encode(), case)


def test_protocol_edges(node: Path) -> None:
    """Another protocol version is refused; unknown schemas are invalid; a broken line is errored with its seq."""
    proc = subprocess.run(
        [str(node), str(ADAPTER / "adapter.js")],
        input=b"\n".join(
            [
                b'{"seq": 0, "cmd": "start", "version": 2}',
                _run(1, "validate", b'{"schema": "https://aifabric.dev/schemas/nope/9.9.9.json", "data": 1}'),
                _run(2, "validate", b'{"data": 1}'),
                _run(3, "canonicalize", b'{"data": [1, 2'),
                _run(4, "canonicalize", b'{"data": {"__proto__": 1, "b": Infinity}}'),
                _run(5, "canonicalize", b'{"data": {"__proto__": [1e16], "a": 2}}'),
                b'{"seq": 6, "cmd": "stop"}',
                b"",
            ]
        ),
        capture_output=True,
        timeout=60,
        env={"AIFABRIC_SCHEMAS_DIR": str(SCHEMAS), "PATH": str(node.parent)},
        check=False,
    )
    answers = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 0, proc.stderr
    assert [a["seq"] for a in answers] == list(range(7))
    assert answers[0] == {"seq": 0, "ready": False, "version": 1}
    assert answers[1]["result"]["valid"] is False
    assert "unknown schema" in answers[1]["result"]["message"]
    assert "schema" in answers[2]["errored"]["message"]
    assert "cannot read the request" in answers[3]["errored"]["message"]
    assert answers[4]["result"]["valid"] is False
    assert answers[5]["result"] == {"valid": True, "output": '{"__proto__":[10000000000000000],"a":2}'}
    assert answers[6] == {"seq": 6, "stopped": True}
