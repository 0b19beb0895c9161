"""The adapter protocol runner against aifabric's own adapter and a fake that misbehaves on purpose."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aifabric._errors import ValidationError
from aifabric.conformance.adapter import handle
from aifabric.conformance.adapters import Adapter, AdapterError, case_request, parse_answer
from aifabric.conformance.certify import certify, reference_command
from aifabric.validation import validate

ADAPTER = "https://aifabric.dev/schemas/conformance-adapter/1.0.0.json"
ROOT = Path(__file__).resolve().parent.parent

FAKE = r"""
import json, os, sys, time
for line in sys.stdin:
    req = json.loads(line)
    seq = req["seq"]
    if req["cmd"] == "start":
        ans = {"seq": seq, "ready": os.environ.get("FAKE_READY", "1") == "1", "version": 1,
               "implementation": {"name": "fake"}, "operations": ["validate"]}
    elif req["cmd"] == "stop":
        print(json.dumps({"seq": seq, "stopped": True}), flush=True)
        sys.exit(0)
    else:
        what = req["case"]["data"]
        print("handling", what, file=sys.stderr, flush=True)
        if what == "hang":
            time.sleep(60)
        if what == "crash":
            sys.exit(3)
        if what == "garbage":
            print("this is not json", flush=True)
            continue
        if what == "order":
            seq += 5
        if what == "skip":
            ans = {"seq": seq, "skipped": {"reason": "not here"}}
        elif what == "broken":
            ans = {"seq": seq, "errored": {"message": "it broke"}}
        else:
            ans = {"seq": seq, "result": {"valid": what == "yes"}}
    print(json.dumps(ans), flush=True)
"""


@pytest.fixture
def fake(tmp_path: Path) -> list[str]:
    script = tmp_path / "fake_adapter.py"
    script.write_text(FAKE, "utf-8")
    return [sys.executable, str(script)]


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ("hang", "no answer to seq 1 within 1.5 s"),
        ("crash", "exited with status 3"),
        ("garbage", "not UTF-8 JSON"),
        ("order", "answer for seq 6 where seq 1 was expected"),
    ],
)
def test_a_misbehaving_adapter_errs_that_case_only_and_is_restarted(fake: list[str], data: str, needle: str) -> None:
    """CONF-020, CONF-029, CONF-031: argv without a shell; no answer in time, an exit, garbage or a wrong seq is
    errored; the next case runs."""
    with Adapter(fake, timeout=1.5) as adapter:
        bad = adapter.run("validate", {"data": data})
        assert bad.kind == "errored"
        assert bad.message is not None and needle in bad.message
        after = adapter.run("validate", {"data": "yes"})
        assert (after.kind, after.valid) == ("result", True)
        assert adapter.restarts == 1
        assert f"handling {data}" in adapter.stderr  # CONF-021: stderr kept as evidence


def test_skipped_and_errored_answers_keep_the_adapter(fake: list[str]) -> None:
    """CONF-025: skipped and errored are answers, not breakage; the adapter is not restarted."""
    with Adapter(fake, timeout=5) as adapter:
        assert adapter.run("validate", {"data": "skip"}).kind == "skipped"
        assert adapter.run("validate", {"data": "broken"}).message == "it broke"
        assert adapter.run("validate", {"data": "no"}).valid is False
        assert adapter.restarts == 0


def test_an_adapter_that_is_not_ready_is_refused(fake: list[str]) -> None:
    """CONF-023: ready false is an error naming the version."""
    with pytest.raises(AdapterError, match="not ready for protocol version 1"):
        Adapter(fake, env={"FAKE_READY": "0"}).start()
    with pytest.raises(AdapterError, match="cannot start the adapter"):
        Adapter(["/nonexistent/adapter"]).start()


def test_certify_records_a_broken_adapter_as_errors(fake: list[str], tmp_path: Path) -> None:
    """CONF-030: every case of a fake that rejects everything fails or errs, and the profile fails."""
    report = certify(fake, ["canonicalizer"], timeout=5)
    assert report.profiles is not None and report.profiles[0].verdict == "failed"
    assert report.summary.passed < report.summary.total


def test_reference_adapter_answers_the_protocol() -> None:
    """CONF-022, CONF-024, CONF-026, CONF-027, CONF-028: the reference adapter speaks every message correctly."""
    with Adapter(reference_command(), timeout=30) as adapter:
        assert adapter.implementation["name"] == "aifabric-python"
        answer = adapter.run("canonicalize", {"data": {"b": 1, "a": [1.0, "x"]}})
        assert answer.output == '{"a":[1,"x"],"b":1}'
    for request in ({"seq": 0, "cmd": "start", "version": 1}, {"seq": 4, "cmd": "stop"}):
        validate(request, schema_url=ADAPTER)
        validate(handle(request), schema_url=ADAPTER)


def test_reference_adapter_resolves_schemas_from_the_folder_it_is_given(tmp_path: Path) -> None:
    """CONF-028: with AIFABRIC_SCHEMAS_DIR set, the adapter validates with that folder's schemas, not its own."""
    schemas = tmp_path / "schemas"
    shutil.copytree(ROOT / "schemas", schemas)
    common = schemas / "common" / "1.0.0.json"
    doc = json.loads(common.read_bytes())
    for keyword in ("format", "pattern"):  # the changed folder takes a timestamp without an offset
        del doc["$defs"]["timestamp"][keyword]
    common.write_text(json.dumps(doc), "utf-8")
    case = {"schema": "https://aifabric.dev/schemas/common/1.0.0.json#/$defs/timestamp", "data": "2026-11-23T08:15:42"}
    verdicts = {}
    for folder in (ROOT / "schemas", schemas):
        with Adapter(reference_command(), env={"AIFABRIC_SCHEMAS_DIR": str(folder)}) as adapter:
            verdicts[folder] = adapter.run("validate", case).valid
    assert verdicts == {ROOT / "schemas": False, schemas: True}
    with Adapter(reference_command(), env={"AIFABRIC_SCHEMAS_DIR": str(tmp_path / "empty")}) as adapter:
        answer = adapter.run("validate", case)
    assert answer.kind == "errored"
    assert answer.message is not None and "holds no <kind>/<X.Y.Z>.json schema" in answer.message


def test_case_request_never_carries_the_verdict() -> None:
    """CONF-024: the expected verdict and output stay with the harness."""
    vector = {"schemaURL": "x", "description": "d", "spec": ["CORE-040"], "operation": "lifecycle", "finished": False}
    case = {"description": "c", "data": [1], "valid": True, "expected": "y", "spec": ["CORE-041"]}
    assert case_request(vector, case) == {"finished": False, "data": [1]}


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
ANSWERS = st.fixed_dictionaries(
    {"seq": st.sampled_from([0, 1, -1, "1"])},
    optional={
        "result": st.fixed_dictionaries({}, optional={"valid": JSON, "message": JSON, "output": JSON}) | JSON,
        "skipped": st.fixed_dictionaries({}, optional={"reason": JSON}) | JSON,
        "errored": st.fixed_dictionaries({}, optional={"message": JSON}) | JSON,
        "stopped": JSON,
    },
)


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash_the_parser(line: bytes) -> None:
    """CONF-031: any line parses to an answer."""
    assert parse_answer(line, 1).kind in ("result", "skipped", "errored")


@settings(max_examples=300)
@given(ANSWERS)
def test_the_parser_accepts_exactly_the_answers_the_schema_accepts(value: dict[str, Any]) -> None:
    """CONF-031: an answer the schema refuses is errored; one it accepts is read as sent."""
    answer = parse_answer(json.dumps(value), 1)
    try:
        validate(value, schema_url=ADAPTER + "#/$defs/response")
        schema_ok = value["seq"] == 1 and "stopped" not in value
    except ValidationError:
        schema_ok = False
    is_errored_answer = schema_ok and "errored" in value
    assert (answer.kind != "errored" or is_errored_answer) == schema_ok


def test_an_adapter_that_stops_reading_cannot_hang_the_suite(tmp_path: Path) -> None:
    """[CONF-029] An adapter that answers start and then never reads again: a case larger than the pipe's buffer
    is errored within the timeout, instead of blocking the suite's write for ever."""
    script = tmp_path / "deaf.py"
    script.write_text(
        "import json, sys, time\n"
        "request = json.loads(sys.stdin.readline())\n"
        'print(json.dumps({"seq": request["seq"], "ready": True, "version": 1,'
        ' "implementation": {"name": "deaf"}, "operations": ["validate"]}), flush=True)\n'
        "time.sleep(60)\n",
        "utf-8",
    )
    with Adapter([sys.executable, str(script)], timeout=1.0) as adapter:
        answer = adapter.run(
            "validate", {"schema": "https://aifabric.dev/schemas/common/1.0.0.json", "data": "x" * 2**20}
        )
    assert answer.kind == "errored"
