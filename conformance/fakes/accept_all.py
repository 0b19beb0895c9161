"""A broken adapter that accepts every case of every operation: ``{"valid": true}``, whatever it is sent.

It breaks every requirement that an invalid case tests. A suite MUST fail it on every profile whose vectors hold
an invalid case, naming each of their requirement IDs: in Document Validator, for example, CORE-020 (timestamps),
CORE-025 (actors), CORE-082 (formats); in Canonicalizer CORE-061 (what has no canonical form); in Signature
Verifier SIG-031, SIG-032 and SIG-061 (a document or model that differs from what was signed); in Trust
Scorer TRUST-005 (a contract that is not valid) and CORE-090 (no score given); in Tool Guard TOOL-030 and
TOOL-032 (calls a guard refuses) and CORE-091. Run it with
``python conformance/fakes/accept_all.py``; it speaks the adapter protocol, version 1, on stdin/stdout.
"""

from __future__ import annotations

import sys
from typing import Any

from _protocol import OPERATIONS, serve


def accept(case: dict[str, Any]) -> tuple[bool, str | None]:
    """Accept anything."""
    return True, "accepted without looking"


if __name__ == "__main__":
    sys.exit(serve("fake-accept-all", dict.fromkeys(OPERATIONS, accept)))
