"""A broken Document Validator that validates with format assertion off: ``format`` is only an annotation to it.

It is right about everything else (types, patterns, required members, ``$ref``s: jsonschema-rs, as aifabric uses,
with ``validate_formats=False``), so it fails exactly where a value matches its schema's shape but not its format:
a ``uri`` with a non-numeric port, an ``email`` without a domain, a ``date-time`` in month 13 that the pattern lets
through, an IPv4 address with an octet over 255. A suite MUST fail it on CORE-082 (formats the specification names
are asserted), with the cases of the ``common``, ``audit`` and ``lineage`` vectors that break only a format.
Run it with ``python conformance/fakes/ignore_formats.py``; schemas come from ``AIFABRIC_SCHEMAS_DIR``.
"""

from __future__ import annotations

import json
import os
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
from _protocol import Skip, serve


def _schemas_dir() -> Path:
    default = Path(__file__).resolve().parents[2] / "schemas"
    return Path(os.environ.get("AIFABRIC_SCHEMAS_DIR") or default)


@cache
def _registry() -> jsonschema_rs.Registry:
    resources = []
    for path in sorted(_schemas_dir().glob("*/*.json")):
        schema = json.loads(path.read_bytes())
        if isinstance(schema, dict) and isinstance(schema.get("$id"), str):
            resources.append((schema["$id"], schema))
    return jsonschema_rs.Registry(resources)


@cache
def _validator(url: str) -> Any:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": url}
    return jsonschema_rs.validator_for(schema, registry=_registry(), validate_formats=False)


def _encodable(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, list):
        return [_encodable(v) for v in value]
    if isinstance(value, dict):
        return {_encodable(k): _encodable(v) for k, v in value.items()}
    return value


def validate(case: dict[str, Any]) -> tuple[bool, str | None]:
    """The verdict of the case's schema on its data, formats unchecked."""
    url = case.get("schema")
    if not isinstance(url, str):
        raise Skip("a validate case without a schema URL")
    data = _encodable(case.get("data"))
    validator = _validator(url)
    if validator.is_valid(data):
        return True, "valid (formats not checked)"
    error = next(iter(validator.iter_errors(data)))
    return False, str(error.message)


if __name__ == "__main__":
    sys.exit(serve("fake-ignore-formats", {"validate": validate}))
