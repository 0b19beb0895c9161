"""Checks that judge a model endpoint against a serving contract, each returning a :class:`CheckResult`.

Some checks drive the endpoint themselves (input validation, overload, warm-up, accuracy, no caching); others judge
what the load generator recorded (latency, throughput, error budget, streaming) or what the telemetry sampler saw
(telemetry, GPU bounds). A check never raises for what the endpoint does: a wrong answer is ``failed``, a run too
short to prove anything is ``invalid``, an endpoint that cannot be reached is ``error``.

Examples:
    >>> from aifabric.serving.checks import check_throughput, CheckResult
    >>> result = CheckResult("throughput", "passed", "served 210.0 rps, at least 200.0 rps required")
    >>> result.to_json()["outcome"]
    'passed'
    >>> check_error_rate = CheckResult("error-budget", "failed", "3 of 100 requests failed")
    >>> check_error_rate.ok
    False
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from aifabric.serving._types import CheckId, Request
from aifabric.serving._types import CheckOutcome as Outcome

if TYPE_CHECKING:
    import aiohttp

    from aifabric.serving.load import LatencyTarget, LoadResult, RequestSource

__all__ = [
    "REQUIREMENTS",
    "CheckResult",
    "Measurement",
    "OverloadPolicy",
    "check_accuracy",
    "check_error_budget",
    "check_gpu_bounds",
    "check_input_validation",
    "check_latency",
    "check_no_caching",
    "check_overload",
    "check_streaming",
    "check_telemetry",
    "check_throughput",
    "check_warmup",
]

AccuracyMetric = Literal["exact_match", "top1", "abs_tolerance"]

REQUIREMENTS: Mapping[str, tuple[str, ...]] = {
    "protocol": ("SRV-040", "SRV-043", "SRV-044", "SRV-052", "SRV-054"),
    "input-validation": ("SRV-040", "SRV-052", "SRV-053"),
    "latency": ("SRV-020", "SRV-021", "SRV-022", "SRV-023", "SRV-024", "SRV-026", "SRV-031", "SRV-041", "SRV-052"),
    "throughput": ("SRV-028", "SRV-041", "SRV-052"),
    "error-budget": ("SRV-027", "SRV-029", "SRV-041", "SRV-052"),
    "overload": ("SRV-045", "SRV-052"),
    "warmup": ("SRV-046", "SRV-052"),
    "streaming": ("SRV-042", "SRV-052", "SRV-055"),
    "accuracy": ("SRV-048", "SRV-052"),
    "no-caching": ("SRV-047", "SRV-052"),
    "telemetry": ("SRV-049", "SRV-050", "SRV-052"),
    "gpu-bounds": ("SRV-051", "SRV-052"),
}
"""The requirement IDs of spec/serving.md each check proves."""


@dataclass(frozen=True, slots=True)
class Measurement:
    """One number a check measured, with the bound it was compared to."""

    name: str
    value: float | int | str | bool | None
    unit: str = ""
    target: float | None = None
    comparison: Literal["<=", ">=", "==", "<", ">"] | None = None

    def to_json(self) -> dict[str, Any]:
        """The measurement as a JSON object, without the bound when there is none."""
        doc: dict[str, Any] = {"name": self.name, "value": _finite(self.value), "unit": self.unit}
        if self.target is not None:
            doc["target"] = _finite(self.target)
        if self.comparison is not None:
            doc["comparison"] = self.comparison
        return doc


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What one check found: an outcome, one sentence saying why, and the numbers behind it."""

    id: CheckId
    outcome: Outcome
    message: str
    requirements: tuple[str, ...] = ()
    measurements: tuple[Measurement, ...] = ()
    notes: tuple[str, ...] = ()
    """Deviations that did not decide the outcome (what a tolerant profile accepted)."""

    @property
    def ok(self) -> bool:
        """True when the check passed."""
        return self.outcome == "passed"

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON object (requirement IDs default to the check's own)."""
        requirements = [r for r in (self.requirements or REQUIREMENTS.get(self.id, ())) if r]
        doc: dict[str, Any] = {
            "id": self.id,
            "outcome": self.outcome,
            "message": self.message,
            "requirements": requirements,
            "measurements": [m.to_json() for m in self.measurements],
        }
        if self.notes:
            doc["notes"] = list(self.notes)
        return doc


@dataclass(frozen=True, slots=True)
class OverloadPolicy:
    """What a contract promises under overload.

    Attributes:
        capacity_rps: the rate the endpoint is stated to sustain.
        factor: how far above capacity the check drives it.
        behaviour: ``reject`` (answer excess requests with one of ``statuses``) or ``fallback`` (answer them with a
            degraded answer whose body contains ``fallback``).
        statuses: the statuses a refusal may have.
        retry_after: refusals must carry a Retry-After header.
        max_response_s: every answer, refusal or not, must arrive within this many seconds of being due.
        fallback: a string the body of a fallback answer contains.
    """

    capacity_rps: float
    factor: float = 2.0
    behaviour: Literal["reject", "fallback"] = "reject"
    statuses: tuple[int, ...] = (429, 503)
    retry_after: bool = False
    max_response_s: float = 1.0
    fallback: str | None = None


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _result(
    check: CheckId,
    outcome: Outcome,
    message: str,
    measurements: Sequence[Measurement] = (),
    notes: Sequence[str] = (),
) -> CheckResult:
    return CheckResult(check, outcome, message, REQUIREMENTS[check], tuple(measurements), tuple(notes))


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


def _fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _pct(p: float) -> str:
    return f"p{p * 100:g}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# --- one HTTP exchange, for probes that are not load ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int | None
    headers: Mapping[str, str]
    body: bytes
    elapsed: float
    error: str | None = None

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None


_LARGE = 512 * 1024  # bodies above this are streamed from a buffer, not written in one go


def _session(timeout: float, *, fresh: bool = False) -> aiohttp.ClientSession:
    """A client session; ``fresh``: a new connection for each request, so that one answer cannot spoil the next."""
    import aiohttp

    connector = aiohttp.TCPConnector(force_close=True) if fresh else None
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout), connector=connector)


async def _exchange(
    session: aiohttp.ClientSession, base_url: str, request: Request, *, timeout: float = 10.0
) -> _Reply:
    """Send one request and read the whole answer; transport failures become ``error``, never exceptions."""
    import aiohttp

    url = base_url.rstrip("/") + request.path
    start = time.perf_counter()
    try:
        async with session.request(
            request.method,
            url,
            data=io.BytesIO(request.body) if request.body and len(request.body) > _LARGE else request.body,
            headers=dict(request.headers),
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            body = await response.read()
            return _Reply(response.status, dict(response.headers), body, time.perf_counter() - start)
    except TimeoutError:
        return _Reply(None, {}, b"", time.perf_counter() - start, "timeout")
    except aiohttp.ClientConnectorError:
        return _Reply(None, {}, b"", time.perf_counter() - start, "connect")
    except (aiohttp.ClientError, OSError) as exc:
        return _Reply(None, {}, b"", time.perf_counter() - start, f"connection: {type(exc).__name__}")


# --- input validation ------------------------------------------------------------------------------------------


def _mutations(valid: Request, huge_bytes: int) -> list[tuple[str, Request]]:
    """Malformed variants of a valid JSON request: each one a server must refuse with a 4xx."""
    json_headers = {**valid.headers, "Content-Type": "application/json"}
    try:
        doc = json.loads(valid.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        doc = {}
    if not isinstance(doc, dict):
        doc = {}

    def variant(name: str, body: bytes, headers: Mapping[str, str] = json_headers) -> tuple[str, Request]:
        return name, dataclasses.replace(valid, body=body, headers=dict(headers), stream=False, label=name)

    def dumped(value: Any) -> bytes:
        return json.dumps(value).encode()

    cases = [variant("bad-json", b'{"inputs": [{"name": "x", "shape": [1], ')]
    if isinstance(doc.get("inputs"), list) and doc["inputs"]:  # Open Inference Protocol v2
        first = dict(doc["inputs"][0])
        wrong_type = {**doc, "inputs": [{**first, "datatype": "NOT_A_DATATYPE"}, *doc["inputs"][1:]]}
        shape = [int(d) for d in first.get("shape", [1]) if isinstance(d, int)] or [1]
        wrong_shape = {**doc, "inputs": [{**first, "shape": [shape[0] + 7, *shape[1:]]}, *doc["inputs"][1:]]}
        missing = {k: v for k, v in doc.items() if k != "inputs"}
        cases += [
            variant("wrong-datatype", dumped(wrong_type)),
            variant("wrong-shape", dumped(wrong_shape)),
            variant("missing-inputs", dumped(missing)),
        ]
    else:  # OpenAI chat or completions
        key = "messages" if "messages" in doc else "prompt"
        missing = {k: v for k, v in doc.items() if k != key}
        wrong_shape = {**doc, key: [{"role": "user"}]} if key == "messages" else {**doc, key: {"text": "x"}}
        cases += [
            variant("wrong-datatype", dumped({**doc, key: 42, "max_tokens": "many"})),
            variant("wrong-shape", dumped(wrong_shape)),
            variant("missing-inputs", dumped(missing)),
        ]
    filler = b"0, " * (huge_bytes // 3)
    cases.append(
        variant("huge-body", b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [' + filler)
    )
    cases.append(variant("wrong-content-type", valid.body or b"{}", {**valid.headers, "Content-Type": "text/plain"}))
    return cases


async def check_input_validation(
    base_url: str, valid: Request, *, timeout: float = 5.0, huge_bytes: int = 16 * 1024 * 1024
) -> CheckResult:
    """Send malformed variants of ``valid``; each must get a 4xx answer within ``timeout`` seconds.

    The variants: bad JSON, a wrong datatype, a wrong shape, missing inputs, a huge body and a wrong content type.
    A 5xx, a 2xx, a hang or a dropped connection fails the check, naming the variant. A huge body refused by
    closing the connection is accepted and noted. Each request goes on a new connection, so that a server that
    drops a connection after one bad answer is blamed for that answer, not the next.
    """
    failures: list[str] = []
    notes: list[str] = []
    measurements: list[Measurement] = []
    async with _session(timeout + 5, fresh=True) as session:
        first = await _exchange(session, base_url, valid, timeout=timeout)
        if first.status is None:
            return _result("input-validation", "error", f"the endpoint could not be reached: {first.error}")
        for name, request in _mutations(valid, huge_bytes):
            reply = await _exchange(session, base_url, request, timeout=timeout)
            measurements.append(Measurement(f"{name} status", reply.status, "", None, None))
            if reply.status is not None and 400 <= reply.status < 500:
                continue
            if reply.status is None and name == "huge-body" and reply.error and reply.error != "timeout":
                notes.append(f"huge-body: the server closed the connection instead of answering 413 ({reply.error})")
                continue
            if reply.status is None:
                what = f"no answer within {timeout:g} s" if reply.error == "timeout" else f"no answer ({reply.error})"
            else:
                what = f"HTTP {reply.status}"
            failures.append(f"{name}: {what}")
        after = await _exchange(session, base_url, valid, timeout=timeout)
    if after.status is None or after.status >= 500:
        failures.append(f"a valid request afterwards got {after.error or f'HTTP {after.status}'}")
    total = len(measurements)
    if failures:
        message = f"{len(failures)} of {total} malformed requests were not refused with a 4xx: " + "; ".join(failures)
        return _result("input-validation", "failed", message, measurements, notes)
    return _result(
        "input-validation", "passed", f"all {total} malformed requests were refused with a 4xx", measurements, notes
    )


# --- judgements of a load run ------------------------------------------------------------------------------------


def check_latency(
    result: LoadResult,
    targets: Sequence[LatencyTarget],
    *,
    confidence: float = 0.99,
    min_requests: int = 0,
    min_duration_s: float = 0.0,
    send_lag_p99: float = 0.002,
) -> CheckResult:
    """Each latency percentile within its bound, with enough requests for the claim to hold at ``confidence``.

    A bound exceeded fails; a run shorter than ``min_duration_s``, with fewer than ``min_requests`` requests, one
    where the load generator fell behind its schedule, or too few requests for the early-stopping rule to prove a
    percentile at ``confidence``, is ``invalid``.
    """
    from aifabric.serving._stats import early_stopping

    measurements: list[Measurement] = []
    over: list[str] = []
    unproven: list[str] = []
    for target in targets:
        lat = result.latencies(target.kind)
        name = f"{target.kind} {_pct(target.percentile)}"
        if not lat:
            unproven.append(f"{name}: no successful request to measure")
            measurements.append(Measurement(name, None, "ms", _ms(target.max_seconds), "<="))
            continue
        observed = result.percentile(target.kind, target.percentile)
        measurements.append(Measurement(name, _ms(observed), "ms", _ms(target.max_seconds), "<="))
        if observed > target.max_seconds:
            over.append(f"{name} {_fmt_s(observed)} exceeds {_fmt_s(target.max_seconds)}")
        stop = early_stopping(lat, target.max_seconds, target.percentile, confidence)
        measurements.append(
            Measurement(f"{name} requests required", int(stop["required"]), "requests", None, None),
        )
        if not stop["ok"] and observed <= target.max_seconds:
            unproven.append(
                f"{name}: {stop['observed']} requests ({stop['slow']} slow) cannot prove it at "
                f"{confidence:g} confidence; {stop['required']} needed"
            )
    n = len(result.samples)
    if over:
        return _result("latency", "failed", "; ".join(over), measurements)
    if n < min_requests:
        unproven.append(f"{n} requests, fewer than the {min_requests} required")
    if result.duration < min_duration_s:
        unproven.append(f"the run lasted {result.duration:g} s, less than the {min_duration_s:g} s required")
    if not result.keeps_up(send_lag_p99):
        unproven.append(f"the load generator fell behind its schedule (p99 send lag {_fmt_s(result.send_lag(0.99))})")
    if unproven:
        return _result("latency", "invalid", "latency is not proven: " + "; ".join(unproven), measurements)
    within = ", ".join(f"{m.name} {m.value} ms" for m in measurements if m.unit == "ms")
    return _result("latency", "passed", f"every latency target met over {n} requests: {within}", measurements)


def check_throughput(result: LoadResult, *, min_rps: float) -> CheckResult:
    """Successful requests per second at least ``min_rps``."""
    m = Measurement("throughput", round(result.throughput, 3), "rps", min_rps, ">=")
    if result.throughput >= min_rps:
        return _result(
            "throughput", "passed", f"served {result.throughput:.1f} rps, at least {min_rps:g} required", [m]
        )
    return _result(
        "throughput", "failed", f"served {result.throughput:.1f} rps, less than the {min_rps:g} rps required", [m]
    )


def check_error_budget(result: LoadResult, *, max_error_rate: float) -> CheckResult:
    """The fraction of failed requests at most ``max_error_rate``; the message names the commonest errors."""
    n = len(result.samples)
    failed = n - result.ok
    m = Measurement("error rate", round(result.error_rate, 6), "ratio", max_error_rate, "<=")
    if n == 0:
        return _result("error-budget", "invalid", "no request was sent", [m])
    top = ", ".join(f"{k} x{v}" for k, v in sorted(result.errors.items(), key=lambda kv: -kv[1])[:3])
    if result.error_rate <= max_error_rate:
        detail = f" ({top})" if top else ""
        return _result(
            "error-budget",
            "passed",
            f"{failed} of {n} requests failed{detail}, within the {max_error_rate:.2%} budget",
            [m],
        )
    return _result(
        "error-budget",
        "failed",
        f"{failed} of {n} requests failed ({result.error_rate:.2%}, budget {max_error_rate:.2%}): {top}",
        [m],
    )


_CUT_OFF = "stream error: ended before [DONE]"
_NO_OUTPUT = "stream error: no output"


def _median(sorted_values: Sequence[float]) -> float:
    """The median by SRV-024: the value at index floor(n * 0.5) of the ascending values."""
    from aifabric.serving._stats import percentile

    return percentile(sorted_values, 0.5)


def check_streaming(result: LoadResult, *, max_error_rate: float = 0.0) -> CheckResult:
    """Streams end cleanly and carry output; TTFT/ITL present.

    After a 200, an error event, a stream cut off before ``data: [DONE]`` and a stream without an output chunk all
    count as failures (SRV-022, SRV-027, SRV-055); p50s are taken by SRV-024.
    """
    samples = result.samples
    if not samples:
        return _result("streaming", "invalid", "no streaming request was sent")
    cut = [s for s in samples if s.error == _CUT_OFF]
    silent = [s for s in samples if s.error == _NO_OUTPUT or (s.ok and not s.chunks)]
    in_stream = [
        s for s in samples if s.error and s.error.startswith("stream") and s.error not in (_CUT_OFF, _NO_OUTPUT)
    ]
    failed = sum(1 for s in samples if not s.ok)
    rate = failed / len(samples)
    ttft = result.latencies("ttft")
    itl = result.latencies("itl")
    measurements = [
        Measurement("in-stream errors", len(in_stream), "requests", 0, "=="),
        Measurement("streams ended before [DONE]", len(cut), "requests", 0, "=="),
        Measurement("streams without output", len(silent), "requests", 0, "=="),
        Measurement("stream error rate", round(rate, 6), "ratio", max_error_rate, "<="),
    ]
    if ttft:
        measurements.append(Measurement("ttft p50", _ms(_median(ttft)), "ms"))
    if itl:
        measurements.append(Measurement("itl p50", _ms(_median(itl)), "ms"))
    problems = []
    if in_stream:
        example = in_stream[0].error
        problems.append(
            f"{len(in_stream)} of {len(samples)} streams broke off with an error after HTTP 200 ({example})"
        )
    if cut:
        problems.append(f"{len(cut)} of {len(samples)} streams ended after HTTP 200 without data: [DONE]")
    if silent:
        problems.append(f"{len(silent)} of {len(samples)} streams carried no output (no time to first token)")
    if problems and (any(s.ok for s in silent) or rate > max_error_rate):
        return _result("streaming", "failed", "; ".join(problems), measurements)
    if not ttft:
        return _result("streaming", "invalid", "no stream carried output: time to first token cannot be measured")
    itl_part = f", ITL p50 {_fmt_s(_median(itl))}" if itl else ""
    return _result(
        "streaming",
        "passed",
        f"{result.ok} of {len(samples)} streams ended cleanly; TTFT p50 {_fmt_s(_median(ttft))}{itl_part}",
        measurements,
        problems,
    )


# --- checks that drive the endpoint ------------------------------------------------------------------------------


def _keeping_bodies(requests: RequestSource) -> RequestSource:
    if isinstance(requests, Request):
        return dataclasses.replace(requests, keep_body=True)
    if callable(requests):
        source = requests
        return lambda i: dataclasses.replace(source(i), keep_body=True)
    return [dataclasses.replace(r, keep_body=True) for r in requests]


async def check_overload(
    base_url: str,
    requests: RequestSource,
    policy: OverloadPolicy,
    *,
    duration: float = 10.0,
    seed: int = 0,
    workers: int = 1,
    timeout: float | None = None,
) -> CheckResult:
    """Drive the endpoint open-loop at ``capacity x factor``; excess must be refused (or degraded) promptly.

    Passes only when every request is answered within ``max_response_s`` (nothing times out), every answer that is
    not a success is a declared refusal (with Retry-After when required) or, for ``fallback``, a declared fallback.
    An endpoint that serves everything slowly is named as one that queues instead of rejecting.
    """
    from aifabric.serving.load import run_open_loop

    rate = policy.capacity_rps * policy.factor
    limit = timeout if timeout is not None else max(policy.max_response_s * 4, policy.max_response_s + 2)
    source = _keeping_bodies(requests) if policy.behaviour == "fallback" else requests
    result = await run_open_loop(
        base_url, source, rate=rate, duration=duration, seed=seed, timeout=limit, workers=workers
    )
    samples = result.samples
    n = len(samples)
    at = f"at {rate:g} rps ({policy.factor:g}x the stated {policy.capacity_rps:g})"
    if n == 0:
        return _result("overload", "invalid", f"{at} no request was sent")
    statuses = "/".join(str(s) for s in policy.statuses)
    refused = [s for s in samples if s.status in policy.statuses]
    fallback = [
        s
        for s in samples
        if policy.behaviour == "fallback" and s.ok and policy.fallback and s.body and policy.fallback.encode() in s.body
    ]
    served = [s for s in samples if s.ok and s not in fallback]
    timed_out = [s for s in samples if s.status is None]
    other = [s for s in samples if s.status is not None and not s.ok and s.status not in policy.statuses]
    no_retry_after = [s for s in refused if policy.retry_after and s.retry_after is None]
    # requests that got no answer count at the timeout: a p99 of the answered alone would flatter a queueing server
    e2e = sorted(s.done - s.scheduled if s.status is not None else max(limit, s.done - s.scheduled) for s in samples)
    p99 = e2e[min(len(e2e) - 1, int(len(e2e) * 0.99))]
    lag_bound = policy.max_response_s / 10  # a tenth of the bound it judges, as SRV-030 does for latency targets
    kept_up = result.keeps_up(lag_bound)
    # a harness that fell behind can only blame the endpoint for time after each request was sent: no answer
    # within the timeout (counted from the send), or an answer later than the bound after the send
    slow = [
        s
        for s in samples
        if s.status is not None and s.done - (s.scheduled if kept_up else s.sent) > policy.max_response_s
    ]
    measurements = [
        Measurement("offered rate", round(rate, 3), "rps"),
        Measurement("requests", n, "requests"),
        Measurement("refused", len(refused), "requests"),
        Measurement("fallback answers", len(fallback), "requests"),
        Measurement("served", len(served), "requests"),
        Measurement("timed out", len(timed_out), "requests", 0, "=="),
        Measurement("p99 response", _ms(p99), "ms", _ms(policy.max_response_s), "<="),
        Measurement("send lag p99", _ms(result.send_lag(0.99)), "ms"),
    ]
    declared = f"{len(refused)} of {n} requests were refused with {statuses}"
    if policy.behaviour == "fallback":
        declared += f" and {len(fallback)} answered with the fallback"
    summary = f"{at} {declared}; p99 latency {_fmt_s(p99)}" + (
        " (no answer counted at the timeout)" if timed_out else ""
    )
    problems = []
    if (timed_out or slow) and not refused and not fallback:
        problems.append("the endpoint queues instead of rejecting")
    if timed_out:
        problems.append(f"{len(timed_out)} got no answer within {limit:g} s")
    if slow:
        problems.append(f"{len(slow)} were answered later than {_fmt_s(policy.max_response_s)}")
    if other:
        codes = sorted({s.status for s in other if s.status is not None})
        problems.append(f"{len(other)} got undeclared statuses {', '.join(map(str, codes))}")
    if no_retry_after:
        problems.append(f"{len(no_retry_after)} refusals had no Retry-After header")
    behind = f"the load generator fell behind its schedule (send lag p99 {_fmt_s(result.send_lag(0.99))})"
    if problems:
        note = [f"{behind}: only what came after each send is held against the endpoint"] if not kept_up else []
        return _result("overload", "failed", f"{summary}: " + "; ".join(problems), measurements, note)
    if not kept_up:
        return _result(
            "overload",
            "invalid",
            f"{summary}, but {behind}: the figures cannot be blamed on the endpoint",
            measurements,
        )
    notes = []
    if not refused and not fallback:
        notes.append(f"nothing was refused: the endpoint served {rate:g} rps within bound, above its stated capacity")
    return _result("overload", "passed", f"{summary}: excess load is shed promptly", measurements, notes)


async def check_warmup(
    base_url: str,
    request: Request,
    *,
    max_first_s: float,
    ready_path: str = "/v2/health/ready",
    ready_timeout: float = 60.0,
    poll_interval: float = 0.1,
    timeout: float = 30.0,
) -> CheckResult:
    """The first request after the endpoint reports ready is answered within ``max_first_s``."""
    started = time.perf_counter()
    ready = Request("GET", ready_path)
    async with _session(timeout + 5) as session:
        while True:
            reply = await _exchange(session, base_url, ready, timeout=max(poll_interval, 1.0))
            if reply.status == 200:
                break
            if time.perf_counter() - started > ready_timeout:
                why = reply.error or f"HTTP {reply.status}"
                return _result("warmup", "error", f"{ready_path} did not answer 200 within {ready_timeout:g} s ({why})")
            await asyncio.sleep(poll_interval)
        ready_after = time.perf_counter() - started
        first = await _exchange(session, base_url, request, timeout=timeout)
    measurements = [
        Measurement("first request", _ms(first.elapsed), "ms", _ms(max_first_s), "<="),
        Measurement("time to ready", _ms(ready_after), "ms"),
    ]
    if first.status is None or not 200 <= first.status < 300:
        got = first.error or f"HTTP {first.status}"
        return _result("warmup", "failed", f"the first request after readiness failed: {got}", measurements)
    if first.elapsed > max_first_s:
        return _result(
            "warmup",
            "failed",
            f"the first request after readiness took {_fmt_s(first.elapsed)}, more than {_fmt_s(max_first_s)}: "
            "the endpoint reports ready before it is warm",
            measurements,
        )
    return _result(
        "warmup",
        "passed",
        f"the first request after readiness took {_fmt_s(first.elapsed)}, within {_fmt_s(max_first_s)}",
        measurements,
    )


def _default_output(body: bytes) -> Any:
    """What the answer says: the first V2 output's data, or an OpenAI answer's text (streamed or not)."""
    from aifabric.serving.protocols import oip_v2, openai

    if body.lstrip().startswith(b"data:"):
        return openai.parse_stream(body).text
    doc = json.loads(body)
    if isinstance(doc, dict) and "outputs" in doc:
        outputs = oip_v2.parse_infer_response(body)
        return next(iter(outputs.values())) if outputs else None
    return openai.parse_completion(body)


def _flat(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return [x for v in value for x in _flat(v)]
    return [value]


def _correct(metric: AccuracyMetric, got: Any, expected: Any, tolerance: float) -> bool:
    if metric == "exact_match":
        if isinstance(got, str) and isinstance(expected, str):
            return got.strip() == expected.strip()
        return bool(_flat(got) == _flat(expected))
    if metric == "top1":
        scores = _flat(got)
        if len(scores) > 1 and all(isinstance(x, int | float) and not isinstance(x, bool) for x in scores):
            return bool(max(range(len(scores)), key=lambda i: scores[i]) == expected)
        return bool(_flat(got) == _flat(expected))
    a, b = _flat(got), _flat(expected)
    return len(a) == len(b) and all(abs(float(x) - float(y)) <= tolerance for x, y in zip(a, b, strict=True))


async def check_accuracy(
    base_url: str,
    items: Sequence[tuple[Request, Any]],
    *,
    metric: AccuracyMetric,
    floor: float,
    tolerance: float = 0.0,
    output: Callable[[bytes], Any] | None = None,
    concurrency: int = 4,
    timeout: float = 30.0,
) -> CheckResult:
    """The fraction of an evaluation set answered correctly is at least ``floor``.

    ``items`` pairs each request with its expected output. ``output`` turns an answer's body into what is compared
    (default: the first V2 output tensor's data, or an OpenAI answer's text). Metrics: ``exact_match`` (equal, after
    flattening tensors or trimming text), ``top1`` (the index of the highest score equals the expected label) and
    ``abs_tolerance`` (every element within ``tolerance``). A request that fails counts as wrong.
    """
    from aifabric._errors import AifabricError

    if not items:
        return _result("accuracy", "invalid", "the evaluation set is empty")
    parse = output or _default_output
    semaphore = asyncio.Semaphore(max(1, concurrency))
    wrong: list[str] = []
    failed: list[str] = []

    async with _session(timeout + 5) as session:

        async def judge(index: int, request: Request, expected: Any) -> bool:
            async with semaphore:
                reply = await _exchange(session, base_url, request, timeout=timeout)
            label = request.label or f"#{index}"
            if reply.status is None or not 200 <= reply.status < 300:
                failed.append(f"{label}: {reply.error or f'HTTP {reply.status}'}")
                return False
            try:
                got = parse(reply.body)
                right = _correct(metric, got, expected, tolerance)
            except (AifabricError, ValueError, TypeError, KeyError, IndexError) as exc:
                failed.append(f"{label}: unreadable answer ({exc})")
                return False
            if not right:
                wrong.append(f"{label}: expected {expected!r}, got {got!r}"[:200])
            return right

        verdicts = await asyncio.gather(*(judge(i, r, e) for i, (r, e) in enumerate(items)))
    correct = sum(verdicts)
    fraction = correct / len(items)
    measurements = [
        Measurement(f"accuracy ({metric})", round(fraction, 6), "ratio", floor, ">="),
        Measurement("evaluated", len(items), "samples"),
        Measurement("failed requests", len(failed), "samples"),
    ]
    notes = (failed + wrong)[:5]
    said = f"{correct} of {len(items)} answers correct ({fraction:.2%}, {metric})"
    if fraction >= floor:
        return _result("accuracy", "passed", f"{said}, at least the floor of {floor:.2%}", measurements, notes)
    why = f"; first wrong: {(failed + wrong)[0]}" if failed or wrong else ""
    return _result("accuracy", "failed", f"{said}, below the floor of {floor:.2%}{why}", measurements, notes)


async def check_no_caching(
    base_url: str,
    repeated: Request,
    distinct: Sequence[Request],
    *,
    max_speedup: float = 0.10,
    timeout: float = 30.0,
    duration: float = 60.0,
) -> CheckResult:
    """MLPerf's TEST04: one sample repeated must not be served much faster than as many distinct samples.

    Both runs are closed-loop at concurrency 1 with ``len(distinct)`` requests each, interleaved one for one
    (a distinct sample first, so both find the endpoint warm) so that the machine getting busier or quieter while
    they run touches both alike. Fails when the repeats' median service time is more than ``max_speedup`` below
    the distinct samples', the sign of a cache answering instead of the model.
    """
    from aifabric.serving.load import run_closed_loop

    n = len(distinct)
    if n < 2:
        return _result("no-caching", "invalid", "at least two distinct samples are needed")

    def interleaved(index: int) -> Request:
        return repeated if index % 2 else distinct[index // 2 % n]

    both = await run_closed_loop(
        base_url, interleaved, concurrency=1, duration=duration, timeout=timeout, max_requests=2 * n
    )
    served = [s for s in both.samples if s.ok]
    t_distinct = sorted(s.done - s.sent for s in served if s.index % 2 == 0)
    t_repeat = sorted(s.done - s.sent for s in served if s.index % 2)
    if len(t_distinct) < n // 2 or len(t_repeat) < n // 2:
        return _result(
            "no-caching",
            "error",
            f"too many requests failed to compare: {len(t_distinct)} of {n} distinct and {len(t_repeat)} of {n} "
            "repeated succeeded",
        )
    distinct_median = _median(t_distinct)
    repeat_median = _median(t_repeat)
    speedup = 1.0 - repeat_median / distinct_median if distinct_median > 0 else 0.0
    measurements = [
        Measurement("distinct median", _ms(distinct_median), "ms"),
        Measurement("repeated median", _ms(repeat_median), "ms"),
        Measurement("speedup", round(speedup, 4), "ratio", max_speedup, "<="),
    ]
    said = (
        f"{len(t_repeat)} repeats of one sample took {_fmt_s(repeat_median)} (median) against "
        f"{_fmt_s(distinct_median)} for {len(t_distinct)} distinct samples, {speedup:.0%} faster"
    )
    if speedup > max_speedup:
        return _result(
            "no-caching", "failed", f"{said}: more than {max_speedup:.0%}, the endpoint caches answers", measurements
        )
    return _result("no-caching", "passed", f"{said}, within {max_speedup:.0%}", measurements)


# --- telemetry -----------------------------------------------------------------------------------------------------


def _no_telemetry(summary: Mapping[str, Any]) -> str:
    """Why there is no GPU telemetry, starting with ``no GPU telemetry`` as SRV-050 has it."""
    reason = str(summary.get("reason") or "no GPU telemetry")
    return reason if reason.startswith("no GPU telemetry") else f"no GPU telemetry: {reason}"


def check_telemetry(summary: Mapping[str, Any], *, required: Sequence[str] = ()) -> CheckResult:
    """The telemetry the contract names was collected from the GPU.

    Without GPU telemetry (no GPU, no NVIDIA driver, nothing to scrape) the check is ``skipped`` with the reason,
    whatever the contract requires (SRV-050); a required metric that available telemetry lacks fails (SRV-049).
    """
    metrics: Mapping[str, Any] = summary.get("metrics") or {}
    source = summary.get("source", "none")
    if not summary.get("available"):
        reason = _no_telemetry(summary)
        notes = [f"not recorded: {', '.join(required)}"] if required else []
        return _result("telemetry", "skipped", reason, notes=notes)
    missing = [name for name in required if name not in metrics]
    measurements = [Measurement("metrics collected", len(metrics), "metrics", len(required), ">=")]
    if missing:
        return _result(
            "telemetry",
            "failed",
            f"{source} telemetry lacks {len(missing)} required metrics: {', '.join(missing)}",
            measurements,
        )
    return _result(
        "telemetry",
        "passed",
        f"{source} telemetry collected {len(metrics)} metrics, every one of the {len(required)} required",
        measurements,
    )


_MIB = 1024 * 1024


def check_gpu_bounds(
    summary: Mapping[str, Any],
    *,
    max_memory_bytes: int | None = None,
    max_power_w: float | None = None,
    max_temperature_c: float | None = None,
) -> CheckResult:
    """The peak framebuffer memory, power and temperature seen stay within the contract's bounds."""
    if not summary.get("available"):
        return _result("gpu-bounds", "skipped", _no_telemetry(summary))
    metrics: Mapping[str, Any] = summary.get("metrics") or {}
    bounds: list[tuple[str, str, float | None, float, str]] = [
        ("DCGM_FI_DEV_FB_USED", "memory", max_memory_bytes, _MIB, "bytes"),
        ("DCGM_FI_DEV_POWER_USAGE", "power", max_power_w, 1.0, "W"),
        ("DCGM_FI_DEV_GPU_TEMP", "temperature", max_temperature_c, 1.0, "C"),
    ]
    measurements: list[Measurement] = []
    over: list[str] = []
    absent: list[str] = []
    for metric, what, bound, scale, unit in bounds:
        if bound is None:
            continue
        seen = metrics.get(metric)
        if not seen or seen.get("max") is None:
            absent.append(metric)
            continue
        peak = float(seen["max"]) * scale
        measurements.append(Measurement(f"peak {what}", round(peak, 3), unit, bound, "<="))
        if peak > bound:
            over.append(f"peak {what} {peak:g} {unit} exceeds {bound:g} {unit}")
    if over:
        return _result("gpu-bounds", "failed", "; ".join(over), measurements)
    if absent:
        return _result("gpu-bounds", "invalid", f"telemetry lacks {', '.join(absent)}", measurements)
    if not measurements:
        return _result("gpu-bounds", "skipped", "the contract sets no GPU bound")
    said = ", ".join(f"{m.name} {m.value:g} {m.unit}" for m in measurements if isinstance(m.value, float))
    return _result("gpu-bounds", "passed", f"within every GPU bound: {said}", measurements)
