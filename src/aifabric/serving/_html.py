"""The HTML form of a serving report: the checks, each run's figures, latency over time and percentile plots.

One self-contained page: inline SVG and CSS, no script, nothing fetched.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from aifabric.serving._types import Sample

_W: Final = 720
_H: Final = 260
_PAD: Final = 48
_COLOURS: Final = {
    "passed": "#1a7f37",
    "failed": "#cf222e",
    "invalid": "#9a6700",
    "skipped": "#6e7781",
    "error": "#cf222e",
}
_STYLE: Final = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:60em;color:#1f2328;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #d0d7de;padding:.3em .6em;text-align:left}
th{background:#f6f8fa}.outcome{font-weight:600}svg{background:#fff;border:1px solid #d0d7de}
.axis{stroke:#57606a}.grid{stroke:#eaeef2}text{font-size:11px;fill:#57606a}code{font-size:12px}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _outcome(outcome: str) -> str:
    return f'<span class="outcome" style="color:{_COLOURS.get(outcome, "#1f2328")}">{_e(outcome)}</span>'


def _axes(
    x_label: str, y_label: str, y_ticks: Sequence[tuple[float, str]], x_ticks: Sequence[tuple[float, str]]
) -> str:
    parts = [
        f'<line class="axis" x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - 10}" y2="{_H - _PAD}"/>',
        f'<line class="axis" x1="{_PAD}" y1="10" x2="{_PAD}" y2="{_H - _PAD}"/>',
        f'<text x="{_W // 2}" y="{_H - 8}" text-anchor="middle">{_e(x_label)}</text>',
        f'<text x="12" y="{_H // 2}" transform="rotate(-90 12 {_H // 2})" text-anchor="middle">{_e(y_label)}</text>',
    ]
    for y, label in y_ticks:
        parts.append(f'<line class="grid" x1="{_PAD}" y1="{y:.1f}" x2="{_W - 10}" y2="{y:.1f}"/>')
        parts.append(f'<text x="{_PAD - 4}" y="{y + 4:.1f}" text-anchor="end">{_e(label)}</text>')
    for x, label in x_ticks:
        parts.append(f'<text x="{x:.1f}" y="{_H - _PAD + 14}" text-anchor="middle">{_e(label)}</text>')
    return "".join(parts)


def _ms_ticks(top: float, scale: Callable[[float], float]) -> list[tuple[float, str]]:
    step = 10 ** math.floor(math.log10(top)) if top > 0 else 1.0
    ticks, value = [], 0.0
    while value <= top + 1e-12:
        ticks.append((scale(value), f"{value * 1000:g}"))
        value += step
    return ticks


def latency_over_time(samples: Sequence[Sample]) -> str:
    """A scatter of end-to-end latency (ms) against scheduled time (s); failures in red."""
    if not samples:
        return "<p>No requests.</p>"
    t_max = max(s.scheduled for s in samples) or 1.0
    top = max(s.done - s.scheduled for s in samples) or 1e-3

    def sx(t: float) -> float:
        return _PAD + (t / t_max) * (_W - _PAD - 10)

    def sy(v: float) -> float:
        return (_H - _PAD) - (v / top) * (_H - _PAD - 10)

    step = max(1, len(samples) // 4000)  # at most ~4,000 dots: the page stays small
    dots = "".join(
        f'<circle cx="{sx(s.scheduled):.1f}" cy="{sy(s.done - s.scheduled):.1f}" r="1.4" '
        f'fill="{"#0969da" if s.ok else "#cf222e"}"/>'
        for s in samples[::step]
    )
    x_ticks = [(sx(t_max * i / 4), f"{t_max * i / 4:.0f}") for i in range(5)]
    axes = _axes("scheduled time (s)", "latency (ms)", _ms_ticks(top, sy), x_ticks)
    return f'<svg width="{_W}" height="{_H}" role="img" aria-label="latency over time">{axes}{dots}</svg>'


def percentile_plot(sorted_latencies: Sequence[float]) -> str:
    """Latency (ms) against percentile on a log scale of 1/(1-p), as HdrHistogram plots do."""
    n = len(sorted_latencies)
    if n < 2:
        return "<p>Too few requests to plot.</p>"
    top = sorted_latencies[-1] or 1e-3
    nines = math.log10(n)

    def sx(p: float) -> float:
        return _PAD + min(1.0, math.log10(1 / (1 - p)) / nines) * (_W - _PAD - 10)

    def sy(v: float) -> float:
        return (_H - _PAD) - (v / top) * (_H - _PAD - 10)

    points = []
    for i in range(n):
        p = i / n
        points.append(f"{sx(p):.1f},{sy(sorted_latencies[i]):.1f}")
    step = max(1, n // 2000)
    line = " ".join([*points[::step], points[-1]])
    labels = [(0.0, "0%"), (0.9, "90%"), (0.99, "99%"), (0.999, "99.9%"), (0.9999, "99.99%")]
    x_ticks = [(sx(p), label) for p, label in labels if math.log10(1 / (1 - p)) <= nines]
    axes = _axes("percentile", "latency (ms)", _ms_ticks(top, sy), x_ticks)
    return (
        f'<svg width="{_W}" height="{_H}" role="img" aria-label="latency by percentile">{axes}'
        f'<polyline fill="none" stroke="#0969da" stroke-width="1.5" points="{line}"/></svg>'
    )


def render(report: Mapping[str, Any], runs: Sequence[tuple[str, Sequence[Sample], Sequence[float]]]) -> str:
    """The page for a ``serving-report`` document and, per run, its name, samples and sorted e2e latencies."""
    endpoint = report.get("endpoint", {})
    contract = report.get("contract", {})
    rows = "".join(
        f"<tr><td><code>{_e(c.get('id'))}</code></td><td>{_outcome(c.get('outcome', ''))}</td>"
        f"<td>{_e(c.get('message', ''))}</td></tr>"
        for c in report.get("checks", [])
    )
    sections = []
    for (name, samples, latencies), summary in zip(runs, report.get("runs", []), strict=False):
        figures = "".join(
            f"<tr><th>{_e(kind)}</th>"
            + "".join(f"<td>{_e(round(values.get(k, 0.0), 2))}</td>" for k in ("p50Ms", "p95Ms", "p99Ms", "maxMs"))
            + f"<td>{_e(values.get('count', 0))}</td></tr>"
            for kind, values in summary.get("latencies", {}).items()
        )
        sections.append(
            f"<h2>Run: {_e(name)}</h2><p>{_e(summary.get('requests', len(samples)))} requests, "
            f"{_e(round(summary.get('throughputRps', 0.0), 1))} completed/s; "
            + (
                "valid"
                if summary.get("valid")
                else "<b>not valid</b>: " + _e("; ".join(summary.get("validity", {}).get("reasons", [])))
            )
            + "</p>"
            "<table><tr><th>latency (ms)</th><th>p50</th><th>p95</th><th>p99</th><th>max</th><th>count</th></tr>"
            f"{figures}</table>{latency_over_time(samples)}<p></p>{percentile_plot(latencies)}"
        )
    telemetry = report.get("telemetry", {})
    gpu = (
        "".join(
            f"<tr><td><code>{_e(k)}</code></td><td>{_e(v.get('min'))}</td><td>{_e(v.get('mean'))}</td>"
            f"<td>{_e(v.get('max'))}</td><td>{_e(v.get('unit', ''))}</td></tr>"
            for k, v in telemetry.get("metrics", {}).items()
        )
        if telemetry.get("available")
        else ""
    )
    telemetry_html = (
        f"<table><tr><th>metric</th><th>min</th><th>mean</th><th>max</th><th>unit</th></tr>{gpu}</table>"
        if gpu
        else f"<p>{_e(telemetry.get('reason', 'no GPU telemetry'))}</p>"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Serving report: {_e(contract.get('name', ''))}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Serving report: {_e(contract.get('name', ''))} — {_outcome(report.get('outcome', ''))}</h1>"
        f"<p><code>{_e(endpoint.get('url', ''))}</code> ({_e(endpoint.get('protocol', ''))}), "
        f"{_e(report.get('createdAt', ''))}</p>"
        f"<h2>Checks</h2><table><tr><th>check</th><th>outcome</th><th>what was found</th></tr>{rows}</table>"
        + "".join(sections)
        + f"<h2>GPU telemetry</h2>{telemetry_html}</body></html>\n"
    )
