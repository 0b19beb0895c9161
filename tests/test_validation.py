"""Validation: dispatch on the schema URL, every problem with its pointer and rule, hostile input refused."""

from __future__ import annotations

import copy
import ipaddress
import re
from functools import cache
from typing import Any

import jsonschema
import pytest
import referencing
from hypothesis import given, settings
from hypothesis import strategies as st

from aifabric import DocumentError, Registry, SchemaError, ValidationError, schema_url, validate
from aifabric.conformance import default_vectors_dir, load_vector_file
from aifabric.validation import MAX_DEPTH, load_documents, problems
from tests.conftest import EcmaReference, inline_refs
from tests.strategies import from_schema

REPORT = schema_url("conformance-report")
COMMON = schema_url("common")


def _report(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schemaURL": REPORT,
        "producer": "https://example.com/suite/1.0",
        "reportId": "01932b6e-5c1f-7a3e-9d4b-2f6c8e1a0b77",
        "createdAt": "2026-11-23T08:15:42Z",
        "specVersion": "1.0.0-draft",
        "suite": {"name": "s", "version": "1"},
        "implementation": {"name": "impl"},
        "results": [{"id": "a#0", "requirements": ["CORE-020"], "outcome": "passed"}],
        "summary": {
            "outcome": "passed",
            "total": 1,
            "passed": 1,
            "failed": 0,
            "skipped": 0,
            "errors": 0,
            "requirements": {"CORE-020": "passed"},
        },
    }
    doc.update(changes)
    return doc


def test_a_valid_document_validates() -> None:
    result = validate(_report(), source="r.json")
    assert result.schema_url == REPORT
    assert result.source == "r.json"


def test_every_problem_is_reported_with_pointer_and_rule() -> None:
    """[CORE-080] Every error, each with its JSON pointer, its rule and a message."""
    doc = _report(
        createdAt="yesterday", reportId="not-a-uuid", results=[{"id": "", "requirements": [], "outcome": "?"}]
    )
    del doc["suite"]
    with pytest.raises(ValidationError) as caught:
        validate(doc, source="r.json")
    found = {(p.pointer, p.rule) for p in caught.value.problems}
    assert ("", "required") in found
    assert ("/createdAt", "pattern") in found or ("/createdAt", "format") in found
    assert ("/reportId", "pattern") in found or ("/reportId", "format") in found
    assert ("/results/0/id", "minLength") in found
    assert ("/results/0/requirements", "minItems") in found
    assert ("/results/0/outcome", "enum") in found
    assert all(p.source == "r.json" and p.message for p in caught.value.problems)
    assert caught.value.schema_url == REPORT
    assert str(caught.value).startswith("r.json: ")


@pytest.mark.parametrize(
    ("fragment", "value"),
    [
        ("timestamp", "2026-13-45T99:00:00Z"),  # matches the pattern, not a real date-time
        ("uuid", "01932b6e-5c1f-7a3e-9d4b-2f6c8e1a0b7g"),
        ("producer", "not a uri"),
    ],
)
def test_format_assertions_are_on(fragment: str, value: str) -> None:
    """[CORE-082] date-time, uri, uuid and email formats are asserted, not just annotated."""
    with pytest.raises(ValidationError):
        validate(value, schema_url=f"{COMMON}#/$defs/{fragment}")


def test_email_format_is_asserted() -> None:
    actor = {"type": "user", "id": "a", "email": "not-an-email"}
    with pytest.raises(ValidationError) as caught:
        validate(actor, schema_url=f"{COMMON}#/$defs/actor")
    assert caught.value.problems[0].pointer == "/email"


FOREIGN = "https://example.com/schemas/timestamps.json"


@cache
def _foreign_registry() -> Registry:
    registry = Registry.default().copy()
    registry.add(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": FOREIGN,
            "$defs": {name: {"format": name} for name in ("date", "date-time", "time")},
        }
    )
    return registry


@pytest.mark.parametrize(
    ("fmt", "value", "valid"),
    [
        ("date", "2-26-02-28", False),
        ("date", "-026-02-28", False),
        ("date", "202/-02-28", False),
        ("date", "2024-02-29", True),
        ("date", "2026-02-29", False),
        ("date-time", "+026-11-23T08:00:00Z", False),
        ("date-time", "20.6-11-23T08:00:00Z", False),
        ("date-time", "2026-11-23T0.:00:00Z", False),
        ("date-time", "2026-11-23T08:00:0-Z", False),
        ("date-time", "2026-11-23t08:00:00.5z", True),
        ("date-time", "2026-11-24T00:59:60+01:00", True),
        ("date-time", "2026-11-23T08:59:60Z", False),
        ("date-time", "2026-11-23 08:00:00Z", False),
        ("time", "0.:00:00Z", False),
        ("time", "23:59:60Z", True),
        ("time", "08:00:00", False),
    ],
)
def test_rfc3339_formats_need_digits_where_digits_belong(fmt: str, value: str, valid: bool) -> None:
    """[CORE-082] A format without a masking pattern (a foreign schema) is checked by RFC 3339's grammar.

    jsonschema-rs 0.60 takes a "-", "." or "+" for a digit in date, time and date-time; the ajv adapter of the
    conformance suite found it, and the registry now hands jsonschema-rs aifabric's own RFC 3339 checks.
    """
    found = problems(value, schema_url=f"{FOREIGN}#/$defs/{fmt}", registry=_foreign_registry())
    assert (found == []) is valid, found
    if not valid:
        assert [p.rule for p in found] == ["format"]


def test_pointer_escapes_tilde_and_slash() -> None:
    doc = _report(environment={"a/b~c": 1})
    with pytest.raises(ValidationError) as caught:
        validate(doc)
    assert caught.value.problems[0].pointer == "/environment/a~1b~0c"


def test_documents_without_a_schema_url() -> None:
    with pytest.raises(ValidationError, match="names no schema"):
        validate({"producer": "x"})
    with pytest.raises(ValidationError, match="names no schema"):
        validate([1, 2])
    assert problems({"schemaURL": 5})[0].rule == "schemaURL"


def test_unknown_schema_urls_are_schema_errors() -> None:
    with pytest.raises(SchemaError, match="unknown document kind"):
        validate({"schemaURL": "https://aifabric.dev/schemas/widget/1.0.0.json"})
    with pytest.raises(SchemaError, match="unsupported version"):
        validate({"schemaURL": "https://aifabric.dev/schemas/conformance-report/2.0.0.json"})
    assert problems({"schemaURL": "https://example.com/x.json"})[0].rule == "schema"


def test_non_json_values_are_document_errors() -> None:
    for bad in ({1: 2}, object(), {"x": {1, 2}}):
        with pytest.raises(DocumentError, match="not a JSON document"):
            validate(_report(environment=bad))


def test_lone_surrogates_do_not_crash_validation() -> None:
    validate(_report(producer="https://example.com/\ud800"))


# --- reading -----------------------------------------------------------------------------------------------


def test_json_jsonl_and_yaml() -> None:
    assert load_documents(b'{"a": 1}', source="x.json") == [{"a": 1}]
    assert load_documents(b'{"a": 1}\n\n{"a": 2}\n', source="x.jsonl") == [{"a": 1}, {"a": 2}]
    assert load_documents(b"a: 1\n---\nb: [1, 2]\n", source="x.yaml") == [{"a": 1}, {"b": [1, 2]}]
    assert load_documents(b"\xef\xbb\xbf[1]", source="bom.json") == [[1]]


def test_a_yaml_file_holding_json_reads_as_json() -> None:
    """``aifabric sign --embed`` rewrites a YAML file as JSON; PyYAML (YAML 1.1) would read ``2e-6`` as a string."""
    assert load_documents(b'{"v": 2e-6, "w": [1E+3]}', source="card.yaml") == [{"v": 2e-6, "w": [1000.0]}]
    assert load_documents(b"[1, 2]\n", source="x.yml") == [[1, 2]]
    assert load_documents(b"{a: 1}\n", source="x.yaml") == [{"a": 1}]  # YAML flow style, not JSON


@pytest.mark.parametrize(
    ("data", "source", "message"),
    [
        (b'{"a":', "x.json", "malformed JSON"),
        (b"[NaN]", "x.json", "malformed JSON"),
        (b'{"a": 1}\n{oops}\n', "x.jsonl", "malformed JSON"),
        (b"\xff\xfe{}", "x.json", "not UTF-8: invalid byte 0xff at offset 0"),
        (b"a: [1, 2\n", "x.yaml", "malformed YAML"),
        (b"a: !!python/object:os.system x\n", "x.yaml", "malformed YAML"),
        (b"a: 2026-11-23\n", "x.yaml", "not a JSON value"),
        (b"? [1]\n: x\n", "x.yaml", "unhashable key"),
        (b"1: x\n", "x.yaml", "is not a string"),
        (b"[" * 300 + b"]" * 300, "x.json", f"nested deeper than {MAX_DEPTH}"),
        (b"[" * 100_000, "x.json", "nested deeper"),
        (b"a:" + b" [" * 2000 + b" ]" * 2000, "x.yaml", "nested deeper"),
    ],
)
def test_bad_input_is_one_clear_error(data: bytes, source: str, message: str) -> None:
    with pytest.raises(DocumentError, match=message) as caught:
        load_documents(data, source=source)
    assert caught.value.source is not None and caught.value.source.startswith(source)


def test_yaml_alias_bomb_is_capped_fast() -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join(['*a' + str(i - 1)] * 9)}]" for i in range(1, 10)]
    with pytest.raises(DocumentError, match="alias bomb") as caught:
        load_documents("\n".join(lines).encode(), source="bomb.yaml")
    assert caught.value.rule == "maxNodes"


def test_oversized_input_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("aifabric.validation.MAX_BYTES", 10)
    with pytest.raises(DocumentError, match="over the 10-byte limit"):
        load_documents(b"[" + b"1," * 10 + b"1]")


@given(st.binary(max_size=300), st.sampled_from(["x.json", "x.jsonl", "x.yaml"]))
def test_arbitrary_bytes_give_documents_or_a_document_error(data: bytes, source: str) -> None:
    try:
        docs = load_documents(data, source=source)
    except DocumentError as exc:
        assert exc.source is not None and exc.source.startswith(source)
        return
    for doc in docs:
        found = problems(doc, source=source)  # a verdict for anything parsed: never an exception
        assert all(p.source == source and p.rule and p.message for p in found)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(JSON_VALUES, st.sampled_from([None, REPORT, schema_url("conformance-vector"), "https://example.com/x"]))
def test_arbitrary_json_gives_a_verdict_or_a_documented_error(value: Any, url: str | None) -> None:
    if isinstance(value, dict) and url is not None:
        value = {**value, "schemaURL": url}
    try:
        validate(value)
    except (ValidationError, SchemaError) as exc:
        assert str(exc)


# --- parity with the reference implementation, the `jsonschema` library ------------------------------------


@cache
def _reference_registry() -> referencing.Registry[Any]:
    resources = [(info.id, referencing.Resource.from_contents(dict(info.schema))) for info in Registry.default()]
    return referencing.Registry().with_resources(resources)


_ATOM = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+"
_MAILBOX = re.compile(
    rf'(?:{_ATOM}(?:\.{_ATOM})*|"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*")'
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[(IPv6:)?([^\]]*)\])"
)


def _rfc5321_mailbox(value: object) -> bool:
    """RFC 5321 section 4.1.2 ``Mailbox``, which JSON Schema's ``email`` names; ``jsonschema`` only looks for "@"."""
    if not isinstance(value, str):
        return True
    match = _MAILBOX.fullmatch(value)
    if match is None:
        return False
    if match[2] is None:
        return True
    try:
        address = ipaddress.ip_address(match[2])
    except ValueError:
        return False
    return address.version == (6 if match[1] else 4)


@cache
def _reference_formats() -> jsonschema.FormatChecker:
    checker: jsonschema.FormatChecker = copy.deepcopy(jsonschema.Draft202012Validator.FORMAT_CHECKER)
    checker.checks("email")(_rfc5321_mailbox)
    return checker


def _reference_verdict(value: Any, url: str) -> bool:
    validator = EcmaReference({"$ref": url}, registry=_reference_registry(), format_checker=_reference_formats())
    return bool(validator.is_valid(value))


def _our_verdict(value: Any, url: str) -> bool:
    try:
        validate(value, schema_url=url)
    except ValidationError:
        return False
    return True


def _validate_vectors() -> list[tuple[str, Any, str]]:
    cases = []
    for path in sorted(default_vectors_dir().rglob("*.json")):
        vector = load_vector_file(path)
        if vector.operation == "validate" and vector.schema_ is not None:
            cases += [(f"{path.name}#{n}", c.data, vector.schema_) for n, c in enumerate(vector.cases)]
    return cases


def test_same_verdict_as_jsonschema_on_every_vector() -> None:
    cases = _validate_vectors()
    assert len(cases) >= 50
    disagree = [case for case, data, url in cases if _our_verdict(data, url) != _reference_verdict(data, url)]
    assert disagree == []


_BUNDLED_REPORT = inline_refs(REPORT)


@settings(max_examples=60)
@given(from_schema(_BUNDLED_REPORT))
def test_same_verdict_as_jsonschema_on_generated_reports(doc: dict[str, Any]) -> None:
    assert _our_verdict(doc, REPORT) is True
    assert _reference_verdict(doc, REPORT) is True


@given(
    JSON_VALUES,
    st.sampled_from(["timestamp", "uuidv7", "digestSet", "actor", "resourceRef", "semver", "producer"]),
)
def test_same_verdict_as_jsonschema_on_arbitrary_values(value: Any, name: str) -> None:
    url = f"{COMMON}#/$defs/{name}"
    assert _our_verdict(value, url) == _reference_verdict(value, url)
