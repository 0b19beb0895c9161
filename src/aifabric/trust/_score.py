"""The reference computation of a trust score: DuckDB counts, numpy drift statistics, exact rational pillars."""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from aifabric._errors import DocumentError, Problem, ValidationError
from aifabric._ids import utc_now, uuid7
from aifabric.canonical import digest
from aifabric.models.common import ResourceRef
from aifabric.models.trust import (
    CONTRACT_SCHEMA_URL,
    PILLARS,
    ContractColumn,
    DataContract,
    DataContractRef,
    Evidence,
    Pillar,
    TrustMethod,
    TrustScore,
)
from aifabric.trust import stats
from aifabric.trust._contract import check_contract
from aifabric.trust.sql import metric_sql, quote, typed_sql, values_sql

if TYPE_CHECKING:
    import duckdb

__all__ = ["DATA_VIEW", "REFERENCE_VIEW", "DataSource", "connect", "drift", "infer_contract", "open_view", "score"]

DataSource = Any
"""A path (CSV or Parquet, globs allowed), a pandas DataFrame, a pyarrow Table or anything DuckDB can scan."""

METHOD: Final = TrustMethod(name="aifabric-trust", version="1.0.0")
MAPPING: Final = {
    "completeness": (["completeness"], ["MEASURE 2.1"]),
    "validity": (["accuracy", "compliance", "precision"], ["MEASURE 2.5"]),
    "uniqueness": (["consistency", "efficiency"], ["MEASURE 2.5"]),
    "freshness": (["currentness"], ["MEASURE 2.4"]),
    "consistency": (["consistency"], ["MEASURE 2.5"]),
    "drift": (["accuracy", "currentness"], ["MEASURE 2.4"]),
    "lineage": (["traceability"], ["MEASURE 2.8"]),
    "documentation": (["understandability", "compliance"], ["MEASURE 2.8", "MEASURE 2.9"]),
}
"""Each pillar's ISO/IEC 25012 characteristics and NIST AI RMF subcategories (TRUST-013)."""
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
DATA_VIEW: Final = "aifabric_data"
REFERENCE_VIEW: Final = "aifabric_reference"


@dataclass(frozen=True, slots=True)
class _Opened:
    label: str
    digest: dict[str, str] | None
    types: dict[str, str]


def connect() -> duckdb.DuckDBPyConnection:
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")  # a timestamp without an offset is UTC (TRUST-006)
    # Parquet min/max statistics leave NaN out, and DuckDB's statistics propagation then folds isnan() to false.
    con.execute("SET disabled_optimizers = 'statistics_propagation'")
    return con


def _file_digest(path: Path) -> dict[str, str]:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
    return {"sha256": sha.hexdigest()}


def open_view(con: duckdb.DuckDBPyConnection, data: DataSource, view: str, contract: DataContract | None) -> _Opened:
    """Make ``view`` the data's contract columns (TRUST-006, TRUST-007); CSV is read as text, nothing guessed."""
    import duckdb

    raw = f"{view}_raw"
    label, found_digest = "<memory>", None
    if isinstance(data, str | os.PathLike):
        path = Path(data)
        label = str(path)
        suffix = path.suffix.lower()
        is_glob = any(ch in path.name for ch in "*?[")
        if not is_glob and not path.is_file():
            raise DocumentError("cannot read: no such file", source=label, rule="read")
        location = "'" + label.replace("'", "''") + "'"
        if suffix in (".csv", ".tsv"):
            delimiter = "\\t" if suffix == ".tsv" else ","
            reader = f"read_csv({location}, header = true, all_varchar = true, delim = '{delimiter}')"
        elif suffix in (".parquet", ".pq"):
            reader = f"read_parquet({location})"
        else:
            raise DocumentError("cannot read: not a .csv, .tsv or .parquet file", source=label, rule="read")
        if not is_glob:
            found_digest = _file_digest(path)
        sql = f"CREATE VIEW {quote(raw)} AS SELECT * FROM {reader}"  # noqa: S608 - quoted identifier and literal
    else:
        try:
            con.register(raw, data)
        except (duckdb.Error, TypeError, ValueError) as exc:
            raise DocumentError(f"cannot read {type(data).__name__}: {exc}", source=label, rule="read") from None
        sql = None
    try:
        if sql is not None:
            con.execute(sql)
        present = {row[0]: row[1] for row in con.execute(f"DESCRIBE {quote(raw)}").fetchall()}
    except duckdb.Error as exc:
        raise DocumentError(f"cannot read: {_first_line(exc)}", source=label, rule="read") from None
    names = [c.name for c in contract.columns] if contract else list(present)
    listed = ", ".join(
        f"{quote(name)}" if name in present else f"CAST(NULL AS VARCHAR) AS {quote(name)}" for name in names
    )
    con.execute(f"CREATE VIEW {quote(view)} AS SELECT {listed} FROM {quote(raw)}")  # noqa: S608 - identifiers
    types = {row[0]: row[1] for row in con.execute(f"DESCRIBE {quote(view)}").fetchall()}
    return _Opened(label, found_digest, types)


@contextmanager
def _scanning(*opened: _Opened) -> Iterator[None]:
    """A file that turns out unreadable part-way through a scan is a ``DocumentError`` naming the files read."""
    import duckdb

    try:
        yield
    except duckdb.Error as exc:
        label = " or ".join(o.label for o in opened)
        raise DocumentError(f"cannot read: {_first_line(exc)}", source=label, rule="read") from None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _round6(value: Fraction) -> Fraction:
    return round(value, 6)


def _number(value: Fraction) -> int | float:
    return int(value) if value.denominator == 1 else float(value)


def _ratio(numerator: int, denominator: int) -> Fraction | None:
    return None if denominator == 0 else Fraction(numerator, denominator)


def _measure(metric: str, numerator: int, denominator: int, **members: Any) -> Evidence:
    ratio = _ratio(numerator, denominator)
    value = None if ratio is None else _number(_round6(ratio))
    return Evidence.model_validate(
        {"metric": metric, "numerator": numerator, "denominator": denominator, "value": value, **members}
    )


def _as_of_us(as_of: datetime | str | None) -> tuple[str, int]:
    if as_of is None:
        as_of = utc_now()
    if isinstance(as_of, str):
        try:
            parsed = datetime.fromisoformat(as_of.upper().replace("Z", "+00:00"))
        except ValueError:
            raise DocumentError(f"as_of {as_of!r} is not an RFC 3339 date-time", rule="asOf") from None
    else:
        parsed = as_of
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)  # without an offset: UTC (TRUST-006)
    text = parsed.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return text, (parsed - _EPOCH) // timedelta(microseconds=1)


def _check_rules(con: duckdb.DuckDBPyConnection, contract: DataContract, types: Mapping[str, str]) -> None:
    """Each rule names contract columns only and is a boolean expression (TRUST-003, TRUST-027)."""
    import duckdb

    problems = []
    typed = typed_sql(contract, DATA_VIEW, types=types)
    names = {column.name for column in contract.columns}
    for j, rule in enumerate(contract.rules or []):
        found = _rule_problem(con, rule.expression, names)
        if found is not None:
            problems.append(Problem(f"/rules/{j}/expression", "expression", f"{found} [TRUST-027]"))
            continue
        try:
            sql = f"SELECT count(CASE WHEN ({rule.expression}) THEN 1 END) FROM ({typed}) AS typed LIMIT 0"  # noqa: S608
            con.execute(sql)  # a rule is SQL by design (TRUST-027)
        except duckdb.Error as exc:
            problems.append(Problem(f"/rules/{j}/expression", "expression", f"{_first_line(exc)} [TRUST-027]"))
    if problems:
        raise ValidationError(problems, schema_url=CONTRACT_SCHEMA_URL)


_FUNCTIONS: Final = frozenset({"+", "-", "*", "/", "%", "abs", "length", "lower", "upper", "~~", "!~~"})
"""The functions a rule may call (TRUST-027): arithmetic, ABS, LENGTH, LOWER, UPPER and LIKE, as DuckDB names them."""


def _rule_problem(con: duckdb.DuckDBPyConnection, expression: str, columns: set[str]) -> str | None:
    """Why a rule is not one scalar expression over contract columns, or None (TRUST-003, TRUST-027).

    A rule is SQL by design, so it is parsed first: a second statement, a subquery (and with it any table or file)
    or a function other than those TRUST-027 allows is refused before anything runs it.
    """
    import json

    (serialized,) = con.execute("SELECT json_serialize_sql(?)", ["SELECT " + expression]).fetchall()[0]
    tree = json.loads(serialized)
    if tree.get("error"):
        return f"not an SQL expression: {tree.get('error_message', 'it does not parse')}"
    statements = tree.get("statements", [])
    node = statements[0].get("node", {}) if len(statements) == 1 else {}
    if (
        node.get("type") != "SELECT_NODE"
        or len(node.get("select_list", [])) != 1
        or (node.get("from_table") or {}).get("type") != "EMPTY"
        or any(node.get(k) for k in ("where_clause", "having", "qualify", "group_expressions", "modifiers"))
    ):
        return "not one expression: a rule is a single boolean expression, without a statement around it"
    stack: list[Any] = [node["select_list"][0]]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            kind = item.get("class")
            if kind == "SUBQUERY":
                return "a subquery: a rule reads the row it is evaluated on, nothing else"
            if kind == "COLUMN_REF" and (item.get("column_names") or [""])[-1] not in columns:
                return f"names {'.'.join(item.get('column_names') or [])}, not a column of the contract"
            if kind == "FUNCTION" and str(item.get("function_name", "")).lower() not in _FUNCTIONS:
                return f"calls {item.get('function_name')}, which TRUST-027 does not allow"
            stack.extend(item.values())
    return None


def _quality(
    con: duckdb.DuckDBPyConnection, contract: DataContract, types: Mapping[str, str], as_of_us: int
) -> tuple[int, dict[str, tuple[Fraction | None, list[Evidence]]]]:
    import duckdb

    try:
        cursor = con.execute(metric_sql(contract, DATA_VIEW, types=types))
        (row,) = cursor.fetchall()  # an aggregate without GROUP BY: one row; fetched to the end for DuckDB
    except duckdb.Error as exc:
        raise DocumentError(f"cannot compute the metrics: {_first_line(exc)}", rule="compute") from None
    assert cursor.description is not None
    counts: dict[str, Any] = {d[0]: v for d, v in zip(cursor.description, row, strict=True)}
    n = int(counts["rows"])
    cols = contract.columns
    out: dict[str, tuple[Fraction | None, list[Evidence]]] = {}

    present = [int(counts[f"present_{i}"]) for i in range(len(cols))]
    evidence = [_measure("completeness", p, n, column=c.name) for c, p in zip(cols, present, strict=True)]
    out["completeness"] = (_ratio(sum(present), n * len(cols)), evidence)

    valid = [int(counts[f"valid_{i}"]) for i in range(len(cols))]
    evidence = [_measure("validity", v, p, column=c.name) for c, v, p in zip(cols, valid, present, strict=True)]
    out["validity"] = (_ratio(sum(valid), sum(present)), evidence)

    num = den = 0
    evidence = []
    for i, column in enumerate(cols):
        if column.unique:
            distinct = int(counts[f"distinct_{i}"])
            evidence.append(_measure("uniqueness", distinct, present[i], column=column.name))
            num, den = num + distinct, den + present[i]
    if contract.primary_key:
        distinct, rows = int(counts["key_distinct"]), int(counts["key_rows"])
        evidence.append(_measure("uniqueness", distinct, rows, column=",".join(contract.primary_key)[:256]))
        num, den = num + distinct, den + rows
    out["uniqueness"] = (_ratio(num, den), evidence)

    if contract.freshness is None:
        out["freshness"] = (None, [])
    else:
        sla_us = contract.freshness.max_age_s * 1_000_000
        latest = counts["latest_us"]
        if latest is None:
            value = Fraction(0)
            evidence = [Evidence(metric="freshness", column=contract.freshness.column, value=0, reason="no value")]
        else:
            age = as_of_us - int(latest)
            value = Fraction(1) if age <= sla_us else max(Fraction(0), 1 - Fraction(age - sla_us, sla_us))
            evidence = [
                Evidence(
                    metric="freshness",
                    column=contract.freshness.column,
                    value=_number(_round6(value)),
                    ageS=_number(Fraction(age, 1_000_000)),
                    threshold=contract.freshness.max_age_s,
                )
            ]
        out["freshness"] = (value, evidence)

    num = den = 0
    evidence = []
    for j, rule in enumerate(contract.rules or []):
        passed, evaluated = int(counts[f"pass_{j}"]), int(counts[f"evaluated_{j}"])
        evidence.append(_measure("consistency", passed, evaluated, rule=rule.name))
        num, den = num + passed, den + evaluated
    out["consistency"] = (_ratio(num, den), evidence)

    sourced = [bool(c.sources) for c in cols]
    evidence = [_measure("lineage", int(s), 1, column=c.name) for c, s in zip(cols, sourced, strict=True)]
    out["lineage"] = (_ratio(sum(sourced), len(cols)), evidence)

    members = [contract.description, contract.owner, contract.license, contract.classification]
    documented = sum(m is not None for m in members) + sum(c.description is not None for c in cols)
    evidence = [_measure("documentation", documented, 4 + len(cols))]
    out["documentation"] = (_ratio(documented, 4 + len(cols)), evidence)
    return n, out


def _values(
    con: duckdb.DuckDBPyConnection, column: ContractColumn, view: str, types: Mapping[str, str], *, as_number: bool
) -> tuple[stats.Values, stats.Counts | None]:
    """A column's conforming values: every number (counts None, unsorted) or the distinct texts with counts."""
    sql_type = types.get(column.name)
    if as_number:  # numbers are often nearly all distinct: sorting them (in a worker) beats grouping them here
        sql = values_sql(column, view, as_number=True, sql_type=sql_type, grouped=False)
        return np.asarray(con.execute(sql).fetchnumpy()["value"], dtype=np.float64), None
    fetched = con.execute(values_sql(column, view, as_number=False, sql_type=sql_type)).fetchnumpy()
    return np.asarray(fetched["value"]).astype(object), np.asarray(fetched["n"]).astype(np.int64)


def _distinct(values: stats.Values, counts: stats.Counts | None) -> tuple[stats.Values, stats.Counts]:
    """Distinct values with their counts; numbers ascending."""
    if counts is not None:
        return values, counts
    values = np.sort(values)
    starts = np.flatnonzero(np.concatenate([[True], values[1:] != values[:-1]])[: len(values)])
    return values[starts], np.diff(np.append(starts, len(values))).astype(np.int64)


@dataclass(frozen=True, slots=True)
class _DriftSettings:
    small: int
    p_value: float
    distance: float
    psi: float
    max_distinct: int
    bins: int

    @classmethod
    def of(cls, contract: DataContract) -> _DriftSettings:
        given = contract.drift

        def pick(value: Any, default: Any) -> Any:
            return default if value is None else value

        return cls(
            small=pick(given and given.small_sample_max, 1000),
            p_value=pick(given and given.p_value, 0.05),
            distance=pick(given and given.distance, 0.1),
            psi=pick(given and given.psi, 0.1),
            max_distinct=pick(given and given.categorical_max_distinct, 5),
            bins=pick(given and given.bins, 10),
        )


def _drift_columns(
    con: duckdb.DuckDBPyConnection,
    contract: DataContract,
    data_types: Mapping[str, str],
    ref_types: Mapping[str, str],
) -> list[Evidence]:
    """One drift measurement per contract column, tested or with the reason it is not (TRUST-031 to TRUST-039).

    The engine reads one column at a time here while worker threads sort and test the columns read before it
    (numpy lets go of the GIL); at most one column per worker waits, so memory stays a few columns' worth.
    """
    settings = _DriftSettings.of(contract)
    workers = os.cpu_count() or 1
    out: list[Evidence | Future[Evidence]] = []
    with ThreadPoolExecutor(workers) as pool:
        for column in contract.columns:
            chosen = column.drift.method if column.drift else None
            if chosen == "none":
                out.append(Evidence(metric="drift", column=column.name, reason="drift method none"))
                continue
            if column.type in ("date", "timestamp") and chosen is None:
                out.append(Evidence(metric="drift", column=column.name, reason=f"a {column.type} column"))
                continue
            numeric = column.type in ("integer", "number")
            ref = _values(con, column, REFERENCE_VIEW, ref_types, as_number=numeric)
            cur = _values(con, column, DATA_VIEW, data_types, as_number=numeric)
            pending = [f for f in out if isinstance(f, Future) and not f.done()]
            if len(pending) >= workers:
                wait(pending, return_when=FIRST_COMPLETED)
            out.append(pool.submit(_drift_one, column, chosen, numeric, ref, cur, settings))
        return [item.result() if isinstance(item, Future) else item for item in out]


def _drift_one(
    column: ContractColumn,
    chosen: str | None,
    numeric: bool,
    ref_read: tuple[stats.Values, stats.Counts | None],
    cur_read: tuple[stats.Values, stats.Counts | None],
    settings: _DriftSettings,
) -> Evidence:
    """The drift measurement of one column from the values read of it."""
    ref, cur = _distinct(*ref_read), _distinct(*cur_read)
    m, n = int(ref[1].sum()), int(cur[1].sum())
    if m == 0 or n == 0:
        side = "the reference" if m == 0 else "the data"
        return Evidence(
            metric="drift", column=column.name, referenceCount=m, currentCount=n, reason=f"{side} has no value to test"
        )
    categorical = not numeric or len(ref[0]) <= settings.max_distinct
    if chosen is None:
        if categorical:
            chosen = "chisquare" if m <= settings.small else "jensenshannon"
        else:
            chosen = "ks" if m <= settings.small else "wasserstein"
    members: dict[str, Any] = {"metric": "drift", "column": column.name, "method": chosen}
    given = column.drift.threshold if column.drift and column.drift.threshold else None
    if chosen in ("ks", "chisquare"):
        result = stats.ks_counts(*ref, *cur) if chosen == "ks" else stats.chi_square_counts(*ref, *cur)
        threshold = given or settings.p_value
        members.update(statistic=result.statistic, pValue=result.p_value, drifted=result.p_value < threshold)
    else:
        if chosen == "wasserstein":
            value = stats.wasserstein_normed_counts(*ref, *cur)
        elif chosen == "jensenshannon":
            value = stats.jensen_shannon_counts(*ref, *cur)
        elif categorical:
            value = stats.psi_categorical_counts(*ref, *cur)
        else:
            value = stats.psi_numerical_counts(*ref, *cur, bins=settings.bins)
        threshold = given or (settings.psi if chosen == "psi" else settings.distance)
        members["drifted"] = value >= threshold
        if math.isinf(value):
            members["reason"] = "the reference values are all equal and the data's are not"
        else:
            members["statistic"] = value
    if categorical:
        psi = stats.psi_categorical_counts(*ref, *cur)
        members["unseen"] = len(np.setdiff1d(cur[0], ref[0]))
    else:
        psi = stats.psi_numerical_counts(*ref, *cur, bins=settings.bins)
    members.update(threshold=threshold, psi=psi, referenceCount=m, currentCount=n)
    return Evidence.model_validate(members)


def infer_contract(data: DataSource) -> DataContract:
    """A contract of every column of the data, for drift without a contract.

    A column is typed from how the data holds it; a text column (all of a CSV file) is an ``integer`` or a
    ``number`` column when every value it has is one, else a ``string`` column.
    """
    from aifabric.trust.sql import NUMBER_PATTERN, column_kind

    mapped = {"integer": "integer", "float": "number", "numeric": "number", "boolean": "boolean"}
    mapped |= {"date": "date", "timestamp": "timestamp"}
    con = connect()
    try:
        opened = open_view(con, data, DATA_VIEW, None)
        columns = []
        for name, sql_type in opened.types.items():
            kind = mapped.get(column_kind(sql_type), "string")
            if column_kind(sql_type) == "text":
                text = f"CAST({quote(name)} AS VARCHAR)"
                integers = f"count(CASE WHEN regexp_full_match({text}, '[+-]?[0-9]+') THEN 1 END)"
                numbers = f"count(CASE WHEN regexp_full_match({text}, '{NUMBER_PATTERN}') THEN 1 END)"
                sql = f"SELECT count({text}), {integers}, {numbers} FROM {quote(DATA_VIEW)}"  # noqa: S608 - identifiers
                (found,) = con.execute(sql).fetchall()
                if found[0] > 0:
                    kind = "integer" if found[1] == found[0] else "number" if found[2] == found[0] else kind
            columns.append(ContractColumn.model_validate({"name": name, "type": kind}))
    finally:
        con.close()
    if not columns:
        raise DocumentError("the data has no columns", source=opened.label, rule="read")
    return DataContract(name="inferred", version="0.0.0", columns=columns)


def drift(data: DataSource, reference: DataSource, *, contract: DataContract | None = None) -> list[Evidence]:
    """Test each contract column of the data for drift from the reference (every column, without a contract).

    Raises:
        DocumentError: the data or the reference cannot be read.
        ValidationError: the contract breaks a rule its schema cannot state (TRUST-005).
    """
    contract = contract or infer_contract(reference)
    check_contract(contract)
    con = connect()
    try:
        data_opened = open_view(con, data, DATA_VIEW, contract)
        ref_opened = open_view(con, reference, REFERENCE_VIEW, contract)
        with _scanning(data_opened, ref_opened):
            return _drift_columns(con, contract, data_opened.types, ref_opened.types)
    finally:
        con.close()


def _subject(opened: _Opened, given: ResourceRef | None, contract: DataContract) -> ResourceRef:
    if given is not None:
        return given
    if opened.label == "<memory>" and contract.dataset is not None:
        return ResourceRef(type="dataset", name=contract.dataset.name, namespace=contract.dataset.namespace)
    name = contract.name if opened.label == "<memory>" else opened.label
    return ResourceRef(type="dataset", name=name, digest=opened.digest)


def score(
    data: DataSource,
    contract: DataContract,
    reference: DataSource | None = None,
    *,
    as_of: datetime | str | None = None,
    subject: ResourceRef | None = None,
    reference_subject: ResourceRef | None = None,
) -> TrustScore:
    """Compute the trust score of the data under the contract, with drift from the reference when given.

    ``as_of`` is the time freshness is measured at (default: now); ``subject`` names the data (default: the file
    and its digest, or the contract's dataset).

    Raises:
        DocumentError: the data or the reference cannot be read.
        ValidationError: the contract breaks a rule its schema cannot state (TRUST-005).
    """
    check_contract(contract)
    as_of_text, as_of_us = _as_of_us(as_of)
    con = connect()
    try:
        opened = open_view(con, data, DATA_VIEW, contract)
        _check_rules(con, contract, opened.types)
        rows, pillars = _quality(con, contract, opened.types, as_of_us)
        ref_opened = None
        if reference is not None:
            ref_opened = open_view(con, reference, REFERENCE_VIEW, contract)
            with _scanning(opened, ref_opened):
                evidence = _drift_columns(con, contract, opened.types, ref_opened.types)
                sql = f"SELECT count(*) FROM {quote(REFERENCE_VIEW)}"  # noqa: S608 - identifier
                reference_rows = int(con.execute(sql).fetchall()[0][0])
            tested = [e for e in evidence if e.drifted is not None]
            steady = sum(not e.drifted for e in tested)
            pillars["drift"] = (_ratio(steady, len(tested)), evidence)
        else:
            pillars["drift"] = (None, [])
    finally:
        con.close()
    weights = contract.weights or {}
    built, numerator, denominator = [], Fraction(0), Fraction(0)
    reasons = {
        "completeness": "the data has no rows",
        "validity": "no value to check",
        "uniqueness": "no column is unique and there is no primary key",
        "freshness": "the contract has no freshness SLA",
        "consistency": "no rule could be evaluated",
        "drift": "no reference, or no column tested",
    }
    for name in PILLARS:
        value, evidence = pillars[name]
        weight = weights.get(name, 1)
        iso, nist = MAPPING[name]
        members: dict[str, Any] = {"name": name, "weight": weight, "iso25012": iso, "nistAiRmf": nist}
        if value is None:
            evidence = [*evidence, Evidence(metric=name, reason=reasons[name])]
        else:
            rounded = _round6(value)
            members["score"] = _number(rounded)
            if weight > 0:
                exact_weight = Fraction(Decimal(repr(weight)))
                numerator += exact_weight * rounded
                denominator += exact_weight
        members["evidence"] = evidence
        built.append(Pillar.model_validate(members))
    total = None if denominator == 0 else round(100 * numerator / denominator, 2)
    doc: dict[str, Any] = {
        "id": uuid7(),
        "subject": _subject(opened, subject, contract),
        "method": METHOD,
        "contract": DataContractRef(name=contract.name, version=contract.version, digest=digest(contract.to_json())),
        "computedAt": utc_now(),
        "asOf": as_of_text,
        "rows": rows,
        "pillars": built,
        "grade": _grade(total),
    }
    if total is not None:
        doc["score"] = _number(total)
    if contract.min_score is not None and total is not None:
        doc["passed"] = total >= Fraction(Decimal(repr(contract.min_score)))
    if ref_opened is not None:
        doc["reference"] = reference_subject or ResourceRef(
            type="dataset",
            name=ref_opened.label if ref_opened.label != "<memory>" else "reference",
            digest=ref_opened.digest,
        )
        doc["referenceRows"] = reference_rows
    return TrustScore.model_validate(doc)


def _grade(total: Fraction | None) -> str:
    if total is None:
        return "N/A"
    for bound, grade in ((90, "A"), (80, "B"), (70, "C"), (60, "D")):
        if total >= bound:
            return grade
    return "F"
