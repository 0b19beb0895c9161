"""Hypothesis strategies that generate instances of the JSON Schema subset aifabric's schemas use.

hypothesis-jsonschema no longer runs on current Hypothesis, so the property tests use these. Every
generated value is checked by both validators in the tests, so a generator bug cannot hide.
"""

from __future__ import annotations

from datetime import UTC, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

__all__ = ["from_schema"]

_FORMATS: dict[str, st.SearchStrategy[str]] = {
    "uri": st.builds(
        "{}://{}.example/{}".format,
        st.sampled_from(["https", "http", "urn"]),
        st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True),
        st.from_regex(r"[a-z0-9/._-]{0,12}", fullmatch=True),
    ),
    "uuid": st.uuids().map(str),
    "email": st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.example", fullmatch=True),
    "date-time": st.builds(
        lambda dt, tz: dt.replace(tzinfo=tz).isoformat().replace("+00:00", "Z"),
        st.datetimes(),
        st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]),
    ),
}


def from_schema(schema: Any, root: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    """A strategy for instances of ``schema`` (local ``$ref``s resolve against ``root``)."""
    root = root if root is not None else schema
    if schema is True or schema == {}:
        return st.recursive(
            st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
            max_leaves=6,
        )
    ref = schema.get("$ref")
    if ref is not None:
        target: Any = root
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        return st.deferred(lambda: from_schema(target, root))
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "anyOf" in schema or "oneOf" in schema:
        return st.one_of([from_schema(s, root) for s in schema.get("anyOf", schema.get("oneOf"))])
    kind = schema.get("type", "object" if "properties" in schema else None)
    if isinstance(kind, list):
        return st.one_of([from_schema({**schema, "type": k}, root) for k in kind])
    if kind == "string":
        return _string(schema)
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum", 10**6))
    if kind == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum", 1e9), allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        items = from_schema(schema.get("items", True), root)
        return st.lists(
            items,
            min_size=schema.get("minItems", 0),
            max_size=max(schema.get("minItems", 0), 3),
            unique_by=(lambda x: repr(x)) if schema.get("uniqueItems") else None,
        )
    if kind == "object":
        return _object(schema, root)
    return from_schema(True, root)


def _string(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    fmt = schema.get("format")
    if fmt == "date-time" or ("pattern" not in schema and fmt in _FORMATS):
        return _FORMATS[fmt]
    if "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True)
    return st.text(min_size=schema.get("minLength", 0), max_size=min(schema.get("maxLength", 20), 20))


def _object(schema: dict[str, Any], root: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    extra = schema.get("additionalProperties", True)
    names = schema.get("propertyNames", {})
    minimum = schema.get("minProperties", 0)

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, sub in props.items():
            if name in required or draw(st.booleans()):
                out[name] = draw(from_schema(sub, root))
        if extra is not False and (minimum > len(out) or draw(st.booleans())):
            keys = from_schema({"type": "string", **names}, root) if names else st.text(min_size=1, max_size=6)
            values = from_schema(extra if isinstance(extra, dict) else True, root)
            more = draw(st.dictionaries(keys, values, min_size=max(0, minimum - len(out)), max_size=3))
            out.update({k: v for k, v in more.items() if k not in props})
        return out

    return build()
