"""The quality metrics of spec/trust-score.md as SQL text, to run on DuckDB here or to push to another engine.

:func:`metric_sql` gives one ``SELECT`` over a table that returns one row of counts, the numerators and
denominators of every quality pillar; :func:`values_sql` the distinct values and counts a drift test needs. The
SQL is DuckDB's dialect; docs/guides/trust.md says what to change for Spark SQL.

Examples:
    >>> from aifabric.models.trust import DataContract
    >>> contract = DataContract(name="t", version="1.0.0", columns=[{"name": "x", "type": "string", "maxLength": 8}])
    >>> print(metric_sql(contract, "orders"))
    SELECT
      count(*) AS "rows",
      count(CASE WHEN NOT ("x" IS NULL) THEN 1 END) AS "present_0",
      count(CASE WHEN NOT ("x" IS NULL) AND (length(CAST("x" AS VARCHAR)) <= 8) THEN 1 END) AS "valid_0"
    FROM "orders"
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final, Literal

from aifabric.models.trust import ContractColumn, DataContract

__all__ = ["NUMBER_PATTERN", "TIMESTAMP_PATTERN", "column_kind", "metric_sql", "quote", "typed_sql", "values_sql"]

NUMBER_PATTERN: Final = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?"
"""The text form of a ``number`` value (matched in full)."""
TIMESTAMP_PATTERN: Final = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})?"
)
"""The text form of a ``timestamp`` value (matched in full): RFC 3339, the offset optional."""
_INTEGER_PATTERN: Final = r"[+-]?[0-9]+"
_DATE_PATTERN: Final = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"

Kind = Literal["integer", "float", "numeric", "boolean", "date", "timestamp", "text", "missing"]
_INTEGERS: Final = re.compile(r"^(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|INT[1248]|U?HUGEINT|LONG|SHORT)$")


def quote(name: str) -> str:
    """A SQL identifier for a column name: double-quoted, inner quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _number(value: float) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def column_kind(sql_type: str | None) -> Kind:
    """How a column is held, from its engine type (``None``: the data lacks it): number, text or other."""
    if sql_type is None:
        return "missing"
    upper = sql_type.upper()
    if _INTEGERS.match(upper):
        return "integer"
    if upper in ("FLOAT", "DOUBLE", "REAL", "FLOAT4", "FLOAT8"):
        return "float"
    if upper.startswith(("DECIMAL", "NUMERIC")):
        return "numeric"
    if upper in ("BOOLEAN", "BOOL"):
        return "boolean"
    if upper == "DATE":
        return "date"
    if upper.startswith("TIMESTAMP"):
        return "timestamp"
    return "text"


class _Column:
    """The SQL expressions of one contract column, given how the data holds it."""

    def __init__(self, column: ContractColumn, kind: Kind) -> None:
        self.column, self.kind = column, kind
        self.ref = "NULL" if kind == "missing" else quote(column.name)
        self.text = f"CAST({self.ref} AS VARCHAR)"

    @property
    def missing(self) -> str:
        if self.kind == "float":
            return f"({self.ref} IS NULL OR isnan({self.ref}))"
        return f"{self.ref} IS NULL"

    @property
    def number(self) -> str:
        if self.kind in ("integer", "float", "numeric"):
            return f"CAST({self.ref} AS DOUBLE)"
        return f"TRY_CAST({self.text} AS DOUBLE)"

    @property
    def conforms(self) -> str:
        kind, declared = self.kind, self.column.type
        numeric = kind in ("integer", "float", "numeric")
        if declared == "string":
            return "TRUE"
        if declared == "integer":
            if kind == "integer":
                return "TRUE"
            if numeric:
                return f"(isfinite({self.number}) AND {self.number} = floor({self.number}))"
            return "FALSE" if kind in ("boolean", "date", "timestamp") else self._matches(_INTEGER_PATTERN)
        if declared == "number":
            if numeric:
                return f"isfinite({self.number})"
            return "FALSE" if kind in ("boolean", "date", "timestamp") else self._matches(NUMBER_PATTERN)
        if declared == "boolean":
            if kind == "boolean":
                return "TRUE"
            return "FALSE" if kind != "text" else f"lower({self.text}) IN ('true', 'false')"
        if declared == "date":
            if kind == "date":
                return "TRUE"
            if kind != "text":
                return "FALSE"
            return f"({self._matches(_DATE_PATTERN)} AND TRY_CAST({self.text} AS DATE) IS NOT NULL)"
        if kind == "timestamp":
            return "TRUE"
        if kind != "text":
            return "FALSE"
        return f"({self._matches(TIMESTAMP_PATTERN)} AND TRY_CAST(upper({self.text}) AS TIMESTAMPTZ) IS NOT NULL)"

    def _matches(self, pattern: str) -> str:
        return f"regexp_full_match({self.text}, {_literal(pattern)})"

    @property
    def constraints(self) -> list[str]:
        column, out = self.column, []
        if column.min is not None:
            out.append(f"{self.number} >= {_number(column.min)}")
        if column.max is not None:
            out.append(f"{self.number} <= {_number(column.max)}")
        if column.allowed_values is not None:
            out.append(f"{self.text} IN ({', '.join(_literal(v) for v in column.allowed_values)})")
        if column.pattern is not None:
            out.append(f"regexp_full_match({self.text}, {_literal(column.pattern)})")
        if column.min_length is not None:
            out.append(f"length({self.text}) >= {column.min_length}")
        if column.max_length is not None:
            out.append(f"length({self.text}) <= {column.max_length}")
        return out

    @property
    def valid(self) -> str:
        parts = [f"NOT ({self.missing})", f"({self.conforms})", *(f"({c})" for c in self.constraints)]
        return " AND ".join(part for part in parts if part != "(TRUE)")

    @property
    def typed(self) -> str:
        """The value as its contract type's SQL value, or NULL when missing or not conforming (TRUST-027)."""
        declared, native = self.column.type, self.kind in ("integer", "float", "numeric", "date", "timestamp")
        if declared == "integer":
            value = f"TRY_CAST({self.ref if native else self.text} AS BIGINT)"
        elif declared == "number":
            value = self.number
        elif declared == "boolean":
            value = self.ref if self.kind == "boolean" else f"lower({self.text}) = 'true'"
        elif declared == "date":
            value = self.ref if self.kind == "date" else f"TRY_CAST({self.text} AS DATE)"
        elif declared == "timestamp":
            value = f"CAST({self.ref} AS TIMESTAMPTZ)" if native else f"TRY_CAST(upper({self.text}) AS TIMESTAMPTZ)"
        else:
            value = self.text
        return f"CASE WHEN NOT ({self.missing}) AND {self.conforms} THEN {value} END AS {quote(self.column.name)}"

    @property
    def epoch_us(self) -> str:
        """Microseconds since the epoch of a conforming timestamp or date value (a date at midnight UTC)."""
        if self.kind in ("timestamp", "date"):
            return f"epoch_us(CAST({self.ref} AS TIMESTAMPTZ))"
        if self.column.type == "date":
            return f"epoch_us(CAST(TRY_CAST({self.text} AS DATE) AS TIMESTAMPTZ))"
        return f"epoch_us(TRY_CAST(upper({self.text}) AS TIMESTAMPTZ))"


def _columns(contract: DataContract, types: Mapping[str, str | None] | None) -> list[_Column]:
    def kind(name: str) -> Kind:
        if types is None:
            return "text"
        return column_kind(types.get(name))

    return [_Column(column, kind(column.name)) for column in contract.columns]


def metric_sql(contract: DataContract, table: str, *, types: Mapping[str, str | None] | None = None) -> str:
    """One ``SELECT`` over ``table`` whose one row holds every count the quality pillars are computed from.

    ``types`` maps a column to its engine type (``None``: the data lacks it); without it every column is read as
    text, as a CSV file is. Result columns: ``rows``; per contract column *i* ``present_i`` and ``valid_i``, and
    ``distinct_i`` for a unique one; ``key_rows`` and ``key_distinct`` for a primary key; ``latest_us`` for the
    freshness column; per rule *j* ``pass_j`` and ``evaluated_j``, counted over :func:`typed_sql`.
    """
    columns = _columns(contract, types)
    by_name = {c.column.name: c for c in columns}
    out = ['count(*) AS "rows"']
    for i, col in enumerate(columns):
        out.append(f'count(CASE WHEN NOT ({col.missing}) THEN 1 END) AS "present_{i}"')
        out.append(f'count(CASE WHEN {col.valid} THEN 1 END) AS "valid_{i}"')
        if col.column.unique:
            out.append(f'count(DISTINCT CASE WHEN NOT ({col.missing}) THEN {col.ref} END) AS "distinct_{i}"')
    if contract.primary_key:
        keys = [by_name[name] for name in contract.primary_key]
        present = " AND ".join(f"NOT ({k.missing})" for k in keys)
        out.append(f'count(CASE WHEN {present} THEN 1 END) AS "key_rows"')
        listed = ", ".join(k.ref for k in keys)
        out.append(
            f"(SELECT count(*) FROM (SELECT DISTINCT {listed} FROM {quote(table)} WHERE {present}))"  # noqa: S608
            ' AS "key_distinct"'
        )
    if contract.freshness is not None:
        col = by_name[contract.freshness.column]
        out.append(f'max(CASE WHEN NOT ({col.missing}) AND {col.conforms} THEN {col.epoch_us} END) AS "latest_us"')
    sql = "SELECT\n  " + ",\n  ".join(out) + f"\nFROM {quote(table)}"
    if not contract.rules:
        return sql
    rules = []
    for j, rule in enumerate(contract.rules):
        rules.append(f'count(CASE WHEN ({rule.expression}) THEN 1 END) AS "pass_{j}"')
        rules.append(f'count(CASE WHEN ({rule.expression}) IS NOT NULL THEN 1 END) AS "evaluated_{j}"')
    typed = typed_sql(contract, table, types=types)
    return (
        f"SELECT * FROM ({sql}) AS quality CROSS JOIN (SELECT\n  "  # noqa: S608 - rules are SQL by design
        + ",\n  ".join(rules)
        + f"\nFROM ({typed}) AS typed) AS rules"
    )


def typed_sql(contract: DataContract, table: str, *, types: Mapping[str, str | None] | None = None) -> str:
    """A ``SELECT`` of the contract columns of ``table`` typed as the contract says, the rules' input (TRUST-027).

    A value that is missing or does not conform to its type is NULL; an integer is a ``BIGINT``, a number a
    ``DOUBLE``, a timestamp a ``TIMESTAMPTZ``.
    """
    listed = ",\n  ".join(col.typed for col in _columns(contract, types))
    return f"SELECT\n  {listed}\nFROM {quote(table)}"


def values_sql(
    column: ContractColumn,
    table: str,
    *,
    as_number: bool,
    sql_type: str | None = None,
    typed: bool = True,
    grouped: bool = True,
) -> str:
    """The distinct conforming values of one column in ``table`` with their counts, as ``value, n`` rows.

    Values are numbers (``DOUBLE``, in ascending order) when ``as_number``, else text (Booleans as ``true`` and
    ``false``). ``typed`` says whether ``sql_type`` is known; without it the column is read as text. Without
    ``grouped`` the rows are every conforming value, ``value`` alone, unordered: where nearly every value is
    distinct, sorting them is cheaper than grouping them.
    """
    col = _Column(column, column_kind(sql_type) if typed else "text")
    if as_number:
        value = col.number
    elif column.type == "boolean":
        value = f"lower({col.text})"
    else:
        value = col.text
    where = f"FROM {quote(table)} WHERE NOT ({col.missing}) AND {col.conforms}"
    if not grouped:
        return f"SELECT {value} AS value {where}"
    return f"SELECT {value} AS value, count(*) AS n {where} GROUP BY 1" + (" ORDER BY 1" if as_number else "")
