"""The reference computation of the Data Trust Score: the hand-checked cases, inputs of every kind, contract rules."""

from __future__ import annotations

import copy
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pytest

duckdb = pytest.importorskip("duckdb")
pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from aifabric import DocumentError, ValidationError, validate  # noqa: E402 - after the optional imports
from aifabric.canonical import digest  # noqa: E402
from aifabric.models.trust import PILLARS, DataContract, TrustScore  # noqa: E402
from aifabric.trust import check_contract, drift, load_contract, metric_sql, score, typed_sql  # noqa: E402

ROOT = Path(__file__).parent.parent
CASES_DIR = ROOT / "conformance/trust"
VECTOR = json.loads((ROOT / "conformance/vectors/trust-score/computation.json").read_text())
CASES = [case for case in VECTOR["cases"] if case["valid"]]
AS_OF = "2026-11-23T09:00:00Z"
TOLERANCE = 1e-9  # TRUST-042


def _case(name: str) -> dict[str, Any]:
    """The input of the valid computation vector whose description starts with ``name``."""
    case = next(case for case in CASES if case["description"].startswith(name))
    return {**case["data"], "expected": case["expected"]}


def _files(case: dict[str, Any], folder: Path) -> tuple[Path, Path | None]:
    """Write a case's CSV data and reference (where it has one) to files."""
    paths: list[Path | None] = []
    for name in ("data", "reference"):
        paths.append(folder / f"{name}.csv" if name in case else None)
        if name in case:
            (folder / f"{name}.csv").write_bytes(case[name].encode("utf-8"))
    data, reference = paths
    assert data is not None
    return data, reference


def _pillars(result: TrustScore) -> dict[str, float | None]:
    return {p.name: p.score for p in result.pillars}


def _contract(**changes: Any) -> DataContract:
    doc: dict[str, Any] = {"name": "t", "version": "1.0.0", "columns": [{"name": "x", "type": "number"}]}
    doc.update(changes)
    return DataContract.model_validate(doc)


@pytest.mark.parametrize("vector_case", CASES, ids=lambda case: case["description"].split(":")[0])
def test_the_hand_checked_cases(vector_case: dict[str, Any], tmp_path: Path) -> None:
    """[TRUST-006] [TRUST-021] [TRUST-022] [TRUST-023] [TRUST-040] Pillars and score exactly, drift to tolerance."""
    case = {**vector_case["data"], "expected": vector_case["expected"]}
    contract = DataContract.parse_document(case["contract"])
    data, reference = _files(case, tmp_path)
    result = score(data, contract, reference, as_of=case["asOf"])
    validate(result.to_json())
    expected = case["expected"]
    assert result.rows == expected["rows"]
    assert _pillars(result) == expected["pillars"]
    assert (result.score, result.grade, result.passed) == (expected["score"], expected["grade"], expected.get("passed"))
    tests = {e.column: e.to_json() for p in result.pillars if p.name == "drift" for e in p.evidence if e.column}
    for column, wanted in expected.get("drift", {}).items():
        found = tests[column]
        for key, value in wanted.items():
            if key == "drifted" and value is None:  # not tested, and says why
                assert "reason" in found and "drifted" not in found
            elif isinstance(value, bool | str):
                assert found[key] == value, (column, key)
            else:
                assert math.isclose(found[key], value, rel_tol=0, abs_tol=TOLERANCE), (column, key)


def test_the_cases_cover_what_the_issue_asks() -> None:
    described = " ".join(case["description"] for case in CASES)
    for topic in ("nulls", "ties", "unseen", "empty", "constant"):
        assert topic in described
    assert len(CASES) >= 5
    assert len(VECTOR["cases"]) - len(CASES) >= len(CASES)  # as many refused contracts [CORE-041]


def test_the_orders_example_is_the_freshness_vector() -> None:
    """The CSV file the examples and the CLI tests score is the data of the freshness vector, byte for byte."""
    assert _case("freshness")["data"].encode("utf-8") == (CASES_DIR / "orders.csv").read_bytes()


def test_every_score_lists_the_pillars_in_order_with_their_mappings(tmp_path: Path) -> None:
    """[TRUST-013] [TRUST-014] [TRUST-016] [TRUST-017] Eight pillars in order, mapped, weighted, with evidence."""
    case = _case("freshness")
    data, _ = _files(case, tmp_path)
    result = score(data, DataContract.parse_document(case["contract"]), as_of=case["asOf"])
    assert [p.name for p in result.pillars] == list(PILLARS)
    by_name = {p.name: p for p in result.pillars}
    assert by_name["completeness"].iso25012 == ["completeness"]
    assert by_name["freshness"].nist_ai_rmf == ["MEASURE 2.4"]
    assert by_name["documentation"].nist_ai_rmf == ["MEASURE 2.8", "MEASURE 2.9"]
    assert (by_name["freshness"].weight, by_name["documentation"].weight, by_name["validity"].weight) == (2, 0, 1)
    assert [e.column for e in by_name["completeness"].evidence] == [c.name for c in result_columns(case)]
    assert [e.rule for e in by_name["consistency"].evidence] == ["positive-quantity", "small-lines"]
    assert [(e.numerator, e.denominator) for e in by_name["consistency"].evidence] == [(3, 4), (3, 3)]
    assert result.method.name == "aifabric-trust" and result.method.version == "1.0.0"
    assert all(e.reason for e in by_name["drift"].evidence)  # not applicable: says why


def result_columns(case: dict[str, Any]) -> list[Any]:
    return DataContract.parse_document(case["contract"]).columns


def test_subject_digest_contract_digest_and_times(tmp_path: Path) -> None:
    """[TRUST-011] [TRUST-012] [TRUST-015] [TRUST-018] What the score names and when."""
    case = _case("ties")
    contract = DataContract.parse_document(case["contract"])
    data, reference = _files(case, tmp_path)
    assert reference is not None
    result = score(data, contract, reference, as_of="2026-11-23T10:00:00+01:00")
    assert result.subject.type == "dataset"
    assert result.subject.digest == {"sha256": hashlib.sha256(data.read_bytes()).hexdigest()}
    assert result.reference is not None and result.reference_rows == 8
    assert result.reference.digest == {"sha256": hashlib.sha256(reference.read_bytes()).hexdigest()}
    assert result.contract.digest == digest(contract.to_json())
    assert result.as_of == "2026-11-23T09:00:00Z"
    assert score(data, contract, as_of=AS_OF).reference is None


def test_a_dataframe_an_arrow_table_and_parquet_score_alike(tmp_path: Path) -> None:
    """[TRUST-006] [TRUST-020] Typed inputs keep their types; NaN and None are missing."""
    contract = DataContract.parse_document(_case("nulls")["contract"])
    frame = pd.DataFrame(
        {"id": [1.0, 2.0, 3.0, math.nan], "name": ["alice", None, "carol", "dave"], "amount": [10.5, 20, None, -1]}
    )
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, tmp_path / "data.parquet")
    results = [score(source, contract, as_of=AS_OF) for source in (frame, table, tmp_path / "data.parquet")]
    for result in results:
        # amount -1 breaks min 0 as "abc" broke the number type in the CSV: the same pillars.
        assert _pillars(result) == _case("nulls")["expected"]["pillars"]
    assert results[0].subject.name == "customers" and results[0].subject.digest is None


def test_a_column_the_data_lacks_is_all_missing() -> None:
    """[TRUST-007] A contract column the data lacks counts as missing everywhere."""
    contract = _contract(columns=[{"name": "x", "type": "number"}, {"name": "absent", "type": "string"}])
    result = score(pd.DataFrame({"x": [1.0, 2.0]}), contract, as_of=AS_OF)
    assert _pillars(result)["completeness"] == 0.5
    assert _pillars(result)["validity"] == 1


def test_types_conform_as_the_table_states() -> None:
    """[TRUST-022] Integers, numbers, Booleans, dates and timestamps as text, each checked against its form."""
    frame = pd.DataFrame(
        {
            "i": ["1", "-2", "3.0", "x"],
            "n": ["1e3", ".5", "1.", "1,5"],
            "b": ["true", "FALSE", "yes", "1"],
            "d": ["2026-02-28", "2026-02-30", "2026/01/01", "2026-01-01"],
            "t": ["2026-11-20T10:00:00Z", "2026-11-20 10:00:00", "2026-11-20t10:00:00.5+02:00", "2026-11-20"],
        }
    )
    columns = [
        {"name": name, "type": kind}
        for name, kind in zip("inbdt", ["integer", "number", "boolean", "date", "timestamp"], strict=True)
    ]
    result = score(frame, _contract(columns=columns), as_of=AS_OF)
    validity = next(p for p in result.pillars if p.name == "validity")
    assert [(e.column, e.numerator) for e in validity.evidence] == [("i", 2), ("n", 3), ("b", 2), ("d", 2), ("t", 3)]


def test_the_sql_runs_as_given_on_duckdb() -> None:
    """The generated SQL, run on DuckDB by hand, gives the counts behind the pillars."""
    case = _case("freshness")
    contract = DataContract.parse_document(case["contract"])
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # a timestamp without an offset is UTC
    path = str(CASES_DIR / "orders.csv")
    con.execute(f"CREATE VIEW orders AS SELECT * FROM read_csv('{path}', header = true, all_varchar = true)")
    cursor = con.execute(metric_sql(contract, "orders"))
    row = dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))
    assert row["rows"] == 4
    assert [row[f"present_{i}"] for i in range(5)] == [4, 4, 4, 3, 4]
    assert (row["key_rows"], row["key_distinct"]) == (4, 3)
    assert (row["pass_0"], row["evaluated_0"], row["pass_1"], row["evaluated_1"]) == (3, 4, 3, 3)
    assert row["latest_us"] == 1795320000000000  # 2026-11-22T04:00:00Z
    typed = con.execute(f"SELECT order_id, qty, price FROM ({typed_sql(contract, 'orders')})").fetchall()
    assert typed == [(1, 2, 10.0), (1, 1, 5.0), (1, 3, 5.0), (2, 0, None)]


def test_contract_rules_the_schema_cannot_state() -> None:
    """[TRUST-003] [TRUST-004] [TRUST-005] [TRUST-033] Each problem named with its pointer and rule."""
    bad = DataContract.model_validate(
        {
            "name": "t",
            "version": "1.0.0",
            "columns": [
                {"name": "a", "type": "string", "min": 1, "pattern": "(?=x)y"},
                {"name": "a", "type": "integer", "min": 5, "max": 1, "drift": {"method": "ks"}},
                {"name": "s", "type": "string", "minLength": 3, "maxLength": 2, "drift": {"method": "wasserstein"}},
                {"name": "n", "type": "number", "pattern": "["},
            ],
            "primaryKey": ["b"],
            "freshness": {"column": "s", "maxAgeS": 60},
        }
    )
    with pytest.raises(ValidationError) as caught:
        check_contract(bad, source="c.yaml")
    found = {(p.pointer, p.rule) for p in caught.value.problems}
    assert found == {
        ("/columns/0/min", "type"),
        ("/columns/0/pattern", "pattern"),
        ("/columns/1/name", "unique-name"),
        ("/columns/1/min", "range"),
        ("/columns/2/minLength", "range"),
        ("/columns/2/drift/method", "type"),
        ("/columns/3/pattern", "type"),
        ("/columns/3/pattern", "pattern"),
        ("/primaryKey/0", "column"),
        ("/freshness/column", "type"),
    }
    assert all(p.source == "c.yaml" for p in caught.value.problems)
    with pytest.raises(ValidationError):
        score(pd.DataFrame({"a": ["x"]}), bad)


def test_a_rule_naming_another_column_is_refused() -> None:
    """[TRUST-003] [TRUST-027] A rule binds to the contract columns only, typed."""
    contract = _contract(rules=[{"name": "r", "expression": "y > 0"}])
    with pytest.raises(ValidationError) as caught:
        score(pd.DataFrame({"x": [1.0], "y": [2.0]}), contract, as_of=AS_OF)
    assert caught.value.problems[0].pointer == "/rules/0/expression"
    typed = _contract(columns=[{"name": "x", "type": "integer"}], rules=[{"name": "r", "expression": "x + 1 > 2"}])
    result = score(pd.DataFrame({"x": ["1", "2", "two"]}), typed, as_of=AS_OF)
    assert next(p for p in result.pillars if p.name == "consistency").score == 0.5  # "two" is NULL, left out


@pytest.mark.parametrize(
    "expression",
    [
        "true) THEN 1 END) FROM (SELECT 1); COPY (SELECT 42 AS a) TO '{out}'; SELECT count(CASE WHEN (true",
        "x > 0; COPY (SELECT 42 AS a) TO '{out}'",
        "(SELECT count(*) FROM aifabric_data_raw) > 0",
        "(SELECT count(*) FROM read_text('/etc/hostname')) > 0",
        "x > 0 AND getenv('HOME') IS NOT NULL",
    ],
)
def test_a_rule_is_one_expression_over_the_row_and_nothing_else(expression: str, tmp_path: Path) -> None:
    """[TRUST-003] [TRUST-027] A second statement, a subquery (a table, a file) or a function with side effects is
    refused before it runs: nothing is written, and the contract is invalid at the rule's pointer."""
    out = tmp_path / "pwned.csv"
    contract = _contract(rules=[{"name": "r", "expression": expression.format(out=out)}])
    with pytest.raises(ValidationError) as caught:
        score(pd.DataFrame({"x": [1.0]}), contract, as_of=AS_OF)
    assert caught.value.problems[0].pointer == "/rules/0/expression"
    assert not out.exists()


def test_freshness_falls_from_one_to_zero_between_one_and_two_slas() -> None:
    """[TRUST-025] 1 within the SLA, linear to 0 at twice the SLA, 0 without a timestamp."""
    contract = _contract(columns=[{"name": "t", "type": "timestamp"}], freshness={"column": "t", "maxAgeS": 3600})
    frame = pd.DataFrame({"t": ["2026-11-23T07:30:00Z"]})
    for as_of, expected in [("2026-11-23T08:00:00Z", 1), ("2026-11-23T09:00:00Z", 0.5), ("2026-11-24T00:00:00Z", 0)]:
        assert _pillars(score(frame, contract, as_of=as_of))["freshness"] == expected
    assert _pillars(score(pd.DataFrame({"t": ["soon"]}), contract, as_of=AS_OF))["freshness"] == 0


def test_lineage_and_documentation() -> None:
    """[TRUST-028] [TRUST-030] [TRUST-041] Sources and documentation counted; a perfect table grades A."""
    contract = load_contract(ROOT / "examples/data-contract.yaml")
    result = score(CASES_DIR / "orders.csv", contract, as_of="2026-11-23T16:00:00Z")
    assert _pillars(result)["lineage"] == 0.2
    assert _pillars(result)["documentation"] == 1
    assert result.passed is False  # 76.1 is below minScore 80
    perfect = _contract(
        description="d",
        owner={"type": "user", "id": "u"},
        license="MIT",
        classification="public",
        columns=[{"name": "x", "type": "number", "description": "x", "sources": [{"dataset": "d", "column": "x"}]}],
        minScore=100,
    )
    best = score(pd.DataFrame({"x": [1.0]}), perfect, as_of=AS_OF)
    assert (best.score, best.grade, best.passed) == (100, "A", True)


def test_drift_selects_evidently_defaults_and_honours_overrides() -> None:
    """[TRUST-031] [TRUST-032] [TRUST-033] [TRUST-039] Method by kind and size; overrides; untested columns say why."""
    reference = pd.DataFrame({"n": [float(i) for i in range(2000)], "c": ["a", "b"] * 1000, "few": [1.0, 2.0] * 1000})
    current = pd.DataFrame({"n": [float(i) + 500 for i in range(2000)], "c": ["a", "b"] * 1000, "few": [1.0] * 2000})
    found = {e.column: e for e in drift(current, reference)}
    assert (found["n"].method, found["n"].drifted) == ("wasserstein", True)
    assert (found["c"].method, found["c"].drifted) == ("jensenshannon", False)
    assert found["few"].method == "jensenshannon"  # two distinct numbers: categorical
    small = {e.column: e for e in drift(current.head(50), reference.head(50))}
    assert (small["n"].method, small["c"].method, small["few"].method) == ("ks", "chisquare", "chisquare")
    contract = _contract(
        columns=[
            {"name": "n", "type": "number", "drift": {"method": "psi", "threshold": 50}},
            {"name": "c", "type": "string", "drift": {"method": "none"}},
            {"name": "t", "type": "timestamp"},
        ]
    )
    overridden = {e.column: e for e in drift(current, reference, contract=contract)}
    assert (overridden["n"].method, overridden["n"].threshold, overridden["n"].drifted) == ("psi", 50, False)
    assert overridden["c"].reason and overridden["t"].reason and overridden["t"].drifted is None


def test_unreadable_data_is_a_document_error(tmp_path: Path) -> None:
    contract = _contract()
    with pytest.raises(DocumentError, match="no such file"):
        score(tmp_path / "missing.csv", contract)
    (tmp_path / "data.json").write_text("{}")
    with pytest.raises(DocumentError, match=r"not a \.csv"):
        score(tmp_path / "data.json", contract)
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(DocumentError) as caught:
        score(tmp_path / "broken.parquet", contract)
    assert caught.value.rule == "read"


def test_a_score_is_reproducible(tmp_path: Path) -> None:
    """[TRUST-040] The same inputs give the same document but for its id and computedAt."""
    case = _case("unseen")
    contract = DataContract.parse_document(case["contract"])
    data, reference = _files(case, tmp_path)
    runs = [score(data, contract, reference, as_of=AS_OF).to_json() for _ in range(2)]
    for run in runs:
        del run["id"], run["computedAt"]
    assert runs[0] == runs[1]


def test_load_contract_reads_yaml_and_refuses_a_bad_one(tmp_path: Path) -> None:
    """[TRUST-001] [TRUST-005] A contract file is schema-checked and rule-checked."""
    assert load_contract(ROOT / "examples/data-contract.yaml").name == "order-lines"
    doc = copy.deepcopy(_case("nulls")["contract"])
    doc["columns"].append({"name": "id", "type": "string"})
    path = tmp_path / "c.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValidationError) as caught:
        load_contract(path)
    assert caught.value.problems[0].pointer == "/columns/3/name"
    assert caught.value.source == str(path)


def test_nan_in_parquet_is_missing(tmp_path: Path) -> None:
    """[TRUST-020] A NaN stored as a value (Parquet statistics leave it out) is missing, not a number."""
    import numpy as np

    pq.write_table(pa.table({"x": np.array([1.0, np.nan, 2.0, 3.0])}), tmp_path / "nan.parquet")
    result = score(tmp_path / "nan.parquet", _contract(columns=[{"name": "x", "type": "number", "max": 5}]))
    assert (_pillars(result)["completeness"], _pillars(result)["validity"]) == (0.75, 1)


def test_a_reference_that_breaks_part_way_through_is_a_read_error(tmp_path: Path) -> None:
    """[TRUST-007] A CSV reference whose bad line comes after DuckDB's sample fails as a DocumentError naming the
    files, never a raw engine error; a time without an offset is UTC."""
    reference = tmp_path / "reference.csv"
    reference.write_text("x\n" + "1\n" * 30_000 + '1,2,3,"4\n')
    contract = _contract(columns=[{"name": "x", "type": "number"}])
    with pytest.raises(DocumentError) as caught:
        score(pd.DataFrame({"x": [1.0, 2.0]}), contract, reference, as_of=AS_OF)
    assert caught.value.rule == "read" and "reference.csv" in str(caught.value.source)
    naive = score(pd.DataFrame({"x": [1.0]}), contract, as_of="2026-11-23T08:00:00")
    assert naive.to_json()["asOf"] == "2026-11-23T08:00:00Z"
