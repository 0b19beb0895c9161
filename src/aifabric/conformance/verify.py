"""Check a conformance report: its schema, its signature, its profile verdicts and its suite digest (CONF-012).

Examples:
    >>> from aifabric.conformance.certify import certify
    >>> from aifabric.signing.documents import attach, sign_document
    >>> from aifabric.signing.keys import generate_key
    >>> key = generate_key("ed25519")
    >>> doc = certify("reference", ["canonicalizer"]).to_json()
    >>> signed = attach(doc, sign_document(doc, key))
    >>> check_report(signed, key=key.public_key())
    []
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aifabric._errors import AifabricError, DocumentError
from aifabric.signing.keys import PublicKey

__all__ = ["ReportError", "check_report", "verify_report"]


class ReportError(DocumentError):
    """A conformance report that does not hold up: invalid, unsigned, badly signed, or inconsistent."""

    code = "AIF-REPORT"


def check_report(doc: Any, *, key: PublicKey | None = None, source: str = "<report>") -> list[str]:
    """Check a parsed report; return notes (what was not checked), raise on any problem.

    Raises:
        ReportError: naming the pointer and the rule broken.
    """
    from aifabric.conformance.certify import judge, load_profiles, suite_digest
    from aifabric.models.conformance import ConformanceReport
    from aifabric.signing.documents import verify_document
    from aifabric.validation import validate

    try:
        validate(doc, source=source)
        report = ConformanceReport.model_validate(doc)
    except AifabricError as exc:
        raise ReportError(str(exc), source=source) from None
    except ValueError as exc:
        raise ReportError(f"not a conformance report: {exc}", source=source) from None
    if not isinstance(doc, Mapping) or "conformance-report" not in str(doc.get("schemaURL")):
        raise ReportError("not a conformance report", source=source, pointer="/schemaURL")
    notes: list[str] = []
    if key is not None:
        try:
            verify_document(doc, key=key)
        except AifabricError as exc:
            raise ReportError(f"signature: {exc}", source=source, pointer="/signatures") from None
    elif doc.get("signatures"):
        raise ReportError("the report is signed: give the signer's public key to verify it", source=source)
    else:
        notes.append("the report is not signed")
    known = {p.id: p for p in load_profiles()}
    for n, claimed in enumerate(report.profiles or []):
        profile = known.get(claimed.id)
        if profile is None:
            notes.append(f"profile {claimed.id} is not one this suite knows: its verdict was not recomputed")
            continue
        if judge(profile, report.results) != claimed:
            raise ReportError(
                f"the verdicts of profile {claimed.id} do not follow from the results",
                source=source,
                pointer=f"/profiles/{n}",
            )
    want = suite_digest()
    got = (report.suite.digest or {}).get("sha256")
    if got is None:
        notes.append("the report does not name the digest of its suite")
    elif got != want:
        raise ReportError(
            f"the suite digest {got} is not that of this suite ({want}): it ran another version of the suite",
            source=source,
            pointer="/suite/digest/sha256",
        )
    return notes


def verify_report(path: Path, *, key: PublicKey | None = None) -> list[str]:
    """Read and check a report file (see :func:`check_report`).

    Raises:
        ReportError: unreadable, not JSON, or any problem :func:`check_report` finds.
    """
    try:
        doc = json.loads(path.read_bytes())
    except OSError as exc:
        raise ReportError(f"cannot read: {exc.strerror}", source=str(path)) from None
    except ValueError as exc:
        raise ReportError(f"not JSON: {exc}", source=str(path)) from None
    return check_report(doc, key=key, source=str(path))
