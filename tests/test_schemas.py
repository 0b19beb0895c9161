"""The schema registry: packaged schemas, kinds and versions, offline resolution only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from aifabric import Registry, SchemaError, ValidationError, schema_url, validate
from aifabric.schemas import BASE_URI, kind_of
from tests.conftest import ROOT

SCHEMA_FILES = sorted((ROOT / "schemas").glob("*/*.json"))


def test_the_packaged_kinds() -> None:
    assert {"common", "conformance-report", "conformance-vector"} <= Registry.default().kinds()


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_schema_is_2020_12_with_an_id_matching_its_path(path: Path) -> None:
    """[CORE-012] [CORE-013] [CORE-014] Draft 2020-12, a versioned $id under the base URI, matching its path."""
    schema: dict[str, Any] = json.loads(path.read_bytes())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"{BASE_URI}{path.parent.name}/{path.stem}.json"
    jsonschema.Draft202012Validator.check_schema(schema)
    validate(schema)  # the meta-schema resolves offline too


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_schema_example_validates(path: Path) -> None:
    """[CORE-018] Every schema and definition carries examples, and each is valid."""
    schema = json.loads(path.read_bytes())
    targets = [("", schema), *((f"#/$defs/{k}", v) for k, v in schema.get("$defs", {}).items())]
    checked = 0
    for fragment, sub in targets:
        for example in sub.get("examples", []):
            validate(example, schema_url=schema["$id"] + fragment)
            checked += 1
    assert checked > 0, "every schema carries examples"


def test_schema_url_and_kind_of() -> None:
    url = schema_url("conformance-report")
    assert url == f"{BASE_URI}conformance-report/1.1.0.json"
    assert schema_url("common", "1.0.0") == f"{BASE_URI}common/1.0.0.json"
    assert kind_of(url + "#/$defs/result") == ("conformance-report", "1.1.0")
    with pytest.raises(SchemaError, match="not an aifabric schema URL"):
        kind_of("https://example.com/x.json")


def test_unknown_kind_and_unsupported_version_are_distinct_errors() -> None:
    """[CORE-081] An unknown kind and an unsupported version of a known kind say so, differently."""
    registry = Registry.default()
    with pytest.raises(SchemaError, match="unknown document kind 'nope'"):
        registry.info(f"{BASE_URI}nope/1.0.0.json")
    with pytest.raises(SchemaError, match=r"unsupported version 9\.0\.0 of 'conformance-report'.*1\.0\.0"):
        registry.info(f"{BASE_URI}conformance-report/9.0.0.json")
    with pytest.raises(SchemaError, match="unknown schema URL"):
        registry.info("https://example.com/other.json")
    with pytest.raises(SchemaError, match="unknown document kind"):
        registry.latest("nope")


def test_a_remote_ref_is_refused_never_fetched() -> None:
    """[CORE-015] $ref is resolved offline; a reference outside the registry is an error, not a download."""
    registry = Registry.default().copy()
    registry.add({"$id": "https://example.com/s.json", "properties": {"a": {"$ref": "https://127.0.0.1:9/x.json"}}})
    with pytest.raises(SchemaError, match=r"refers to https://127\.0\.0\.1:9/x\.json.*never fetches"):
        validate({"a": 1}, schema_url="https://example.com/s.json", registry=registry)


def test_foreign_schemas_can_be_added_to_a_copy(openlineage_registry: Registry, bench_event: dict[str, Any]) -> None:
    assert validate(bench_event, registry=openlineage_registry).schema_url.endswith("#/$defs/RunEvent")
    facet = "https://openlineage.io/spec/facets/1-0-1/NominalTimeRunFacet.json"
    assert facet in openlineage_registry
    assert facet not in Registry.default()  # the default registry is untouched by the copy


def test_openlineage_events_validate_against_the_aifabric_profile_by_default(bench_event: dict[str, Any]) -> None:
    """[LIN-004] OpenLineage's schemaURL routes to the aifabric lineage profile, offline."""
    assert Registry.default().resolve(bench_event["schemaURL"]).startswith(f"{BASE_URI}lineage-event/")
    validate(bench_event)


def test_a_bad_schema_is_a_schema_error() -> None:
    registry = Registry()
    with pytest.raises(SchemaError, match="needs an absolute"):
        registry.add({"type": "object"})
    with pytest.raises(SchemaError, match="must be a JSON object"):
        registry.add([])  # type: ignore[arg-type]
    registry.add({"$id": "https://example.com/bad.json", "type": 12})
    with pytest.raises(SchemaError, match="does not compile"):
        validate({}, schema_url="https://example.com/bad.json", registry=registry)


def test_registry_iterates_sorted_by_kind_and_version() -> None:
    registry = Registry(
        [
            {"$id": f"{BASE_URI}x/1.10.0.json"},
            {"$id": f"{BASE_URI}x/1.2.0.json"},
            {"$id": f"{BASE_URI}a/1.0.0.json"},
        ]
    )
    assert [(i.kind, i.version) for i in registry] == [("a", "1.0.0"), ("x", "1.2.0"), ("x", "1.10.0")]
    assert registry.latest("x").version == "1.10.0"
    assert len(registry) == 3
    assert f"{BASE_URI}a/1.0.0.json#/x" in registry


def test_validation_error_is_not_raised_for_valid_meta_schema_documents() -> None:
    with pytest.raises(ValidationError):
        validate({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": 5})


def test_an_alias_routes_another_standards_schema_url_to_the_aifabric_profile() -> None:
    registry = Registry.default().copy()
    registry.add(
        {
            "$id": f"{BASE_URI}profile/1.0.0.json",
            "x-aifabric-aliases": ["https://other.example/spec/2.json"],
            "$defs": {"Event": {"type": "object", "required": ["eventType"]}},
        }
    )
    url = "https://other.example/spec/2.json#/$defs/Event"
    assert url in registry
    assert registry.resolve(url) == f"{BASE_URI}profile/1.0.0.json#/$defs/Event"
    assert registry.info(url).kind == "profile"
    validate({"schemaURL": url, "eventType": "START"}, registry=registry)
    with pytest.raises(ValidationError):
        validate({"schemaURL": url}, registry=registry)
    registry.add({"$id": "https://other.example/spec/2.json", "$defs": {"Event": {"type": "object"}}})
    validate({"schemaURL": url}, registry=registry)  # the real schema, once added, wins over the alias
    with pytest.raises(SchemaError, match="must be a list"):
        registry.add({"$id": f"{BASE_URI}bad/1.0.0.json", "x-aifabric-aliases": "x"})
