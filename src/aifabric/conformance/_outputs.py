"""Render a conformance report as JUnit XML (for CI systems) and as one self-contained HTML page (for people)."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree as ET

__all__ = ["junit_xml", "report_html"]


def _profile_results(report: Mapping[str, Any], profile: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The results of a profile's own cases and checks (by area and operation, or by check)."""
    from aifabric.conformance.certify import load_profiles

    known = {p.id: p for p in load_profiles()}.get(profile["id"])
    if known is None:
        wanted = set(profile["requirements"])
        return [r for r in report["results"] if wanted & set(r["requirements"])]
    out = []
    for result in report["results"]:
        evidence = result.get("evidence") or {}
        check = evidence.get("check")
        if (
            (check in known.checks)
            if isinstance(check, str)
            else known.selects(str(evidence.get("area")), str(evidence.get("operation")))
        ):
            out.append(result)
    return out


def _xml_text(value: Any) -> str:
    """Text XML 1.0 can hold: control characters and lone surrogates escaped."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1)
    out = []
    for ch in text:
        code = ord(ch)
        if code in (9, 10, 13) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or code > 0xFFFF:
            out.append(ch)
        else:
            out.append(f"\\u{code:04x}")
    return "".join(out)


def junit_xml(report: Mapping[str, Any]) -> str:
    """One ``testsuite`` per profile, one ``testcase`` per case or check, failures with their evidence."""
    suites = ET.Element("testsuites", name=_xml_text(report["suite"]["name"]))
    for profile in report.get("profiles") or []:
        results = _profile_results(report, profile)
        count = {k: sum(r["outcome"] == k for r in results) for k in ("failed", "error", "skipped")}
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=_xml_text(profile["id"]),
            tests=str(len(results)),
            failures=str(count["failed"]),
            errors=str(count["error"]),
            skipped=str(count["skipped"]),
        )
        for result in results:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=_xml_text(profile["id"]),
                name=_xml_text(result["id"]),
                time=f"{result.get('durationMs', 0) / 1000:.6f}",
            )
            detail = _xml_text(
                f"{result.get('description', '')}\nrequirements: {' '.join(result['requirements'])}\n"
                f"evidence: {json.dumps(result.get('evidence', {}), ensure_ascii=False, indent=1)}"
            )
            tag = {"failed": "failure", "error": "error", "skipped": "skipped"}.get(result["outcome"])
            if tag is not None:
                element = ET.SubElement(case, tag, message=_xml_text(result.get("message", "")))
                if tag != "skipped":
                    element.text = detail
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:80rem;color:#1b1f24;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem}table{border-collapse:collapse;font-size:.85rem}
td,th{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
.badge{display:inline-block;border-radius:.4rem;padding:.4rem .8rem;margin:.2rem;color:#fff;font-weight:600}
.passed{background:#1a7f37}.failed{background:#cf222e}.skipped,.not-applicable{background:#6e7781}
td.passed,td.failed,td.skipped,td.not-applicable{color:#fff}pre{white-space:pre-wrap;background:#f6f8fa;
padding:.5rem;font-size:.8rem}details{margin:.5rem 0}
"""


def _e(value: Any) -> str:
    return html.escape(_xml_text(str(value)), quote=True)


def report_html(report: Mapping[str, Any]) -> str:
    """The report as a self-contained page: profile badges, a requirement matrix, failures with evidence."""
    profiles = report.get("profiles") or []
    impl = report["implementation"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>aifabric conformance report</title>',
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Conformance of {_e(impl['name'])} {_e(impl.get('version', ''))}</h1>",
        f"<p>Target {_e(report.get('target', ''))}; suite {_e(report['suite']['name'])} "
        f"{_e(report['suite']['version'])}; specification {_e(report['specVersion'])}; "
        f"{_e(report['createdAt'])}; report {_e(report['reportId'])}.</p>",
        "<p>"
        + "".join(
            f'<span class="badge {_e(p["verdict"])}">{_e(p.get("title", p["id"]))}: {_e(p["verdict"])}</span>'
            for p in profiles
        )
        + "</p>",
    ]
    s = report["summary"]
    parts.append(
        f"<p>{s['total']} results: {s['passed']} passed, {s['failed']} failed, {s['skipped']} skipped, "
        f"{s['errors']} errors.</p>"
    )
    parts.append("<h2>Requirements</h2><table><tr><th>requirement</th>")
    parts.extend(f"<th>{_e(p['id'])}</th>" for p in profiles)
    parts.append("<th>results</th></tr>")
    counts: dict[str, int] = {}
    for result in report["results"]:
        for rid in result["requirements"]:
            counts[rid] = counts.get(rid, 0) + 1
    every = sorted({rid for p in profiles for rid in p["requirements"]})
    for rid in every:
        parts.append(f"<tr><td>{_e(rid)}</td>")
        for p in profiles:
            cell = p["requirements"].get(rid)
            if cell is None:
                parts.append("<td></td>")
            else:
                parts.append(f'<td class="{_e(cell["verdict"])}">{_e(cell["level"])} {_e(cell["verdict"])}</td>')
        parts.append(f"<td>{counts.get(rid, 0)}</td></tr>")
    parts.append("</table>")
    bad = [r for r in report["results"] if r["outcome"] in ("failed", "error")]
    parts.append(f"<h2>Failures and errors ({len(bad)})</h2>")
    if not bad:
        parts.append("<p>None.</p>")
    for result in bad:
        parts.append(
            f"<details open><summary><strong>{_e(result['outcome'])}</strong> {_e(result['id'])} "
            f"({_e(' '.join(result['requirements']))}): {_e(result.get('message', ''))}</summary>"
            f"<p>{_e(result.get('description', ''))}</p>"
            f"<pre>{_e(json.dumps(result.get('evidence', {}), ensure_ascii=False, indent=2))}</pre></details>"
        )
    parts.append("</body></html>\n")
    return "\n".join(parts)
