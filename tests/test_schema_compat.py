"""Tests of tools/schema_compat.py, the schema compatibility checker CI runs.

tools/ is not a package: the module is loaded from its file with importlib, and mypy (whose ``files`` include
tools/) sees it as the top-level module ``schema_compat``.
"""

from __future__ import annotations

import copy
import doctest
import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO / "tools" / "schema_compat.py"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
COMMON = "https://aifabric.dev/schemas/common/"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("schema_compat", TOOL)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


if TYPE_CHECKING:
    import schema_compat as sc
else:
    sc = _load()


# --- building schema trees -------------------------------------------------------------------------------------

BASE: dict[str, Any] = {
    "type": "object",
    "title": "thing",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 64},
        "size": {"type": "integer", "minimum": 0, "maximum": 100},
        "ratio": {"type": "number"},
        "note": {"type": ["string", "null"]},
        "color": {"enum": ["red", "green"]},
        "kind": {"const": "thing"},
        "code": {"type": "string", "pattern": "^[a-z]+$"},
        "site": {"type": "string", "format": "uri"},
        "step": {"type": "number", "multipleOf": 0.5},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 5},
        "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "number"}]},
        "meta": {"type": "object", "additionalProperties": True},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "data": {},
        "part": {"$ref": "#/$defs/part"},
        "producer": {"$ref": f"{COMMON}1.0.0.json#/$defs/producer"},
        "shape": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        "mode": {"oneOf": [{"const": "a"}, {"const": "b"}]},
        "variant": {
            "type": "object",
            "if": {"properties": {"k": {"const": "x"}}},
            "then": {"required": ["v"]},
        },
        "anchored": {"$anchor": "anchored", "type": "string"},
    },
    "allOf": [{"required": ["name"]}],
    "$defs": {
        "part": {"type": "object", "properties": {"id": {"type": "string"}}},
        "other": {"type": "object"},
    },
    "examples": [{"name": "a"}],
}

DELETE = object()


def edited(document: dict[str, Any], *edits: tuple[str, Any]) -> dict[str, Any]:
    """A deep copy with each (JSON pointer, value) set, or deleted where the value is DELETE."""
    result = copy.deepcopy(document)
    for pointer, value in edits:
        *parents, last = pointer.lstrip("/").split("/")
        node: Any = result
        for token in parents:
            node = node[int(token)] if isinstance(node, list) else node[token]
        if value is DELETE:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return result


def schema(kind: str, version: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"$schema": DIALECT, "$id": f"https://aifabric.dev/schemas/{kind}/{version}.json", **body}


def encode(document: Any) -> bytes:
    return (json.dumps(document, indent=2) + "\n").encode()


def write(root: Path, path: str, content: Any) -> Path:
    """Write a file under root/schemas: bytes as they are, anything else as JSON."""
    target = root / "schemas" / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content if isinstance(content, bytes) else encode(content))
    return target


def lock_line(root: Path, path: str) -> str:
    return f"{hashlib.sha256((root / 'schemas' / path).read_bytes()).hexdigest()}  {path}\n"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A schema tree with thing/1.0.0.json published."""
    write(tmp_path, "thing/1.0.0.json", schema("thing", "1.0.0", BASE))
    (tmp_path / "schemas" / "published.lock").write_text(lock_line(tmp_path, "thing/1.0.0.json"))
    return tmp_path


def run(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    status = sc.main(["--root", str(root), *args])
    return status, capsys.readouterr().out.splitlines()


# --- rule 2: structural comparison, in memory ------------------------------------------------------------------

BREAKING: list[tuple[str, tuple[tuple[str, Any], ...], str, str]] = [
    ("removed property", (("/properties/size", DELETE),), "/properties/size", "property 'size' removed"),
    ("removed $defs", (("/$defs/other", DELETE),), "/$defs/other", "$defs entry 'other' removed or renamed"),
    (
        "renamed $defs",
        (("/$defs/another", {"type": "object"}), ("/$defs/other", DELETE)),
        "/$defs/other",
        "$defs entry 'other' removed or renamed",
    ),
    ("existing property newly required", (("/required", ["name", "size"]),), "/required/1", "'size' newly required"),
    (
        "new required property",
        (("/properties/extra", {"type": "string"}), ("/required", ["name", "extra"])),
        "/required/1",
        "property 'extra' newly required",
    ),
    ("type removed", (("/properties/note/type", "string"),), "/properties/note/type", 'type "null" removed'),
    ("number to integer", (("/properties/ratio/type", "integer"),), "/properties/ratio/type", '"number" removed'),
    ("type added", (("/properties/data/type", "object"),), "/properties/data/type", "added on an existing field"),
    ("enum value removed", (("/properties/color/enum", ["red"]),), "/properties/color/enum", '"green" removed'),
    ("enum added", (("/properties/name/enum", ["a"]),), "/properties/name/enum", "enum added"),
    ("const changed", (("/properties/kind/const", "other"),), "/properties/kind/const", "const changed"),
    ("minLength raised", (("/properties/name/minLength", 2),), "/properties/name/minLength", "raised from 1 to 2"),
    ("maxLength lowered", (("/properties/name/maxLength", 9),), "/properties/name/maxLength", "lowered from 64"),
    ("minimum raised", (("/properties/size/minimum", 1),), "/properties/size/minimum", "tightened to minimum 1"),
    (
        "exclusiveMinimum at the old minimum",
        (("/properties/size/exclusiveMinimum", 0),),
        "/properties/size/exclusiveMinimum",
        "tightened to exclusiveMinimum 0 (was minimum 0)",
    ),
    ("maximum lowered", (("/properties/size/maximum", 99),), "/properties/size/maximum", "tightened to maximum 99"),
    ("minItems raised", (("/properties/tags/minItems", 2),), "/properties/tags/minItems", "raised from 1 to 2"),
    ("maxItems lowered", (("/properties/tags/maxItems", 4),), "/properties/tags/maxItems", "lowered from 5 to 4"),
    ("minProperties added", (("/properties/meta/minProperties", 1),), "/properties/meta/minProperties", "added"),
    ("maxProperties added", (("/properties/meta/maxProperties", 9),), "/properties/meta/maxProperties", "added"),
    ("pattern added", (("/properties/name/pattern", "^a"),), "/properties/name/pattern", 'pattern "^a" added'),
    ("pattern changed", (("/properties/code/pattern", "^[a-z]*$"),), "/properties/code/pattern", "pattern changed"),
    ("format added", (("/properties/name/format", "email"),), "/properties/name/format", 'format "email" added'),
    ("format changed", (("/properties/site/format", "iri"),), "/properties/site/format", "format changed"),
    (
        "additionalProperties absent to false",
        (("/additionalProperties", False),),
        "/additionalProperties",
        "additionalProperties changed from absent to false",
    ),
    (
        "additionalProperties true to false",
        (("/properties/meta/additionalProperties", False),),
        "/properties/meta/additionalProperties",
        "changed from true to false",
    ),
    (
        "additionalProperties schema to false",
        (("/properties/labels/additionalProperties", False),),
        "/properties/labels/additionalProperties",
        "changed from a schema to false",
    ),
    (
        "additionalProperties schema narrowed",
        (("/properties/labels/additionalProperties/maxLength", 3),),
        "/properties/labels/additionalProperties/maxLength",
        "maxLength 3 added",
    ),
    ("uniqueItems on", (("/properties/tags/uniqueItems", True),), "/properties/tags/uniqueItems", "turned on"),
    ("$ref changed", (("/properties/part/$ref", "#/$defs/other"),), "/properties/part/$ref", "$ref changed"),
    (
        "$ref to an older version",
        (("/properties/producer/$ref", f"{COMMON}0.9.0.json#/$defs/producer"),),
        "/properties/producer/$ref",
        "$ref changed",
    ),
    (
        "$ref to another major",
        (("/properties/producer/$ref", f"{COMMON}2.0.0.json#/$defs/producer"),),
        "/properties/producer/$ref",
        "$ref changed",
    ),
    (
        "$ref to another definition",
        (("/properties/producer/$ref", f"{COMMON}1.1.0.json#/$defs/actor"),),
        "/properties/producer/$ref",
        "$ref changed",
    ),
    ("items narrowed", (("/properties/tags/items/type", "integer"),), "/properties/tags/items/type", "removed"),
    (
        "prefixItems entry narrowed",
        (("/properties/pair/prefixItems/1/type", "integer"),),
        "/properties/pair/prefixItems/1/type",
        'type "number" removed',
    ),
    (
        "prefixItems grew",
        (("/properties/pair/prefixItems", [{"type": "string"}, {"type": "number"}, {}]),),
        "/properties/pair/prefixItems",
        "went from 2 to 3",
    ),
    (
        "$defs entry narrowed",
        (("/$defs/part/properties/id/type", "integer"),),
        "/$defs/part/properties/id/type",
        'type "string" removed',
    ),
    ("allOf entry narrowed", (("/allOf/0/required", ["name", "size"]),), "/allOf/0/required/1", "newly required"),
    ("allOf grew", (("/allOf", [{"required": ["name"]}, {}]),), "/allOf", "allOf went from 1 to 2"),
    ("allOf removed", (("/allOf", DELETE),), "/allOf", "allOf removed"),
    ("anyOf shrank", (("/properties/shape/anyOf", [{"type": "string"}]),), "/properties/shape/anyOf", "2 to 1"),
    (
        "anyOf entry narrowed",
        (("/properties/shape/anyOf/0/minLength", 3),),
        "/properties/shape/anyOf/0/minLength",
        "minLength 3 added",
    ),
    ("anyOf added", (("/properties/data/anyOf", [{}]),), "/properties/data/anyOf", "anyOf added"),
    ("oneOf shrank", (("/properties/mode/oneOf", [{"const": "a"}]),), "/properties/mode/oneOf", "2 to 1"),
    (
        "then changed",
        (("/properties/variant/then", {"required": ["w"]}),),
        "/properties/variant/then",
        "then changed",
    ),
    ("else added", (("/properties/variant/else", {}),), "/properties/variant/else", "else added"),
    ("if removed", (("/properties/variant/if", DELETE),), "/properties/variant/if", "if removed"),
    (
        "if description changed",
        (("/properties/variant/if/description", "x"),),
        "/properties/variant/if",
        "if changed",
    ),
    ("schema made false", (("/properties/data", False),), "/properties/data", "changed to false"),
    ("not added", (("/properties/data/not", {"type": "null"}),), "/properties/data/not", "not {"),
    ("multipleOf not a divisor", (("/properties/step/multipleOf", 0.3),), "/properties/step/multipleOf", "divide"),
    ("multipleOf added", (("/properties/size/multipleOf", 2),), "/properties/size/multipleOf", "added"),
    (
        "dependentRequired added",
        (("/dependentRequired", {"size": ["ratio"]}),),
        "/dependentRequired/size",
        "dependentRequired entry 'size' added",
    ),
    (
        "propertyNames narrowed",
        (("/properties/meta/propertyNames", {"maxLength": 3}),),
        "/properties/meta/propertyNames/maxLength",
        "maxLength 3 added",
    ),
    ("contains added", (("/properties/tags/contains", {"const": "x"}),), "/properties/tags/contains", "added"),
    ("$anchor removed", (("/properties/anchored/$anchor", DELETE),), "/properties/anchored/$anchor", "removed"),
]


@pytest.mark.parametrize(
    ("edits", "pointer", "reason"),
    [pytest.param(edits, pointer, reason, id=name) for name, edits, pointer, reason in BREAKING],
)
def test_breaking_change_is_reported(edits: tuple[tuple[str, Any], ...], pointer: str, reason: str) -> None:
    """[CORE-017] [CORE-032] A minor version may only add; anything else needs a new major."""
    changes = sc.compare_schemas(BASE, edited(BASE, *edits))
    assert [change.pointer for change in changes] == [pointer], changes
    assert reason in changes[0].reason


def test_pointer_tokens_are_escaped() -> None:
    old = {"properties": {"a/b": {}, "c~d": {"type": ["string", "null"]}}}
    new = {"properties": {"c~d": {"type": "string"}}}
    assert sc.compare_schemas(old, new) == [
        sc.Breaking("/properties/a~1b", "property 'a/b' removed"),
        sc.Breaking("/properties/c~0d/type", 'type "null" removed'),
    ]


ADDITIVE: list[tuple[str, tuple[tuple[str, Any], ...]]] = [
    ("unchanged", ()),
    ("new optional property", (("/properties/extra", {"type": "string", "minLength": 3}),)),
    ("new $defs entry", (("/$defs/new", {"type": "string", "pattern": "^x"}),)),
    ("new enum value", (("/properties/color/enum", ["red", "green", "blue"]),)),
    ("const widened to enum", (("/properties/kind", {"enum": ["thing", "gadget"]}),)),
    ("type widened", (("/properties/size/type", ["integer", "null"]),)),
    ("integer to number", (("/properties/size/type", "number"),)),
    ("type dropped", (("/properties/note/type", DELETE),)),
    ("required dropped", (("/required", []),)),
    ("minLength lowered", (("/properties/name/minLength", 0),)),
    ("maxLength raised", (("/properties/name/maxLength", 65),)),
    ("minimum lowered", (("/properties/size/minimum", -1),)),
    (
        "minimum to exclusiveMinimum below it",
        (("/properties/size/minimum", DELETE), ("/properties/size/exclusiveMinimum", -1)),
    ),
    ("maximum raised", (("/properties/size/maximum", 100.5),)),
    ("maximum equal as float", (("/properties/size/maximum", 100.0),)),
    ("minItems dropped", (("/properties/tags/minItems", DELETE),)),
    ("maxItems dropped", (("/properties/tags/maxItems", DELETE),)),
    ("minProperties 0 added", (("/properties/meta/minProperties", 0),)),
    ("pattern dropped", (("/properties/code/pattern", DELETE),)),
    ("format dropped", (("/properties/site/format", DELETE),)),
    ("multipleOf divides the old one", (("/properties/step/multipleOf", 0.25),)),
    ("additionalProperties schema to true", (("/properties/labels/additionalProperties", True),)),
    ("additionalProperties schema widened", (("/properties/labels/additionalProperties/type", ["string", "number"]),)),
    ("uniqueItems false added", (("/properties/tags/uniqueItems", False),)),
    ("anyOf grew", (("/properties/shape/anyOf", [{"type": "string"}, {"type": "integer"}, {"type": "null"}]),)),
    ("oneOf grew", (("/properties/mode/oneOf", [{"const": "a"}, {"const": "b"}, {"const": "c"}]),)),
    ("examples added", (("/properties/name/examples", ["x"]), ("/examples", [{"name": "a"}, {"name": "b"}]))),
    ("descriptions and titles", (("/title", "Thing"), ("/properties/size/description", "How big."))),
    ("default and $comment", (("/properties/size/default", 1), ("/$comment", "note"))),
    ("unknown keyword added", (("/properties/size/x-unit", "cm"),)),
    ("$anchor added", (("/properties/name/$anchor", "name"),)),
    ("$ref to a later minor", (("/properties/producer/$ref", f"{COMMON}1.3.0.json#/$defs/producer"),)),
    ("$ref to a later patch", (("/properties/producer/$ref", f"{COMMON}1.0.1.json#/$defs/producer"),)),
    ("false schema opened", (("/properties/data", True),)),
]


@pytest.mark.parametrize("edits", [pytest.param(edits, id=name) for name, edits in ADDITIVE])
def test_additive_change_passes(edits: tuple[tuple[str, Any], ...]) -> None:
    assert sc.compare_schemas(BASE, edited(BASE, *edits)) == []


def test_false_schema_may_become_anything() -> None:
    assert sc.compare_schemas({"properties": {"x": False}}, {"properties": {"x": {"type": "string"}}}) == []


def test_root_id_and_dialect_are_left_to_the_path_checks() -> None:
    old, new = schema("thing", "1.0.0", BASE), schema("thing", "1.1.0", BASE)
    assert sc.compare_schemas(old, new) == []


def test_nested_id_may_not_change() -> None:
    old = {"$defs": {"a": {"$id": "https://example.com/a"}}}
    new = {"$defs": {"a": {"$id": "https://example.com/b"}}}
    assert [change.pointer for change in sc.compare_schemas(old, new)] == ["/$defs/a/$id"]


def test_json_equality_of_values() -> None:
    assert sc.compare_schemas({"const": 1}, {"const": 1.0}) == []
    assert sc.compare_schemas({"enum": [0.1, "a"]}, {"enum": ["a", 0.1, None]}) == []
    assert sc.compare_schemas({"const": 1}, {"const": True}) == [sc.Breaking("/const", "const changed from 1 to true")]
    assert sc.compare_schemas({"enum": [{"a": [1]}]}, {"enum": [{"a": [1.0]}]}) == []


# --- rule 2: the tree: predecessors, majors, file checks -------------------------------------------------------


def test_draft_adding_an_optional_property_passes(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tree, "thing/1.1.0.json", schema("thing", "1.1.0", edited(BASE, ("/properties/extra", {"type": "string"}))))
    assert run(tree, capsys) == (0, ["2 schemas checked, 1 published, all compatible"])


@pytest.mark.parametrize(
    ("edits", "line"),
    [
        pytest.param(
            (("/properties/extra", {"type": "string"}), ("/required", ["name", "extra"])),
            "schemas/thing/1.1.0.json#/required/1: additive-only: property 'extra' newly required (relative to 1.0.0)",
            id="required",
        ),
        pytest.param(
            (("/properties/color/enum", ["red"]),),
            'schemas/thing/1.1.0.json#/properties/color/enum: additive-only: enum value "green" removed '
            "(relative to 1.0.0)",
            id="enum",
        ),
        pytest.param(
            (("/properties/note/type", "string"),),
            'schemas/thing/1.1.0.json#/properties/note/type: additive-only: type "null" removed (relative to 1.0.0)',
            id="type",
        ),
    ],
)
def test_draft_breaking_its_predecessor_fails(
    tree: Path, capsys: pytest.CaptureFixture[str], edits: tuple[tuple[str, Any], ...], line: str
) -> None:
    write(tree, "thing/1.1.0.json", schema("thing", "1.1.0", edited(BASE, *edits)))
    assert run(tree, capsys) == (1, [line])


def test_predecessor_is_the_highest_lower_version_of_the_same_major() -> None:
    grown = edited(BASE, ("/properties/extra", {"type": "string"}))
    files = {
        "thing/1.0.0.json": encode(schema("thing", "1.0.0", BASE)),
        "thing/1.10.0.json": encode(schema("thing", "1.10.0", BASE)),  # drops "extra" again
        "thing/1.9.0.json": encode(schema("thing", "1.9.0", grown)),
        "thing/2.0.0.json": encode(schema("thing", "2.0.0", {"type": "string"})),
        "thing/2.1.0.json": encode(schema("thing", "2.1.0", {"type": ["string", "null"]})),
        "other/1.1.0.json": encode(schema("other", "1.1.0", {})),
    }
    assert [str(problem) for problem in sc.check_tree(files, {})] == [
        "schemas/thing/1.10.0.json#/properties/extra: additive-only: property 'extra' removed (relative to 1.9.0)"
    ]


def test_a_new_major_is_not_compared_with_the_old_one(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tree, "thing/2.0.0.json", schema("thing", "2.0.0", {"type": "string"}))
    assert run(tree, capsys) == (0, ["2 schemas checked, 1 published, all compatible"])


def test_a_published_version_is_compared_with_a_draft_before_it() -> None:
    files = {
        "thing/1.0.0.json": encode(schema("thing", "1.0.0", {})),
        "thing/1.1.0.json": encode(schema("thing", "1.1.0", {"required": ["a"]})),
        "thing/1.2.0.json": encode(schema("thing", "1.2.0", {})),
    }
    problems = sc.check_tree(files, sc.publish_entries(files, {}))
    assert [(problem.path, problem.pointer) for problem in problems] == [("schemas/thing/1.1.0.json", "/required/0")]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(b'{"$schema": ', "Expecting value", id="truncated"),
        pytest.param(b'{"a": 1, "a": 2}', 'duplicate key "a"', id="duplicate-key"),
        pytest.param(b'{"minimum": NaN}', "NaN is not JSON", id="nan"),
        pytest.param(b"[]", "the top level is not a JSON object", id="array"),
        pytest.param('{"title": "é"}'.encode("latin-1"), "utf-8", id="latin-1"),
    ],
)
def test_invalid_json_fails(raw: bytes, message: str) -> None:
    document, problems = sc.check_document("thing/1.0.0.json", raw)
    assert document is None
    assert [(problem.rule, problem.pointer) for problem in problems] == [("valid-json", None)]
    assert message in problems[0].message


def test_valid_document_passes() -> None:
    document, problems = sc.check_document("thing/1.0.0.json", encode(schema("thing", "1.0.0", BASE)))
    assert problems == []
    assert document == schema("thing", "1.0.0", BASE)


@pytest.mark.parametrize(
    ("body", "line"),
    [
        pytest.param(
            {"$id": "https://aifabric.dev/schemas/thing/1.0.0.json"},
            "schemas/thing/1.0.0.json#/$schema: dialect: $schema is absent, "
            'expected "https://json-schema.org/draft/2020-12/schema"',
            id="missing",
        ),
        pytest.param(
            {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "$id": "https://aifabric.dev/schemas/thing/1.0.0.json",
            },
            'schemas/thing/1.0.0.json#/$schema: dialect: $schema is "http://json-schema.org/draft-07/schema#", '
            'expected "https://json-schema.org/draft/2020-12/schema"',
            id="draft-07",
        ),
        pytest.param(
            {"$schema": DIALECT, "$id": "https://aifabric.dev/schemas/thing/1.0.1.json"},
            'schemas/thing/1.0.0.json#/$id: id: $id is "https://aifabric.dev/schemas/thing/1.0.1.json", '
            'expected "https://aifabric.dev/schemas/thing/1.0.0.json" for this path',
            id="wrong-version",
        ),
        pytest.param(
            {"$schema": DIALECT, "$id": "https://example.com/schemas/thing/1.0.0.json"},
            'schemas/thing/1.0.0.json#/$id: id: $id is "https://example.com/schemas/thing/1.0.0.json", '
            'expected "https://aifabric.dev/schemas/thing/1.0.0.json" for this path',
            id="wrong-base",
        ),
        pytest.param(
            {"$schema": DIALECT},
            'schemas/thing/1.0.0.json#/$id: id: $id is absent, expected "https://aifabric.dev/schemas/thing/1.0.0.json"'
            " for this path",
            id="no-id",
        ),
    ],
)
def test_dialect_and_id_are_checked(body: dict[str, Any], line: str) -> None:
    _, problems = sc.check_document("thing/1.0.0.json", encode(body))
    assert [str(problem) for problem in problems] == [line]


@pytest.mark.parametrize(
    "path", ["thing/1.0.json", "thing/01.0.0.json", "thing/1.0.0-draft.json", "Thing/1.0.0.json", "a/b/1.0.0.json"]
)
def test_schema_path_must_be_kind_and_version(path: str) -> None:
    _, problems = sc.check_document(path, encode(schema("thing", "1.0.0", {})))
    assert [(problem.path, problem.rule) for problem in problems] == [(f"schemas/{path}", "schema-path")]
    assert sc.parse_schema_path(path) is None


def test_schema_path_parses() -> None:
    assert sc.parse_schema_path("conformance-report/1.12.0.json") == ("conformance-report", (1, 12, 0))
    assert sc.schema_id("common", (1, 2, 3)) == "https://aifabric.dev/schemas/common/1.2.3.json"


def test_misplaced_schema_fails_the_run(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tree, "facets/thing/1.0.0.json", schema("thing", "1.0.0", {}))
    status, lines = run(tree, capsys)
    assert status == 1
    assert lines[0].startswith("schemas/facets/thing/1.0.0.json: schema-path: not at schemas/<kind>/<X.Y.Z>.json")


# --- rule 1: published files never change, and the lock -------------------------------------------------------


def test_locked_file_unchanged_passes(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tree, capsys) == (0, ["1 schemas checked, 1 published, all compatible"])


def test_locked_file_edited_fails(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """[CORE-016] A published schema never changes."""
    locked = (tree / "schemas" / "published.lock").read_text().split()[0]
    path = tree / "schemas" / "thing" / "1.0.0.json"
    path.write_bytes(path.read_bytes().replace(b'"title": "thing"', b'"title": "Thing"'))
    now = hashlib.sha256(path.read_bytes()).hexdigest()
    assert run(tree, capsys) == (
        1,
        [
            f"schemas/thing/1.0.0.json: published-unchanged: published file changed (locked sha256 {locked}, "
            f"now {now}); publish a new version instead"
        ],
    )


def test_locked_file_deleted_fails(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    locked = (tree / "schemas" / "published.lock").read_text().split()[0]
    (tree / "schemas" / "thing" / "1.0.0.json").unlink()
    assert run(tree, capsys) == (
        1,
        [f"schemas/thing/1.0.0.json: published-unchanged: published file deleted (locked sha256 {locked})"],
    )


def test_draft_may_change_freely(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    draft = edited(BASE, ("/properties/extra", {"type": "string"}))
    write(tree, "thing/1.1.0.json", schema("thing", "1.1.0", draft))
    assert run(tree, capsys)[0] == 0
    write(tree, "thing/1.1.0.json", schema("thing", "1.1.0", edited(draft, ("/properties/extra/type", "integer"))))
    assert run(tree, capsys)[0] == 0


def test_publish_adds_drafts_and_keeps_existing_lines(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lock = tree / "schemas" / "published.lock"
    before = lock.read_text()
    write(tree, "thing/1.1.0.json", schema("thing", "1.1.0", BASE))
    write(tree, "alpha/1.0.0.json", schema("alpha", "1.0.0", {}))
    status, lines = run(tree, capsys, "--publish")
    assert (status, lines) == (
        0,
        [
            "published schemas/alpha/1.0.0.json",
            "published schemas/thing/1.1.0.json",
            "3 schemas checked, 3 published, all compatible",
        ],
    )
    after = lock.read_text()
    assert before in after
    assert after == lock_line(tree, "alpha/1.0.0.json") + before + lock_line(tree, "thing/1.1.0.json")
    assert run(tree, capsys, "--publish") == (0, ["3 schemas checked, 3 published, all compatible"])
    assert lock.read_text() == after


def test_lock_matches_sha256sum_output(tree: Path) -> None:
    sha256sum = shutil.which("sha256sum")
    if sha256sum is None:
        pytest.skip("sha256sum is not installed")
    checked = subprocess.run(
        [sha256sum, "--check", "--strict", "published.lock"], cwd=tree / "schemas", capture_output=True, check=False
    )
    assert checked.returncode == 0, checked


def test_publish_creates_a_missing_lock(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "thing/1.0.0.json", schema("thing", "1.0.0", BASE))
    assert run(tmp_path, capsys, "--publish") == (
        0,
        ["published schemas/thing/1.0.0.json", "1 schemas checked, 1 published, all compatible"],
    )
    assert (tmp_path / "schemas" / "published.lock").read_text() == lock_line(tmp_path, "thing/1.0.0.json")


def test_publish_refuses_when_anything_fails(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lock = tree / "schemas" / "published.lock"
    before = lock.read_text()
    write(tree, "thing/1.1.0.json", schema("thing", "1.1.0", edited(BASE, ("/properties/size", DELETE))))
    write(tree, "alpha/1.0.0.json", schema("alpha", "1.0.0", {}))
    status, lines = run(tree, capsys, "--publish")
    assert status == 1
    assert lines == [
        "schemas/thing/1.1.0.json#/properties/size: additive-only: property 'size' removed (relative to 1.0.0)"
    ]
    assert lock.read_text() == before


def test_missing_lock_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "thing/1.0.0.json", schema("thing", "1.0.0", BASE))
    assert run(tmp_path, capsys) == (
        1,
        ["schemas/published.lock: lock-format: missing; run tools/schema_compat.py --publish to create it"],
    )


def test_empty_lock_means_nothing_published(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "thing/1.0.0.json", schema("thing", "1.0.0", BASE))
    (tmp_path / "schemas" / "published.lock").write_text("")
    assert run(tmp_path, capsys) == (0, ["1 schemas checked, 0 published, all compatible"])


def test_missing_schemas_directory_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, capsys) == (1, [f"schemas: schema-path: no schemas directory in {tmp_path}"])


A = "a" * 64
B = "b" * 64


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        pytest.param(
            f"{A} *thing/1.0.0.json\n",
            ["schemas/published.lock:1: lock-format: expected"],
            id="binary-mode",
        ),
        pytest.param(f"{A} thing/1.0.0.json\n", ["schemas/published.lock:1: lock-format: expected"], id="one-space"),
        pytest.param(
            f"{A.upper()}  thing/1.0.0.json\n", ["schemas/published.lock:1: lock-format: expected"], id="upper"
        ),
        pytest.param(f"{A}  thing/1.0.0.json\n\n", ["schemas/published.lock:2: lock-format: expected"], id="blank"),
        pytest.param(
            f"{A}  thing/1.0.json\n", ['schemas/published.lock:1: lock-format: "thing/1.0.json" is not'], id="path"
        ),
        pytest.param(
            f"{A}  thing/1.0.0.json\n{B}  thing/1.0.0.json\n",
            ["schemas/published.lock:2: lock-format: thing/1.0.0.json is locked twice"],
            id="duplicate",
        ),
        pytest.param(
            f"{A}  thing/1.0.0.json\n{B}  alpha/1.0.0.json\n",
            ["schemas/published.lock:2: lock-format: alpha/1.0.0.json is out of order"],
            id="unsorted",
        ),
        pytest.param(f"{A}  thing/1.0.0.json", ["schemas/published.lock:1: lock-format: no final newline"], id="eol"),
    ],
)
def test_malformed_lock_fails(text: str, lines: list[str]) -> None:
    _, problems = sc.parse_lock(text)
    assert len(problems) == len(lines)
    for problem, line in zip(problems, lines, strict=True):
        assert str(problem).startswith(line)


def test_well_formed_lock_parses() -> None:
    text = f"{B}  alpha/1.0.0.json\n{A}  thing/1.0.0.json\n{A}  thing/1.1.0.json\n"
    entries, problems = sc.parse_lock(text)
    assert problems == []
    assert entries == {"alpha/1.0.0.json": B, "thing/1.0.0.json": A, "thing/1.1.0.json": A}
    assert sc.format_lock(entries) == text
    assert sc.parse_lock("") == ({}, [])


def test_malformed_lock_fails_the_run(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lock = tree / "schemas" / "published.lock"
    lock.write_text(lock.read_text() + "garbage\n")
    status, lines = run(tree, capsys, "--publish")
    assert status == 1
    assert lines == [
        "schemas/published.lock:2: lock-format: expected '<sha256 hex>  <kind>/<X.Y.Z>.json', got \"garbage\""
    ]


# --- lock history against a git revision -----------------------------------------------------------------------


def test_lock_history_in_memory() -> None:
    base = f"{A}  thing/1.0.0.json\n{A}  thing/1.1.0.json\n"
    assert sc.check_lock_history(base, {"thing/1.0.0.json": A, "thing/1.1.0.json": A, "z/1.0.0.json": B}, "main") == []
    assert [str(problem) for problem in sc.check_lock_history(base, {"thing/1.1.0.json": B}, "main")] == [
        f"schemas/published.lock: lock-history: line '{A}  thing/1.0.0.json' of main was removed; "
        "published versions stay published",
        f"schemas/published.lock: lock-history: line '{A}  thing/1.1.0.json' of main was changed; "
        "published versions stay published",
    ]


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tree: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    _git(tree, "init", "--quiet")
    _git(tree, "add", ".")
    _git(tree, "commit", "--quiet", "-m", "publish thing 1.0.0")
    return tree


def test_lock_history_kept_passes(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, "thing/1.1.0.json", schema("thing", "1.1.0", BASE))
    assert run(repo, capsys, "--publish")[0] == 0
    assert run(repo, capsys, "--base", "HEAD") == (0, ["2 schemas checked, 2 published, all compatible"])


def test_lock_history_rewritten_fails(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = repo / "schemas" / "thing" / "1.0.0.json"
    path.write_bytes(path.read_bytes().replace(b'"title": "thing"', b'"title": "Thing"'))
    (repo / "schemas" / "published.lock").write_text(lock_line(repo, "thing/1.0.0.json"))  # the lock "refreshed"
    assert run(repo, capsys)[0] == 0  # without history the rewrite is invisible ...
    status, lines = run(repo, capsys, "--base", "HEAD")  # ... with it, it is not
    assert status == 1
    assert len(lines) == 1
    assert lines[0].startswith("schemas/published.lock: lock-history: line '")
    assert lines[0].endswith("  thing/1.0.0.json' of HEAD was changed; published versions stay published")


def test_lock_history_before_the_lock_existed_passes(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _git(repo, "rm", "--quiet", "--cached", "schemas/published.lock")
    _git(repo, "commit", "--quiet", "-m", "no lock yet")
    assert run(repo, capsys, "--base", "HEAD")[0] == 0


@pytest.mark.parametrize("ref", ["no-such-ref", "--help"])
def test_lock_history_bad_revision_fails(repo: Path, capsys: pytest.CaptureFixture[str], ref: str) -> None:
    status, lines = run(repo, capsys, f"--base={ref}")
    assert status == 1
    assert lines[0].startswith(f"schemas/published.lock: lock-history: {ref!r} is not a")


# --- the command line and the real tree ------------------------------------------------------------------------


def test_command_line(tree: Path) -> None:
    write(tree, "thing/1.1.0.json", schema("thing", "1.1.0", edited(BASE, ("/properties/name/pattern", "^a"))))
    result = subprocess.run(
        [sys.executable, str(TOOL), "--root", str(tree)], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout, result.stderr) == (
        1,
        'schemas/thing/1.1.0.json#/properties/name/pattern: additive-only: pattern "^a" added on an existing '
        "field (relative to 1.0.0)\n",
        "",
    )


def test_output_is_one_line_per_problem_in_path_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "thing/1.0.0.json", schema("thing", "1.0.0", BASE))
    write(tmp_path, "thing/1.10.0.json", schema("thing", "1.10.0", {}))
    write(tmp_path, "thing/1.9.0.json", schema("thing", "1.9.0", edited(BASE, ("/$defs", DELETE))))
    write(tmp_path, "alpha/1.0.0.json", b"{")
    (tmp_path / "schemas" / "published.lock").write_text("")
    status, lines = run(tmp_path, capsys)
    assert status == 1
    assert [line.split(":")[0].split("#")[0] for line in lines] == [
        "schemas/alpha/1.0.0.json",
        "schemas/thing/1.9.0.json",
        "schemas/thing/1.9.0.json",
        *["schemas/thing/1.10.0.json"] * (len(lines) - 3),
    ]


def test_repository_schemas_are_clean(capsys: pytest.CaptureFixture[str]) -> None:
    status, lines = run(REPO, capsys)
    assert status == 0, "\n".join(lines)
    assert lines[-1].endswith("all compatible")


def test_base_uri_is_the_sdk_constant() -> None:
    from aifabric.schemas import BASE_URI

    assert sc.BASE_URI == BASE_URI


def test_module_docstring_example_runs() -> None:
    failures, tried = doctest.testmod(sc, optionflags=doctest.ELLIPSIS)
    assert (failures, tried > 0) == (0, True)


def test_public_names_exist() -> None:
    assert [name for name in sc.__all__ if not hasattr(sc, name)] == []


def test_self_identifying_schema_url_moves_with_the_version() -> None:
    old = {
        "$id": "https://aifabric.dev/schemas/x/1.0.0.json",
        "properties": {"schemaURL": {"const": "https://aifabric.dev/schemas/x/1.0.0.json"}},
    }
    new = {
        "$id": "https://aifabric.dev/schemas/x/1.1.0.json",
        "properties": {"schemaURL": {"const": "https://aifabric.dev/schemas/x/1.1.0.json"}},
    }
    assert sc.compare_schemas(old, new) == []
    other = {**new, "properties": {"schemaURL": {"const": "https://aifabric.dev/schemas/y/1.1.0.json"}}}
    assert sc.compare_schemas(old, other) != []


def test_a_patch_version_may_not_widen() -> None:
    """[CORE-031] A patch version accepts exactly what its predecessor accepted."""
    base = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "additionalProperties": False}
    files = {
        "common/1.0.0.json": json.dumps({**base, "$id": "https://aifabric.dev/schemas/common/1.0.0.json"}).encode(),
        "common/1.0.1.json": json.dumps(
            {**base, "$id": "https://aifabric.dev/schemas/common/1.0.1.json", "additionalProperties": True}
        ).encode(),
    }
    problems = sc.check_tree(files, {})
    assert [p.rule for p in problems] == ["patch-unchanged"]
    files["common/1.1.0.json"] = files.pop("common/1.0.1.json").replace(b"1.0.1", b"1.1.0")
    assert sc.check_tree(files, {}) == []


_BLUE_NEEDS_SIZE: dict[str, Any] = {
    "if": {"properties": {"color": {"const": "blue"}}, "required": ["color"]},
    "then": {"required": ["size"]},
}
_BLUE_ADDED = ("/properties/color/enum", ["red", "green", "blue"])


@pytest.mark.parametrize(
    "edits",
    [
        pytest.param((_BLUE_ADDED, ("/allOf", [*BASE["allOf"], _BLUE_NEEDS_SIZE])), id="allOf entry"),
        pytest.param((_BLUE_ADDED, ("/if", _BLUE_NEEDS_SIZE["if"]), ("/then", _BLUE_NEEDS_SIZE["then"])), id="root"),
    ],
)
def test_a_conditional_guarded_by_a_new_value_is_additive(edits: tuple[tuple[str, Any], ...]) -> None:
    """[CORE-017] An if/then that applies only to a value the old version forbade keeps all it accepted."""
    assert sc.compare_schemas(BASE, edited(BASE, *edits)) == []


def test_a_conditional_on_a_property_the_old_version_required_is_additive() -> None:
    old = {"required": ["op"], "properties": {"op": {"enum": ["a", "b"]}}, "allOf": [{"required": ["op"]}]}
    new = {
        "required": ["op"],
        "properties": {"op": {"enum": ["a", "b", "c"]}},
        "allOf": [{"required": ["op"]}, {"if": {"properties": {"op": {"const": "c"}}}, "then": {"required": ["x"]}}],
    }
    assert sc.compare_schemas(old, new) == []


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param(
            {**_BLUE_NEEDS_SIZE, "if": {"properties": {"color": {"const": "red"}}, "required": ["color"]}},
            id="a value the old version allowed",
        ),
        pytest.param(
            {**_BLUE_NEEDS_SIZE, "if": {"properties": {"color": {"const": "blue"}}}},
            id="not required, so an instance without it matches",
        ),
        pytest.param({**_BLUE_NEEDS_SIZE, "else": {"required": ["size"]}}, id="with else"),
        pytest.param(
            {**_BLUE_NEEDS_SIZE, "if": {"properties": {"name": {"const": "blue"}}, "required": ["name"]}},
            id="a property the old version did not pin",
        ),
    ],
)
def test_an_unguarded_conditional_is_breaking(entry: dict[str, Any]) -> None:
    """[CORE-017] Any other added conditional may reject what the old version accepted."""
    new = edited(BASE, _BLUE_ADDED, ("/allOf", [*BASE["allOf"], entry]))
    assert [change.reason for change in sc.compare_schemas(BASE, new)] == ["allOf went from 1 to 2 subschemas"]
