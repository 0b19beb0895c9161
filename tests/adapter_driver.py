"""A small driver for the conformance adapter protocol, version 1: start a command, speak NDJSON, read verdicts.

Tests use it to run vector cases through an adapter (the Node.js ajv adapter, the broken fakes) the way the suite's
runner does: one request per line on stdin, exactly one answer per line on stdout with the same ``seq``.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aifabric.schemas import Registry, schema_url
from aifabric.validation import problems

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "conformance" / "vectors"
SCHEMAS = ROOT / "schemas"
PROTOCOL_VERSION = 1
_FILE_ONLY = frozenset({"schemaURL", "description", "spec", "operation", "cases"})
_NOT_SENT = frozenset({"valid", "expected", "description", "spec"})


@dataclass(frozen=True, slots=True)
class VectorCase:
    """One case of a vector file, with what the protocol sends and what the vector expects."""

    file: str
    index: int
    operation: str
    description: str
    requirements: tuple[str, ...]
    request: dict[str, Any]
    valid: bool
    expected: str | None

    @property
    def id(self) -> str:
        """``area/file.json#n``, as the suite names a case."""
        return f"{self.file}#{self.index}"


def load_cases(operation: str | None = None, root: Path = VECTORS) -> list[VectorCase]:
    """Every case of every vector file under ``root`` (optionally one operation's), in file order."""
    found: list[VectorCase] = []
    for path in sorted(root.rglob("*.json")):
        vector = json.loads(path.read_bytes())  # the stdlib parser keeps the lone surrogates some cases need
        if operation is not None and vector["operation"] != operation:
            continue
        shared = {k: v for k, v in vector.items() if k not in _FILE_ONLY}
        for n, case in enumerate(vector["cases"]):
            request = {**shared, **{k: v for k, v in case.items() if k not in _NOT_SENT}}
            found.append(
                VectorCase(
                    file=path.relative_to(root).as_posix(),
                    index=n,
                    operation=vector["operation"],
                    description=case["description"],
                    requirements=tuple(sorted({*vector["spec"], *case.get("spec", [])})),
                    request=request,
                    valid=case["valid"],
                    expected=case.get("expected"),
                )
            )
    return found


def _protocol_problems(answer: dict[str, Any]) -> list[str]:
    """Problems with an answer against the protocol's schema (conformance-adapter), once that schema is published."""
    if "conformance-adapter" not in Registry.default().kinds():
        return []
    url = schema_url("conformance-adapter", "1.0.0") + "#/$defs/response"
    return [str(p) for p in problems(answer, schema_url=url)]


class AdapterError(RuntimeError):
    """The adapter broke the protocol: no answer in time, a wrong ``seq``, or output that is not JSON."""


class Adapter:
    """A running adapter process; use as a context manager (``start`` on enter, ``stop`` on exit)."""

    def __init__(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = 30.0, cwd: Path = ROOT
    ) -> None:
        self.argv = list(argv)
        self.timeout = timeout
        self.hello: dict[str, Any] = {}
        self._seq = 0
        self._env = {**os.environ, "AIFABRIC_SCHEMAS_DIR": str(SCHEMAS), **(env or {})}
        self._cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None
        self._lines: queue.Queue[bytes] = queue.Queue()
        self._stderr: list[bytes] = []
        self._pumps: list[threading.Thread] = []

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> dict[str, Any]:
        """Start the process and say hello; returns the adapter's ``start`` answer."""
        self._proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self._env,
            cwd=self._cwd,
        )
        self._pumps = [
            threading.Thread(target=self._pump, args=(self._proc,), daemon=True),
            threading.Thread(target=self._pump_stderr, args=(self._proc,), daemon=True),
        ]
        for pump in self._pumps:
            pump.start()
        try:
            self.hello = self.request({"cmd": "start", "version": PROTOCOL_VERSION})
            if self.hello.get("ready") is not True:
                raise AdapterError(f"the adapter is not ready for protocol version {PROTOCOL_VERSION}: {self.hello}")
        except BaseException:
            self._proc.kill()
            self.stop_quietly()
            raise
        return self.hello

    def stop_quietly(self) -> None:
        """Stop, ignoring a protocol error on the way out (for an adapter that has already failed)."""
        with contextlib.suppress(AdapterError, OSError, subprocess.TimeoutExpired):
            self.stop()

    def _pump(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self._lines.put(line)

    def _pump_stderr(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self._stderr.append(line)

    def request(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send one request (``seq`` is added) and return its answer."""
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise AdapterError("the adapter is not running")
        seq, self._seq = self._seq, self._seq + 1
        proc.stdin.write(json.dumps({"seq": seq, **body}).encode("utf-8") + b"\n")
        proc.stdin.flush()
        try:
            line = self._lines.get(timeout=self.timeout)
        except queue.Empty:
            raise AdapterError(f"no answer to request {seq} within {self.timeout} s") from None
        try:
            answer: dict[str, Any] = json.loads(line)
        except ValueError:
            raise AdapterError(f"not a JSON line: {line[:200]!r}") from None
        if answer.get("seq") != seq:
            raise AdapterError(f"answer {answer.get('seq')!r} to request {seq}")
        found = _protocol_problems(answer)
        if found:
            raise AdapterError(f"answer {seq} breaks the protocol schema: {found[0]}")
        return answer

    def run(self, case: VectorCase) -> dict[str, Any]:
        """Run one vector case; the answer holds exactly one of ``result``, ``skipped``, ``errored``."""
        answer = self.request({"cmd": "run", "operation": case.operation, "case": case.request})
        kinds = [k for k in ("result", "skipped", "errored") if k in answer]
        if len(kinds) != 1:
            raise AdapterError(f"answer to {case.id} holds {kinds or 'none'} of result/skipped/errored: {answer}")
        return answer

    def verdicts(self, cases: Sequence[VectorCase]) -> Iterator[tuple[VectorCase, bool | None, dict[str, Any]]]:
        """``(case, valid or None when skipped/errored, answer)`` for each case."""
        for case in cases:
            answer = self.run(case)
            valid = answer["result"]["valid"] if "result" in answer else None
            yield case, valid, answer

    def stop(self) -> int | None:
        """Say stop and wait for the process to exit; returns its exit status."""
        proc = self._proc
        if proc is None:
            return None
        self._proc = None
        try:
            if proc.poll() is None and proc.stdin is not None:
                self._proc = proc
                answer = self.request({"cmd": "stop"})
                self._proc = None
                if answer.get("stopped") is not True:
                    raise AdapterError(f"not a stop answer: {answer}")
                proc.stdin.close()
            return proc.wait(timeout=self.timeout)
        except (AdapterError, subprocess.TimeoutExpired, BrokenPipeError):
            proc.kill()
            proc.wait()
            raise
        finally:
            self._proc = None
            for pump in self._pumps:
                pump.join(timeout=5)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None and not stream.closed:
                    stream.close()

    @property
    def stderr(self) -> str:
        """What the adapter wrote to stderr so far (the suite keeps it as evidence)."""
        return b"".join(self._stderr).decode("utf-8", "replace")
