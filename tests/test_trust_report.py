"""The HTML report: self-contained (no script, nothing fetched), escaped, a chart per column."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pd = pytest.importorskip("pandas")

from aifabric.models.trust import DataContract  # noqa: E402 - after the optional import
from aifabric.trust import html_report, score  # noqa: E402
from tests.test_cli import invoke  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def test_the_report_is_offline_escaped_and_charts_every_column() -> None:
    contract = DataContract.model_validate(
        {
            "name": "t",
            "version": "1.0.0",
            "columns": [
                {"name": "<b>amount</b>", "type": "number", "description": "A & B"},
                {"name": "status", "type": "string"},
                {"name": "empty", "type": "string"},
            ],
        }
    )
    data = pd.DataFrame({"<b>amount</b>": [1.0, 2.0, 3.5], "status": ["a", "<x>", "a"], "empty": [None, None, None]})
    reference = pd.DataFrame({"<b>amount</b>": [1.0, 1.0, 9.0], "status": ["a", "b", "b"], "empty": [None] * 3})
    result = score(data, contract, reference, as_of="2026-11-23T09:00:00Z")
    page = html_report(result, contract, data, reference)
    assert "<script" not in page and not re.search(r"(src|href)=\"https?:", page)
    assert "&lt;b&gt;amount&lt;/b&gt;" in page and "<b>amount</b>" not in page and "A &amp; B" in page
    assert "&lt;x&gt;" in page
    assert page.count('aria-label="distribution"') == 2  # the empty column has no chart
    assert "no value to chart" in page and "reference</p>" in page


def test_cli_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    contract = ROOT / "examples/data-contract.yaml"
    result = invoke("trust", "score", ROOT / "conformance/trust/orders.csv", "-c", contract, "--html", out)
    assert result.exit_code == 1  # below minScore, the report is written all the same
    assert out.read_text().startswith("<!DOCTYPE html>")
