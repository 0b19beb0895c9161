"""A trust score as one self-contained HTML page: pillars, and per column its measurements and a chart (inline SVG).

No script, no style sheet or font from elsewhere: the page reads the same offline and in a mail attachment.

Examples:
    >>> import pandas as pd
    >>> from aifabric.models.trust import DataContract
    >>> from aifabric.trust import score
    >>> contract = DataContract(name="t", version="1.0.0", columns=[{"name": "x", "type": "number"}])
    >>> data = pd.DataFrame({"x": [1.0, 2.0, 2.5, None]})
    >>> page = html_report(score(data, contract, as_of="2026-11-23T09:00:00Z"), contract, data)
    >>> page.startswith("<!DOCTYPE html>"), "<script" in page, page.count("<svg") >= 2
    (True, False, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Final

from aifabric.models.trust import ContractColumn, DataContract, Evidence, TrustScore
from aifabric.trust._score import DATA_VIEW, REFERENCE_VIEW, DataSource, connect, open_view
from aifabric.trust.sql import quote, values_sql

if TYPE_CHECKING:
    import duckdb

__all__ = ["BINS", "TOP", "html_report"]

BINS: Final = 20
"""Histogram bins of a numerical column's chart."""
TOP: Final = 12
"""Categories shown in a categorical column's chart; the rest are summed as "other"."""

_DATA_COLOUR, _REF_COLOUR = "#2563eb", "#f59e0b"
_STYLE: Final = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#111;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
.grade{font-size:2.5rem;font-weight:700}.muted{color:#666}.bad{color:#b91c1c}.ok{color:#15803d}
.key span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 1rem;vertical-align:middle}
"""


@dataclass(frozen=True, slots=True)
class _Chart:
    labels: list[str]
    data: list[int]
    reference: list[int] | None


def _bar(fraction: float | None, width: int = 160) -> str:
    if fraction is None:
        return '<span class="muted">not applicable</span>'
    filled = round(max(0.0, min(1.0, fraction)) * width)
    colour = "#15803d" if fraction >= 0.9 else "#ca8a04" if fraction >= 0.7 else "#b91c1c"
    return (
        f'<svg width="{width}" height="12" role="img" aria-label="{fraction:.1%}">'
        f'<rect width="{width}" height="12" fill="#eee"/><rect width="{filled}" height="12" fill="{colour}"/></svg>'
        f" {fraction:.4g}"
    )


def _histogram(con: duckdb.DuckDBPyConnection, column: ContractColumn, view: str, low: float, high: float) -> list[int]:
    values = values_sql(column, view, as_number=True, sql_type=_type(con, view, column.name))
    span = (high - low) or 1.0
    bin_of = f"least(greatest(floor((value - {low!r}) / {span!r} * {BINS})::BIGINT, 0), {BINS - 1})"
    sql = f"SELECT {bin_of} AS b, sum(n)::BIGINT FROM ({values}) GROUP BY b"  # noqa: S608 - generated, float literals
    counts = [0] * BINS
    for index, count in con.execute(sql).fetchall():
        counts[int(index)] = int(count)
    return counts


def _type(con: duckdb.DuckDBPyConnection, view: str, name: str) -> str | None:
    found: dict[str, str] = {row[0]: row[1] for row in con.execute(f"DESCRIBE {quote(view)}").fetchall()}
    return found.get(name)


def _chart(con: duckdb.DuckDBPyConnection, column: ContractColumn, with_reference: bool) -> _Chart | None:
    views = [DATA_VIEW, REFERENCE_VIEW] if with_reference else [DATA_VIEW]
    if column.type in ("integer", "number"):
        bounds = []
        for view in views:
            sql = values_sql(column, view, as_number=True, sql_type=_type(con, view, column.name))
            bounds.extend(con.execute(f"SELECT min(value), max(value) FROM ({sql})").fetchall())  # noqa: S608
        lows = [b[0] for b in bounds if b[0] is not None]
        highs = [b[1] for b in bounds if b[1] is not None]
        if not lows:
            return None
        low, high = float(min(lows)), float(max(highs))
        step = (high - low) / BINS
        labels = [f"{low + i * step:.4g}" for i in range(BINS)]
        hists = [_histogram(con, column, view, low, high) for view in views]
        return _Chart(labels, hists[0], hists[1] if with_reference else None)
    counted: list[dict[str, int]] = []
    for view in views:
        sql = values_sql(column, view, as_number=False, sql_type=_type(con, view, column.name))
        counted.append({str(v): int(n) for v, n in con.execute(f"{sql} ORDER BY 2 DESC, 1").fetchall()})
    if not any(counted):
        return None
    totals: dict[str, int] = {}
    for counts in counted:
        for label, n in counts.items():
            totals[label] = totals.get(label, 0) + n
    ranked = sorted(totals, key=lambda label: (-totals[label], label))
    shown, rest = ranked[:TOP], ranked[TOP:]
    labels = shown + (["other"] if rest else [])

    def series(counts: dict[str, int]) -> list[int]:
        return [counts.get(label, 0) for label in shown] + ([sum(counts.get(r, 0) for r in rest)] if rest else [])

    return _Chart(labels, series(counted[0]), series(counted[1]) if with_reference else None)


def _svg(chart: _Chart) -> str:
    """Bars of the data's (and the reference's) shares of each bin or category."""
    width, height, pad = 640, 160, 24
    series = [(chart.data, _DATA_COLOUR)] + ([(chart.reference, _REF_COLOUR)] if chart.reference else [])
    shares = [[n / (sum(counts) or 1) for n in counts] for counts, _ in series]
    top = max((max(s) for s in shares), default=0) or 1
    slot = (width - pad) / len(chart.labels)
    bar = slot / (len(series) + 0.5)
    parts = [f'<svg width="{width}" height="{height + 40}" role="img" aria-label="distribution">']
    for index, label in enumerate(chart.labels):
        for k, ((_, colour), share) in enumerate(zip(series, shares, strict=True)):
            h = share[index] / top * height
            x = pad + index * slot + k * bar
            parts.append(
                f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{escape(label)}: {share[index]:.2%}</title></rect>"
            )
        if len(chart.labels) <= TOP + 1 or index % 4 == 0:
            x = pad + index * slot
            parts.append(f'<text x="{x:.1f}" y="{height + 14}" font-size="10">{escape(label[:10])}</text>')
    parts.append(f'<line x1="{pad}" y1="{height}" x2="{width}" y2="{height}" stroke="#999"/></svg>')
    return "".join(parts)


def _measure(evidence: Evidence | None) -> str:
    if evidence is None:
        return '<span class="muted">-</span>'
    if evidence.reason is not None and evidence.drifted is None:
        return f'<span class="muted">{escape(evidence.reason)}</span>'
    if evidence.method is not None:
        verdict = '<b class="bad">drift</b>' if evidence.drifted else '<span class="ok">no drift</span>'
        stat = "" if evidence.statistic is None else f" {evidence.method} {evidence.statistic:.4g}"
        p = "" if evidence.p_value is None else f", p {evidence.p_value:.3g}"
        psi = "" if evidence.psi is None else f", PSI {evidence.psi:.3g}"
        return f"{verdict}{stat}{p}{psi} (threshold {evidence.threshold:g})"
    shown = "-" if evidence.value is None else f"{evidence.value:.4g}"
    return f"{shown} ({evidence.numerator}/{evidence.denominator})"


def html_report(
    result: TrustScore, contract: DataContract, data: DataSource, reference: DataSource | None = None
) -> str:
    """The score as an HTML page, with a chart per contract column of the data (and the reference when given).

    Raises:
        DocumentError: the data or the reference cannot be read.
    """
    by_column: dict[str, dict[str, Evidence]] = {}
    for pillar in result.pillars:
        for evidence in pillar.evidence:
            if evidence.column is not None:
                by_column.setdefault(evidence.column, {})[pillar.name] = evidence
    con = connect()
    try:
        open_view(con, data, DATA_VIEW, contract)
        if reference is not None:
            open_view(con, reference, REFERENCE_VIEW, contract)
        charts = {c.name: _chart(con, c, reference is not None) for c in contract.columns}
    finally:
        con.close()
    score = "n/a" if result.score is None else f"{result.score:g}"
    passed = "" if result.passed is None else (" passed" if result.passed else " below the contract's minScore")
    out = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f"<title>Trust score: {escape(result.subject.name)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Data Trust Score: {escape(result.subject.name)}</h1>",
        f'<p><span class="grade">{escape(result.grade)}</span> score {score}{passed}. ',
        f"{result.rows} rows; contract {escape(result.contract.name)} {escape(result.contract.version)}; ",
        f"as of {escape(result.as_of)}; method {escape(result.method.name)} {escape(result.method.version)}.</p>",
        "<h2>Pillars</h2><table><tr><th>pillar</th><th>score</th><th>weight</th>",
        "<th>ISO/IEC 25012</th><th>NIST AI RMF</th></tr>",
    ]
    for pillar in result.pillars:
        score_value = None if pillar.score is None else float(pillar.score)
        out.append(
            f"<tr><td>{pillar.name}</td><td>{_bar(score_value)}</td><td>{pillar.weight:g}</td>"
            f"<td>{', '.join(pillar.iso25012)}</td><td>{', '.join(pillar.nist_ai_rmf)}</td></tr>"
        )
    out.append("</table><h2>Columns</h2>")
    if reference is not None:
        out.append(
            f'<p class="key"><span style="background:{_DATA_COLOUR}"></span>data'
            f'<span style="background:{_REF_COLOUR}"></span>reference</p>'
        )
    for column in contract.columns:
        found = by_column.get(column.name, {})
        out.append(f"<h3>{escape(column.name)} <span class='muted'>{column.type}</span></h3>")
        if column.description:
            out.append(f"<p>{escape(column.description)}</p>")
        out.append("<table>")
        for name in ("completeness", "validity", "uniqueness", "drift"):
            if name in found:
                out.append(f"<tr><th>{name}</th><td>{_measure(found[name])}</td></tr>")
        out.append("</table>")
        chart = charts[column.name]
        out.append(_svg(chart) if chart else '<p class="muted">no value to chart</p>')
    rules = next(p for p in result.pillars if p.name == "consistency").evidence
    if any(e.rule for e in rules):
        out.append("<h2>Rules</h2><table>")
        for evidence in rules:
            if evidence.rule:
                out.append(f"<tr><th>{escape(evidence.rule)}</th><td>{_measure(evidence)}</td></tr>")
        out.append("</table>")
    out.append(f'<p class="muted">Score {escape(result.id)}, computed {escape(result.computed_at)}.</p></body></html>')
    return "\n".join(out)
