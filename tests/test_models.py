"""The pydantic models equal the schemas: schema instances parse, model output validates."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aifabric import ValidationError, schema_url, utc_now, uuid7, validate
from aifabric.models import (
    Actor,
    ConformanceReport,
    ConformanceVectorFile,
    Implementation,
    ResourceRef,
    Result,
    Suite,
    Summary,
)
from tests.conftest import inline_refs
from tests.strategies import from_schema

REPORT = schema_url("conformance-report")
COMMON = schema_url("common")
VECTOR = schema_url("conformance-vector")


@settings(max_examples=80)
@given(from_schema(inline_refs(REPORT)))
def test_schema_instances_parse_and_round_trip(doc: dict[str, Any]) -> None:
    validate(doc)
    model = ConformanceReport.model_validate(doc)
    assert model.to_json() == doc


def _schema_accepts(doc: Any, url: str) -> bool:
    try:
        validate(doc, schema_url=url)
    except ValidationError:
        return False
    return True


@settings(max_examples=100)
@given(from_schema(inline_refs(VECTOR)))
def test_vector_file_model_accepts_exactly_what_the_schema_accepts(doc: dict[str, Any]) -> None:
    """The generator ignores the schema's if/then, so about a third of these are invalid: both must agree."""
    try:
        model = ConformanceVectorFile.model_validate(doc)
    except pydantic.ValidationError:
        assert not _schema_accepts(doc, VECTOR)
        return
    assert _schema_accepts(doc, VECTOR)
    out = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert out == doc


@pytest.mark.parametrize(("name", "model"), [("actor", Actor), ("resourceRef", ResourceRef)])
def test_common_definitions_round_trip(name: str, model: type[pydantic.BaseModel]) -> None:
    @settings(max_examples=80)
    @given(from_schema(inline_refs(f"{COMMON}#/$defs/{name}")))
    def check(value: dict[str, Any]) -> None:
        validate(value, schema_url=f"{COMMON}#/$defs/{name}")
        parsed = model.model_validate(value)
        assert parsed.model_dump(mode="json", by_alias=True, exclude_none=True) == value

    check()


OUTCOMES = st.sampled_from(["passed", "failed", "skipped", "error"])
REQS = st.lists(st.from_regex(r"[A-Z]{2,4}-[0-9]{3}", fullmatch=True), min_size=1, max_size=3)


@given(st.lists(st.builds(Result, id=st.just("a#0"), requirements=REQS, outcome=OUTCOMES), max_size=8))
def test_models_built_from_python_validate(results: list[Result]) -> None:
    """[CORE-054] [CORE-055] Counts add up; a requirement fails exactly when one of its results fails or errs."""
    report = ConformanceReport(
        producer="https://example.com/x",
        reportId=uuid7(),
        createdAt=utc_now(),
        specVersion="1.0.0-draft",
        suite=Suite(name="s", version="1"),
        implementation=Implementation(name="i"),
        results=results,
        summary=Summary.of(results),
    )
    doc = report.to_json()
    assert validate(doc).schema_url == REPORT
    summary = doc["summary"]
    assert summary["total"] == summary["passed"] + summary["failed"] + summary["skipped"] + summary["errors"]
    failing = {r for res in results if res.outcome in ("failed", "error") for r in res.requirements}
    assert {r for r, v in summary["requirements"].items() if v == "failed"} == failing


def test_model_rejects_what_the_schema_rejects() -> None:
    with pytest.raises(pydantic.ValidationError):
        Actor(type="robot", id="x")  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError):
        ConformanceReport.model_validate({"schemaURL": REPORT, "producer": "x", "createdAt": "2026-02-30T00:00:00Z"})
    report = ConformanceReport(
        producer="not a uri",  # the model's str accepts it; to_json checks the schema
        reportId=uuid7(),
        createdAt=utc_now(),
        specVersion="1.0.0-draft",
        suite=Suite(name="s", version="1"),
        implementation=Implementation(name="i"),
        results=[],
        summary=Summary.of([]),
    )
    with pytest.raises(ValidationError, match="producer"):
        report.to_json()


def test_uuid7_and_utc_now() -> None:
    """[CORE-021] [CORE-023] The SDK mints UUIDv7 ids and UTC timestamps ending in Z."""
    ids = [uuid7() for _ in range(100)]
    for value in ids:
        validate(value, schema_url=f"{COMMON}#/$defs/uuidv7")
    assert len(set(ids)) == 100
    now = utc_now()
    assert now.endswith("Z")
    validate(now, schema_url=f"{COMMON}#/$defs/timestamp")
