r"""The adapter for aifabric itself: ``python -m aifabric.conformance.adapter`` answers the suite with this SDK.

It reads requests from standard input and writes one answer per line to standard output, as the adapter
protocol (spec/conformance.md) asks; every operation of the vectors is answered by aifabric's own code. Schema
URLs resolve from the folder ``AIFABRIC_SCHEMAS_DIR`` names when it is set (CONF-028), else from the schemas
packaged with aifabric.

Examples:
    >>> import json
    >>> answer = handle({"seq": 1, "cmd": "run", "operation": "canonicalize", "case": {"data": {"b": 1, "a": 2}}})
    >>> json.dumps(answer)
    '{"seq": 1, "result": {"valid": true, "output": "{\\"a\\":2,\\"b\\":1}"}}'
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TextIO

from aifabric import __version__

if TYPE_CHECKING:
    from aifabric.schemas import Registry

__all__ = ["OPERATIONS", "SCHEMAS_DIR_VARIABLE", "handle", "main", "registry_from_env"]

OPERATIONS: Final = (
    "validate",
    "canonicalize",
    "envelope",
    "verify",
    "lifecycle",
    "checkpoint",
    "proof",
    "score",
    "guard-call",
)
"""The operations this adapter implements."""

SCHEMAS_DIR_VARIABLE: Final = "AIFABRIC_SCHEMAS_DIR"
"""The environment variable through which the harness names the schema folder (CONF-028)."""


def registry_from_env() -> Registry | None:
    """The schemas of the folder ``AIFABRIC_SCHEMAS_DIR`` names, or None (the packaged ones) when it is not set.

    Raises:
        SchemaError: the folder holds no ``<kind>/<X.Y.Z>.json`` schema, or one that cannot be read.
    """
    folder = os.environ.get(SCHEMAS_DIR_VARIABLE)
    return _registry_of(str(Path(folder).resolve())) if folder else None


@functools.cache
def _registry_of(folder: str) -> Registry:
    import orjson

    from aifabric._errors import SchemaError
    from aifabric.schemas import Registry

    files = sorted(Path(folder).glob("*/*.json"))
    if not files:
        raise SchemaError(f"{SCHEMAS_DIR_VARIABLE}={folder} holds no <kind>/<X.Y.Z>.json schema")
    try:
        return Registry(orjson.loads(path.read_bytes()) for path in files)
    except (OSError, orjson.JSONDecodeError) as exc:
        raise SchemaError(f"{SCHEMAS_DIR_VARIABLE}={folder}: cannot read a schema: {exc}") from None


def handle(request: Any) -> dict[str, Any]:
    """The answer to one request (a parsed line); never raises."""
    seq = request.get("seq") if isinstance(request, dict) else None
    if type(seq) is not int:
        return {"seq": 0, "errored": {"message": "a request needs an integer seq"}}
    cmd = request.get("cmd")
    if cmd == "start":
        return {
            "seq": seq,
            "ready": request.get("version") == 1,
            "version": 1,
            "implementation": {
                "name": "aifabric-python",
                "version": __version__,
                "language": "python",
                "homepage": "https://github.com/aifabric/aifabric",
            },
            "operations": list(OPERATIONS),
        }
    if cmd == "stop":
        return {"seq": seq, "stopped": True}
    if cmd != "run":
        return {"seq": seq, "errored": {"message": f"unknown cmd {cmd!r}"}}
    try:
        return {"seq": seq, **_run(request.get("operation"), request.get("case"))}
    except Exception as exc:  # noqa: BLE001 - the protocol's errored answer is exactly for this
        return {"seq": seq, "errored": {"message": f"{type(exc).__name__}: {exc}"}}


def _run(operation: Any, case: Any) -> dict[str, Any]:
    from aifabric._errors import CanonicalizationError
    from aifabric.canonical import canonicalize
    from aifabric.conformance._vectors import _OPERATIONS, OUTPUTS, _Skip
    from aifabric.models.conformance import ConformanceVectorFile

    if operation not in OPERATIONS or not isinstance(case, dict):
        return {"skipped": {"reason": f"operation {operation!r} is not implemented by aifabric-python"}}
    if operation == "canonicalize":
        try:
            return {"result": {"valid": True, "output": canonicalize(case.get("data")).decode("utf-8")}}
        except CanonicalizationError as exc:
            return {"result": {"valid": False, "message": str(exc)}}
    members = {k: v for k, v in case.items() if k != "data"}
    vector = ConformanceVectorFile.model_validate(
        {
            **members,
            "description": "one case from the adapter protocol",
            "spec": ["CORE-040"],
            "operation": operation,
            "cases": [{"description": "the case", "data": case.get("data"), "valid": True}],
        }
    )
    try:
        if operation in OUTPUTS:  # answered with the values the harness compares with the case's expected ones
            accepted, output, observed = OUTPUTS[operation](vector.cases[0].data)
            return {"result": {"valid": accepted, "output": output, "message": observed}}
        accepted, observed = _OPERATIONS[operation](vector, vector.cases[0], registry_from_env())
    except _Skip as skip:
        return {"skipped": {"reason": str(skip)}}
    return {"result": {"valid": accepted, "message": observed}}


def main(stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Serve requests until ``stop`` or the end of input; the exit status."""
    source, sink = stdin or sys.stdin, stdout or sys.stdout
    for line in source:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
        except ValueError as exc:
            answer: dict[str, Any] = {"seq": 0, "errored": {"message": f"not JSON: {exc}"}}
        else:
            answer = handle(request)
        sink.write(json.dumps(answer, ensure_ascii=True) + "\n")
        sink.flush()
        if isinstance(request, dict) and request.get("cmd") == "stop":
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
