r"""The OpenAI-compatible HTTP API (``/v1/models``, ``/v1/chat/completions``, ``/v1/completions``).

Request builders return :class:`~aifabric.serving.Request` objects; the server-sent-event helpers read a stream
the way the checks judge it: an event is a ``data: {...}`` line, ``data: [DONE]`` ends the stream, a chunk carries
output when ``choices[].delta.content`` (chat) or ``choices[].text`` (completions) is not empty, and an ``error``
object inside the stream is a failure even after HTTP 200.

Examples:
    >>> from aifabric.serving.protocols.openai import chat_request, parse_stream
    >>> chat_request("llama", "Hi", stream=True).path
    '/v1/chat/completions'
    >>> stream = parse_stream(
    ...     b'data: {"choices": [{"delta": {"content": "He"}}]}\n\n'
    ...     b'data: {"choices": [{"delta": {"content": "llo"}}]}\n\ndata: [DONE]\n\n'
    ... )
    >>> stream.text, stream.outputs, stream.done, stream.error
    ('Hello', 2, True, None)
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aifabric._errors import DocumentError
from aifabric.serving._types import Request
from aifabric.serving.checks import REQUIREMENTS, CheckResult, Measurement, _exchange, _session

__all__ = [
    "Stream",
    "carries_output",
    "chat_request",
    "check_protocol",
    "chunk_error",
    "chunk_output",
    "completion_request",
    "iter_events",
    "models_request",
    "parse_completion",
    "parse_stream",
]

Kind = Literal["chat", "completions"]
_JSON = {"Content-Type": "application/json"}


def models_request() -> Request:
    """``GET /v1/models``."""
    return Request("GET", "/v1/models", label="models")


def chat_request(
    model: str,
    messages: str | Sequence[Mapping[str, str]],
    *,
    stream: bool = False,
    max_tokens: int = 16,
    temperature: float = 0.0,
    label: str = "",
    keep_body: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> Request:
    """``POST /v1/chat/completions``; a string is one user message."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    doc = {
        "model": model,
        "messages": [dict(m) for m in messages],
        "max_tokens": max_tokens,
        "temperature": temperature,
        "stream": stream,
        **(extra or {}),
    }
    body = json.dumps(doc, separators=(",", ":")).encode()
    return Request("POST", "/v1/chat/completions", body, _JSON, stream=stream, label=label, keep_body=keep_body)


def completion_request(
    model: str,
    prompt: str,
    *,
    stream: bool = False,
    max_tokens: int = 16,
    temperature: float = 0.0,
    label: str = "",
    keep_body: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> Request:
    """``POST /v1/completions``."""
    doc = {
        "model": model,
        "prompt": prompt,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "stream": stream,
        **(extra or {}),
    }
    body = json.dumps(doc, separators=(",", ":")).encode()
    return Request("POST", "/v1/completions", body, _JSON, stream=stream, label=label, keep_body=keep_body)


def iter_events(body: bytes | str) -> Iterator[str]:
    """The ``data`` of each server-sent event, in order (multi-line data joined with newlines)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    data: list[str] = []
    for line in text.splitlines():
        if not line:
            if data:
                yield "\n".join(data)
                data = []
        elif line.startswith("data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


def chunk_output(chunk: Any) -> str:
    """The text a chunk (or a whole answer) carries: ``delta.content``, ``message.content`` or ``text``."""
    if not isinstance(chunk, Mapping):
        return ""
    parts: list[str] = []
    for choice in chunk.get("choices") or ():
        if not isinstance(choice, Mapping):
            continue
        for holder in (choice.get("delta"), choice.get("message")):
            if isinstance(holder, Mapping) and isinstance(holder.get("content"), str):
                parts.append(holder["content"])
        if isinstance(choice.get("text"), str):
            parts.append(choice["text"])
    return "".join(parts)


_OUTPUT_FIELDS = ("content", "reasoning_content", "reasoning", "tool_calls", "refusal")


def carries_output(chunk: Any) -> bool:
    """Whether a chunk carries output: a choice with text, content, reasoning, tool calls or a refusal.

    The role-only first chunk and the usage-only last one do not; the time of each chunk that does is a token's.
    """
    if not isinstance(chunk, Mapping):
        return False
    for choice in chunk.get("choices") or ():
        if not isinstance(choice, Mapping):
            continue
        if choice.get("text"):
            return True
        holder = choice.get("delta") or choice.get("message")
        if isinstance(holder, Mapping) and any(holder.get(name) for name in _OUTPUT_FIELDS):
            return True
    return False


def chunk_error(chunk: Any) -> str | None:
    """The message of an ``error`` object in a chunk, or None."""
    if not isinstance(chunk, Mapping) or "error" not in chunk:
        return None
    error = chunk["error"]
    if isinstance(error, Mapping):
        return str(error.get("message") or error.get("type") or error)
    return str(error)


@dataclass(frozen=True, slots=True)
class Stream:
    """What a stream said: its text, how many events carried output, whether ``[DONE]`` came, the first error."""

    text: str
    outputs: int
    events: int
    done: bool
    error: str | None


def parse_stream(body: bytes | str) -> Stream:
    """Read a whole server-sent-event stream; malformed events and ``error`` objects set ``error``."""
    text: list[str] = []
    outputs = events = 0
    done = False
    error: str | None = None
    for data in iter_events(body):
        if done:
            error = error or "an event after [DONE]"
            break
        if data.strip() == "[DONE]":
            done = True
            continue
        events += 1
        try:
            chunk = json.loads(data)
        except ValueError:
            error = error or f"an event is not JSON: {data[:80]!r}"
            continue
        error = error or chunk_error(chunk)
        if carries_output(chunk):
            outputs += 1
            text.append(chunk_output(chunk))
    if not done and error is None:
        error = "the stream ended without data: [DONE]"
    return Stream("".join(text), outputs, events, done, error)


def parse_completion(body: bytes) -> str:
    """The text of a non-streamed chat or completions answer.

    Raises:
        DocumentError: the body is an error object, not JSON, or has no ``choices``.
    """
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DocumentError(f"the answer is not JSON: {exc}", rule="openai") from None
    error = chunk_error(doc)
    if error is not None:
        raise DocumentError(f"the server answered with an error: {error}", rule="openai")
    if not isinstance(doc, dict) or not isinstance(doc.get("choices"), list) or not doc["choices"]:
        raise DocumentError("the answer has no choices", rule="openai", pointer="/choices")
    return chunk_output(doc)


def _chunk_objects(body: bytes) -> list[Any]:
    """The ``object`` of each JSON object chunk of a stream (None where it has none); error chunks are left out."""
    objects: list[Any] = []
    for data in iter_events(body):
        if data.strip() == "[DONE]":
            continue
        try:
            chunk = json.loads(data)
        except ValueError:
            continue
        if isinstance(chunk, dict) and "error" not in chunk:
            objects.append(chunk.get("object"))
    return objects


async def check_protocol(
    base_url: str,
    model: str,
    *,
    kind: Kind = "chat",
    profile: Literal["strict", "tolerant"] = "strict",
    timeout: float = 30.0,
) -> CheckResult:
    """Probe a live OpenAI-compatible server.

    Probes: ``GET /v1/models`` lists ``model`` in ``data[].id``; a non-streamed answer has ``choices`` with text
    and the ``object`` ``chat.completion`` (chat) or ``text_completion`` (completions) (SRV-054); a streamed answer
    carries output in chunks of ``object`` ``chat.completion.chunk`` (chat) or ``text_completion`` (completions)
    and ends with ``data: [DONE]`` without an error (SRV-055); malformed JSON gets a 400 with an ``error`` object.
    ``tolerant`` accepts a missing models list or a model missing from it, a missing or wrong ``object``, another
    content type and a 4xx other than 400, each in the notes (SRV-056).
    """
    problems: list[str] = []
    notes: list[str] = []
    steps: list[Measurement] = []

    def deviate(message: str) -> None:
        (problems if profile == "strict" else notes).append(message)

    build = chat_request if kind == "chat" else completion_request
    answer_object = "chat.completion" if kind == "chat" else "text_completion"
    chunk_object = "chat.completion.chunk" if kind == "chat" else "text_completion"
    async with _session(timeout + 5) as session:
        listed = await _exchange(session, base_url, models_request(), timeout=timeout)
        steps.append(Measurement("models status", listed.status))
        if listed.status is None:
            return CheckResult(
                "protocol", "error", f"{base_url} could not be reached: {listed.error}", REQUIREMENTS["protocol"]
            )
        doc = listed.json()
        if listed.status != 200 or not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
            deviate(f"GET /v1/models answered HTTP {listed.status} without a data list")
        elif model not in {m.get("id") for m in doc["data"] if isinstance(m, dict)}:
            deviate(f"GET /v1/models does not list {model!r}")

        plain = await _exchange(session, base_url, build(model, "Say hello.", stream=False), timeout=timeout)
        steps.append(Measurement("completion status", plain.status))
        if plain.status != 200:
            problems.append(f"a non-streamed request answered {plain.error or f'HTTP {plain.status}'}")
        else:
            try:
                parse_completion(plain.body)
            except DocumentError as exc:
                problems.append(f"a non-streamed answer: {exc.reason}")
            else:
                found = plain.json().get("object")
                if found != answer_object:
                    deviate(f"a non-streamed answer has `object` {found!r}, not {answer_object!r}")

        streamed = await _exchange(session, base_url, build(model, "Say hello.", stream=True), timeout=timeout)
        steps.append(Measurement("stream status", streamed.status))
        if streamed.status != 200:
            problems.append(f"a streamed request answered {streamed.error or f'HTTP {streamed.status}'}")
        else:
            if "text/event-stream" not in streamed.headers.get("Content-Type", ""):
                deviate(f"a stream has Content-Type {streamed.headers.get('Content-Type')!r}, not text/event-stream")
            stream = parse_stream(streamed.body)
            steps.append(Measurement("stream output events", stream.outputs, "events"))
            if stream.error:
                problems.append(f"a stream failed after HTTP 200: {stream.error}")
            elif not stream.outputs:
                problems.append("a stream carried no output")
            wrong = sorted({repr(o) for o in _chunk_objects(streamed.body) if o != chunk_object})
            if wrong:
                deviate(f"stream chunks have `object` {', '.join(wrong)}, not {chunk_object!r}")

        bad = Request("POST", build(model, "x").path, b'{"model": ', _JSON, label="malformed")
        malformed = await _exchange(session, base_url, bad, timeout=timeout)
        steps.append(Measurement("malformed status", malformed.status))
        if malformed.status is None or not 400 <= malformed.status < 500:
            problems.append(f"malformed JSON answered {malformed.error or f'HTTP {malformed.status}'}, not 400")
        else:
            if malformed.status != 400:
                deviate(f"malformed JSON answered {malformed.status}, not 400")
            if chunk_error(malformed.json()) is None:
                deviate("malformed JSON's answer has no error object")
    if problems:
        message = f"{len(problems)} deviations from the OpenAI {kind} API ({profile}): " + "; ".join(problems)
        return CheckResult("protocol", "failed", message, REQUIREMENTS["protocol"], tuple(steps), tuple(notes))
    extra = f" ({len(notes)} tolerated deviations)" if notes else ""
    return CheckResult(
        "protocol",
        "passed",
        f"{model} speaks the OpenAI {kind} API, streamed and not ({profile} profile){extra}",
        REQUIREMENTS["protocol"],
        tuple(steps),
        tuple(notes),
    )
