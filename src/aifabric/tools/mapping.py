"""Map tool contracts to and from MCP ``Tool``, OpenAI function tools and OpenAPI 3.1 operations.

Every function returns a :class:`Mapped`: the ``document`` made, and ``lost``, one line for each thing of the
source that the target has no place for, each starting with the JSON pointer of that thing in the source
(``"/retry: no place in an MCP Tool"``). A round trip keeps everything the target holds: a contract exported
to MCP and imported back equals it in ``name``, ``title``, ``description``, ``inputSchema``, ``outputSchema``,
``icons``, ``_meta``, ``sideEffect`` and the ``annotations`` title and open-world hint (TOOL-050).

What a source lacks, an import fills in from keyword arguments: ``owner`` (required, TOOL-005), ``version``
(``"0.0.0"``) and ``timeout_s`` (30). An OpenAI tool and an OpenAPI operation say nothing of side effects beyond
the HTTP method, so an OpenAI import takes MCP's defaults for hints left out: ``destructive``.

Examples:
    >>> from aifabric.tools.mapping import from_mcp, to_mcp, to_openai
    >>> contract = from_mcp(
    ...     {"name": "get_weather", "description": "Gets the weather.", "inputSchema": {"type": "object"},
    ...      "annotations": {"readOnlyHint": True}},
    ...     owner={"type": "service", "id": "weather"},
    ... ).document
    >>> contract.side_effect, contract.version
    ('none', '0.0.0')
    >>> to_mcp(contract).document["annotations"]
    {'readOnlyHint': True}
    >>> to_openai(contract).document["function"]["strict"]
    True
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Generic, Literal, TypeVar

from aifabric.models.audit import PRODUCER
from aifabric.models.common import Actor
from aifabric.models.tools import ToolContract

__all__ = ["MCP_VERSIONS", "Mapped", "from_mcp", "from_openai", "from_openapi", "to_mcp", "to_openai"]

MCP_VERSIONS: Final = ("2025-11-25", "2026-07-28")
"""The dated MCP schemas an export can target."""

_T = TypeVar("_T")

_HINTS: Final[dict[str, dict[str, bool]]] = {
    "none": {"readOnlyHint": True},
    "idempotent": {"readOnlyHint": False, "destructiveHint": False, "idempotentHint": True},
    "additive": {"readOnlyHint": False, "destructiveHint": False, "idempotentHint": False},
    "destructive": {"readOnlyHint": False, "destructiveHint": True, "idempotentHint": False},
}
_MCP_MEMBERS: Final = ("name", "title", "description", "inputSchema", "outputSchema", "icons", "_meta")
_CONTRACT_ONLY: Final = (
    "schemaURL",
    "producer",
    "version",
    "owner",
    "auth",
    "idempotency",
    "timeoutS",
    "retry",
    "rateLimit",
    "dataClassification",
    "consent",
    "errors",
    "signatures",
)
_OPENAI_LOST: Final = ("title", "outputSchema", "annotations", "icons", "_meta", "sideEffect")
_STATUS_ERRORS: Final = {
    "400": ("INVALID_INPUT", False),
    "401": ("UNAUTHORIZED", False),
    "403": ("FORBIDDEN", False),
    "409": ("CONFLICT", True),
    "422": ("INVALID_INPUT", False),
    "429": ("RATE_LIMITED", True),
    "500": ("TOOL_ERROR", False),
    "503": ("UNAVAILABLE", True),
    "504": ("TIMEOUT", True),
}
_METHOD_EFFECTS: Final = {
    "get": "none",
    "head": "none",
    "options": "none",
    "trace": "none",
    "post": "additive",
    "put": "destructive",
    "patch": "destructive",
    "delete": "destructive",
}
_NOT_STRICT: Final = (
    "allOf",
    "not",
    "if",
    "then",
    "else",
    "dependentRequired",
    "dependentSchemas",
    "patternProperties",
)


@dataclass(frozen=True)
class Mapped(Generic[_T]):
    """The result of a mapping.

    Attributes:
        document: what the mapping made.
        lost: what the target could not hold, each line starting with the JSON pointer in the source.
    """

    document: _T
    lost: list[str] = field(default_factory=list)


def to_mcp(
    contract: ToolContract, *, version: Literal["2025-11-25", "2026-07-28"] = "2025-11-25"
) -> Mapped[dict[str, Any]]:
    """An MCP ``Tool`` of the dated schema ``version``, its hints set from ``sideEffect`` [TOOL-050].

    Raises:
        ValueError: ``version`` is not one of :data:`MCP_VERSIONS`.
    """
    if version not in MCP_VERSIONS:
        raise ValueError(f"unknown MCP schema version {version!r}; known: {', '.join(MCP_VERSIONS)}")
    doc = contract.to_json()
    out: dict[str, Any] = {key: copy.deepcopy(doc[key]) for key in _MCP_MEMBERS if key in doc}
    kept = {key: value for key, value in doc.get("annotations", {}).items() if key in {"title", "openWorldHint"}}
    out["annotations"] = {**kept, **_HINTS[contract.side_effect]}
    if version == "2025-11-25":  # its schema wants each property schema to be an object: true is {}, false not {}
        for key in ("inputSchema", "outputSchema"):
            props = out.get(key, {}).get("properties")
            if isinstance(props, dict):
                out[key]["properties"] = {
                    name: ({} if sub is True else {"not": {}} if sub is False else sub) for name, sub in props.items()
                }
    lost = [f"/{key}: no place in an MCP Tool" for key in _CONTRACT_ONLY if key in doc]
    return Mapped(out, lost)


def from_mcp(
    tool: Mapping[str, Any],
    *,
    owner: Actor | Mapping[str, Any],
    version: str = "0.0.0",
    timeout_s: float = 30,
) -> Mapped[ToolContract]:
    """A contract from an MCP ``Tool`` of either dated schema, ``sideEffect`` set from its hints [TOOL-050].

    A tool without a description takes its title, its annotations' title or its name as one.

    Raises:
        ValidationError: the contract made is not valid, such as a name MCP allows and OpenAI does not.
    """
    hints = tool.get("annotations") or {}
    doc: dict[str, Any] = {key: copy.deepcopy(tool[key]) for key in _MCP_MEMBERS if key in tool}
    doc["description"] = tool.get("description") or tool.get("title") or hints.get("title") or tool.get("name")
    if hints:
        doc["annotations"] = copy.deepcopy(dict(hints))
    doc.update(_filled(owner, version, timeout_s))
    doc["sideEffect"] = _side_effect(hints)
    lost = [f"/{key}: no place in a tool contract" for key in tool if key not in {*_MCP_MEMBERS, "annotations"}]
    return Mapped(ToolContract.parse_document(doc, source=f"<MCP tool {tool.get('name')}>"), lost)


def to_openai(
    contract: ToolContract, *, form: Literal["chat", "responses"] = "chat", strict: bool = True
) -> Mapped[dict[str, Any]]:
    """An OpenAI function tool, in the Chat Completions or the Responses form [TOOL-051].

    With ``strict``, the parameters are made fit for OpenAI's strict mode where they can be: each object
    schema closed (``additionalProperties`` false) and all its properties required, an optional one made
    nullable (``anyOf`` with ``{"type": "null"}``). A schema strict mode cannot hold (an open map, ``allOf``,
    ``not``, conditionals, ``patternProperties``) is sent as it is with ``strict`` false, and said so in ``lost``.
    """
    doc = contract.to_json()
    params = copy.deepcopy(doc["inputSchema"])
    lost = [f"/{key}: no place in an OpenAI function tool" for key in (*_CONTRACT_ONLY, *_OPENAI_LOST) if key in doc]
    is_strict = False
    if strict:
        problems: list[str] = []
        made = _strict(params, "/inputSchema", problems, lost)
        if problems:
            lost.extend(problems)
        else:
            params, is_strict = made, True
    function: dict[str, Any] = {
        "name": contract.name,
        "description": contract.description,
        "parameters": params,
        "strict": is_strict,
    }
    if form == "chat":
        return Mapped({"type": "function", "function": function}, lost)
    if form == "responses":
        return Mapped({"type": "function", **function}, lost)
    raise ValueError(f"unknown OpenAI tool form {form!r}; known: chat, responses")


def from_openai(
    tool: Mapping[str, Any],
    *,
    owner: Actor | Mapping[str, Any],
    version: str = "0.0.0",
    timeout_s: float = 30,
    side_effect: Literal["none", "idempotent", "additive", "destructive"] = "destructive",
) -> Mapped[ToolContract]:
    """A contract from an OpenAI function tool of either form; ``side_effect`` defaults to MCP's reading.

    Raises:
        ValidationError: the contract made is not valid, such as parameters that are not an object schema.
    """
    function: Mapping[str, Any] = tool.get("function", tool)
    lost = [
        f"{'/function' if 'function' in tool else ''}/{key}: no place in a tool contract"
        for key in function
        if key not in {"type", "name", "description", "parameters"}
    ]
    doc: dict[str, Any] = {
        "name": function.get("name"),
        "description": function.get("description") or function.get("name"),
        "inputSchema": copy.deepcopy(function.get("parameters") or {"type": "object", "properties": {}}),
        "sideEffect": side_effect,
        **_filled(owner, version, timeout_s),
    }
    return Mapped(ToolContract.parse_document(doc, source=f"<OpenAI tool {function.get('name')}>"), lost)


def from_openapi(
    operation: Mapping[str, Any],
    *,
    path: str,
    method: str,
    owner: Actor | Mapping[str, Any],
    version: str = "0.0.0",
    timeout_s: float = 30,
) -> Mapped[ToolContract]:
    """A contract from an OpenAPI 3.1 operation, its ``$ref``s already resolved.

    The name is the ``operationId`` (or the method and path), letters other than those names allow made ``_``;
    the parameters (path, query, header, cookie) become properties of ``inputSchema`` and a JSON request body
    its property ``body``; the first JSON 2xx response whose schema is an object becomes ``outputSchema``; the
    method sets ``sideEffect`` (GET none, POST additive, PUT, PATCH and DELETE destructive); error statuses
    become the error classes of the specification; a security requirement becomes ``auth``.

    Raises:
        ValidationError: the contract made is not valid.
    """
    method = method.lower()
    lost: list[str] = []
    raw_name = operation.get("operationId") or f"{method}_{path}"
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", raw_name).strip("_")[:64] or method
    properties: dict[str, Any] = {}
    required: list[str] = []
    for i, param in enumerate(operation.get("parameters", [])):
        if "$ref" in param:
            lost.append(f"/parameters/{i}: a $ref, not resolved")
            continue
        if param["name"] in properties:
            lost.append(f"/parameters/{i}: a second parameter named {param['name']!r}")
            continue
        schema = copy.deepcopy(param.get("schema", {}))
        if "description" in param:
            schema.setdefault("description", param["description"])
        properties[param["name"]] = schema
        if param.get("required") or param.get("in") == "path":
            required.append(param["name"])
    body = operation.get("requestBody")
    if body is not None:
        media = body.get("content", {}).get("application/json")
        if media is None:
            lost.append("/requestBody: no application/json content")
        else:
            properties["body"] = copy.deepcopy(media.get("schema", {}))
            if body.get("required"):
                required.append("body")
    input_schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        input_schema["required"] = required
    doc: dict[str, Any] = {
        "name": name,
        "description": operation.get("description") or operation.get("summary") or f"{method.upper()} {path}",
        "inputSchema": input_schema,
        "sideEffect": _METHOD_EFFECTS.get(method, "destructive"),
        **_filled(owner, version, timeout_s),
    }
    if operation.get("summary") and operation.get("description"):
        doc["title"] = operation["summary"][:256]
    errors: dict[str, dict[str, Any]] = {}
    for status, response in sorted(operation.get("responses", {}).items()):
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        if status.startswith("2") and "outputSchema" not in doc and isinstance(schema, dict):
            if schema.get("type") == "object":
                doc["outputSchema"] = copy.deepcopy(schema)
            else:
                lost.append(f"/responses/{status}: a result that is not a JSON object")
        elif status in _STATUS_ERRORS:
            code, retryable = _STATUS_ERRORS[status]
            errors.setdefault(code, {"code": code, "retryable": retryable})
    if errors:
        doc["errors"] = list(errors.values())
    security = operation.get("security")
    if security:
        doc["auth"] = {"required": {} not in security}
        scopes = list(next(iter(security[0].values()), [])) if security[0] else []
        if scopes:
            doc["auth"]["scopes"] = list(dict.fromkeys(scopes))
        if len(security) > 1:
            lost.append("/security: alternatives beyond the first")
    lost.extend(
        f"/{key}: no place in a tool contract" for key in ("callbacks", "servers", "deprecated") if key in operation
    )
    return Mapped(ToolContract.parse_document(doc, source=f"<OpenAPI {method.upper()} {path}>"), lost)


def _filled(owner: Actor | Mapping[str, Any], version: str, timeout_s: float) -> dict[str, Any]:
    """The members an import fills in."""
    plain = owner.to_json() if isinstance(owner, Actor) else dict(owner)
    return {
        "schemaURL": ToolContract.SCHEMA_URL,
        "producer": PRODUCER,
        "owner": plain,
        "version": version,
        "timeoutS": timeout_s,
    }


def _side_effect(hints: Mapping[str, Any]) -> str:
    """``sideEffect`` from MCP hints, MCP's defaults applied to hints left out [TOOL-050]."""
    if hints.get("readOnlyHint", False):
        return "none"
    if not hints.get("destructiveHint", True):
        return "idempotent" if hints.get("idempotentHint", False) else "additive"
    return "destructive"


def _strict(schema: Any, pointer: str, problems: list[str], notes: list[str]) -> Any:
    """A copy of ``schema`` fit for OpenAI's strict mode; what cannot be made fit goes to ``problems``."""
    if isinstance(schema, list):
        return [_strict(item, f"{pointer}/{i}", problems, notes) for i, item in enumerate(schema)]
    if not isinstance(schema, dict):
        return schema
    for key in _NOT_STRICT:
        if key in schema:
            problems.append(f"{pointer}/{key}: not within OpenAI's strict mode; sent with strict false")
    out = {
        key: (
            {name: _strict(sub, f"{pointer}/{key}/{name}", problems, notes) for name, sub in value.items()}
            if key in {"properties", "$defs", "definitions"} and isinstance(value, dict)
            else _strict(value, f"{pointer}/{key}", problems, notes)
            if key in {"items", "anyOf", "oneOf", "prefixItems", "additionalProperties"}
            else value
        )
        for key, value in schema.items()
    }
    is_object = out.get("type") == "object" or "properties" in out
    if not is_object:
        return out
    if out.get("additionalProperties", False) is not False:
        problems.append(f"{pointer}/additionalProperties: an open object; sent with strict false")
        return out
    if "additionalProperties" not in out:
        out["additionalProperties"] = False
        notes.append(f"{pointer}: closed to other members (additionalProperties false) for strict mode")
    properties = out.get("properties", {})
    required = set(out.get("required", []))
    for name in properties:
        if name not in required:
            properties[name] = {"anyOf": [properties[name], {"type": "null"}]}
            notes.append(f"{pointer}/properties/{name}: optional, sent as required and nullable for strict mode")
    out["required"] = list(properties)
    return out
