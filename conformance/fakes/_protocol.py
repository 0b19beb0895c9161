"""The adapter side of the conformance adapter protocol, version 1, shared by the broken fakes in this folder.

A fake supplies ``{operation: handler}``; each handler takes a case and returns ``(valid, message)``, or raises
:class:`Skip`. Requests come one JSON object per line on stdin; each gets exactly one JSON line on stdout.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from aifabric.conformance.adapter import OPERATIONS  # every operation of the vectors

__all__ = ["OPERATIONS", "Handler", "Skip", "serve"]

PROTOCOL_VERSION = 1

Handler = Callable[[dict[str, Any]], tuple[bool, str | None]]


class Skip(Exception):  # noqa: N818 - a signal, as the protocol names it
    """The fake does not implement this operation."""


def _answer(request: Any, name: str, operations: Mapping[str, Handler]) -> dict[str, Any]:
    seq = request.get("seq") if isinstance(request, dict) else None
    cmd = request.get("cmd") if isinstance(request, dict) else None
    if cmd == "start":
        if request.get("version") != PROTOCOL_VERSION:
            return {"seq": seq, "ready": False, "version": PROTOCOL_VERSION}
        implementation = {"name": name, "version": "0.0.0", "language": "python"}
        return {
            "seq": seq,
            "ready": True,
            "version": PROTOCOL_VERSION,
            "implementation": implementation,
            "operations": sorted(operations),
        }
    if cmd == "stop":
        return {"seq": seq, "stopped": True}
    if cmd != "run":
        return {"seq": seq, "errored": {"message": f"unknown command {cmd!r}"}}
    handler = operations.get(str(request.get("operation")))
    if handler is None:
        return {"seq": seq, "skipped": {"reason": f"{name} does not implement {request.get('operation')!r}"}}
    try:
        valid, message = handler(request.get("case") or {})
    except Skip as skip:
        return {"seq": seq, "skipped": {"reason": str(skip)}}
    except Exception as exc:  # noqa: BLE001 - the protocol reports a crash on one case as errored
        return {"seq": seq, "errored": {"message": f"{type(exc).__name__}: {exc}"}}
    result: dict[str, Any] = {"valid": valid}
    if message:
        result["message"] = message
    return {"seq": seq, "result": result}


def serve(
    name: str, operations: Mapping[str, Handler], *, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout
) -> int:
    """Answer requests until ``stop`` or the end of input; returns the exit status."""
    for line in stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
        except ValueError as exc:
            answer: dict[str, Any] = {"seq": None, "errored": {"message": f"cannot read the request: {exc}"}}
        else:
            answer = _answer(request, name, operations)
        stdout.write(json.dumps(answer) + "\n")
        stdout.flush()
        if answer.get("stopped") is True:
            break
    return 0
