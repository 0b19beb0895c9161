"""The schema registry: document kind <-> ``$id`` <-> version, resolved offline.

Every aifabric schema ships inside the package. The registry compiles validators on first use and refuses
to fetch anything from the network: a ``$ref`` that is not in the registry is an error, never a download.

Examples:
    >>> from aifabric.schemas import Registry, schema_url
    >>> url = schema_url("conformance-report")
    >>> url
    'https://aifabric.dev/schemas/conformance-report/1.1.0.json'
    >>> Registry.default().info(url).kind
    'conformance-report'
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final, NoReturn

import jsonschema_rs
import orjson

from aifabric._errors import SchemaError
from aifabric._formats import FORMATS

__all__ = ["ALIASES", "BASE_URI", "Registry", "SchemaInfo", "kind_of", "schema_url"]

BASE_URI: Final = "https://aifabric.dev/schemas/"
"""Every aifabric schema ``$id`` starts with this; the one place it is written."""

ALIASES: Final = "x-aifabric-aliases"
"""The schema member that lists other standards' schema URLs this aifabric schema profiles."""

_META_SCHEMAS: Final = frozenset(
    {
        "https://json-schema.org/draft/2020-12/schema",
        "https://json-schema.org/draft/2019-09/schema",
        "http://json-schema.org/draft-07/schema",
    }
)
"""JSON Schema meta-schemas: built into the validator engine, so schemas themselves validate offline."""

_ID = re.compile(re.escape(BASE_URI) + r"(?P<kind>[a-z][a-z0-9-]*)/(?P<version>\d+\.\d+\.\d+)\.json")


@dataclass(frozen=True, slots=True)
class SchemaInfo:
    """What the registry knows of one schema."""

    id: str
    kind: str
    version: str
    title: str
    schema: Mapping[str, Any]

    @property
    def major(self) -> int:
        """The major version, which names the kind on the wire (``dev.aifabric.<kind>.v<major>``)."""
        return int(self.version.split(".", 1)[0])


def schema_url(kind: str, version: str | None = None) -> str:
    """The ``$id`` of a packaged schema: the latest version of ``kind`` unless ``version`` is given."""
    registry = Registry.default()
    return registry.latest(kind).id if version is None else registry.info(f"{BASE_URI}{kind}/{version}.json").id


def kind_of(url: str) -> tuple[str, str]:
    """Split an aifabric schema URL (fragment allowed) into ``(kind, version)``."""
    match = _ID.fullmatch(url.split("#", 1)[0])
    if match is None:
        raise SchemaError(f"{url!r} is not an aifabric schema URL (expected {BASE_URI}<kind>/<X.Y.Z>.json)")
    return match["kind"], match["version"]


def _schema_root() -> Path:
    packaged = Path(__file__).parent / "_schemas"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "schemas"  # a source checkout


def _refuse(uri: str) -> NoReturn:
    raise SchemaError(f"refusing to fetch {uri}: aifabric resolves $ref offline only; add that schema to the registry")


class Registry:
    """A set of schemas by ``$id``, with compiled validators cached per schema URL (fragment included)."""

    def __init__(self, schemas: Iterable[Mapping[str, Any]] = ()) -> None:
        self._schemas: dict[str, SchemaInfo] = {}
        self._compiled: dict[str, Any] = {}
        self._aliases: dict[str, str] = {}
        self._native: jsonschema_rs.Registry | None = None
        self._lock = threading.Lock()
        for schema in schemas:
            self.add(schema)

    @staticmethod
    @cache
    def default() -> Registry:
        """The registry of every schema packaged with aifabric (built once per process)."""
        root = _schema_root()
        return Registry(orjson.loads(path.read_bytes()) for path in sorted(root.glob("*/*.json")))

    def copy(self) -> Registry:
        """A new registry with the same schemas, to add foreign ones to without touching this one."""
        return Registry(info.schema for info in self._schemas.values())

    def add(self, schema: Mapping[str, Any]) -> SchemaInfo:
        """Add a schema (its ``$id`` is required); remote ``$ref``s it makes must also be added."""
        if not isinstance(schema, Mapping):
            raise SchemaError(f"a schema must be a JSON object, not {type(schema).__name__}")
        sid = schema.get("$id")
        if not isinstance(sid, str) or not sid:
            raise SchemaError("a schema added to the registry needs an absolute $id")
        sid = sid.rstrip("#")
        match = _ID.fullmatch(sid)
        if match:
            kind, version = match["kind"], match["version"]
        else:
            kind, version = sid.rsplit("/", 1)[-1].removesuffix(".json"), "0.0.0"
        info = SchemaInfo(sid, kind, version, str(schema.get("title", kind)), schema)
        aliases = schema.get(ALIASES, [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise SchemaError(f"{sid}: {ALIASES} must be a list of schema URLs")
        with self._lock:
            self._schemas[sid] = info
            self._aliases.update((alias.split("#", 1)[0], sid) for alias in aliases)
            self._compiled.clear()
            self._native = None
        return info

    def __contains__(self, url: object) -> bool:
        return isinstance(url, str) and self.resolve(url).split("#", 1)[0] in self._schemas

    def resolve(self, url: str) -> str:
        """The URL itself, or, when another standard's schema URL is an alias, the aifabric schema that profiles it.

        A schema lists the URLs it profiles under ``x-aifabric-aliases`` (OpenLineage's, for lineage events); a
        schema added under the aliased ``$id`` itself takes precedence over the alias.
        """
        base, hashmark, fragment = url.partition("#")
        target = self._aliases.get(base)
        if target is None or base in self._schemas:
            return url
        return target + hashmark + fragment

    def __iter__(self) -> Iterator[SchemaInfo]:
        return iter(sorted(self._schemas.values(), key=lambda i: (i.kind, _version_key(i.version))))

    def __len__(self) -> int:
        return len(self._schemas)

    def info(self, url: str) -> SchemaInfo:
        """The schema a URL names; a clear error for unknown kinds and unsupported versions."""
        url = self.resolve(url)
        found = self._schemas.get(url.split("#", 1)[0])
        if found is not None:
            return found
        match = _ID.fullmatch(url.split("#", 1)[0])
        if match:
            known = [i.version for i in self if i.kind == match["kind"]]
            if known:
                raise SchemaError(
                    f"unsupported version {match['version']} of {match['kind']!r}: this SDK knows {', '.join(known)}"
                )
            raise SchemaError(f"unknown document kind {match['kind']!r} in schema URL {url}")
        raise SchemaError(f"unknown schema URL {url}: not in the registry (aifabric never fetches schemas)")

    def latest(self, kind: str) -> SchemaInfo:
        """The newest version of a kind."""
        versions = [i for i in self if i.kind == kind]
        if not versions:
            raise SchemaError(f"unknown document kind {kind!r}; known: {', '.join(sorted(self.kinds()))}")
        return versions[-1]

    def kinds(self) -> set[str]:
        """Every kind the registry holds."""
        return {i.kind for i in self._schemas.values()}

    def validator(self, url: str) -> Any:
        """The compiled ``jsonschema_rs`` validator for a schema URL, optionally with a JSON pointer fragment."""
        compiled = self._compiled.get(url)
        if compiled is None:
            compiled = self._compile(url)
        return compiled

    def _compile(self, url: str) -> Any:
        requested, url = url, self.resolve(url)
        if url.rstrip("#") not in _META_SCHEMAS:
            self.info(url)  # unknown or unsupported: a clear error before anything is compiled
        with self._lock:
            if self._native is None:
                resources = [(sid, dict(info.schema)) for sid, info in self._schemas.items()]
                try:
                    self._native = jsonschema_rs.Registry(resources, retriever=_refuse)
                except SchemaError:
                    raise
                except (ValueError, jsonschema_rs.ReferencingError) as exc:
                    raise SchemaError(f"the registry's schemas do not resolve: {_reason(exc)}") from None
            native = self._native
        try:
            compiled = jsonschema_rs.validator_for(
                {"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": url},
                registry=native,
                retriever=_refuse,
                validate_formats=True,
                formats=FORMATS,  # RFC 3339 checks: jsonschema-rs takes a "-" or "." for a digit there
            )
        except SchemaError:
            raise
        except (ValueError, jsonschema_rs.ReferencingError) as exc:
            raise SchemaError(f"schema {url} does not compile: {_reason(exc)}") from None
        self._compiled[requested] = compiled
        return compiled


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _reason(exc: BaseException) -> str:
    missing = re.search(r"Resource '([^']+)' is not present", str(exc))
    if missing:
        return f"it refers to {missing[1]}, which is not in the registry (aifabric never fetches schemas)"
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
