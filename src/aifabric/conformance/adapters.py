"""Drive an implementation through the adapter protocol: newline-delimited JSON over a command's stdin and stdout.

:class:`Adapter` starts the command, says ``start``, sends one ``run`` per vector case and ``stop`` at the end.
An answer that does not come in time, comes with the wrong ``seq``, is not a protocol message, or never comes
because the adapter died, is an ``errored`` answer for that case; the adapter is then started afresh for the
next one. Nothing an adapter writes makes this module raise (spec/conformance.md, CONF-020 to CONF-031).

Examples:
    >>> parse_answer(b'{"seq": 3, "result": {"valid": false, "message": "no offset"}}', 3)
    Answer(kind='result', valid=False, output=None, message='no offset')
    >>> parse_answer(b'{"seq": 2, "result": {"valid": true}}', 3).message
    'answer for seq 2 where seq 3 was expected'
    >>> parse_answer(b"hello", 0).kind
    'errored'
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from aifabric._errors import AifabricError

__all__ = ["PROTOCOL_VERSION", "Adapter", "AdapterError", "Answer", "case_request", "parse_answer"]

PROTOCOL_VERSION: Final = 1
_STDERR_KEEP: Final = 16_384
_LINE_MAX: Final = 64 * 1024 * 1024
_FILE_MEMBERS: Final = frozenset({"schemaURL", "description", "spec", "operation", "cases"})


class AdapterError(AifabricError):
    """An adapter that cannot be started, or that refuses protocol version 1."""

    code = "AIF-ADAPTER"


@dataclass(frozen=True, slots=True)
class Answer:
    """An adapter's answer to one ``run``: ``result`` (with the verdict), ``skipped`` or ``errored``."""

    kind: Literal["result", "skipped", "errored"]
    valid: bool | None = None
    output: Any = None
    message: str | None = None


def case_request(vector: Mapping[str, Any], case: Mapping[str, Any]) -> dict[str, Any]:
    """The ``case`` of a ``run`` request: the case's data plus the file's own members; never the verdict."""
    out = {k: v for k, v in vector.items() if k not in _FILE_MEMBERS}
    out["data"] = case.get("data")
    return out


def _errored(message: str) -> Answer:
    return Answer("errored", message=message)


def parse_answer(line: bytes | str, seq: int) -> Answer:
    """Read one line the adapter wrote in answer to ``run`` number ``seq``; a malformed line is ``errored``."""
    try:
        text = line.decode("utf-8") if isinstance(line, bytes) else line
        value = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return _errored(f"the adapter wrote a line that is not UTF-8 JSON ({exc}): {_clip(line)}")
    if not isinstance(value, dict):
        return _errored(f"the adapter wrote a line that is not a JSON object: {_clip(line)}")
    got = value.get("seq")
    if type(got) is not int or got < 0:
        return _errored(f"the answer has no non-negative integer seq: {_clip(line)}")
    if got != seq:
        return _errored(f"answer for seq {got} where seq {seq} was expected")
    kinds = [k for k in ("result", "skipped", "errored") if k in value]
    if len(kinds) != 1 or any(k in value for k in ("ready", "stopped")):
        return _errored(f"the answer holds not exactly one of result, skipped and errored: {_clip(line)}")
    body = value[kinds[0]]
    if not isinstance(body, dict):
        return _errored(f"{kinds[0]} is not an object: {_clip(line)}")
    if kinds[0] == "result":
        if not isinstance(body.get("valid"), bool):
            return _errored(f"result.valid is not a boolean: {_clip(line)}")
        message = body.get("message")
        if message is not None and not isinstance(message, str):
            return _errored(f"result.message is not a string: {_clip(line)}")
        return Answer("result", valid=body["valid"], output=body.get("output"), message=message)
    member = "reason" if kinds[0] == "skipped" else "message"
    if not isinstance(body.get(member), str):
        return _errored(f"{kinds[0]}.{member} is not a string: {_clip(line)}")
    return Answer("skipped", message=body[member]) if kinds[0] == "skipped" else _errored(body[member])


def _clip(line: bytes | str, size: int = 200) -> str:
    text = line.decode("utf-8", "backslashreplace") if isinstance(line, bytes) else line
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= size else text[:size] + f"... ({len(text)} characters)"


class Adapter:
    """A running adapter command; use it as a context manager, or call :meth:`close`.

    Args:
        argv: the command and its arguments (run without a shell).
        timeout: seconds to wait for each answer.
        env: variables added to the environment (``AIFABRIC_SCHEMAS_DIR`` among them).
    """

    def __init__(self, argv: Sequence[str], *, timeout: float = 30.0, env: Mapping[str, str] | None = None) -> None:
        if not argv:
            raise AdapterError("the adapter command is empty")
        self.argv = list(argv)
        self.timeout = timeout
        self.env = {**os.environ, **(env or {})}
        self.implementation: dict[str, Any] = {}
        self.operations: list[str] = []
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._stderr = bytearray()
        self._lock = threading.Lock()
        self._seq = 0
        self._broken: str | None = None

    def __enter__(self) -> Adapter:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def stderr(self) -> str:
        """The last 16 KiB the adapter wrote to its standard error, over every start."""
        with self._lock:
            return self._stderr.decode("utf-8", "backslashreplace")

    def start(self) -> dict[str, Any]:
        """Start the command and say ``start``; return its ``ready`` answer.

        Raises:
            AdapterError: the command cannot be started, does not answer, or is not ready for version 1.
        """
        self._kill()
        try:
            proc = subprocess.Popen(  # noqa: S603 - the user names the adapter to run; no shell
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self.env,
            )
        except OSError as exc:
            raise AdapterError(f"cannot start the adapter {self.argv[0]!r}: {exc.strerror or exc}") from None
        self._proc, self._lines, self._seq, self._broken = proc, queue.Queue(), 0, None
        threading.Thread(target=self._read_stdout, args=(proc, self._lines), daemon=True).start()
        threading.Thread(target=self._read_stderr, args=(proc,), daemon=True).start()
        line = self._exchange({"cmd": "start", "version": PROTOCOL_VERSION})
        if isinstance(line, str):
            self._kill()
            raise AdapterError(f"the adapter did not start: {line}{self._stderr_tail()}")
        try:
            hello = json.loads(line)
        except (ValueError, RecursionError):
            hello = None
        if not isinstance(hello, dict) or hello.get("seq") != 0:
            self._kill()
            raise AdapterError(f"the adapter answered start with {_clip(line)}{self._stderr_tail()}")
        if hello.get("ready") is not True or hello.get("version") != PROTOCOL_VERSION:
            self._kill()
            raise AdapterError(
                f"the adapter is not ready for protocol version {PROTOCOL_VERSION} (it speaks {hello.get('version')!r})"
            )
        impl, ops = hello.get("implementation"), hello.get("operations")
        self.implementation = impl if isinstance(impl, dict) else {}
        self.operations = [op for op in ops if isinstance(op, str)] if isinstance(ops, list) else []
        return hello

    def run(self, operation: str, case: Mapping[str, Any]) -> Answer:
        """Send one case; never raises. After an errored exchange the adapter is restarted for the next case."""
        if self._proc is None or self._broken is not None:
            try:
                self.restarts += 1 if self._proc is not None or self._broken is not None else 0
                self.start()
            except AdapterError as exc:
                self._broken = str(exc)
                return _errored(str(exc))
        seq = self._seq
        line = self._exchange({"cmd": "run", "operation": operation, "case": dict(case)})
        if isinstance(line, str):
            self._broken = line
            self._kill()
            return _errored(line + self._stderr_tail())
        answer = parse_answer(line, seq)
        if answer.kind == "errored" and answer.message is not None and not _is_adapter_errored(line, seq):
            self._broken = answer.message  # out of step with the protocol: start afresh
            self._kill()
        return answer

    def close(self) -> None:
        """Say ``stop`` and wait briefly for the adapter to exit; kill it if it does not."""
        proc = self._proc
        if proc is not None and proc.poll() is None and self._broken is None:
            self._exchange({"cmd": "stop"}, timeout=min(self.timeout, 5.0))
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=min(self.timeout, 5.0))
        self._kill()

    # --- plumbing -----------------------------------------------------------------------------------------

    def _exchange(self, request: dict[str, Any], *, timeout: float | None = None) -> bytes | str:
        """Send a request and return the answer line, or a sentence saying why none came."""
        proc = self._proc
        assert proc is not None
        assert proc.stdin is not None
        request = {"seq": self._seq, **request}
        self._seq += 1
        try:
            data = json.dumps(request, ensure_ascii=True, separators=(",", ":")).encode("ascii") + b"\n"
        except (TypeError, ValueError) as exc:
            return f"the case cannot be written as JSON: {exc}"
        wait = self.timeout if timeout is None else timeout
        watchdog = threading.Timer(wait, proc.kill)  # an adapter that stops reading must not hang the suite
        watchdog.start()
        try:
            proc.stdin.write(data)
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return self._gone(proc)
        finally:
            watchdog.cancel()
        try:
            line = self._lines.get(timeout=wait)
        except queue.Empty:
            return f"no answer to seq {request['seq']} within {wait:g} s"
        if line is None:
            return self._gone(proc)
        return line

    def _gone(self, proc: subprocess.Popen[bytes]) -> str:
        try:
            code = proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return "the adapter closed its standard output"
        return f"the adapter exited with status {code} before answering"

    def _read_stdout(self, proc: subprocess.Popen[bytes], lines: queue.Queue[bytes | None]) -> None:
        assert proc.stdout is not None
        try:
            for line in iter(lambda: proc.stdout.readline(_LINE_MAX), b""):  # type: ignore[union-attr]
                lines.put(line.rstrip(b"\r\n"))
        except (OSError, ValueError):
            pass
        lines.put(None)

    def _read_stderr(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        try:
            for chunk in iter(lambda: proc.stderr.read1(4096), b""):  # type: ignore[union-attr,attr-defined]
                with self._lock:
                    self._stderr += chunk
                    del self._stderr[:-_STDERR_KEEP]
        except (OSError, ValueError):
            pass

    def _stderr_tail(self) -> str:
        tail = self.stderr.strip()[-2000:]
        return f"; its stderr ends: {tail}" if tail else ""

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5.0)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass


def _is_adapter_errored(line: bytes, seq: int) -> bool:
    """Whether the line is a well-formed ``errored`` answer (the adapter stays in step) rather than a bad line."""
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict) and value.get("seq") == seq and isinstance(value.get("errored"), dict)
