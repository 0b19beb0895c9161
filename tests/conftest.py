"""Shared fixtures: the third-party data folder, the packaged schemas, and a registry with OpenLineage."""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, settings

from aifabric.schemas import Registry

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

settings.register_profile("default", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("default")


@cache
def _report() -> dict[str, Any]:
    from aifabric.conformance import run_vectors

    doc: dict[str, Any] = run_vectors([]).to_json()
    return doc


def report() -> dict[str, Any]:
    """A fresh copy of a valid conformance-report document (schemaURL, producer and all)."""
    return copy.deepcopy(_report())


def shared(*parts: str) -> Path:
    """A path under ../shared/data, or a skip when the folder is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"third-party fixture {path} is absent (expected ../shared/data beside the checkout)")
    return path


@pytest.fixture(scope="session")
def openlineage_schemas() -> list[dict[str, Any]]:
    folder = shared("openlineage")
    files = [folder / "OpenLineage.json", *sorted((folder / "facets").glob("*.json"))]
    return [json.loads(f.read_bytes()) for f in files]


@pytest.fixture(scope="session")
def openlineage_registry(openlineage_schemas: list[dict[str, Any]]) -> Registry:
    registry = Registry.default().copy()
    for schema in openlineage_schemas:
        registry.add(schema)
    return registry


@pytest.fixture(scope="session")
def bench_event() -> dict[str, Any]:
    event: dict[str, Any] = json.loads(shared("bench", "openlineage-runevent-6k.json").read_bytes())
    return event


def inline_refs(url: str) -> dict[str, Any]:
    """A packaged schema with every cross-schema ``$ref`` copied into its own ``$defs``.

    hypothesis-jsonschema resolves only local references; the copies keep their meaning exactly.
    """
    registry = Registry.default()
    base = url.split("#", 1)[0]
    root: dict[str, Any] = json.loads(json.dumps(dict(registry.info(base).schema)))
    defs: dict[str, Any] = {}

    def rewrite(node: Any, owner: str) -> Any:
        if isinstance(node, list):
            return [rewrite(item, owner) for item in node]
        if not isinstance(node, dict):
            return node
        out = {key: rewrite(value, owner) for key, value in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str):
            target, _, pointer = ref.partition("#")
            target = target or owner
            if target != base:
                name = target.rsplit("/", 2)[-2] + "." + pointer.rsplit("/", 1)[-1]
                if name not in defs:
                    defs[name] = {}
                    other = registry.info(target).schema
                    defs[name] = rewrite(other["$defs"][pointer.rsplit("/", 1)[-1]], target)
                out["$ref"] = f"#/$defs/{name}"
        return out

    bundled: dict[str, Any] = rewrite(root, base)
    bundled["$defs"] = {**bundled.get("$defs", {}), **defs}
    bundled.pop("$id", None)
    if "#" in url:
        bundled = {"$defs": bundled["$defs"], "$ref": "#" + url.split("#", 1)[1]}
    return bundled


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    """The ``pattern`` keyword with ECMA-262's ``$``, which (unlike Python's) never matches before a final newline."""
    if validator.is_type(instance, "string"):
        if pattern.endswith("$") and not pattern.endswith("\\$"):
            pattern = pattern[:-1] + r"\Z"
        if not re.search(pattern, instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


EcmaReference = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _ecma_pattern})  # type: ignore[no-untyped-call]
"""The reference ``jsonschema`` validator, with JSON Schema's ECMA-262 reading of ``pattern``."""
