"""A broken adapter that rejects every case of every operation: ``{"valid": false}``, whatever it is sent.

It breaks every requirement that a valid case tests: a suite MUST fail it on every profile, naming each
requirement ID that a valid case of the profile's vectors covers (in Document Validator, for example, CORE-010,
CORE-020, CORE-025, CORE-082; in Canonicalizer CORE-060; in Signature Verifier SIG-030 and SIG-031). Run it with
``python conformance/fakes/reject_all.py``; it speaks the adapter protocol, version 1, on stdin/stdout.
"""

from __future__ import annotations

import sys
from typing import Any

from _protocol import OPERATIONS, serve


def reject(case: dict[str, Any]) -> tuple[bool, str | None]:
    """Reject anything."""
    return False, "rejected without looking"


if __name__ == "__main__":
    sys.exit(serve("fake-reject-all", dict.fromkeys(OPERATIONS, reject)))
