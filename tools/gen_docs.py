"""Generate the docs pages that come from spec/ and schemas/, and the part of the nav that lists them.

Writes ``docs/spec/`` (a copy of every ``spec/*.md`` plus an index), ``docs/reference/schemas/`` (an index and
one page per ``schemas/<kind>/<version>.json``), the traceability matrix ``docs/reference/traceability.md``
(tools/gen_traceability.py, which runs the vectors against aifabric, so it needs the package installed) and the
nav between the ``BEGIN generated``/``END generated`` markers of ``mkdocs.yml``. Output is byte-stable: sorted,
no timestamps.

Usage:
    python tools/gen_docs.py            # write what changed; delete generated pages whose source is gone
    python tools/gen_docs.py --check    # write nothing; exit 1 naming each stale or missing file
"""

from __future__ import annotations

import argparse
import json
import posixpath
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from _generated import sync
from gen_traceability import generate as traceability

ROOT: Final = Path(__file__).resolve().parent.parent
REPO_BLOB: Final = "https://github.com/aifabric/aifabric/blob/main/"
"""Where links from spec chapters to repository files outside spec/, schemas/ and docs/ point."""

SPEC_OUT: Final = "docs/spec"
SCHEMA_OUT: Final = "docs/reference/schemas"
MKDOCS_YML: Final = "mkdocs.yml"
MARK: Final = "<!-- generated from "
"""How every generated page begins; a page in an output folder without it is hand-written, left alone."""

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_FENCE = re.compile(r"^ *(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(?:.*?[^`])?\1(?!`)")
_INLINE_LINK = re.compile(r"(\]\(\s*)(<[^>\n]*>|[^\s()<>]+)")
_REF_DEF = re.compile(r"^( {0,3}\[[^\]]+\]:\s*)(<[^>\n]*>|\S+)")
_H1 = re.compile(r"^# +(.+?)(?: +#+)? *$")
_ATTRS = re.compile(r"\s*\{[^{}]*\}\s*$")
_SAFE_YAML = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()/-]*$")
_CONSTRAINT_KEYS: Final = (
    "minLength",
    "maxLength",
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
)
_RULE_KEYS: Final = (
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
    "dependentRequired",
    "dependentSchemas",
)


# --- spec chapters -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Chapter:
    """One spec chapter: its file in spec/, its page in docs/spec/ and its title."""

    source: str
    target: str
    title: str


def _target_name(source: str) -> str:
    """The page name of a chapter; README and index would clash with the generated index page."""
    return "overview.md" if source.lower() in ("readme.md", "index.md") else source


def _chapter_order(path: Path) -> tuple[int, str]:
    """Overview first, release notes last, the rest by file name."""
    name = path.name.lower()
    rank = 0 if name in ("readme.md", "index.md") else 2 if name == "releases.md" else 1
    return rank, path.name


def _title_of(text: str, fallback: str) -> str:
    """The first level-one heading outside code blocks, as plain text."""
    fence: str | None = None
    for line in text.splitlines():
        fence = _fence_state(line, fence)
        if fence is not None:
            continue
        match = _H1.match(line)
        if match:
            return _ATTRS.sub("", match[1]).replace("`", "").replace("*", "").strip()
    return fallback


def _fence_state(line: str, fence: str | None) -> str | None:
    """The open fence after ``line``: a fence opener, or None when outside code blocks."""
    match = _FENCE.match(line)
    if match is None:
        return fence
    marker = match[1]
    if fence is None:
        return marker
    if marker[0] == fence[0] and len(marker) >= len(fence) and not line.strip()[len(marker) :].strip():
        return None
    return fence


def _outside_code(line: str, rewrite: Callable[[str], str]) -> str:
    """Apply ``rewrite`` to the parts of a line that are not inline code spans."""
    parts: list[str] = []
    last = 0
    for match in _CODE_SPAN.finditer(line):
        parts.append(rewrite(line[last : match.start()]))
        parts.append(match[0])
        last = match.end()
    parts.append(rewrite(line[last:]))
    return "".join(parts)


class _Links:
    """Rewrites relative links of a spec chapter so that they resolve from docs/spec/."""

    def __init__(self, chapters: dict[str, str], schemas: dict[str, str]) -> None:
        self.chapters = chapters
        self.schemas = schemas

    def target(self, link: str) -> str:
        """The rewritten form of one link target (unchanged when it already resolves or is not ours)."""
        bracketed = link.startswith("<") and link.endswith(">")
        raw = link[1:-1] if bracketed else link
        if not raw or raw.startswith(("#", "/")) or _SCHEME.match(raw):
            return link
        path, hash_, fragment = raw.partition("#")
        resolved = posixpath.normpath(posixpath.join("spec", path))
        if resolved == ".." or resolved.startswith("../"):
            return link
        new = self._resolve(resolved, fragment if hash_ else None, is_dir=path.endswith("/"))
        if new is None:
            return link
        return f"<{new}>" if bracketed else new

    def _resolve(self, resolved: str, fragment: str | None, *, is_dir: bool) -> str | None:
        """Where a repository path (relative to the root) lives on the site, or else on GitHub."""
        suffix = "" if fragment is None else "#" + fragment
        if resolved.startswith("spec/") and resolved.count("/") == 1:
            name = resolved.removeprefix("spec/")
            return self.chapters[name] + suffix if name in self.chapters else None
        if resolved == "spec":
            return "index.md"
        if resolved in self.schemas:
            page = posixpath.relpath(posixpath.join(SCHEMA_OUT, self.schemas[resolved]), SPEC_OUT)
            match = re.fullmatch(r"/\$defs/([^/]+)", fragment or "")
            return page + (f"#{_anchor(match[1])}" if match else "")
        if resolved.startswith("docs/"):
            return posixpath.relpath(resolved, SPEC_OUT) + suffix
        return REPO_BLOB + resolved + ("/" if is_dir else "") + suffix

    def line(self, line: str) -> str:
        """A line with every inline link and reference definition rewritten (code spans untouched)."""
        line = _REF_DEF.sub(lambda m: m[1] + self.target(m[2]), line)
        return _outside_code(line, lambda part: _INLINE_LINK.sub(lambda m: m[1] + self.target(m[2]), part))


def _spec_pages(root: Path, schemas: dict[str, str]) -> tuple[dict[str, str], list[Chapter]]:
    """The generated spec pages (path -> text) and the chapters in nav order."""
    sources = sorted((root / "spec").glob("*.md"), key=_chapter_order)
    chapters = [
        Chapter(p.name, _target_name(p.name), _title_of(p.read_text(encoding="utf-8"), p.stem)) for p in sources
    ]
    links = _Links({c.source: c.target for c in chapters}, schemas)
    pages: dict[str, str] = {}
    for path, chapter in zip(sources, chapters, strict=True):
        out = [f"{MARK}spec/{chapter.source} by tools/gen_docs.py; do not edit -->"]
        fence: str | None = None
        for line in path.read_text(encoding="utf-8").splitlines():
            was_open = fence is not None
            fence = _fence_state(line, fence)
            out.append(line if was_open or fence is not None else links.line(line))
        pages[f"{SPEC_OUT}/{chapter.target}"] = _text(out)
    pages[f"{SPEC_OUT}/index.md"] = _spec_index(chapters)
    return pages, chapters


def _spec_index(chapters: list[Chapter]) -> str:
    """The Specification section's index page."""
    out = [
        f"{MARK}spec/*.md by tools/gen_docs.py; do not edit -->",
        "# Specification",
        "",
        "The normative text of the aifabric standard, one chapter per area. The key words MUST, MUST NOT,",
        "REQUIRED, SHALL, SHALL NOT, SHOULD, SHOULD NOT, RECOMMENDED, MAY and OPTIONAL are to be",
        "interpreted as described in RFC 2119 and RFC 8174 when, and only when, they appear in all",
        "capitals. Every requirement carries a stable ID, such as `[CORE-010]`, that the conformance",
        "vectors cite.",
        "",
        "These pages are copies of `spec/*.md` in the repository, which is where they are edited.",
        "",
    ]
    if not chapters:
        out += ["!!! note", "", "    No chapters have been published yet."]
        return _text(out)
    out += ["| Chapter | Source |", "| --- | --- |"]
    out += [f"| [{_cell(c.title)}]({c.target}) | `spec/{c.source}` |" for c in chapters]
    return _text(out)


# --- schema reference --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SchemaFile:
    """One schema file and the page it gets."""

    source: str
    kind: str
    version: str
    page: str
    schema: dict[str, Any]
    raw: str


def _version_key(version: str) -> tuple[tuple[int, str], ...]:
    """Numeric parts compare as numbers, so 1.10.0 sorts after 1.9.0."""
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in re.split(r"[.+-]", version))


def _schema_files(root: Path) -> list[SchemaFile]:
    """Every ``schemas/<kind>/<version>.json``, sorted by kind then version."""
    found = []
    for path in (root / "schemas").glob("*/*.json"):
        raw = path.read_text(encoding="utf-8")
        schema = json.loads(raw)
        if not isinstance(schema, dict):
            raise SystemExit(f"{path}: a schema must be a JSON object")
        kind, version = path.parent.name, path.stem
        found.append(SchemaFile(f"schemas/{kind}/{version}.json", kind, version, f"{kind}-{version}.md", schema, raw))
    return sorted(found, key=lambda s: (s.kind, _version_key(s.version)))


class _Renderer:
    """Renders one schema page; knows every schema so that ``$ref``s across files become links."""

    def __init__(self, current: SchemaFile, by_id: dict[str, SchemaFile]) -> None:
        self.current = current
        self.by_id = by_id

    def resolve(self, ref: str) -> tuple[SchemaFile, str | None, Any] | None:
        """The schema file, ``$defs`` name (None for the root) and node a ``$ref`` names, if known."""
        base, _, fragment = ref.partition("#")
        target = self.current if not base else self.by_id.get(base.rstrip("/"))
        if target is None:
            return None
        if fragment in ("", "/"):
            return target, None, target.schema
        match = re.fullmatch(r"/\$defs/([^/]+)", fragment)
        if match is None:
            return None
        name = match[1].replace("~1", "/").replace("~0", "~")
        node = target.schema.get("$defs", {}).get(name)
        return (target, name, node) if node is not None else None

    def ref_link(self, ref: str) -> str:
        """A ``$ref`` as a link to the definition it names (or as code when it is not ours)."""
        found = self.resolve(ref)
        if found is None:
            return _code(ref)
        target, name, _ = found
        page = "" if target is self.current else target.page
        label = f"{target.kind} {target.version}" + (f" {name}" if name else "")
        if target is self.current and name:
            label = name
        anchor = f"#{_anchor(name)}" if name else ""
        return f"[{_code(label)}]({page}{anchor or ('' if page else '#')})"

    def type_of(self, node: Any) -> str:
        """A short human reading of a subschema's type."""
        if node is True or node == {}:
            return "any"
        if node is False:
            return "nothing (not allowed)"
        if not isinstance(node, dict):
            return _code(json.dumps(node))
        if "$ref" in node:
            return self.ref_link(str(node["$ref"]))
        if "const" in node:
            return "constant " + _code(_json(node["const"]))
        if "enum" in node:
            return "one of " + ", ".join(_code(_json(v)) for v in node["enum"])
        for keyword, lead in (("anyOf", "any of: "), ("oneOf", "exactly one of: ")):
            if isinstance(node.get(keyword), list) and "type" not in node:
                return lead + ", ".join(self.type_of(sub) for sub in node[keyword])
        types = node.get("type")
        names = [types] if isinstance(types, str) else list(types) if isinstance(types, list) else []
        if not names:
            return "any"
        return " or ".join(self._one_type(str(name), node) for name in names)

    def _one_type(self, name: str, node: dict[str, Any]) -> str:
        """One entry of a ``type`` keyword, with what its sibling keywords say about it."""
        if name == "array" and "items" in node:
            return f"array of {_grouped(self.type_of(node['items']))}"
        if name == "object" and not node.get("properties") and isinstance(node.get("additionalProperties"), dict):
            return f"map of {_grouped(self.type_of(node['additionalProperties']))}"
        if name == "string" and "format" in node:
            return f"string ({node['format']})"
        return name

    def description_of(self, node: Any) -> str:
        """A subschema's description, or that of the definition it refers to."""
        if not isinstance(node, dict):
            return ""
        if isinstance(node.get("description"), str):
            return str(node["description"])
        if "$ref" in node:
            found = self.resolve(str(node["$ref"]))
            if found is not None and isinstance(found[2], dict):
                return str(found[2].get("description", ""))
        return ""

    def constraints_of(self, node: Any) -> list[str]:
        """The validation keywords of a subschema other than its type, as code spans."""
        if not isinstance(node, dict):
            return []
        out = [_code(f"{key}: {_json(node[key])}") for key in _CONSTRAINT_KEYS if key in node]
        if "pattern" in node:
            out.append(_code(f"pattern: {node['pattern']}"))
        names = node.get("propertyNames")
        if isinstance(names, dict):
            if "$ref" in names:
                out.append("keys: " + self.ref_link(str(names["$ref"])))
            elif "pattern" in names:
                out.append(_code(f"keys match: {names['pattern']}"))
        if node.get("additionalProperties") is False:
            out.append("no other members")
        items = node.get("items")
        if isinstance(items, dict) and "$ref" not in items:
            out += [f"items {c}" for c in self.constraints_of(items) if c != "no other members"]
        return out

    def table(self, node: dict[str, Any]) -> list[str]:
        """The property table of an object subschema."""
        props = node.get("properties")
        if not isinstance(props, dict) or not props:
            return []
        required = set(node.get("required", []))
        rows = ["| Name | Type | Required | Constraints | Description |", "| --- | --- | --- | --- | --- |"]
        for name, sub in props.items():
            cells = [
                _code(name),
                self.type_of(sub),
                "yes" if name in required else "no",
                "<br>".join(self.constraints_of(sub)),
                self.description_of(sub),
            ]
            rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        return rows

    def object_sections(self, node: dict[str, Any], path: str, level: int) -> list[str]:
        """Sub-sections for the inline object members of an object, each with its own table, recursively."""
        out: list[str] = []
        for name, sub in (node.get("properties") or {}).items():
            is_array = isinstance(sub, dict) and "items" in sub
            inner, suffix = (sub["items"], "[]") if is_array else (sub, "")
            if isinstance(inner, dict) and isinstance(inner.get("properties"), dict) and "$ref" not in inner:
                child = f"{path}{name}{suffix}"
                out += ["", f"{'#' * min(level, 6)} {_code(child)}", ""]
                description = self.description_of(sub)
                if description:
                    out += [description, ""]
                out += self.table(inner)
                out += self.object_sections(inner, child + ".", level + 1)
        return out

    def definition(self, name: str, node: Any) -> list[str]:
        """The section of one ``$defs`` entry."""
        out = ["", f"### {_code(name)} {{ #{_anchor(name)} }}", ""]
        description = self.description_of(node)
        if description:
            out += [description, ""]
        plain_enum = isinstance(node, dict) and "enum" in node and "type" not in node
        facts = [f"- **Type:** {_enum_types(node['enum']) if plain_enum else self.type_of(node)}"]
        if isinstance(node, dict):
            if "format" in node:
                facts.append(f"- **Format:** {_code(str(node['format']))}")
            if "pattern" in node:
                facts.append(f"- **Pattern:** {_code(str(node['pattern']))}")
            if "enum" in node:
                facts.append("- **Enum:** " + ", ".join(_code(_json(v)) for v in node["enum"]))
            other = [c for c in self.constraints_of(node) if not c.startswith("`pattern:")]
            if other:
                facts.append("- **Constraints:** " + ", ".join(other))
            required = node.get("required")
            if required:
                facts.append("- **Required members:** " + ", ".join(_code(str(r)) for r in required))
        out += facts
        if isinstance(node, dict):
            table = self.table(node)
            if table:
                out += ["", *table]
            out += self.object_sections(node, f"{name}.", 4)
            out += self.rules(node, 4)
            out += _examples(node.get("examples"), 4)
        return out

    def rules(self, node: dict[str, Any], level: int) -> list[str]:
        """Conditional and combined rules (``allOf``, ``if``/``then``...), shown as JSON."""
        rules = {key: node[key] for key in _RULE_KEYS if key in node}
        shown_as_type = not any(key in node for key in ("$ref", "const", "enum", "type"))
        if shown_as_type:
            rules = {key: value for key, value in rules.items() if key not in ("anyOf", "oneOf")}
        if not rules:
            return []
        return ["", f"{'#' * level} Further rules", "", "```json", _json(rules, indent=2), "```"]

    def page(self) -> str:
        """The whole page."""
        s = self.current
        schema = s.schema
        title = str(schema.get("title", f"{s.kind} {s.version}"))
        out = [
            f"{MARK}{s.source} by tools/gen_docs.py; do not edit -->",
            f"# {title}",
            "",
            f"- **`$id`:** {_code(str(schema.get('$id', '')))}",
            f"- **Kind:** {_code(s.kind)}, version {_code(s.version)}",
            f"- **Dialect:** {_code(str(schema.get('$schema', '')))}",
            f"- **Source:** {_code(s.source)} in the repository",
        ]
        if isinstance(schema.get("description"), str):
            out += ["", schema["description"]]
        if schema.get("properties"):
            required = [str(r) for r in schema.get("required", [])]
            out += ["", "## Properties", ""]
            members = ", ".join(map(_code, required))
            out.append(
                f"A document of this kind is a JSON object. Required members: {members}."
                if required
                else "A document of this kind is a JSON object; every member is optional."
            )
            if schema.get("additionalProperties") is False:
                out[-1] += " No other members are allowed."
            out += ["", *self.table(schema)]
            out += self.object_sections(schema, "", 3)
        out += self.rules(schema, 2)
        defs = schema.get("$defs")
        if isinstance(defs, dict) and defs:
            out += ["", "## Definitions"]
            for name, node in defs.items():
                out += self.definition(name, node)
        out += _examples(schema.get("examples"), 2)
        out += [
            "",
            "## Raw schema",
            "",
            f'??? abstract "{s.source}"',
            "",
            "    ```json",
            *[f"    {line}" if line else "" for line in s.raw.rstrip("\n").splitlines()],
            "    ```",
        ]
        return _text(out)


def _grouped(type_text: str) -> str:
    """A type reading in parentheses when it is a choice, so that "array of" reads right."""
    return f"({type_text})" if " or " in type_text or " of " in type_text else type_text


def _enum_types(values: Any) -> str:
    """The JSON types of an enum's values, such as "string" or "string or null"."""
    names = {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
        type(None): "null",
    }
    found = sorted({names.get(type(v), "any") for v in values}) if isinstance(values, list) else []
    return " or ".join(found) or "any"


def _examples(examples: Any, level: int) -> list[str]:
    """An Examples section with each example as a JSON code block."""
    if not isinstance(examples, list) or not examples:
        return []
    out = ["", f"{'#' * level} Examples"]
    for example in examples:
        out += ["", "```json", _json(example, indent=2), "```"]
    return out


def _schema_index(files: list[SchemaFile]) -> str:
    """The schema reference's index page."""
    ids = [str(f.schema["$id"]) for f in files if f.schema.get("$id")]
    bases = sorted({sid.rsplit("/", 2)[0] + "/" for sid in ids})
    out = [
        f"{MARK}schemas/*/*.json by tools/gen_docs.py; do not edit -->",
        "# Schemas",
        "",
        "Every aifabric document kind and extension has a JSON Schema (draft 2020-12), one file per version,",
        "kept in `schemas/<kind>/<version>.json` and shipped inside the Python package, so validation never",
        "fetches anything. A document names its schema in `schemaURL`. A published version never changes; a",
        "minor version may only add optional members.",
        "",
    ]
    if bases:
        out += ["Base URI of every `$id`: " + ", ".join(_code(b) for b in bases), ""]
    out += [
        "`aifabric schemas list` prints this table, `aifabric schemas show KIND` prints one schema and",
        "`aifabric schemas export DIR` writes them all to a folder.",
        "",
    ]
    if not files:
        out += ["!!! note", "", "    No schemas have been published yet."]
        return _text(out)
    out += ["| Kind | Version | Title | `$id` |", "| --- | --- | --- | --- |"]
    for f in files:
        title = str(f.schema.get("title", ""))
        sid = _code(str(f.schema.get("$id", "")))
        out.append(f"| [{_code(f.kind)}]({f.page}) | {f.version} | {_cell(title)} | {sid} |")
    return _text(out)


def _schema_pages(files: list[SchemaFile]) -> dict[str, str]:
    """The generated schema reference pages (path -> text)."""
    by_id = {str(f.schema["$id"]).rstrip("#"): f for f in files if isinstance(f.schema.get("$id"), str)}
    pages = {f"{SCHEMA_OUT}/{f.page}": _Renderer(f, by_id).page() for f in files}
    pages[f"{SCHEMA_OUT}/index.md"] = _schema_index(files)
    return pages


# --- text helpers ------------------------------------------------------------------------------------------


def _text(lines: Iterable[str]) -> str:
    """Lines joined with LF, trailing spaces dropped, ending in exactly one newline."""
    return "\n".join(line.rstrip() for line in lines).rstrip("\n") + "\n"


def _json(value: Any, indent: int | None = None) -> str:
    """JSON as written in the docs: UTF-8 text, members in their given order."""
    if indent is None:
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return json.dumps(value, ensure_ascii=False, indent=indent)


def _code(text: str) -> str:
    """An inline code span that survives backticks in its text."""
    if "`" not in text:
        return f"`{text}`"
    longest = max(len(run) for run in re.findall(r"`+", text))
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}"


def _cell(text: str) -> str:
    """Text made safe for one table cell: one line, pipes outside code spans escaped."""
    one_line = " ".join(text.split())
    return _outside_code(one_line, lambda part: part.replace("|", "\\|"))


def _anchor(name: str) -> str:
    """The HTML id of a ``$defs`` entry's heading."""
    return "defs-" + re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")


def _yaml_key(title: str) -> str:
    """A nav title as a YAML key, quoted when it needs to be."""
    return title if _SAFE_YAML.match(title) else json.dumps(title, ensure_ascii=False)


# --- nav and the driver ------------------------------------------------------------------------------------


def _with_nav(text: str, name: str, entries: list[str]) -> str:
    """``mkdocs.yml`` with the lines between the ``BEGIN/END generated <name> nav`` markers replaced."""
    lines = text.splitlines()
    begin = [n for n, line in enumerate(lines) if line.strip().startswith(f"# BEGIN generated {name} nav")]
    end = [n for n, line in enumerate(lines) if line.strip().startswith(f"# END generated {name} nav")]
    if len(begin) != 1 or len(end) != 1 or end[0] < begin[0]:
        raise SystemExit(f"{MKDOCS_YML}: needs one '# BEGIN generated {name} nav' line, then one '# END' line")
    indent = lines[begin[0]][: len(lines[begin[0]]) - len(lines[begin[0]].lstrip())]
    lines[begin[0] + 1 : end[0]] = [indent + entry for entry in entries]
    return "\n".join(lines) + "\n"


def generate(root: Path) -> dict[str, str]:
    """Every generated file (path relative to the root -> text), mkdocs.yml with its nav included."""
    files = _schema_files(root)
    schema_pages = {f.source: f.page for f in files}
    spec, chapters = _spec_pages(root, schema_pages)
    out = {**spec, **_schema_pages(files), **traceability(root)}
    config = (root / MKDOCS_YML).read_text(encoding="utf-8")
    config = _with_nav(config, "spec", [f"- {_yaml_key(c.title)}: spec/{c.target}" for c in chapters])
    config = _with_nav(
        config,
        "schema",
        [f"- {_yaml_key(f'{f.kind} {f.version}')}: reference/schemas/{f.page}" for f in files],
    )
    out[MKDOCS_YML] = config
    return dict(sorted(out.items()))


def _leftovers(root: Path, expected: dict[str, str]) -> list[str]:
    """Generated pages in the output folders that nothing generates any more."""
    found = []
    for folder in (SPEC_OUT, SCHEMA_OUT):
        for path in sorted((root / folder).glob("*.md")):
            rel = path.relative_to(root).as_posix()
            if rel not in expected and path.read_text(encoding="utf-8").startswith(MARK):
                found.append(rel)
    return found


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check``, compare) the generated docs; the exit status for the shell."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if anything is stale")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this checkout)")
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()
    expected = generate(root)
    return sync(
        root,
        expected,
        _leftovers(root, expected),
        check=args.check,
        what="generated docs",
        command="python tools/gen_docs.py",
    )


if __name__ == "__main__":
    sys.exit(main())
