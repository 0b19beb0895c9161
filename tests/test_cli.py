"""The ``aifabric`` command: in-process through typer's CliRunner, and as the real console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

import aifabric
from aifabric import Registry, schema_url
from aifabric._cli import app
from tests.conftest import report, shared

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).parent / "aifabric"
REPORT = schema_url("conformance-report")
VECTOR = schema_url("conformance-vector")
COMMON = schema_url("common")
KINDS = {"common", "conformance-report", "conformance-vector"}


def invalid_report() -> dict[str, Any]:
    doc = report()
    del doc["producer"]
    doc["createdAt"] = "yesterday"
    return doc


def write(path: Path, content: Any) -> Path:
    """Write bytes as they are, a str as UTF-8, anything else as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_text(json.dumps(content), encoding="utf-8")
    return path


def invoke(*args: str | Path, stdin: bytes | None = None) -> Result:
    """Run the app in-process; any exception but SystemExit is a bug, so fail with it."""
    result = CliRunner().invoke(app, [str(a) for a in args], input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"aifabric {' '.join(map(str, args))} raised {result.exception!r}") from result.exception
    assert "Traceback" not in result.output
    return result


def script(*args: str | Path, stdin: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real console script (a hang is a failure: the timeout is a guard, not a measurement)."""
    return subprocess.run(
        [str(SCRIPT), *map(str, args)],
        input=stdin.decode("utf-8", "surrogateescape") if stdin is not None else None,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        check=False,
    )


def lines_naming(output: str, name: str | Path) -> list[str]:
    return [line for line in output.splitlines() if str(name) in line]


def json_records(result: Result) -> list[dict[str, Any]]:
    records = json.loads(result.stdout)
    assert isinstance(records, list)
    return records


# --- top level --------------------------------------------------------------------------------------------


def test_version_prints_the_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"aifabric {aifabric.__version__} (spec {aifabric.SPEC_VERSION})"


def test_help_lists_the_commands() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("validate", "schemas", "conformance", "--version"):
        assert command in result.stdout


def test_no_arguments_shows_help() -> None:
    result = invoke()
    assert "Usage:" in result.output
    assert "validate" in result.output


@pytest.mark.parametrize("group", ["schemas", "conformance"])
def test_a_group_without_a_command_shows_its_help(group: str) -> None:
    result = invoke(group)
    assert "Usage:" in result.output


def test_an_unknown_command_is_a_usage_error() -> None:
    result = invoke("frobnicate")
    assert result.exit_code == 2
    assert "frobnicate" in result.output


# --- validate ---------------------------------------------------------------------------------------------


def test_validate_a_valid_file(tmp_path: Path) -> None:
    path = write(tmp_path / "good.json", report())
    result = invoke("validate", path)
    assert result.exit_code == 0
    assert lines_naming(result.stdout, path) == [f"valid   {path}"]
    assert "1 document, 1 valid, 0 invalid" in result.stderr


def test_validate_an_invalid_file_names_file_pointer_and_rule(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.json", invalid_report())
    result = invoke("validate", path)
    assert result.exit_code == 1
    found = lines_naming(result.stdout, path)
    assert f'invalid {path}: /: required: "producer" is a required property' in found
    assert any(line.startswith(f"invalid {path}: /createdAt: format: ") for line in found)
    assert any(line.startswith(f"invalid {path}: /createdAt: pattern: ") for line in found)


def test_validate_a_folder_reports_every_file(tmp_path: Path) -> None:
    good = write(tmp_path / "a" / "good.json", report())
    bad = write(tmp_path / "b.json", invalid_report())
    nested = write(tmp_path / "a" / "deeper" / "c.yaml", yaml.safe_dump(report()))
    write(tmp_path / "notes.txt", "not a document")
    write(tmp_path / ".hidden" / "skipped.json", invalid_report())
    result = invoke("validate", tmp_path)
    assert result.exit_code == 1
    assert lines_naming(result.stdout, good) == [f"valid   {good}"]
    assert lines_naming(result.stdout, nested) == [f"valid   {nested}"]
    assert lines_naming(result.stdout, bad)
    assert "notes.txt" not in result.output
    assert "skipped.json" not in result.output
    assert "3 documents, 2 valid, 1 invalid" in result.stderr


def test_validate_several_paths_at_once(tmp_path: Path) -> None:
    good = write(tmp_path / "good.json", report())
    result = invoke("validate", good, good)
    assert result.exit_code == 0
    assert len(lines_naming(result.stdout, good)) == 2


def test_validate_stdin() -> None:
    result = invoke("validate", "-", stdin=json.dumps(report()).encode())
    assert result.exit_code == 0
    assert "valid   <stdin>" in result.stdout
    result = invoke("validate", "-", stdin=json.dumps(invalid_report()).encode())
    assert result.exit_code == 1
    assert "invalid <stdin>: /: required:" in result.stdout


def test_validate_json_output(tmp_path: Path) -> None:
    good = write(tmp_path / "good.json", report())
    bad = write(tmp_path / "bad.json", invalid_report())
    result = invoke("validate", "--json", good, bad)
    assert result.exit_code == 1
    records = {r["source"]: r for r in json_records(result)}
    assert set(records) == {str(good), str(bad)}
    assert records[str(good)] == {"source": str(good), "valid": True, "schemaURL": REPORT, "problems": []}
    assert records[str(bad)]["valid"] is False
    assert records[str(bad)]["schemaURL"] == REPORT
    problems = records[str(bad)]["problems"]
    assert all(set(p) == {"pointer", "rule", "message"} for p in problems)
    assert {"pointer": "", "rule": "required", "message": '"producer" is a required property'} in problems
    assert {(p["pointer"], p["rule"]) for p in problems} >= {
        ("/createdAt", "format"),
        ("/createdAt", "pattern"),
    }


def test_validate_json_output_has_the_same_keys_for_every_record(tmp_path: Path) -> None:
    """A consumer of ``--json`` can rely on source/valid/schemaURL/problems, also for unreadable input."""
    write(tmp_path / "good.json", report())
    write(tmp_path / "malformed.json", "{")
    write(tmp_path / "latin1.json", b"\xff")
    result = invoke("validate", "--json", tmp_path)
    assert result.exit_code == 1
    records = json_records(result)
    assert len(records) == 3
    for record in records:
        assert set(record) == {"source", "valid", "schemaURL", "problems"}, record


def test_validate_jsonl_labels_each_line(tmp_path: Path) -> None:
    lines = [json.dumps(report()), "", json.dumps(invalid_report()), json.dumps(report())]
    path = write(tmp_path / "docs.jsonl", "\n".join(lines) + "\n")
    result = invoke("validate", "--json", path)
    assert result.exit_code == 1
    records = json_records(result)
    assert [(r["source"], r["valid"]) for r in records] == [
        (f"{path}#0", True),
        (f"{path}#1", False),
        (f"{path}#2", True),
    ]
    text = invoke("validate", path)
    assert f"valid   {path}#0" in text.stdout
    assert f"invalid {path}#1: /: required:" in text.stdout


def test_validate_ndjson_is_read_as_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "docs.ndjson", json.dumps(report()) + "\n" + json.dumps(report()) + "\n")
    result = invoke("validate", path)
    assert result.exit_code == 0
    assert f"valid   {path}#1" in result.stdout


def test_validate_jsonl_malformed_line_is_reported_with_its_line_number(tmp_path: Path) -> None:
    path = write(tmp_path / "docs.jsonl", "\n".join([json.dumps(report()), "{}", "", "{bad"]) + "\n")
    result = invoke("validate", path)
    assert result.exit_code == 1
    found = lines_naming(result.stdout, path)
    assert len(found) == 1
    assert "malformed JSON" in found[0]
    assert "line 4" in found[0] or f"{path}:4" in found[0], found[0]


def test_validate_yaml(tmp_path: Path) -> None:
    good = write(tmp_path / "good.yaml", yaml.safe_dump(report()))
    also = write(tmp_path / "good.YML", yaml.safe_dump(report()))
    bad = write(tmp_path / "bad.yaml", yaml.safe_dump(invalid_report()))
    result = invoke("validate", good, also, bad)
    assert result.exit_code == 1
    assert f"valid   {good}" in result.stdout
    assert f"valid   {also}" in result.stdout
    assert f'invalid {bad}: /: required: "producer" is a required property' in result.stdout


def test_validate_multi_document_yaml(tmp_path: Path) -> None:
    path = write(tmp_path / "docs.yaml", yaml.safe_dump_all([report(), invalid_report()]))
    result = invoke("validate", "--json", path)
    assert [(r["source"], r["valid"]) for r in json_records(result)] == [
        (f"{path}#0", True),
        (f"{path}#1", False),
    ]


def test_validate_yaml_timestamps_must_be_quoted(tmp_path: Path) -> None:
    text = yaml.safe_dump(report()).replace(f"'{report()['createdAt']}'", "2026-11-23T08:15:42Z")
    path = write(tmp_path / "unquoted.yaml", text)
    result = invoke("validate", path)
    assert result.exit_code == 1
    assert "quote it" in result.stdout


def test_validate_malformed_yaml(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.yaml", "a: [1, 2\nb: {")
    result = invoke("validate", path)
    assert result.exit_code == 1
    [line] = lines_naming(result.stdout, path)
    assert "malformed YAML" in line
    assert "line " in line


def test_validate_malformed_json_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.json", '{"schemaURL": ')
    result = invoke("validate", path)
    assert result.exit_code == 1
    [line] = lines_naming(result.output, path)
    assert "malformed JSON" in line
    assert "line 1" in line


@pytest.mark.parametrize("content", [b"", b"   \n", b"NaN", b"{'a': 1}", b'{"a": 1,}', b"[1] [2]"])
def test_validate_not_quite_json(tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path / "odd.json", content)
    result = invoke("validate", path)
    assert result.exit_code == 1
    [line] = lines_naming(result.stdout, path)
    assert "malformed JSON" in line


def test_validate_non_utf8_bytes(tmp_path: Path) -> None:
    path = write(tmp_path / "latin1.json", '{"schemaURL": "café"}'.encode("latin-1"))
    result = invoke("validate", path)
    assert result.exit_code == 1
    [line] = lines_naming(result.stdout, path)
    assert "not UTF-8" in line
    assert "0xe9" in line


def test_validate_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path / "bom.json", b"\xef\xbb\xbf" + json.dumps(report()).encode())
    assert invoke("validate", path).exit_code == 0


def test_validate_yaml_alias_bomb_is_refused(tmp_path: Path) -> None:
    """Billion laughs: 9 levels of 9 aliases. The subprocess timeout only guards against a hang."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    previous = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
        previous = name
    path = write(tmp_path / "bomb.yaml", "\n".join(lines) + "\n")
    started = time.perf_counter()
    result = script("validate", path, timeout=60)
    print(f"alias bomb refused in {time.perf_counter() - started:.2f}s")
    assert result.returncode == 1
    [line] = lines_naming(result.stdout, path)
    assert "maxNodes" in line
    assert "alias" in line
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_validate_deeply_nested_json_is_refused(tmp_path: Path, suffix: str) -> None:
    """[CORE-084] [CORE-085] Input over the depth cap is an error naming the cap, not a crash."""
    path = write(tmp_path / f"deep{suffix}", "[" * 100_000 + "]" * 100_000)
    result = script("validate", path)
    assert result.returncode == 1, result.stderr
    [line] = lines_naming(result.stdout, path)
    assert "depth" in line.lower()
    assert "Traceback" not in result.stderr


def test_validate_unclosed_deep_json_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "deep.json", "[" * 100_000)
    result = script("validate", path)
    assert result.returncode == 1, result.stderr
    assert lines_naming(result.stdout, path)
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("depth", [300, 100_000])
def test_validate_deeply_nested_yaml_is_refused(tmp_path: Path, depth: int) -> None:
    path = write(tmp_path / "deep.yaml", "[" * depth + "]" * depth)
    result = script("validate", path)
    assert result.returncode == 1, f"exit {result.returncode}: {result.stderr[-500:]}"
    [line] = lines_naming(result.stdout, path)
    assert "maxDepth" in line
    assert "Traceback" not in result.stderr


def test_validate_slightly_too_deep_json_names_the_limit(tmp_path: Path) -> None:
    path = write(tmp_path / "deep.json", "[" * 300 + "]" * 300)
    result = invoke("validate", path)
    assert result.exit_code == 1
    assert "maxDepth" in result.stdout


def test_unknown_kind_and_unsupported_version_have_distinct_messages(tmp_path: Path) -> None:
    unknown = write(tmp_path / "unknown.json", {"schemaURL": "https://aifabric.dev/schemas/no-such-kind/1.0.0.json"})
    future = write(
        tmp_path / "future.json", {"schemaURL": "https://aifabric.dev/schemas/conformance-report/9.0.0.json"}
    )
    foreign = write(tmp_path / "foreign.json", {"schemaURL": "https://example.com/schemas/thing.json"})
    result = invoke("validate", unknown, future, foreign)
    assert result.exit_code == 1
    [u] = lines_naming(result.stdout, unknown)
    [f] = lines_naming(result.stdout, future)
    [x] = lines_naming(result.stdout, foreign)
    assert "unknown document kind 'no-such-kind'" in u
    assert "unsupported version 9.0.0 of 'conformance-report'" in f
    assert "1.0.0" in f  # says which versions it does know
    assert "never fetches" in x
    assert len({u.split(": ", 1)[1], f.split(": ", 1)[1], x.split(": ", 1)[1]}) == 3


def test_validate_a_document_without_schema_url(tmp_path: Path) -> None:
    doc = report()
    del doc["schemaURL"]
    path = write(tmp_path / "anonymous.json", doc)
    result = invoke("validate", path)
    assert result.exit_code == 1
    [line] = lines_naming(result.stdout, path)
    assert "schemaURL" in line
    assert "names no schema" in line


@pytest.mark.parametrize("value", [[], None, "text", 3, {"schemaURL": 7}])
def test_validate_a_non_document_json_value(tmp_path: Path, value: Any) -> None:
    path = write(tmp_path / "value.json", value)
    result = invoke("validate", path)
    assert result.exit_code == 1
    assert lines_naming(result.stdout, path)


def test_validate_with_an_explicit_schema() -> None:
    url = f"{COMMON}#/$defs/timestamp"
    assert invoke("validate", "--schema", url, "-", stdin=b'"2026-11-23T08:15:42Z"').exit_code == 0
    result = invoke("validate", "--schema", url, "-", stdin=b'"2026-11-23T08:15:42"')
    assert result.exit_code == 1
    assert "invalid <stdin>" in result.stdout


def test_validate_goes_on_after_an_unreadable_file(tmp_path: Path) -> None:
    first = write(tmp_path / "a.json", report())
    locked = write(tmp_path / "b.json", report())
    last = write(tmp_path / "c.json", report())
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running with privileges that read a mode-000 file (root?), so it cannot be made unreadable")
        result = invoke("validate", tmp_path)
    finally:
        locked.chmod(0o644)
    assert result.exit_code == 1
    assert f"valid   {first}" in result.stdout
    assert f"valid   {last}" in result.stdout
    [line] = lines_naming(result.stdout, locked)
    assert "cannot read" in line
    assert "Permission denied" in line


def test_validate_goes_on_after_a_dangling_symlink(tmp_path: Path) -> None:
    """The unreadable-file case that holds even as root."""
    first = write(tmp_path / "a.json", report())
    (tmp_path / "b.json").symlink_to(tmp_path / "nowhere.json")
    last = write(tmp_path / "c.json", report())
    result = invoke("validate", tmp_path)
    assert result.exit_code == 1
    assert f"valid   {first}" in result.stdout
    assert f"valid   {last}" in result.stdout
    [line] = lines_naming(result.stdout, tmp_path / "b.json")
    assert "cannot read" in line


def test_validate_goes_on_after_a_bad_file_in_a_folder(tmp_path: Path) -> None:
    """[CORE-086] One bad document is reported and validation goes on."""
    first = write(tmp_path / "a.json", report())
    broken = write(tmp_path / "b.json", "{")
    binary = write(tmp_path / "c.yaml", b"\x00\xff\xfe")
    last = write(tmp_path / "d.json", report())
    result = invoke("validate", "--json", tmp_path)
    assert result.exit_code == 1
    records = {r["source"]: r["valid"] for r in json_records(result)}
    assert records == {str(first): True, str(broken): False, str(binary): False, str(last): True}


def test_validate_a_fifo_in_a_folder_does_not_hang(tmp_path: Path) -> None:
    """A named pipe with a document suffix is skipped or reported, never waited on forever."""
    good = write(tmp_path / "a.json", report())
    os.mkfifo(tmp_path / "pipe.json")
    try:
        result = script("validate", tmp_path, timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail("aifabric validate blocked opening a FIFO in the folder")
    assert f"valid   {good}" in result.stdout
    assert "Traceback" not in result.stderr


def test_validate_a_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    good = write(tmp_path / "good.json", report())
    result = invoke("validate", missing, good)
    assert result.exit_code != 0
    [line] = lines_naming(result.output, missing)
    assert "No such file" in line
    assert f"valid   {good}" in result.stdout


def test_validate_an_empty_folder_finds_no_documents(tmp_path: Path) -> None:
    write(tmp_path / "readme.txt", "nothing here")
    result = invoke("validate", tmp_path)
    assert result.exit_code == 2
    assert "no documents found" in result.stderr


def test_validate_reports_a_schema_url_with_lone_surrogate(tmp_path: Path) -> None:
    r"""JSON allows ``"\ud800"``; the report about it must still be printed, in text and in JSON."""
    path = write(tmp_path / "surrogate.json", '{"schemaURL": "\\ud800"}')
    text = invoke("validate", path)
    assert text.exit_code == 1
    assert lines_naming(text.stdout, path)
    as_json = invoke("validate", "--json", path)
    assert as_json.exit_code == 1
    assert json_records(as_json)[0]["valid"] is False


def test_validate_reports_a_schema_fragment_with_lone_surrogate(tmp_path: Path) -> None:
    path = write(tmp_path / "surrogate.json", '{"schemaURL": "%s#\\ud800"}' % COMMON)  # noqa: UP031 - JSON braces
    result = invoke("validate", path)
    assert result.exit_code == 1
    assert lines_naming(result.stdout, path)


def test_validate_json_output_for_a_file_name_that_is_not_utf8(tmp_path: Path) -> None:
    folder = tmp_path / "odd"
    folder.mkdir()
    name = os.fsdecode(b"caf\xe9.json")
    write(folder / name, report())
    result = invoke("validate", "--json", folder)
    assert result.exit_code == 0
    assert len(json_records(result)) == 1


def test_validate_exit_codes_and_no_traceback_from_the_real_script(tmp_path: Path) -> None:
    """[CORE-087] Exit 0, 1 or 2, one line per problem, never a stack trace."""
    good = write(tmp_path / "good.json", report())
    bad = write(tmp_path / "bad.json", invalid_report())
    ok = script("validate", good)
    assert (ok.returncode, ok.stdout) == (0, f"valid   {good}\n")
    failed = script("validate", bad)
    assert failed.returncode == 1
    missing = script("validate", tmp_path / "nope.json")
    assert missing.returncode != 0
    nothing = script("validate", tmp_path / "nope", "--json")
    assert nothing.returncode != 0
    piped = script("validate", "-", stdin=json.dumps(report()).encode())
    assert piped.returncode == 0
    for result in (ok, failed, missing, nothing, piped):
        assert "Traceback" not in result.stdout + result.stderr


# --- schemas ----------------------------------------------------------------------------------------------


def test_schemas_list_text() -> None:
    result = invoke("schemas", "list")
    assert result.exit_code == 0
    for kind in KINDS:
        assert kind in result.stdout


def test_schemas_list_json() -> None:
    result = invoke("schemas", "list", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert {r["kind"] for r in rows} >= KINDS
    assert all(set(r) == {"kind", "version", "id", "title"} for r in rows)
    assert {r["id"] for r in rows} == {info.id for info in Registry.default()}
    assert {k: v for k, v in next(r for r in rows if r["id"] == REPORT).items() if k != "title"} == {
        "kind": "conformance-report",
        "version": "1.1.0",
        "id": REPORT,
    }


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("conformance-report", REPORT),
        ("conformance-vector", VECTOR),
        ("common@1.0.0", schema_url("common", "1.0.0")),
        (COMMON, COMMON),
        (REPORT, REPORT),
    ],
)
def test_schemas_show(name: str, expected: str) -> None:
    result = invoke("schemas", "show", name)
    assert result.exit_code == 0
    shown = json.loads(result.stdout)
    assert shown["$id"] == expected
    assert shown == json.loads(json.dumps(Registry.default().info(expected).schema))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nope", "unknown document kind 'nope'"),
        ("common@9.9.9", "unsupported version 9.9.9"),
        ("https://example.com/x.json", "unknown schema URL"),
    ],
)
def test_schemas_show_unknown_from_the_real_script(name: str, message: str) -> None:
    result = script("schemas", "show", name)
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    assert message in line
    assert "Traceback" not in result.stderr


def test_schemas_show_unknown_is_a_usage_error_in_process() -> None:
    """The ``app`` itself (not only ``main``) turns an unknown name into one line and exit 2."""
    result = CliRunner().invoke(app, ["schemas", "show", "nope"])
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2
    assert "unknown document kind 'nope'" in result.stderr


def test_schemas_export_writes_the_packaged_schemas(tmp_path: Path) -> None:
    out = tmp_path / "exported"
    result = invoke("schemas", "export", out)
    assert result.exit_code == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.json"))
    packaged = sorted(p.relative_to(ROOT / "schemas").as_posix() for p in (ROOT / "schemas").glob("*/*.json"))
    assert written == packaged
    assert written == sorted(f"{i.kind}/{i.version}.json" for i in Registry.default())
    for name in written:
        assert json.loads((out / name).read_bytes()) == json.loads((ROOT / "schemas" / name).read_bytes()), name
    assert f"wrote {len(written)} schemas" in result.stderr


def test_schemas_export_twice_overwrites(tmp_path: Path) -> None:
    assert invoke("schemas", "export", tmp_path).exit_code == 0
    assert invoke("schemas", "export", tmp_path).exit_code == 0


def test_schemas_export_to_a_file_fails_cleanly(tmp_path: Path) -> None:
    target = write(tmp_path / "a-file", "x")
    result = invoke("schemas", "export", target)
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    assert "cannot write" in line


def test_schemas_check() -> None:
    result = invoke("schemas", "check")
    assert result.exit_code == 0
    assert " 0 invalid" in result.stdout
    rows = json.loads(invoke("schemas", "check", "--json").stdout)
    assert rows
    assert all(row["valid"] for row in rows)
    assert {row["schema"].split("#")[0] for row in rows} >= {REPORT, VECTOR}


# --- conformance vectors ----------------------------------------------------------------------------------


def _validate_vector(cases: list[dict[str, Any]], schema: str = f"{COMMON}#/$defs/timestamp") -> dict[str, Any]:
    return {
        "schemaURL": VECTOR,
        "description": "timestamps carry an offset",
        "spec": ["CORE-020"],
        "operation": "validate",
        "schema": schema,
        "cases": cases,
    }


def vectors(folder: Path) -> Path:
    """A small suite of vector files that this SDK passes."""
    write(
        folder / "common" / "timestamps.json",
        _validate_vector(
            [
                {"description": "UTC with Z", "data": "2026-11-23T08:15:42Z", "valid": True},
                {"description": "no offset", "data": "2026-11-23T08:15:42", "valid": False},
            ]
        ),
    )
    write(
        folder / "canonical" / "keys.json",
        {
            "schemaURL": VECTOR,
            "description": "keys are sorted",
            "spec": ["CORE-020"],
            "operation": "canonicalize",
            "cases": [
                {
                    "description": "two keys",
                    "data": {"b": 2, "a": 1},
                    "valid": True,
                    "expected": '{"a":1,"b":2}',
                }
            ],
        },
    )
    write(
        folder / "envelope" / "report.json",
        {
            "schemaURL": VECTOR,
            "description": "a report survives a CloudEvent",
            "spec": ["CORE-020"],
            "operation": "envelope",
            "cases": [
                {"description": "a valid report", "data": report(), "valid": True},
                {"description": "no producer", "data": invalid_report(), "valid": False},
            ],
        },
    )
    return folder


def test_conformance_vectors_pass_and_the_report_validates(tmp_path: Path) -> None:
    suite = vectors(tmp_path / "vectors")
    out = tmp_path / "out" / "report.json"
    result = invoke("conformance", "vectors", suite, "--report", out)
    assert result.exit_code == 0, result.output
    assert "PASSED: 5/5 cases passed" in result.stdout
    assert f"report written to {out}" in result.stdout
    doc = json.loads(out.read_bytes())
    assert doc["schemaURL"] == REPORT
    assert doc["summary"]["outcome"] == "passed"
    assert doc["summary"]["total"] == 5
    assert invoke("validate", out).exit_code == 0
    assert script("validate", out).returncode == 0


def test_conformance_vectors_json_output(tmp_path: Path) -> None:
    result = invoke("conformance", "vectors", vectors(tmp_path), "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["summary"]["outcome"] == "passed"
    aifabric.validate(doc)


def test_conformance_vectors_a_wrong_verdict_fails_the_run(tmp_path: Path) -> None:
    suite = vectors(tmp_path / "vectors")
    write(
        suite / "common" / "wrong.json",
        _validate_vector(
            [{"description": "claims a date without offset is fine", "data": "2026-11-23", "valid": True}]
        ),
    )
    out = tmp_path / "report.json"
    result = invoke("conformance", "vectors", suite, "--report", out)
    assert result.exit_code == 1
    assert "FAILED" in result.stdout
    assert "failed common/wrong.json#0" in result.stdout
    doc = json.loads(out.read_bytes())
    assert doc["summary"]["outcome"] == "failed"
    [failed] = [r for r in doc["results"] if r["outcome"] == "failed"]
    assert failed["id"] == "common/wrong.json#0"
    assert failed["evidence"] == {"expected": "accept", "observed": failed["evidence"]["observed"]}
    assert failed["evidence"]["observed"].startswith("rejected")
    assert invoke("validate", out).exit_code == 0  # a failing run still makes a valid report


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe",
        json.dumps({"schemaURL": VECTOR, "description": "no cases", "spec": ["CORE-020"], "operation": "validate"}),
        json.dumps(_validate_vector([{"description": "no verdict", "data": 1}])),
        json.dumps({"schemaURL": REPORT}),
    ],
)
def test_conformance_vectors_a_malformed_vector_file_is_an_error_result(tmp_path: Path, content: Any) -> None:
    suite = vectors(tmp_path / "vectors")
    write(suite / "broken.json", content)
    out = tmp_path / "report.json"
    result = invoke("conformance", "vectors", suite, "--report", out)
    assert result.exit_code == 1
    assert "error broken.json" in result.stdout
    doc = json.loads(out.read_bytes())
    [error] = [r for r in doc["results"] if r["outcome"] == "error"]
    assert error["id"] == "broken.json"
    assert doc["summary"]["errors"] == 1
    assert doc["summary"]["passed"] == 5
    assert invoke("validate", out).exit_code == 0


def test_conformance_vectors_a_single_file(tmp_path: Path) -> None:
    suite = vectors(tmp_path)
    result = invoke("conformance", "vectors", suite / "canonical" / "keys.json", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["summary"]["total"] == 1


def test_conformance_vectors_a_missing_path(tmp_path: Path) -> None:
    result = invoke("conformance", "vectors", tmp_path / "nope")
    assert result.exit_code == 2
    assert "no such file or folder" in result.stderr


def test_conformance_vectors_report_that_cannot_be_written(tmp_path: Path) -> None:
    blocker = write(tmp_path / "file", "x")
    result = invoke("conformance", "vectors", vectors(tmp_path / "v"), "--report", blocker / "report.json")
    assert result.exit_code == 2
    assert "cannot write" in result.stderr


def test_conformance_vectors_shipped_with_aifabric_pass() -> None:
    result = invoke("conformance", "vectors", "--json")
    assert result.exit_code == 0, result.stdout[-2000:]
    assert json.loads(result.stdout)["summary"]["outcome"] == "passed"


# --- paths are text, not rich markup ---------------------------------------------------------------------


def test_validate_prints_a_file_name_with_brackets_literally(tmp_path: Path) -> None:
    path = write(tmp_path / "[bold]x[/].json", report())
    result = invoke("validate", path)
    assert result.exit_code == 0
    assert f"valid   {path}" in result.stdout


def test_conformance_missing_path_with_brackets_is_printed_literally(tmp_path: Path) -> None:
    missing = tmp_path / "[/x]"
    result = invoke("conformance", "vectors", missing)
    assert result.exit_code == 2
    assert f"{missing}: no such file or folder" in result.stderr


def test_conformance_report_path_with_brackets_is_printed_literally(tmp_path: Path) -> None:
    out = tmp_path / "r[/q].json"
    result = invoke("conformance", "vectors", vectors(tmp_path / "v"), "--report", out)
    assert result.exit_code == 0
    assert f"report written to {out}" in result.stdout


def test_schemas_export_folder_with_brackets_is_printed_literally(tmp_path: Path) -> None:
    out = tmp_path / "ex[/y]"
    result = invoke("schemas", "export", out)
    assert result.exit_code == 0
    assert f"schemas to {out}" in result.stderr


# --- hostile input: exit 0 or 1, never an exception -------------------------------------------------------

TEXT = st.text(st.characters(exclude_categories=()), max_size=12)  # lone surrogates included: JSON allows them
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=25,
)
SCHEMA_URLS = (
    st.sampled_from([REPORT, VECTOR, COMMON, "https://aifabric.dev/schemas/x/1.0.0.json", f"{COMMON}#/$defs"])
    | st.builds(lambda base, frag: f"{base}#{frag}", st.sampled_from([REPORT, COMMON]), TEXT)
    | TEXT
)
DOCUMENTS = st.builds(
    lambda base, url, extra: {**base, "schemaURL": url, **extra},
    st.just(report()),
    SCHEMA_URLS,
    st.dictionaries(st.sampled_from(sorted(report())), JSON_VALUES, max_size=3),
)


def _check(result: Result, allowed: frozenset[int] = frozenset({0, 1})) -> None:
    assert result.exit_code in allowed, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output


@settings(max_examples=100)
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_in_a_json_file(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder) / "input.json", data)
        _check(CliRunner().invoke(app, ["validate", str(path)]))
        _check(CliRunner().invoke(app, ["validate", "--json", str(path)]))


@settings(max_examples=100)
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".jsonl", ".ndjson", ".yaml", ".yml"]))
def test_arbitrary_bytes_in_a_jsonl_or_yaml_file(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder) / f"input{suffix}", data)
        # 2 is "no documents found": an empty or blank JSONL/YAML file holds none
        _check(CliRunner().invoke(app, ["validate", str(path)]), frozenset({0, 1, 2}))


@settings(max_examples=100)
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_on_stdin(data: bytes) -> None:
    _check(CliRunner().invoke(app, ["validate", "-"], input=data))


@settings(max_examples=100)
@given(value=JSON_VALUES)
def test_arbitrary_json_values_as_files(value: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder) / "value.json", json.dumps(value))  # a JSON text, even for a bare string
        _check(CliRunner().invoke(app, ["validate", str(path)]))
        _check(CliRunner().invoke(app, ["validate", "--json", str(path)]))


@settings(max_examples=100)
@given(doc=DOCUMENTS)
def test_arbitrary_documents_naming_a_schema(doc: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder) / "doc.json", doc)
        _check(CliRunner().invoke(app, ["validate", str(path)]))
        _check(CliRunner().invoke(app, ["validate", "--json", str(path)]))


# --- start-up ---------------------------------------------------------------------------------------------

HEAVY = ("jsonschema_rs", "pydantic", "cloudevents")


def _imported(code: str | None = None, *args: str) -> set[str]:
    command = [sys.executable, "-X", "importtime", *(["-c", code] if code is not None else []), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    modules = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "package":
                modules.add(name)
    assert "aifabric" in modules
    return modules


def _heavy(modules: set[str]) -> set[str]:
    return {m for m in modules if m.split(".")[0] in HEAVY}


def test_importing_the_cli_is_lazy() -> None:
    assert _heavy(_imported("import aifabric._cli")) == set()


def test_version_imports_nothing_heavy() -> None:
    assert _heavy(_imported(None, str(SCRIPT), "--version")) == set()


def test_version_from_the_real_script() -> None:
    started = time.perf_counter()
    result = script("--version")
    elapsed = time.perf_counter() - started
    print(f"aifabric --version took {elapsed * 1000:.0f} ms")  # measured, not asserted
    assert result.returncode == 0
    assert result.stdout == f"aifabric {aifabric.__version__} (spec {aifabric.SPEC_VERSION})\n"
    assert result.stderr == ""


def test_help_and_no_arguments_from_the_real_script() -> None:
    helped = script("--help")
    assert helped.returncode == 0
    assert "validate" in helped.stdout
    bare = script()
    assert bare.returncode in (0, 2)
    assert "Usage:" in bare.stdout + bare.stderr
    for result in (helped, bare):
        assert "Traceback" not in result.stdout + result.stderr


# --- --add-schema: documents of other standards ----------------------------------------------------------------


def test_add_schema_validates_an_openlineage_event(tmp_path: Path) -> None:
    folder = shared("openlineage")
    event = json.loads(shared("bench", "openlineage-runevent-6k.json").read_bytes())
    good = invoke("validate", "--add-schema", folder, shared("bench", "openlineage-runevent-6k.json"))
    assert good.exit_code == 0, good.output
    del event["eventTime"]
    event["run"]["runId"] = "nope"
    bad = invoke("validate", "--add-schema", folder, write(tmp_path / "e.json", event))
    assert bad.exit_code == 1
    assert "/: required:" in bad.stdout
    assert "/run/runId: format:" in bad.stdout


def test_add_schema_refuses_a_remote_ref_and_bad_schema_files(tmp_path: Path) -> None:
    schema = {"$id": "https://x.example/s.json", "properties": {"a": {"$ref": "https://127.0.0.1:9/r.json"}}}
    doc = write(tmp_path / "d.json", {"$schema": "https://x.example/s.json", "a": 1})
    remote = invoke("validate", "--add-schema", write(tmp_path / "s.json", schema), doc)
    assert remote.exit_code == 1
    assert "never fetches" in remote.stdout
    bad: Any
    for bad in ([], {"type": "object"}, b"{oops"):
        result = invoke("validate", "--add-schema", write(tmp_path / "bad.json", bad), doc)
        assert result.exit_code == 2
        assert "cannot add as a schema" in result.stderr
