"""Check that aifabric schemas stay published byte for byte and only grow within a major version.

Each problem is one line, ``schemas/<kind>/<X.Y.Z>.json#<pointer>: <rule>: <message>``, under these rules:

- ``published-unchanged``: a schema listed in ``schemas/published.lock`` is never edited or deleted.
- ``lock-format``: the lock exists and holds ``<sha256>  <kind>/<X.Y.Z>.json`` lines (``sha256sum`` output),
  sorted by path, each path once.
- ``lock-history``: with ``--base REF``, every lock line at REF is still in the lock, unchanged.
- ``schema-path``: every schema file sits at ``schemas/<kind>/<X.Y.Z>.json``.
- ``valid-json``: every schema file is UTF-8 JSON holding one object, without duplicate keys or NaN.
- ``dialect``: every schema declares ``"$schema": "https://json-schema.org/draft/2020-12/schema"``.
- ``id``: every schema's ``$id`` is ``https://aifabric.dev/schemas/<kind>/<X.Y.Z>.json`` for its path.
- ``additive-only``: every version accepts at least what the previous version of its kind and major accepted.
  Conditionals count as changes, except an added ``if``/``then`` whose ``if`` pins a required property to
  values the previous version forbade (such as a new ``operation``): it applies only to instances that
  version rejected.
- ``patch-unchanged``: a patch version (same major and minor) accepts exactly what its predecessor accepted.

A schema file not in the lock is a draft: it may change freely but is still compared with its predecessor.
``--publish`` checks everything and, when all is well, adds every draft to the lock; it never rewrites a line.

Usage:
    python tools/schema_compat.py [--root DIR] [--base REF] [--publish]

Example:
    >>> old = {"properties": {"a": {"enum": ["x", "y"]}}}
    >>> compare_schemas(old, {"properties": {"a": {"enum": ["x", "y", "z"]}, "b": {"type": "string"}}})
    []
    >>> for change in compare_schemas(old, {"properties": {"a": {"enum": ["x"]}}, "required": ["a"]}):
    ...     print(change.pointer, change.reason)
    /required/0 property 'a' newly required
    /properties/a/enum enum value "y" removed
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Final, NamedTuple

__all__ = [
    "BASE_URI",
    "DIALECT",
    "LOCK_PATH",
    "Breaking",
    "Problem",
    "check_document",
    "check_lock_history",
    "check_tree",
    "compare_schemas",
    "format_lock",
    "load_schema_files",
    "main",
    "parse_lock",
    "parse_schema_path",
    "publish_entries",
    "schema_id",
]

BASE_URI: Final = "https://aifabric.dev/schemas/"
"""Equal to ``aifabric.schemas.BASE_URI``, as a test checks; this tool imports nothing of ours."""
DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
SCHEMAS_DIR: Final = "schemas"
LOCK_NAME: Final = "published.lock"
LOCK_PATH: Final = f"{SCHEMAS_DIR}/{LOCK_NAME}"

_VERSION: Final = r"(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)"
_SCHEMA_PATH: Final = re.compile(rf"(?P<kind>[a-z][a-z0-9-]*)/(?P<version>{_VERSION})\.json")
_LOCK_LINE: Final = re.compile(r"(?P<digest>[0-9a-f]{64})  (?P<path>.+)")
_ALL_TYPES: Final = frozenset({"array", "boolean", "integer", "null", "number", "object", "string"})
_MISSING: Final = object()

Version = tuple[int, int, int]


class Breaking(NamedTuple):
    """One non-additive change: a JSON pointer into the new schema and why it breaks old documents."""

    pointer: str
    reason: str


@dataclass(frozen=True, slots=True)
class Problem:
    """One failed check; ``str()`` gives its output line."""

    path: str
    rule: str
    message: str
    pointer: str | None = None

    def __str__(self) -> str:
        where = self.path if self.pointer is None else f"{self.path}#{self.pointer}"
        return f"{where}: {self.rule}: {self.message}"


# --- paths and ids -------------------------------------------------------------------------------------


def parse_schema_path(path: str) -> tuple[str, Version] | None:
    """Split ``<kind>/<X.Y.Z>.json`` (under ``schemas/``) into kind and version; None if malformed."""
    match = _SCHEMA_PATH.fullmatch(path)
    if match is None:
        return None
    major, minor, patch = (int(part) for part in match["version"].split("."))
    return match["kind"], (major, minor, patch)


def schema_id(kind: str, version: Version) -> str:
    """The ``$id`` a schema of this kind and version must declare."""
    return f"{BASE_URI}{kind}/{_dotted(version)}.json"


def _dotted(version: Version) -> str:
    return ".".join(map(str, version))


def _pointer(at: str, *tokens: str) -> str:
    """Extend a JSON pointer by tokens, escaped as RFC 6901 says."""
    return at + "".join("/" + token.replace("~", "~0").replace("/", "~1") for token in tokens)


# --- JSON values ---------------------------------------------------------------------------------------


def _load_json(raw: bytes) -> Any:
    """Parse strict JSON: UTF-8, no duplicate keys, no NaN or Infinity; raise ValueError otherwise."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in items:
            if key in result:
                raise ValueError(f"duplicate key {json.dumps(key)}")
            result[key] = value
        return result

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(raw.decode("utf-8"), object_pairs_hook=pairs, parse_constant=constant)


def _number(value: Any) -> Fraction | None:
    """A JSON number as an exact fraction (``0.1`` is one tenth); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float) and math.isfinite(value):
        return Fraction(repr(value))
    return None


def _canon(value: Any) -> Hashable:
    """A hashable key, equal for JSON values that JSON Schema holds equal (1 == 1.0, 1 != true)."""
    number = _number(value)
    if number is not None:
        return ("number", number)
    if isinstance(value, list):
        return ("array", tuple(_canon(item) for item in value))
    if isinstance(value, dict):
        return ("object", frozenset((key, _canon(item)) for key, item in value.items()))
    if isinstance(value, float):  # only reachable for in-memory NaN and infinities
        return ("number", repr(value))
    return (type(value).__name__, value)


def _same(old: Any, new: Any) -> bool:
    return _canon(old) == _canon(new)


def _show(value: Any) -> str:
    return "absent" if value is _MISSING else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _quoted(name: Any) -> str:
    return f"'{name}'" if isinstance(name, str) else _show(name)


# --- structural comparison -----------------------------------------------------------------------------

Rule = Callable[[dict[str, Any], dict[str, Any], str], Iterator[Breaking]]


def compare_schemas(old: Any, new: Any) -> list[Breaking]:
    """Every way the ``new`` schema accepts less than ``old`` did, each with a JSON pointer into ``new``.

    Annotations (title, description, examples, default, ...) and unknown keywords may change freely.
    The root's ``$schema`` and ``$id`` are left out: they are checked against the file's path instead. A
    document's self-identification (``"schemaURL": {"const": <the schema's own $id>}``) moves with the
    version, so the new ``$id`` counts as the old one wherever it appears as a value.

    Args:
        old: the previous version of a schema document.
        new: the version that must be purely additive relative to ``old``.

    Returns:
        The breaking changes, empty when ``new`` only adds.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        old_id, new_id = old.get("$id"), new.get("$id")
        old = {key: value for key, value in old.items() if key not in ("$schema", "$id")}
        new = {key: value for key, value in new.items() if key not in ("$schema", "$id")}
        if isinstance(old_id, str) and isinstance(new_id, str):
            new = _renamed(new, new_id, old_id)
    return list(_compare(old, new, ""))


def _renamed(value: Any, new_id: str, old_id: str) -> Any:
    """``value`` with every string equal to ``new_id`` replaced by ``old_id``."""
    if isinstance(value, dict):
        return {key: _renamed(item, new_id, old_id) for key, item in value.items()}
    if isinstance(value, list):
        return [_renamed(item, new_id, old_id) for item in value]
    return old_id if value == new_id else value


def _compare(old: Any, new: Any, at: str) -> Iterator[Breaking]:
    """Compare two (sub)schemas found at pointer ``at``."""
    if old is False or new is True or _same(old, new):
        return
    if new is False:
        yield Breaking(at, "schema changed to false, which rejects everything")
        return
    if old is True:
        old = {}
    if not isinstance(old, dict) or not isinstance(new, dict):
        yield Breaking(at, f"changed from {_show(old)} to {_show(new)}, which is not a schema pair to compare")
        return
    for rule in _RULES:
        yield from rule(old, new, at)


def _type_rule(old: dict[str, Any], new: dict[str, Any], at: str) -> Iterator[Breaking]:
    if "type" not in new:
        return
    new_types, where = _types(new["type"]), _pointer(at, "type")
    old_types = _types(old["type"]) if "type" in old else _ALL_TYPES
    if new_types is None or old_types is None:
        if not _same(old.get("type", _MISSING), new["type"]):
            yield Breaking(where, f"type changed from {_show(old.get('type', _MISSING))} to {_show(new['type'])}")
        return
    lost = sorted(t for t in old_types if t not in new_types and not (t == "integer" and "number" in new_types))
    if lost and "type" not in old:
        yield Breaking(where, f"type {_show(new['type'])} added on an existing field, which allowed any type")
    else:
        for name in lost:
            yield Breaking(where, f"type {_show(name)} removed")


def _types(value: Any) -> frozenset[str] | None:
    if isinstance(value, str):
        return frozenset({value})
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return frozenset(value)
    return None


def _value_rule(old: dict[str, Any], new: dict[str, Any], at: str) -> Iterator[Breaking]:
    """``enum`` and ``const`` together: every value old allowed must stay allowed."""
    new_allowed, old_allowed = _allowed(new), _allowed(old)
    if new_allowed is None:
        return
    keyword = "const" if "const" in new else "enum"
    if old_allowed is None:
        yield Breaking(_pointer(at, keyword), f"{keyword} added on an existing field")
        return
    lost: dict[Hashable, Any] = {}
    for value in _listed_values(old):
        key = _canon(value)
        if key in old_allowed and key not in new_allowed:
            lost.setdefault(key, value)
    if lost and "const" in old and "const" in new:
        yield Breaking(_pointer(at, "const"), f"const changed from {_show(old['const'])} to {_show(new['const'])}")
    else:
        for value in lost.values():
            yield Breaking(_pointer(at, keyword), f"{keyword} value {_show(value)} removed")


def _listed_values(schema: dict[str, Any]) -> list[Any]:
    enum = schema.get("enum")
    return [*(enum if isinstance(enum, list) else []), *([schema["const"]] if "const" in schema else [])]


def _allowed(schema: dict[str, Any]) -> set[Hashable] | None:
    """The values ``enum`` and ``const`` leave allowed, or None when neither is there."""
    sets: list[set[Hashable]] = []
    if "enum" in schema:
        enum = schema["enum"]
        sets.append({_canon(item) for item in enum} if isinstance(enum, list) else set())
    if "const" in schema:
        sets.append({_canon(schema["const"])})
    return set.intersection(*sets) if sets else None


def _bound_rule(old: dict[str, Any], new: dict[str, Any], at: str) -> Iterator[Breaking]:
    """Lower bounds (``minimum``, ``exclusiveMinimum``) may only fall, upper bounds only rise."""
    for keywords, lower in (
        (("minimum", "exclusiveMinimum"), True),
        (("maximum", "exclusiveMaximum"), False),
    ):
        new_bound, old_bound = _bound(new, keywords, lower=lower), _bound(old, keywords, lower=lower)
        if new_bound is None:
            continue
        new_key, keyword = new_bound
        tighter = old_bound is None or (new_key > old_bound[0] if lower else new_key < old_bound[0])
        if tighter:
            was = "absent" if old_bound is None else f"{old_bound[1]} {_show(old[old_bound[1]])}"
            yield Breaking(_pointer(at, keyword), f"bound tightened to {keyword} {_show(new[keyword])} (was {was})")
        for name in keywords:
            if name in new and _number(new[name]) is None and not _same(old.get(name, _MISSING), new[name]):
                yield Breaking(_pointer(at, name), f"{name} changed to {_show(new[name])}, which is not a number")


def _bound(
    schema: dict[str, Any], keywords: tuple[str, str], *, lower: bool
) -> tuple[tuple[Fraction, int], str] | None:
    """The tightest numeric bound as (sort key, keyword); a larger key is tighter for a lower bound."""
    found: list[tuple[tuple[Fraction, int], str]] = []
    for keyword, exclusive in zip(keywords, (False, True), strict=True):
        number = _number(schema.get(keyword))
        if number is not None:
            found.append(((number, int(exclusive if lower else not exclusive)), keyword))
    if not found:
        return None
    return max(found) if lower else min(found)


_MIN_COUNTS: Final = {"minLength": 0, "minItems": 0, "minProperties": 0, "minContains": 1}
_MAX_COUNTS: Final = ("maxLength", "maxItems", "maxProperties", "maxContains")


def _count_rule(old: dict[str, Any], new: dict[str, Any], at: str) -> Iterator[Breaking]:
    for keyword, default in _MIN_COUNTS.items():
        if keyword in new and not _same(old.get(keyword, _MISSING), new[keyword]):
            before, after = _number(old.get(keyword, default)), _number(new[keyword])
            if before is None or after is None or after > before:
                yield Breaking(_pointer(at, keyword), _moved(keyword, old, new, "raised"))
    for keyword in _MAX_COUNTS:
        if keyword in new and not _same(old.get(keyword, _MISSING), new[keyword]):
            before, after = _number(old.get(keyword, math.inf)), _number(new[keyword])
            if keyword not in old or before is None or after is None or after < before:
                yield Breaking(_pointer(at, keyword), _moved(keyword, old, new, "lowered"))


def _moved(keyword: str, old: dict[str, Any], new: dict[str, Any], verb: str) -> str:
    if keyword not in old:
        return f"{keyword} {_show(new[keyword])} added on an existing field"
    return f"{keyword} {verb} from {_show(old[keyword])} to {_show(new[keyword])}"


def _multiple_rule(old: dict[str, Any], new: dict[str, Any], at: str) -> Iterator[Breaking]:
    if "multipleOf" not in new or _same(old.get("multipleOf", _MISSING), new["multipleOf"]):
        return
    before, after = _number(old.get("multipleOf")), _number(new["multipleOf"])
    if before is None or after is None or after == 0 or (before / after).denominator != 1:
        yield Breaking(
            _pointer(at, "multipleOf"),
            _moved("multipleOf", old, new, "changed")
            + ("" if "multipleOf" not in old else ", which does not divide the old value"),
        )


_ADDED_OR_CHANGED: Final = ("pattern", "format", "contentEncoding", "contentMediaType", "contentSchema")


def _string_rule(old: dict[str, Any], new: dict[str, Any], at: str) -> Iterator[Breaking]:
    """``pattern``, ``format`` and the content keywords may be dropped but never added or changed."""
    for keyword in _ADDED_OR_CHANGED:
        if keyword in new and not _same(old.get(keyword, _MISSING), new[keyword]):
            yield Breaking(_pointer(at, keyword), _moved(keyword, old, new, "changed"))


def _unique_rule(old: dict[str, Any], new: dict[str, Any], at: str) -> Iterator[Breaking]:
    if new.get("uniqueItems") is True and old.get("uniqueItems") is not True:
        yield Breaking(_pointer(at, "uniqueItems"), "uniqueItems turned on")


def _required_rule(old: dict[str, Any], new: dict[str, Any], at: str) -> Iterator[Breaking]:
    yield from _names_added(old.get("required", []), new.get("required", []), _pointer(at, "required"), "")
    old_deps, new_deps = old.get("dependentRequired", {}), new.get("dependentRequired", {})
    if not isinstance(old_deps, dict) or not isinstance(new_deps, dict):
        if not _same(old_deps, new_deps):
            yield Breaking(_pointer(at, "dependentRequired"), "dependentRequired changed")
        return
    for name, names in new_deps.items():
        where = _pointer(at, "dependentRequired", name)
        if name not in old_deps:
            yield Breaking(where, f"dependentRequired entry {_quoted(name)} added")
        else:
            yield from _names_added(old_deps[name], names, where, f" when {_quoted(name)} is present")


def _names_added(old: Any, new: Any, where: str, condition: str) -> Iterator[Breaking]:
    if not isinstance(old, list) or not isinstance(new, list):
        if not _same(old, new):
            yield Breaking(where, f"changed from {_show(old)} to {_show(new)}")
        return
    for index, name in enumerate(new):
        if name not in old:
            yield Breaking(_pointer(where, str(index)), f"property {_quoted(name)} newly required{condition}")


_EQUAL: Final = ("$ref", "$dynamicRef", "$id", "$schema", "$vocabulary", "dependencies", "additionalItems")


def _reference_rule(old: dict[str, Any], new: dict[str, Any], at: str) -> Iterator[Breaking]:
    """References and identifiers must not move; anchors may be added but not dropped or renamed."""
    for keyword in _EQUAL:
        before, after = old.get(keyword, _MISSING), new.get(keyword, _MISSING)
        if _same(before, after) or (keyword == "$ref" and _ref_upgrade(before, after)):
            continue
        yield Breaking(_pointer(at, keyword), f"{keyword} changed from {_show(before)} to {_show(after)}")
    for keyword in ("$anchor", "$dynamicAnchor"):
        if keyword in old and not _same(old[keyword], new.get(keyword, _MISSING)):
            yield Breaking(
                _pointer(at, keyword),
                _moved(keyword, old, new, "changed") if keyword in new else f"{keyword} {_show(old[keyword])} removed",
            )


def _ref_upgrade(old: Any, new: Any) -> bool:
    """Whether a ``$ref`` moved to a later version of the same aifabric kind and major, same fragment.

    That version is itself checked to be additive over its predecessors, so the reference only widens.
    """
    if not isinstance(old, str) or not isinstance(new, str):
        return False
    (old_base, _, old_fragment), (new_base, _, new_fragment) = old.partition("#"), new.partition("#")
    if old_fragment != new_fragment or not old_base.startswith(BASE_URI) or not new_base.startswith(BASE_URI):
        return False
    before = parse_schema_path(old_base.removeprefix(BASE_URI))
    after = parse_schema_path(new_base.removeprefix(BASE_URI))
    return (
        before is not None
        and after is not None
        and before[0] == after[0]
        and before[1][0] == after[1][0]
        and after[1] >= before[1]
    )


def _members_rule(old: dict[str, Any], new: dict[str, Any], at: str) -> Iterator[Breaking]:
    """Named subschemas: old names must stay (new ones are fine) and each kept one is compared."""
    for keyword, noun in (
        ("properties", "property"),
        ("patternProperties", "patternProperties entry"),
        ("$defs", "$defs entry"),
        ("definitions", "definitions entry"),
    ):
        before, after = old.get(keyword, {}), new.get(keyword, {})
        if not isinstance(before, dict) or not isinstance(after, dict):
            if not _same(before, after):
                yield Breaking(_pointer(at, keyword), f"{keyword} changed from {_show(before)} to {_show(after)}")
            continue
        for name, schema in before.items():
            where = _pointer(at, keyword, name)
            if name not in after:
                renamed = " or renamed" if keyword in ("$defs", "definitions") else ""
                yield Breaking(where, f"{noun} {_quoted(name)} removed{renamed}")
            else:
                yield from _compare(schema, after[name], where)
    before, after = old.get("dependentSchemas", {}), new.get("dependentSchemas", {})
    if not isinstance(before, dict) or not isinstance(after, dict):
        if not _same(before, after):
            yield Breaking(_pointer(at, "dependentSchemas"), "dependentSchemas changed")
        return
    for name, schema in after.items():
        where = _pointer(at, "dependentSchemas", name)
        if name not in before:
            yield Breaking(where, f"dependentSchemas entry {_quoted(name)} added")
        else:
            yield from _compare(before[name], schema, where)


_OPEN_BY_DEFAULT: Final = (
    "additionalProperties",
    "items",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
)


def _applicator_rule(old: dict[str, Any], new: dict[str, Any], at: str) -> Iterator[Breaking]:
    """Single subschemas, most absent meaning true; ``contains`` and ``not`` may go, not come or change."""
    for keyword in _OPEN_BY_DEFAULT:
        before, after = old.get(keyword, True), new.get(keyword, True)
        where = _pointer(at, keyword)
        if isinstance(before, list) or isinstance(after, list):  # draft 2019-09 array form of items
            if not _same(before, after):
                yield Breaking(where, f"{keyword} changed from {_show(before)} to {_show(after)}")
        elif after is False and before is not False:
            was = "absent" if keyword not in old else "true" if before is True else "a schema"
            yield Breaking(where, f"{keyword} changed from {was} to false")
        else:
            yield from _compare(before, after, where)
    if "contains" in new:
        if "contains" not in old:
            yield Breaking(_pointer(at, "contains"), "contains added on an existing field")
        else:
            yield from _compare(old["contains"], new["contains"], _pointer(at, "contains"))
    if "not" in new and not _same(old.get("not", _MISSING), new["not"]):
        yield Breaking(_pointer(at, "not"), _moved("not", old, new, "changed"))


def _conditional_rule(old: dict[str, Any], new: dict[str, Any], at: str) -> Iterator[Breaking]:
    """``if``/``then``/``else``: any change is breaking, except adding a guarded conditional (see below)."""
    added = {keyword: new[keyword] for keyword in ("if", "then", "else") if keyword in new}
    if added and not any(keyword in old for keyword in ("if", "then", "else")) and _guarded(old, added):
        return
    for keyword in ("if", "then", "else"):
        before, after = old.get(keyword, _MISSING), new.get(keyword, _MISSING)
        if not _same(before, after):
            change = "added" if before is _MISSING else "removed" if after is _MISSING else "changed"
            yield Breaking(
                _pointer(at, keyword),
                f"{keyword} {change}; conditional subschemas may not change within a major version",
            )


def _list_rule(old: dict[str, Any], new: dict[str, Any], at: str) -> Iterator[Breaking]:
    """``allOf``/``anyOf``/``oneOf``/``prefixItems`` by index; only anyOf and oneOf may grow."""
    for keyword in ("allOf", "anyOf", "oneOf", "prefixItems"):
        if keyword not in old and keyword not in new:
            continue
        before, after, where = old.get(keyword, _MISSING), new.get(keyword, _MISSING), _pointer(at, keyword)
        if not isinstance(before, list) or not isinstance(after, list):
            if not _same(before, after):
                change = "added" if before is _MISSING else "removed" if after is _MISSING else "changed"
                yield Breaking(where, f"{keyword} {change}")
            continue
        may_grow = keyword in ("anyOf", "oneOf") or (keyword == "prefixItems" and old.get("items") is False)
        if keyword == "allOf":  # an added entry that applies to no instance the old version accepted
            may_grow = all(_guarded(old, entry) for entry in after[len(before) :])
        if len(after) < len(before) or (len(after) > len(before) and not may_grow):
            yield Breaking(where, f"{keyword} went from {len(before)} to {len(after)} subschemas")
        for index, (item_before, item_after) in enumerate(zip(before, after, strict=False)):
            yield from _compare(item_before, item_after, _pointer(where, str(index)))


def _guarded(old: dict[str, Any], added: Any) -> bool:
    """Whether ``added`` is an ``if``/``then`` (no ``else``) whose ``if`` no instance of ``old`` can satisfy.

    The ``if`` must pin a property to values (``const`` or ``enum``) that ``old`` forbids for it, and that
    property must be required, by ``old`` or by the ``if`` itself. Every instance ``old`` accepts then fails
    the ``if``, so the ``then`` never applies to it: a new operation can bring requirements of its own.
    """
    if not isinstance(added, dict) or set(added) - {"if", "then", "description", "$comment"} or "if" not in added:
        return False
    condition, properties = added["if"], old.get("properties")
    if not isinstance(condition, dict) or not isinstance(properties, dict):
        return False
    required = [*_strings(old.get("required")), *_strings(condition.get("required"))]
    pinned = condition.get("properties")
    if not isinstance(pinned, dict):
        return False
    for name, schema in pinned.items():
        wanted, before = _allowed(schema) if isinstance(schema, dict) else None, properties.get(name)
        allowed = _allowed(before) if isinstance(before, dict) else None
        if name in required and wanted is not None and allowed is not None and not wanted & allowed:
            return True
    return False


def _strings(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


_RULES: Final[tuple[Rule, ...]] = (
    _reference_rule,
    _type_rule,
    _value_rule,
    _bound_rule,
    _multiple_rule,
    _count_rule,
    _string_rule,
    _unique_rule,
    _required_rule,
    _members_rule,
    _applicator_rule,
    _list_rule,
    _conditional_rule,
)


# --- files, lock and tree ------------------------------------------------------------------------------


def check_document(path: str, raw: bytes) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Check one schema file's path, JSON, dialect and ``$id``.

    Args:
        path: the file's path under ``schemas/``, such as ``common/1.0.0.json``.
        raw: the file's bytes.

    Returns:
        The parsed document (None when it is not a JSON object) and the problems found.
    """
    where, problems = f"{SCHEMAS_DIR}/{path}", []
    parsed = parse_schema_path(path)
    if parsed is None:
        problems.append(
            Problem(
                where,
                "schema-path",
                "not at schemas/<kind>/<X.Y.Z>.json (kind in a-z, 0-9 and '-'; version numbers without leading zeros)",
            )
        )
    try:
        document = _load_json(raw)
    except ValueError as exc:
        return None, [*problems, Problem(where, "valid-json", str(exc))]
    if not isinstance(document, dict):
        return None, [*problems, Problem(where, "valid-json", "the top level is not a JSON object")]
    if document.get("$schema") != DIALECT:
        problems.append(
            Problem(
                where,
                "dialect",
                f"$schema is {_show(document.get('$schema', _MISSING))}, expected {_show(DIALECT)}",
                "/$schema",
            )
        )
    if parsed is not None:
        expected = schema_id(*parsed)
        if document.get("$id") != expected:
            problems.append(
                Problem(
                    where,
                    "id",
                    f"$id is {_show(document.get('$id', _MISSING))}, expected {_show(expected)} for this path",
                    "/$id",
                )
            )
    return document, problems


def check_tree(files: Mapping[str, bytes], lock: Mapping[str, str]) -> list[Problem]:
    """Check every schema file against the lock, its own path, and its predecessor.

    Args:
        files: every ``*.json`` under ``schemas/``, keyed by path under it (``common/1.0.0.json``).
        lock: the published sha256 of each locked path, as ``parse_lock`` returns.

    Returns:
        The problems, in path order.
    """
    problems: list[Problem] = []
    for path, digest in lock.items():
        if path not in files:
            problems.append(
                Problem(
                    f"{SCHEMAS_DIR}/{path}",
                    "published-unchanged",
                    f"published file deleted (locked sha256 {digest})",
                )
            )
        elif (actual := hashlib.sha256(files[path]).hexdigest()) != digest:
            problems.append(
                Problem(
                    f"{SCHEMAS_DIR}/{path}",
                    "published-unchanged",
                    f"published file changed (locked sha256 {digest}, now {actual}); publish a new version instead",
                )
            )
    chains: dict[tuple[str, int], list[tuple[Version, dict[str, Any]]]] = {}
    for path, raw in files.items():
        document, found = check_document(path, raw)
        problems.extend(found)
        parsed = parse_schema_path(path)
        if document is not None and parsed is not None:
            kind, version = parsed
            chains.setdefault((kind, version[0]), []).append((version, document))
    for (kind, _), chain in chains.items():
        chain.sort(key=lambda entry: entry[0])
        for (old_version, old), (new_version, new) in itertools.pairwise(chain):
            where = f"{SCHEMAS_DIR}/{kind}/{_dotted(new_version)}.json"
            problems.extend(
                Problem(
                    where,
                    "additive-only",
                    f"{change.reason} (relative to {_dotted(old_version)})",
                    change.pointer,
                )
                for change in compare_schemas(old, new)
            )
            if old_version[:2] == new_version[:2]:  # a patch release: it may not accept more either
                problems.extend(
                    Problem(where, "patch-unchanged", f"a patch release widens: {change.reason}", change.pointer)
                    for change in compare_schemas(new, old)
                )
    return sorted(problems, key=lambda problem: _path_key(problem.path))


def _path_key(path: str) -> tuple[str, Version]:
    """Sort schema paths by kind, then numerically by version (1.9.0 before 1.10.0)."""
    parsed = parse_schema_path(path.removeprefix(f"{SCHEMAS_DIR}/"))
    return (path, (0, 0, 0)) if parsed is None else (f"{SCHEMAS_DIR}/{parsed[0]}/", parsed[1])


def parse_lock(text: str) -> tuple[dict[str, str], list[Problem]]:
    """Parse the lock's ``<sha256>  <kind>/<X.Y.Z>.json`` lines into a digest per path, and problems."""
    entries: dict[str, str] = {}
    problems: list[Problem] = []
    previous = ""
    for number, line in enumerate(text.split("\n"), 1):
        if not line and number == text.count("\n") + 1:
            break  # the text after the final newline
        where = f"{LOCK_PATH}:{number}"
        match = _LOCK_LINE.fullmatch(line)
        if match is None:
            problems.append(
                Problem(where, "lock-format", f"expected '<sha256 hex>  <kind>/<X.Y.Z>.json', got {_show(line)}")
            )
            continue
        path = match["path"]
        if parse_schema_path(path) is None:
            problems.append(Problem(where, "lock-format", f"{_show(path)} is not <kind>/<X.Y.Z>.json"))
        elif path in entries:
            problems.append(Problem(where, "lock-format", f"{path} is locked twice"))
        elif path < previous:
            problems.append(Problem(where, "lock-format", f"{path} is out of order (lines are sorted by path)"))
        else:
            entries[path] = match["digest"]
            previous = path
    if text and not text.endswith("\n"):
        last = text.count("\n") + 1
        problems.append(Problem(f"{LOCK_PATH}:{last}", "lock-format", "no final newline"))
    return entries, problems


def format_lock(entries: Mapping[str, str]) -> str:
    """The lock text for these entries: ``sha256sum`` lines sorted by path."""
    return "".join(f"{entries[path]}  {path}\n" for path in sorted(entries))


def publish_entries(files: Mapping[str, bytes], lock: Mapping[str, str]) -> dict[str, str]:
    """The lock entries that publishing would add: one per well-placed schema file not yet locked."""
    return {
        path: hashlib.sha256(raw).hexdigest()
        for path, raw in sorted(files.items())
        if path not in lock and parse_schema_path(path) is not None
    }


def check_lock_history(base_text: str, lock: Mapping[str, str], ref: str) -> list[Problem]:
    """Every line of the lock as it was at ``ref`` must still be in ``lock``, unchanged."""
    base, _ = parse_lock(base_text)
    return [
        Problem(
            LOCK_PATH,
            "lock-history",
            f"line '{digest}  {path}' of {ref} was "
            f"{'removed' if path not in lock else 'changed'}; published versions stay published",
        )
        for path, digest in base.items()
        if lock.get(path) != digest
    ]


def load_schema_files(schemas: Path) -> dict[str, bytes]:
    """Every ``*.json`` file under the ``schemas/`` directory, keyed by its path under it."""
    return {
        path.relative_to(schemas).as_posix(): path.read_bytes()
        for path in sorted(schemas.rglob("*.json"))
        if path.is_file()
    }


def _git_lock(root: Path, ref: str) -> str | None:
    """The lock's text at a git revision, None when it did not exist there; raise ValueError on git errors."""
    if ref.startswith("-"):
        raise ValueError(f"{ref!r} is not a revision")

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False)

    try:
        if git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").returncode != 0:
            raise ValueError(f"{ref!r} is not a commit in the git repository at {root}")
        if git("cat-file", "-e", f"{ref}:./{LOCK_PATH}").returncode != 0:
            return None
        shown = git("show", f"{ref}:./{LOCK_PATH}")
    except OSError as exc:
        raise ValueError(f"cannot run git: {exc}") from exc
    if shown.returncode != 0:
        raise ValueError(shown.stderr.strip() or f"git show failed with status {shown.returncode}")
    return shown.stdout


def _write_atomically(path: Path, text: str) -> None:
    """Replace a file's content in one step, so an interrupted run leaves the old lock whole."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(handle, 0o644)  # mkstemp makes it private; the lock is an ordinary checked-in file
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="schema_compat.py",
        description="Check that published aifabric schemas are unchanged and that every version is additive "
        "within its major version. Prints one line per problem and exits 1 if there is any.",
    )
    parser.add_argument(
        "--root",
        metavar="DIR",
        type=Path,
        default=Path(__file__).resolve().parent.parent,
        help="the repository root holding schemas/ (default: the parent of tools/)",
    )
    parser.add_argument(
        "--base",
        metavar="REF",
        help="also check that every line of schemas/published.lock at this git revision is kept",
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help="when every check passes, add each unlocked schema to schemas/published.lock",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the checks (and publish on request); return the exit status, 0 when all is well."""
    args = _parser().parse_args(argv)
    root: Path = args.root
    schemas = root / SCHEMAS_DIR
    if not schemas.is_dir():
        print(Problem(SCHEMAS_DIR, "schema-path", f"no schemas directory in {root}"))
        return 1
    lock_file = schemas / LOCK_NAME
    problems: list[Problem] = []
    lock: dict[str, str] = {}
    if lock_file.is_file():
        try:
            lock, problems = parse_lock(lock_file.read_bytes().decode("utf-8"))
        except UnicodeDecodeError as exc:
            problems = [Problem(LOCK_PATH, "lock-format", f"not UTF-8: {exc}")]
    elif not args.publish:
        problems = [Problem(LOCK_PATH, "lock-format", "missing; run tools/schema_compat.py --publish to create it")]
    files = load_schema_files(schemas)
    problems += check_tree(files, lock)
    if args.base is not None:
        try:
            base_text = _git_lock(root, args.base)
        except ValueError as exc:
            problems.append(Problem(LOCK_PATH, "lock-history", str(exc)))
        else:
            problems += check_lock_history(base_text or "", lock, args.base)
    for problem in problems:
        print(problem)
    if problems:
        if args.publish:
            print("nothing published: fix the problems above first", file=sys.stderr)
        return 1
    if args.publish:
        added = publish_entries(files, lock)
        if added:
            lock = {**lock, **added}
            _write_atomically(lock_file, format_lock(lock))
        for path in added:
            print(f"published {SCHEMAS_DIR}/{path}")
    print(f"{len(files)} schemas checked, {len(lock)} published, all compatible")
    return 0


if __name__ == "__main__":
    sys.exit(main())
