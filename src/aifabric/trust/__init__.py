"""Data Trust Scores (spec/trust-score.md): quality metrics through DuckDB, drift tests, the score document.

Needs the ``data`` extra (DuckDB, numpy, pandas, pyarrow). Data is a CSV or Parquet path (globs allowed), a
pandas DataFrame or a pyarrow Table; DuckDB scans it, so a file larger than memory is scored in place.

Examples:
    >>> import pandas as pd
    >>> from aifabric.models.trust import DataContract
    >>> from aifabric.trust import score
    >>> contract = DataContract(
    ...     name="orders", version="1.0.0", description="Orders.",
    ...     columns=[{"name": "id", "type": "integer", "unique": True}, {"name": "status", "type": "string"}],
    ... )
    >>> data = pd.DataFrame({"id": [1, 2, 2, 4], "status": ["open", None, "shipped", "open"]})
    >>> result = score(data, contract, as_of="2026-11-23T09:00:00Z")
    >>> [(p.name, p.score) for p in result.pillars if p.score is not None]
    [('completeness', 0.875), ('validity', 1), ('uniqueness', 0.75), ('lineage', 0), ('documentation', 0.166667)]
    >>> result.score, result.grade
    (55.83, 'F')
"""

from aifabric.trust._contract import check_contract, load_contract
from aifabric.trust._score import MAPPING, METHOD, DataSource, drift, infer_contract, score
from aifabric.trust.report import html_report
from aifabric.trust.sql import metric_sql, typed_sql, values_sql

__all__ = [
    "MAPPING",
    "METHOD",
    "DataSource",
    "check_contract",
    "drift",
    "html_report",
    "infer_contract",
    "load_contract",
    "metric_sql",
    "score",
    "typed_sql",
    "values_sql",
]
