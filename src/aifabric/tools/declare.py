"""Declare tool contracts on typed Python functions, and read them from YAML or JSON.

:func:`tool` turns a typed function, sync or async, into a :class:`Tool`: still callable as the function, with
the :class:`~aifabric.models.tools.ToolContract` its type hints and Google-style docstring state. The parameters
become ``inputSchema`` (an object schema, ``additionalProperties`` false); the return annotation becomes
``outputSchema``. MCP holds structured results as JSON objects only, so a return type whose schema is not an
object (``list[str]``, ``int``) is wrapped as ``{"result": ...}``, and :attr:`Tool.wraps_result` says so. What
the hints cannot say, the side effect, owner, version, scopes, idempotency, timeout, retries, rate limits,
consent and errors, is given as keyword arguments. :func:`load_contract` reads a contract from a file or text;
problems raise :class:`~aifabric.ValidationError` naming the file, the JSON pointer and the rule.

Examples:
    >>> from aifabric.tools.declare import tool
    >>> @tool(version="1.0.0", owner={"type": "organization", "id": "sales"}, side_effect="none", timeout_s=5)
    ... def search_orders(query: str, limit: int = 10) -> list[str]:
    ...     '''Searches orders by customer name.
    ...
    ...     Args:
    ...         query: Text to look for.
    ...         limit: How many orders to return at most.
    ...     '''
    ...     return [query][:limit]
    >>> search_orders("ada")
    ['ada']
    >>> schema = search_orders.contract.input_schema
    >>> schema["required"], schema["properties"]["limit"]
    (['query'], {'default': 10, 'description': 'How many orders to return at most.', 'type': 'integer'})
    >>> search_orders.contract.output_schema["required"], search_orders.wraps_result
    (['result'], True)
"""

from __future__ import annotations

import functools
import inspect
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, Literal, ParamSpec, TypeVar, get_type_hints

import pydantic
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import core_schema

from aifabric.models.audit import PRODUCER
from aifabric.models.common import Actor
from aifabric.models.tools import (
    DataClassification,
    Icon,
    Idempotency,
    RateLimit,
    RetryPolicy,
    ToolAnnotations,
    ToolAuth,
    ToolContract,
    ToolError,
)

__all__ = ["Tool", "load_contract", "tool"]

_P = ParamSpec("_P")
_R = TypeVar("_R")

_SideEffect = Literal["none", "idempotent", "additive", "destructive"]
_SECTION = re.compile(r"^(Args|Arguments|Parameters|Returns|Return|Yields|Raises|Examples|Example|Note|Notes)\s*:\s*$")
_ARG = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


class Tool(Generic[_P, _R]):
    """A function with its tool contract: call it as the function; :attr:`contract` is what it promises.

    Attributes:
        contract: the tool's contract.
        wraps_result: whether ``outputSchema`` wraps the return value as ``{"result": value}``, since the
            return type's own schema is not an object.
    """

    __name__: str
    __qualname__: str

    def __init__(self, func: Callable[_P, _R], contract: ToolContract, *, wraps_result: bool) -> None:
        self.__wrapped__ = func
        self.contract = contract
        self.wraps_result = wraps_result
        functools.update_wrapper(self, func)

    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        """Call the function."""
        return self.__wrapped__(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Tool {self.contract.name} {self.contract.version}>"


def tool(
    *,
    version: str,
    owner: Actor | Mapping[str, Any],
    side_effect: _SideEffect,
    timeout_s: float = 30,
    name: str | None = None,
    title: str | None = None,
    description: str | None = None,
    scopes: Sequence[str] | None = None,
    auth: ToolAuth | Mapping[str, Any] | None = None,
    idempotency: Literal["required", "optional", "none"] | Idempotency | Mapping[str, Any] | None = None,
    key_lifetime_s: int = 86400,
    retry: RetryPolicy | Mapping[str, Any] | None = None,
    rate_limit: RateLimit | Mapping[str, Any] | None = None,
    data_classification: DataClassification | Mapping[str, Any] | None = None,
    consent: Sequence[str] | None = None,
    errors: Sequence[ToolError | Mapping[str, Any]] | None = None,
    annotations: ToolAnnotations | Mapping[str, Any] | None = None,
    icons: Sequence[Icon | Mapping[str, Any]] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Callable[[Callable[_P, _R]], Tool[_P, _R]]:
    """Make a typed function a tool with a contract.

    ``name`` defaults to the function's name and ``description`` to its docstring without its sections; each
    parameter's description comes from the docstring's ``Args:``. ``scopes`` is short for an ``auth`` that is
    required with those scopes; ``idempotency`` given as a key mode takes ``key_lifetime_s``; ``consent`` is
    the list of purposes.

    Raises:
        TypeError: a parameter without a type hint, a ``*args`` or ``**kwargs``, or a type with no JSON Schema.
        ValidationError: the contract the arguments make is not valid.
    """

    def decorate(func: Callable[_P, _R]) -> Tool[_P, _R]:
        summary, arg_docs = _docstring(inspect.getdoc(func) or "")
        input_schema = _input_schema(func, arg_docs)
        output_schema, wraps = _output_schema(func)
        doc: dict[str, Any] = {
            "schemaURL": ToolContract.SCHEMA_URL,
            "producer": PRODUCER,
            "name": name or func.__name__,
            "title": title,
            "description": description or summary or None,
            "version": version,
            "owner": _plain(owner),
            "inputSchema": input_schema,
            "outputSchema": output_schema,
            "annotations": _plain(annotations),
            "icons": [_plain(icon) for icon in icons] if icons is not None else None,
            "_meta": dict(meta) if meta is not None else None,
            "sideEffect": side_effect,
            "auth": _plain(auth)
            if auth is not None
            else ({"required": True, "scopes": list(scopes)} if scopes else None),
            "idempotency": (
                {"key": idempotency, **({"keyLifetimeS": key_lifetime_s} if idempotency != "none" else {})}
                if isinstance(idempotency, str)
                else _plain(idempotency)
            ),
            "timeoutS": timeout_s,
            "retry": _plain(retry),
            "rateLimit": _plain(rate_limit),
            "dataClassification": _plain(data_classification),
            "consent": {"purposes": list(consent)} if consent is not None else None,
            "errors": [_plain(error) for error in errors] if errors is not None else None,
        }
        source = f"<tool {getattr(func, '__qualname__', doc['name'])}>"
        contract = ToolContract.parse_document(
            {key: value for key, value in doc.items() if value is not None}, source=source
        )
        return Tool(func, contract, wraps_result=wraps)

    return decorate


def load_contract(source: str | os.PathLike[str] | bytes, *, fmt: str | None = None) -> ToolContract:
    """Read one tool contract from a file, or from YAML or JSON text (``ToolContract.read``).

    Raises:
        DocumentError: the input cannot be read or parsed, or holds other than exactly one document.
        ValidationError: the document is not a valid tool contract; ``problems`` has every finding.
    """
    return ToolContract.read(source, fmt=fmt)


def _plain(value: Any) -> Any:
    """A model or mapping as its JSON form; ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dict(value)


class _Untitled(GenerateJsonSchema):
    """JSON Schema without the titles pydantic makes up from field names."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def model_schema(self, schema: core_schema.ModelSchema) -> dict[str, Any]:
        out = super().model_schema(schema)
        out.pop("title", None)
        return out


def _docstring(text: str) -> tuple[str, dict[str, str]]:
    """The description (the text before the first section) and the ``Args:`` of a Google-style docstring."""
    lines = text.splitlines()
    summary: list[str] = []
    args: dict[str, str] = {}
    i = 0
    while i < len(lines) and not _SECTION.match(lines[i]):
        summary.append(lines[i])
        i += 1
    while i < len(lines):
        header = _SECTION.match(lines[i])
        i += 1
        in_args = header is not None and header.group(1) in {"Args", "Arguments", "Parameters"}
        current: str | None = None
        indent: int | None = None
        while i < len(lines) and not _SECTION.match(lines[i]):
            line = lines[i]
            i += 1
            if not in_args or not line.strip():
                continue
            depth = len(line) - len(line.lstrip())
            if indent is None:
                indent = depth
            found = _ARG.match(line.strip()) if depth == indent else None
            if found:
                current = found.group(1)
                args[current] = found.group(2).strip()
            elif current is not None:
                args[current] = f"{args[current]} {line.strip()}".strip()
    return "\n".join(summary).strip(), args


def _input_schema(func: Callable[..., Any], arg_docs: Mapping[str, str]) -> dict[str, Any]:
    hints = get_type_hints(func, include_extras=True)
    fields: dict[str, Any] = {}
    for param in inspect.signature(func).parameters.values():
        if param.kind in {param.VAR_POSITIONAL, param.VAR_KEYWORD}:
            raise TypeError(f"{func.__qualname__}: a tool takes named arguments, not *{param.name}")
        if param.name not in hints:
            raise TypeError(f"{func.__qualname__}: parameter {param.name!r} has no type hint")
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (hints[param.name], pydantic.Field(default, description=arg_docs.get(param.name)))
    try:
        model = pydantic.create_model("Arguments", __config__=pydantic.ConfigDict(extra="forbid"), **fields)
        schema: dict[str, Any] = model.model_json_schema(schema_generator=_Untitled)
    except pydantic.PydanticUserError as exc:
        raise TypeError(f"{func.__qualname__}: an argument type has no JSON Schema: {exc}") from None
    schema.setdefault("properties", {})
    return schema


def _output_schema(func: Callable[..., Any]) -> tuple[dict[str, Any] | None, bool]:
    returns = get_type_hints(func, include_extras=True).get("return", inspect.Signature.empty)
    if returns in {inspect.Signature.empty, None, type(None)}:
        return None, False
    try:
        schema = pydantic.TypeAdapter(returns).json_schema(schema_generator=_Untitled, mode="serialization")
    except pydantic.PydanticUserError as exc:
        raise TypeError(f"{func.__qualname__}: the return type has no JSON Schema: {exc}") from None
    if schema.get("type") == "object":
        return dict(schema), False
    defs = schema.pop("$defs", None)
    wrapped: dict[str, Any] = {"type": "object", "properties": {"result": schema}, "required": ["result"]}
    if defs:
        wrapped["$defs"] = defs
    return wrapped, True
