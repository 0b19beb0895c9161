"""Validate aifabric documents: dispatch on the schema URL, check formats, report every problem.

A document names its schema in ``schemaURL`` (``$schema`` is accepted too); the registry's compiled
validator for exactly that URL runs, so a document is walked once, not once per kind. Input may be JSON,
JSON Lines or YAML; size, depth and node count are capped so that hostile input fails fast and clearly.

Examples:
    >>> from aifabric import validate, ValidationError
    >>> report = {"schemaURL": "https://aifabric.dev/schemas/conformance-report/1.0.0.json"}
    >>> try:
    ...     validate(report)
    ... except ValidationError as exc:
    ...     print(exc.problems[0])
    /: required: "createdAt" is a required property
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final

import orjson

from aifabric._errors import DocumentError, Problem, SchemaError, ValidationError
from aifabric._text import encodable
from aifabric.schemas import Registry

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "Validated",
    "iter_documents",
    "load_documents",
    "problems",
    "validate",
]

MAX_BYTES: Final = 64 * 1024 * 1024
"""Largest input read, in bytes."""
MAX_DEPTH: Final = 256
"""Deepest nesting of arrays and objects accepted."""
MAX_NODES: Final = 2_000_000
"""Most values one document may hold (counting what YAML aliases expand to)."""

_YAML_SUFFIXES: Final = (".yaml", ".yml")
_JSONL_SUFFIXES: Final = (".jsonl", ".ndjson")
_DOC_SUFFIXES: Final = (".json", *_JSONL_SUFFIXES, *_YAML_SUFFIXES)


@dataclass(frozen=True, slots=True)
class Validated:
    """A document that passed validation, with the schema it passed."""

    document: Any
    schema_url: str
    source: str | None = None


def _schema_url_of(doc: Any) -> str | None:
    if isinstance(doc, dict):
        url = doc.get("schemaURL", doc.get("$schema"))
        if isinstance(url, str):
            return url
    return None


def validate(
    doc: Any, *, schema_url: str | None = None, registry: Registry | None = None, source: str | None = None
) -> Validated:
    """Validate a parsed document against the schema it names (or ``schema_url``).

    Raises:
        ValidationError: the document breaks its schema; ``problems`` lists every finding.
        SchemaError: the schema URL is missing, unknown or an unsupported version.
    """
    url = schema_url or _schema_url_of(doc)
    if url is None:
        raise ValidationError(
            [Problem("", "schemaURL", "the document names no schema (no string schemaURL or $schema)", source)],
            source=source,
        )
    validator = (registry or Registry.default()).validator(url)
    try:
        if validator.is_valid(doc):
            return Validated(doc, url, source)
        found = _problems_from(validator, doc, source)
    except UnicodeEncodeError:  # a lone surrogate: the schema verdict is about structure, so judge without it
        return validate(encodable(doc), schema_url=url, registry=registry, source=source)
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # not JSON: int keys, objects
        raise DocumentError(f"not a JSON document: {exc}", source=source, rule="type") from None
    raise ValidationError(found, source=source, schema_url=url)


def problems(
    doc: Any, *, schema_url: str | None = None, registry: Registry | None = None, source: str | None = None
) -> list[Problem]:
    """Every problem with a document, as a list (empty when it is valid); schema errors become problems too."""
    try:
        validate(doc, schema_url=schema_url, registry=registry, source=source)
    except ValidationError as exc:
        return exc.problems
    except DocumentError as exc:
        return [Problem(exc.pointer, exc.rule, exc.reason, source)]
    except SchemaError as exc:
        return [Problem("/schemaURL" if schema_url is None else "", "schema", str(exc), source)]
    return []


def _problems_from(validator: Any, doc: Any, source: str | None) -> list[Problem]:
    found = [
        Problem(_pointer(err.instance_path), str(err.kind.name), err.message, source)
        for err in validator.iter_errors(doc)
    ]
    found.sort(key=lambda p: (p.pointer, p.rule, p.message))
    return found or [Problem("", "invalid", "the document does not match its schema", source)]


def _pointer(path: list[str | int]) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


# --- reading documents -------------------------------------------------------------------------------------


def load_documents(data: bytes, *, source: str = "<input>", fmt: str | None = None) -> list[Any]:
    """Parse bytes as JSON, JSON Lines or YAML (by ``fmt`` or the source's suffix) into documents.

    Raises:
        DocumentError: not UTF-8, malformed, too large, too deep or too many values.
    """
    if len(data) > MAX_BYTES:
        raise DocumentError(f"input is {len(data):,} bytes, over the {MAX_BYTES:,}-byte limit", source=source)
    fmt = fmt or _format_of(source)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(
            f"not UTF-8: invalid byte 0x{data[exc.start]:02x} at offset {exc.start}", source=source
        ) from None
    text = text.removeprefix("\ufeff")
    if fmt == "yaml" and text.lstrip()[:1] in ("{", "["):
        docs = _load_json_in_yaml(text, source)
    elif fmt == "yaml":
        docs = _load_yaml(text, source)
    elif fmt == "jsonl":
        docs = [_load_json(line, source, line=n) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    else:
        docs = [_load_json(text, source)]
    for doc in docs:
        _check_shape(doc, source)
    return docs


def _format_of(source: str) -> str:
    lower = source.lower()
    if lower.endswith(_YAML_SUFFIXES):
        return "yaml"
    if lower.endswith(_JSONL_SUFFIXES):
        return "jsonl"
    return "json"


def _load_json(text: str, source: str, *, line: int = 1) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        error = exc
    if "depth" in error.msg or "recursion" in error.msg:
        raise DocumentError(f"nested deeper than {MAX_DEPTH} levels", source=source, rule="maxDepth")
    try:  # orjson refuses escaped lone surrogates, which JSON's grammar allows; the stdlib keeps them
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        pass
    where = f"line {error.lineno + line - 1} column {error.colno}"
    raise DocumentError(f"malformed JSON: {error.msg} at {where}", source=source)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _load_json_in_yaml(text: str, source: str) -> list[Any]:
    """A YAML file holding JSON, as ``aifabric sign --embed`` writes it, read as JSON.

    PyYAML reads YAML 1.1, in which a number such as ``2e-6`` is a string.
    """
    try:
        return [orjson.loads(text)]
    except orjson.JSONDecodeError:
        return _load_yaml(text, source)


def _load_yaml(text: str, source: str) -> list[Any]:
    import yaml

    try:  # the pure-Python loader: libyaml's composer overflows the C stack on deep nesting
        return [doc for doc in yaml.load_all(text, Loader=yaml.SafeLoader) if doc is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise DocumentError(f"malformed YAML: {problem}{where}", source=source) from None
    except RecursionError:
        raise DocumentError(f"nested deeper than {MAX_DEPTH} levels", source=source, rule="maxDepth") from None


def _check_shape(doc: Any, source: str) -> None:
    """Cap depth and node count (YAML aliases count as often as they expand), and require JSON types."""
    stack: list[tuple[Any, int]] = [(doc, 0)]
    nodes = 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise DocumentError(f"more than {MAX_NODES:,} values (an alias bomb?)", source=source, rule="maxNodes")
        if depth > MAX_DEPTH:
            raise DocumentError(f"nested deeper than {MAX_DEPTH} levels", source=source, rule="maxDepth")
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise DocumentError(f"object key {key!r} is not a string", source=source, rule="type")
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif not (value is None or isinstance(value, str | int | float)):
            raise DocumentError(
                f"a YAML {type(value).__name__} is not a JSON value; quote it", source=source, rule="type"
            )


def iter_documents(paths: list[str]) -> Iterator[tuple[str, list[Any] | DocumentError]]:
    """Yield ``(source, documents or the error reading them)`` for files, folders (recursively) and ``-``.

    Folders yield their ``.json``, ``.jsonl``, ``.ndjson``, ``.yaml`` and ``.yml`` files in sorted order; an
    unreadable file yields its error and the walk goes on.
    """
    import sys

    for name in paths:
        if name == "-":
            yield _read(lambda: sys.stdin.buffer.read(MAX_BYTES + 1), "<stdin>")
            continue
        path = Path(name)
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            yield name, DocumentError(_os_reason(exc), source=name, rule="read")
            continue
        if stat.S_ISDIR(mode):
            yield from _walk(path)
        else:
            yield _read(partial(_read_capped, path), name)


def _walk(folder: Path) -> Iterator[tuple[str, list[Any] | DocumentError]]:
    found: list[Path] = []
    errors: list[tuple[str, DocumentError]] = []

    def onerror(exc: OSError) -> None:
        errors.append((str(exc.filename), DocumentError(_os_reason(exc), source=str(exc.filename), rule="read")))

    for root, dirs, files in os.walk(folder, onerror=onerror):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            path = Path(root, name)
            if not name.lower().endswith(_DOC_SUFFIXES):
                continue
            if path.is_file():
                found.append(path)
            else:  # a pipe, socket or device would block or never end; a dangling link cannot be read
                reason = "cannot read: a dangling symbolic link" if path.is_symlink() else "not a regular file"
                errors.append((str(path), DocumentError(reason, source=str(path), rule="read")))
    yield from sorted(errors, key=lambda e: e[0])
    for path in sorted(found):
        yield _read(partial(_read_capped, path), str(path))


def _read_capped(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(MAX_BYTES + 1)


def _read(reader: Callable[[], bytes], source: str) -> tuple[str, list[Any] | DocumentError]:
    try:
        return source, load_documents(reader(), source=source)
    except DocumentError as exc:
        return source, exc
    except OSError as exc:
        return source, DocumentError(_os_reason(exc), source=source, rule="read")


def _os_reason(exc: OSError) -> str:
    return f"cannot read: {exc.strerror or type(exc).__name__}"
