"""Render a model card for people: Markdown, or one self-contained HTML page with an inline SVG chart.

The HTML page has no scripts and fetches nothing: styles and the chart of evaluation results (bars with their
confidence intervals) are written into it.

Examples:
    >>> from aifabric.cards import load_card, render_html, render_markdown
    >>> card = load_card("examples/model-card.yaml")
    >>> render_markdown(card).splitlines()[0]
    '# acme/churn-classifier 1.3.0'
    >>> "<svg" in render_html(card)
    True
"""

from __future__ import annotations

import html
import math
import re
from typing import Final

from aifabric.cards.completeness import Completeness, completeness
from aifabric.models.cards import EvaluationResult, ModelCard

__all__ = ["evaluation_chart", "render_html", "render_markdown"]

_STYLE: Final = (
    "body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}"
    "table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{border:1px solid #d0d7de;padding:.3rem .6rem;"
    "text-align:left;vertical-align:top}th{background:#f6f8fa}.missing{color:#b42318}.ok{color:#067647}"
    "code{background:#f6f8fa;padding:0 .2rem}"
)


_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(text: str) -> str:
    """Text escaped for XML and HTML, characters that XML 1.0 cannot hold replaced by U+FFFD."""
    return html.escape(_NOT_XML.sub("\ufffd", text))


def _cell(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _number(value: float) -> str:
    return f"{value:.6g}"


def _result_label(result: EvaluationResult) -> str:
    label = f"{result.metric} on {result.dataset.name}"
    return f"{label} ({result.slice})" if result.slice else label


def _interval(result: EvaluationResult) -> str:
    ci = result.confidence_interval
    return "" if ci is None else f"[{_number(ci.lower)}, {_number(ci.upper)}] at {_number(ci.level)}"


def _evidence_rows(card: ModelCard) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    for item in card.evidence or []:
        sections = ", ".join(item.sections or [])
        documents = ", ".join(
            f"{d.name} ({next(iter(d.digest))}:{next(iter(d.digest.values()))[:12]})" for d in item.documents or []
        )
        rows.append((item.framework, item.id, sections, documents))
    return rows


def _reports(card: ModelCard) -> list[Completeness]:
    from aifabric.cards.completeness import profiles

    return [completeness(card, name) for name in profiles()]


def render_markdown(card: ModelCard) -> str:
    """The card as a Markdown page: details, use, data, changes, tables of results, risks and evidence."""
    m = card.model
    out = [f"# {m.name} {m.version}", ""]
    if m.description:
        out += [m.description, ""]
    details = [
        ("License", m.license),
        ("Task", m.task),
        ("Type", m.type),
        ("Architecture", m.architecture),
        ("Framework", m.framework),
        ("Autonomy", m.autonomy_type),
    ]
    out += ["| | |", "| --- | --- |", *(f"| {k} | {_cell(v)} |" for k, v in details if v), ""]
    if m.base_model:
        out += ["## Base models", "", "| name | version | relation |", "| --- | --- | --- |"]
        out += [f"| {_cell(b.name)} | {_cell(b.version)} | {b.relation} |" for b in m.base_model] + [""]
    if m.artifacts:
        out += ["## Artifacts", "", "| file | digest |", "| --- | --- |"]
        out += [
            f"| {_cell(a.name)} | {_cell(', '.join(f'{k}:{v}' for k, v in a.digest.items()))} |" for a in m.artifacts
        ]
        out += [""]
    use = card.intended_use
    out += ["## Intended use", ""]
    for title, items in (
        ("Primary uses", use.primary_uses),
        ("Primary users", use.primary_users),
        ("Out of scope", use.out_of_scope),
        ("Limitations", use.limitations),
    ):
        if items:
            out += [f"**{title}**", "", *(f"- {_cell(i)}" for i in items), ""]
    if card.training_data:
        out += ["## Training data", "", "| dataset | split | personal data | known bias |", "| --- | --- | --- | --- |"]
        for d in card.training_data:
            personal = "" if d.personal_data is None else ("yes" if d.personal_data.present else "no")
            out.append(
                f"| {_cell(d.name)} | {_cell(d.split or '')} | {personal} | {_cell('; '.join(d.known_bias or []))} |"
            )
        out += [""]
    if card.change_log:
        out += ["## Change log", "", "| date | base | version | reason |", "| --- | --- | --- | --- |"]
        out += [
            f"| {c.date} | {_cell(c.base)} | {_cell(c.version or '')} | {_cell(c.reason)} |" for c in card.change_log
        ]
        out += [""]
    if card.evaluation:
        out += [
            "## Evaluation",
            "",
            "| task | dataset | slice | metric | value | confidence interval |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for r in card.evaluation:
            out.append(
                f"| {_cell(r.task)} | {_cell(r.dataset.name)} | {_cell(r.slice or 'all')} | {_cell(r.metric)} "
                f"| {_number(r.value)} | {_interval(r)} |"
            )
        out += [""]
    if card.quantitative_analysis:
        out += ["## Quantitative analysis", "", card.quantitative_analysis.summary, ""]
    if card.risks:
        out += ["## Risks", "", f"Overall level: **{card.risks.level}**", ""]
        if card.risks.assessments:
            out += ["| taxonomy | id | level | risk | mitigations |", "| --- | --- | --- | --- | --- |"]
            out += [
                f"| {a.taxonomy} | {a.id} | {a.level} | {_cell(a.description)} "
                f"| {_cell('; '.join(a.mitigations or []))} |"
                for a in card.risks.assessments
            ]
            out += [""]
    if card.red_team:
        out += ["## Red team", "", "| protocol | finding | severity | status |", "| --- | --- | --- | --- |"]
        out += [
            f"| {_cell(t.protocol)} | {_cell(f.description)} | {f.severity} | {f.status} |"
            for t in card.red_team
            for f in t.findings
        ]
        out += [""]
    if card.energy:
        out += ["## Energy", "", "| activity | value | unit | per |", "| --- | --- | --- | --- |"]
        for name in ("training", "finetuning", "inference"):
            use_ = getattr(card.energy, name)
            if use_ is not None:
                out.append(f"| {name} | {_number(use_.value)} | {use_.unit} | {_cell(use_.per or '')} |")
        out += [""]
    out += ["## Evidence", "", "| framework | id | sections | documents |", "| --- | --- | --- | --- |"]
    out += [f"| {f} | {i} | {_cell(s)} | {_cell(d)} |" for f, i, s, d in _evidence_rows(card)] + [""]
    out += ["## Completeness", "", "| profile | complete | missing |", "| --- | --- | --- |"]
    for report in _reports(card):
        out.append(f"| {report.profile} | {'yes' if report.complete else 'no'} | {_cell('; '.join(report.lines()))} |")
    return "\n".join(out) + "\n"


def evaluation_chart(results: list[EvaluationResult], *, width: int = 640) -> str:
    """A self-contained SVG bar chart of results, with whiskers for their confidence intervals."""
    rows = [r for r in results if math.isfinite(r.value)]
    bar_h, gap, label_w = 18, 10, 260
    height = max(1, len(rows)) * (bar_h + gap) + gap
    values = [0.0] + [
        float(v)
        for r in rows
        for v in (
            r.value,
            *((r.confidence_interval.lower, r.confidence_interval.upper) if r.confidence_interval else ()),
        )
    ]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    plot = width - label_w - 60

    def x(value: float) -> float:
        return label_w + (value - low) / span * plot

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="evaluation results">',
        "<title>Evaluation results</title>",
    ]
    for n, r in enumerate(rows):
        y = gap + n * (bar_h + gap)
        left, right = sorted((x(0.0), x(r.value)))
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 13}" font-size="12" text-anchor="end">'
            f"{_xml(_result_label(r)[:40])}</text>"
        )
        parts.append(
            f'<rect x="{left:.2f}" y="{y}" width="{max(right - left, 0.5):.2f}" height="{bar_h}" fill="#4f7cac"/>'
        )
        if r.confidence_interval is not None:
            lo, hi = x(r.confidence_interval.lower), x(r.confidence_interval.upper)
            mid = y + bar_h / 2
            parts.append(
                f'<path d="M{lo:.2f} {mid}H{hi:.2f}M{lo:.2f} {y + 3}V{y + bar_h - 3}M{hi:.2f} {y + 3}V{y + bar_h - 3}" '
                'stroke="#1b1f24" stroke-width="1.5" fill="none"/>'
            )
        parts.append(f'<text x="{max(right, left) + 4:.2f}" y="{y + 13}" font-size="12">{_number(r.value)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(head: list[str], rows: list[list[str]]) -> str:
    e = _xml
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return (
        "<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + f"</tr></thead><tbody>{body}</tbody></table>"
    )


def render_html(card: ModelCard) -> str:
    """The card as one self-contained HTML page: tables, an SVG chart of the evaluation, evidence, completeness."""
    e = _xml
    m = card.model
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(m.name)} {e(m.version)} model card</title><style>{_STYLE}</style></head><body>",
        f"<h1>{e(m.name)} <small>{e(m.version)}</small></h1>",
    ]
    if m.description:
        parts.append(f"<p>{e(m.description)}</p>")
    details = [
        [k, str(v)]
        for k, v in (
            ("License", m.license),
            ("Task", m.task),
            ("Architecture", m.architecture),
            ("Framework", m.framework),
        )
        if v
    ]
    if details:
        parts.append(_table(["", ""], details))
    use = card.intended_use
    parts.append("<h2>Intended use</h2>")
    for title, items in (
        ("Primary uses", use.primary_uses),
        ("Out of scope", use.out_of_scope),
        ("Limitations", use.limitations),
    ):
        if items:
            parts.append(f"<h3>{title}</h3><ul>" + "".join(f"<li>{e(i)}</li>" for i in items) + "</ul>")
    if card.training_data:
        parts.append("<h2>Training data</h2>")
        parts.append(
            _table(
                ["dataset", "split", "collection", "known bias"],
                [
                    [d.name, d.split or "", d.collection or "", "; ".join(d.known_bias or [])]
                    for d in card.training_data
                ],
            )
        )
    if card.change_log:
        parts.append("<h2>Change log</h2>")
        parts.append(_table(["date", "base", "reason"], [[c.date, c.base, c.reason] for c in card.change_log]))
    if card.evaluation:
        parts.append("<h2>Evaluation</h2>")
        parts.append(
            _table(
                ["task", "dataset", "slice", "metric", "value", "confidence interval"],
                [
                    [r.task, r.dataset.name, r.slice or "all", r.metric, _number(r.value), _interval(r)]
                    for r in card.evaluation
                ],
            )
        )
        parts.append(
            f"<figure>{evaluation_chart(card.evaluation)}<figcaption>Evaluation results; whiskers show "
            "confidence intervals.</figcaption></figure>"
        )
    if card.quantitative_analysis:
        parts.append(f"<h2>Quantitative analysis</h2><p>{e(card.quantitative_analysis.summary)}</p>")
    if card.risks:
        parts.append(f"<h2>Risks</h2><p>Overall level: <strong>{e(card.risks.level)}</strong></p>")
        parts.append(
            _table(
                ["taxonomy", "id", "level", "risk", "mitigations"],
                [
                    [a.taxonomy, a.id, a.level, a.description, "; ".join(a.mitigations or [])]
                    for a in card.risks.assessments or []
                ],
            )
        )
    if card.red_team:
        parts.append("<h2>Red team</h2>")
        parts.append(
            _table(
                ["protocol", "finding", "severity", "status", "mitigation"],
                [
                    [t.protocol, f.description, f.severity, f.status, f.mitigation or ""]
                    for t in card.red_team
                    for f in t.findings
                ],
            )
        )
    parts.append("<h2>Evidence</h2>")
    parts.append(_table(["framework", "id", "sections", "documents"], [list(row) for row in _evidence_rows(card)]))
    parts.append("<h2>Completeness</h2>")
    rows = []
    for report in _reports(card):
        mark = '<span class="ok">complete</span>' if report.complete else '<span class="missing">incomplete</span>'
        rows.append(f"<tr><td>{e(report.profile)}</td><td>{mark}</td><td>{e('; '.join(report.lines()))}</td></tr>")
    parts.append(
        "<table><thead><tr><th>profile</th><th>status</th><th>missing</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
