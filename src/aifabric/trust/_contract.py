"""Reading a data contract and checking the rules its schema cannot state (TRUST-003, TRUST-004, TRUST-033)."""

from __future__ import annotations

import os
import re
from typing import Final

from aifabric._errors import Problem, ValidationError
from aifabric.models.trust import CONTRACT_SCHEMA_URL, DataContract

__all__ = ["check_contract", "load_contract"]

_NOT_RE2: Final = re.compile(r"\(\?[=!<]|\\[1-9]|\(\?P=|\\[kg]<")
"""Look-arounds and back-references: in ECMA-262 but not in RE2, so not in their common subset."""


def load_contract(source: str | os.PathLike[str] | bytes, *, fmt: str | None = None) -> DataContract:
    """Read one data contract from a file, or from YAML or JSON text, and check it (:func:`check_contract`).

    Raises:
        DocumentError: the input cannot be read or parsed, or holds other than exactly one document.
        ValidationError: the document is not a valid data contract; ``problems`` has every finding.
    """
    contract = DataContract.read(source, fmt=fmt)
    name = source if isinstance(source, str) and "\n" not in source else None
    check_contract(contract, source=os.fspath(source) if isinstance(source, os.PathLike) else name)
    return contract


def check_contract(contract: DataContract, *, source: str | None = None) -> None:
    """Check what the schema leaves to the implementation: names, references, and constraints fit for the type.

    Raises:
        ValidationError: each problem with its JSON pointer and rule (TRUST-005).
    """
    problems: list[Problem] = []

    def add(pointer: str, rule: str, message: str) -> None:
        problems.append(Problem(pointer, rule, message, source))

    types: dict[str, str] = {}
    for i, column in enumerate(contract.columns):
        at = f"/columns/{i}"
        if column.name in types:
            add(f"{at}/name", "unique-name", f"column {column.name!r} is listed twice [TRUST-003]")
        types.setdefault(column.name, column.type)
        numeric, text = column.type in ("integer", "number"), column.type == "string"
        for member, value, fits in (
            ("min", column.min, numeric),
            ("max", column.max, numeric),
            ("allowedValues", column.allowed_values, text),
            ("pattern", column.pattern, text),
            ("minLength", column.min_length, text),
            ("maxLength", column.max_length, text),
        ):
            if value is not None and not fits:
                add(f"{at}/{member}", "type", f"{member} does not apply to a {column.type} column [TRUST-004]")
        if column.min is not None and column.max is not None and column.min > column.max:
            add(f"{at}/min", "range", "min is greater than max [TRUST-004]")
        if column.min_length is not None and column.max_length is not None and column.min_length > column.max_length:
            add(f"{at}/minLength", "range", "minLength is greater than maxLength [TRUST-004]")
        if column.pattern is not None:
            try:
                re.compile(column.pattern)
            except re.error as exc:
                add(f"{at}/pattern", "pattern", f"not a regular expression: {exc} [TRUST-004]")
            else:
                if _NOT_RE2.search(column.pattern):
                    add(f"{at}/pattern", "pattern", "look-arounds and back-references are not in RE2 [TRUST-004]")
        method = column.drift.method if column.drift else None
        if method in ("ks", "wasserstein") and not numeric:
            add(f"{at}/drift/method", "type", f"{method} tests integer and number columns only [TRUST-033]")
    for i, name in enumerate(contract.primary_key or []):
        if name not in types:
            add(f"/primaryKey/{i}", "column", f"{name!r} is not a contract column [TRUST-003]")
    if contract.freshness is not None:
        name = contract.freshness.column
        if name not in types:
            add("/freshness/column", "column", f"{name!r} is not a contract column [TRUST-003]")
        elif types[name] not in ("timestamp", "date"):
            add("/freshness/column", "type", f"{name!r} is not a timestamp or date column [TRUST-025]")
    if problems:
        raise ValidationError(problems, source=source, schema_url=CONTRACT_SCHEMA_URL)
