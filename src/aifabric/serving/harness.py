"""Certify an endpoint against a serving contract: run every check the contract asks for and write the report.

:func:`certify` probes the protocol, sends malformed input, times the first request, drives the contract's load
while sampling GPU telemetry, checks the accuracy floor on the declared evaluation set, repeats one sample to catch
caching, and drives twice the stated capacity to see how the endpoint sheds load. The result is a
``serving-report`` document, ``invalid`` when the measurement itself cannot be trusted (the harness fell behind, the
run was too short to prove a percentile), plus the runs' samples for the HTML plots.

Examples:
    >>> from aifabric.serving.harness import outcome_of
    >>> outcome_of(["passed", "skipped", "passed"]), outcome_of(["passed", "failed"]), outcome_of(["error"])
    ('passed', 'failed', 'invalid')
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import platform
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import unquote, urlparse

from aifabric._errors import DocumentError
from aifabric._ids import utc_now, uuid7
from aifabric._version import __version__
from aifabric.models.serving import ServingContract
from aifabric.serving import _html
from aifabric.serving._types import Request, Sample
from aifabric.serving.checks import CheckResult, OverloadPolicy
from aifabric.serving.load import LatencyTarget, LoadResult

__all__ = [
    "REPORT_SCHEMA",
    "Certification",
    "certify",
    "load_evaluation",
    "outcome_of",
    "probe_request",
    "send_lag_limit",
]

REPORT_SCHEMA: Final = "https://aifabric.dev/schemas/serving-report/1.0.0.json"
_PRODUCER: Final = f"https://github.com/aifabric/aifabric/tree/v{__version__}"
_COMPARISONS: Final = {"<=": "le", "<": "le", ">=": "ge", ">": "ge"}

Progress = Callable[[str], None]


@dataclass
class Certification:
    """A finished run of the harness: the report document, and each load run by name for the plots."""

    report: dict[str, Any]
    runs: list[tuple[str, LoadResult]] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        """``passed``, ``failed`` or ``invalid``."""
        return str(self.report["outcome"])

    def html(self) -> str:
        """The report as one self-contained HTML page with latency-over-time and percentile plots."""
        return _html.render(
            self.report, [(name, run.samples, run.latencies("e2e", ok_only=False)) for name, run in self.runs]
        )


def outcome_of(outcomes: Sequence[str], *, runs_valid: bool = True) -> str:
    """The report's outcome from its checks' outcomes and whether its runs are valid [SRV-072].

    ``invalid`` when a run or a check could not be measured (``invalid``, ``error``), else ``failed`` when a check
    failed, else ``passed``.
    """
    if not runs_valid or any(o in ("invalid", "error") for o in outcomes):
        return "invalid"
    return "failed" if "failed" in outcomes else "passed"


def load_evaluation(contract: ServingContract, base: Path) -> list[tuple[Request, Any]]:
    """The contract's evaluation set: JSON Lines of ``{"input": request body, "expected": value}``, digest checked.

    ``uri`` is a ``file:`` URI or a path, relative to ``base`` (the contract's folder) unless absolute; nothing
    is fetched.
    """
    accuracy = contract.accuracy
    if accuracy is None:
        return []
    uri = accuracy.evaluation_set.uri
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file") or parsed.netloc not in ("", "localhost"):
        raise DocumentError(f"the evaluation set {uri} is not a local file; aifabric fetches nothing", rule="uri")
    path = Path(unquote(parsed.path))
    path = path if path.is_absolute() else base / path
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"cannot read the evaluation set: {exc.strerror or exc}", source=str(path)) from None
    for name, expected in accuracy.evaluation_set.digest.items():
        if name in hashlib.algorithms_available and hashlib.new(name, data).hexdigest() != expected:
            raise DocumentError(
                f"the evaluation set's {name} digest is not the contract's", source=str(path), rule="digest"
            )
    items = []
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            body = json.dumps(item["input"], separators=(",", ":")).encode()
            expected_value = item["expected"]
        except (ValueError, KeyError, TypeError):
            raise DocumentError(
                f'line {number} is not {{"input": ..., "expected": ...}}', source=str(path), rule="format"
            ) from None
        items.append((_request(contract, body, label=f"eval-{number}"), expected_value))
    if not items:
        raise DocumentError("the evaluation set is empty", source=str(path), rule="minItems")
    return items


def _request(contract: ServingContract, body: bytes, *, label: str = "") -> Request:
    from aifabric.serving.protocols import oip_v2

    endpoint = contract.endpoint
    headers = {"Content-Type": "application/json"}
    if endpoint.protocol == "oip-v2":
        path = oip_v2.model_path(endpoint.model.name, endpoint.model.version) + "/infer"
    else:
        path = "/v1/chat/completions" if endpoint.protocol == "openai-chat" else "/v1/completions"
    return Request("POST", path, body, headers, stream=endpoint.stream, label=label, keep_body=True)


async def probe_request(contract: ServingContract, url: str, timeout: float) -> Request:
    """One valid request: zeros shaped by the model's metadata (V2), or a short prompt (OpenAI)."""
    from aifabric.serving.load import send_one
    from aifabric.serving.protocols import oip_v2, openai

    endpoint = contract.endpoint
    model = endpoint.model
    if endpoint.protocol == "openai-chat":
        return openai.chat_request(model.name, "Say hello.", stream=endpoint.stream)
    if endpoint.protocol == "openai-completions":
        return openai.completion_request(model.name, "Once upon a time", stream=endpoint.stream)
    metadata_request = dataclasses.replace(oip_v2.model_metadata_request(model.name, model.version), keep_body=True)
    sample = await send_one(url, metadata_request, timeout=timeout)
    if not sample.ok or sample.body is None:
        raise DocumentError(f"no model metadata from {url}: {sample.error or sample.status}", rule="oip-v2")
    metadata = oip_v2.parse_model_metadata(sample.body, strict=False)
    return oip_v2.infer_request(model.name, [oip_v2.zeros(spec) for spec in metadata.inputs], version=model.version)


async def certify(
    contract: ServingContract,
    url: str,
    *,
    evaluation: Sequence[tuple[Request, Any]] = (),
    progress: Progress | None = None,
    profile: Literal["strict", "tolerant"] = "strict",
    workers: int = 1,
    telemetry: Literal["auto", "nvml", "prometheus", "none"] = "auto",
    on_sample: Callable[[Sample], None] | None = None,
) -> Certification:
    """Run every check the contract asks for against ``url``; never raises for what the endpoint does.

    ``progress`` is told each step as it starts; ``on_sample`` sees each request of the contract's load run as it
    completes (for a live display).
    """
    from aifabric.serving import checks
    from aifabric.serving.load import run_closed_loop, run_open_loop
    from aifabric.serving.protocols import oip_v2, openai
    from aifabric.serving.telemetry import TelemetrySampler

    say = progress or (lambda _: None)
    url = url.rstrip("/")
    endpoint, load = contract.endpoint, contract.load
    results: list[CheckResult] = []
    runs: list[tuple[str, LoadResult]] = []
    timeout = float(load.timeout_s)

    say("protocol")
    if endpoint.protocol == "oip-v2":
        results.append(await oip_v2.check_protocol(url, endpoint.model.name, endpoint.model.version, profile=profile))
    else:
        kind: Literal["chat", "completions"] = "chat" if endpoint.protocol == "openai-chat" else "completions"
        results.append(await openai.check_protocol(url, endpoint.model.name, kind=kind, profile=profile))
    try:
        probe = await probe_request(contract, url, timeout)
    except DocumentError as exc:
        results.append(CheckResult("latency", "error", f"cannot build a request for the endpoint: {exc}"))
        return _finish(contract, url, results, runs, None)
    requests: Sequence[Request] = [request for request, _ in evaluation] or [probe]

    say("input validation")
    results.append(await checks.check_input_validation(url, probe))
    if contract.warmup is not None:
        say("warm-up")
        ready = "/v2/health/ready" if endpoint.protocol == "oip-v2" else "/v1/models"
        results.append(
            await checks.check_warmup(
                url, probe, max_first_s=contract.warmup.max_first_request_ms / 1000, ready_path=ready, timeout=timeout
            )
        )

    sampler = TelemetrySampler(
        source=telemetry,
        prometheus_url=contract.telemetry.prometheus_url if contract.telemetry else None,
    )
    say(f"{load.mode} loop for {load.duration_s:g} s")
    with sampler:
        if load.mode == "open":
            result = await run_open_loop(
                url,
                requests,
                rate=float(load.rate or 1),
                duration=float(load.duration_s),
                seed=load.seed,
                timeout=timeout,
                workers=workers,
                warmup=float(load.warmup_s),
                on_sample=on_sample,
            )
        else:
            result = await run_closed_loop(
                url,
                requests,
                concurrency=int(load.concurrency or 1),
                duration=float(load.duration_s),
                timeout=timeout,
                warmup=float(load.warmup_s),
                on_sample=on_sample,
            )
    runs.append(("contract load", result))
    summary = sampler.summary()
    if contract.latency:
        targets = [LatencyTarget(t.metric, float(t.percentile), t.max_ms / 1000) for t in contract.latency]
        validity = contract.validity
        results.append(
            checks.check_latency(
                result,
                targets,
                confidence=float(validity.confidence),
                min_requests=validity.min_requests,
                min_duration_s=float(validity.min_duration_s),
                send_lag_p99=send_lag_limit(contract),
            )
        )
    if contract.throughput is not None:
        results.append(checks.check_throughput(result, min_rps=float(contract.throughput.min_rps)))
    if contract.error_budget is not None:
        results.append(checks.check_error_budget(result, max_error_rate=float(contract.error_budget.max_error_rate)))
    if endpoint.stream:
        results.append(checks.check_streaming(result))

    if contract.accuracy is not None:
        say("accuracy")
        if evaluation:
            accuracy = contract.accuracy
            results.append(
                await checks.check_accuracy(
                    url,
                    evaluation,
                    metric=accuracy.metric,
                    floor=float(accuracy.floor),
                    tolerance=float(accuracy.tolerance or 0),
                    timeout=timeout,
                )
            )
        else:
            results.append(CheckResult("accuracy", "skipped", "no evaluation set was given"))
    if contract.caching is not None:
        say("no caching")
        distinct = list(requests) if len(requests) > 1 else [probe]
        results.append(
            await checks.check_no_caching(
                url,
                distinct[0],
                distinct,
                max_speedup=float(contract.caching.max_speedup),
                timeout=timeout,
                duration=min(10.0, float(load.duration_s)),
            )
        )
    if contract.overload is not None:
        overload = contract.overload
        say(f"overload at {overload.factor:g}x {overload.capacity_rps:g} rps")
        policy = OverloadPolicy(
            capacity_rps=float(overload.capacity_rps),
            factor=float(overload.factor),
            behaviour=overload.behaviour,
            statuses=tuple(overload.statuses),
            retry_after=overload.retry_after,
            max_response_s=overload.max_response_ms / 1000,
            fallback=json.dumps(overload.fallback.to_json()) if overload.fallback else None,
        )
        results.append(
            await checks.check_overload(
                url, requests, policy, duration=float(overload.duration_s), seed=load.seed, workers=workers
            )
        )
    required = list(contract.telemetry.required or []) if contract.telemetry else []
    results.append(checks.check_telemetry(summary, required=required))
    if contract.gpu is not None:
        gpu = contract.gpu
        results.append(
            checks.check_gpu_bounds(
                summary,
                max_memory_bytes=gpu.max_memory_bytes,
                max_power_w=gpu.max_power_w,
                max_temperature_c=gpu.max_temperature_c,
            )
        )
    return _finish(contract, url, results, runs, summary)


def _finish(
    contract: ServingContract,
    url: str,
    results: list[CheckResult],
    runs: list[tuple[str, LoadResult]],
    telemetry: dict[str, Any] | None,
) -> Certification:
    """The ``serving-report`` document [SRV-070] [SRV-071]."""
    from aifabric.serving.contract import contract_digest

    run_docs = [_run_json(name, result, contract) for name, result in runs]
    report: dict[str, Any] = {
        "schemaURL": REPORT_SCHEMA,
        "producer": _PRODUCER,
        "reportId": uuid7(),
        "createdAt": utc_now(),
        "contract": {"contractId": contract.contract_id, "name": contract.name, "digest": contract_digest(contract)},
        "endpoint": {"url": url, "protocol": contract.endpoint.protocol, "model": contract.endpoint.model.to_json()},
        "harness": {"name": "aifabric", "version": __version__},
        "environment": {"host": platform.node() or socket.gethostname() or "localhost", "cpus": os.cpu_count() or 1},
        "outcome": outcome_of([r.outcome for r in results], runs_valid=all(r["valid"] for r in run_docs)),
        "checks": [_check_json(r) for r in results],
        "runs": run_docs,
        "telemetry": _telemetry_json(telemetry),
    }
    gpus = (telemetry or {}).get("gpus")
    if gpus:
        report["environment"]["gpus"] = gpus
    return Certification(report, runs)


def _check_json(result: CheckResult) -> dict[str, Any]:
    out: dict[str, Any] = {"id": result.id, "outcome": result.outcome, "requirements": list(result.requirements)}
    if result.message:
        out["message"] = result.message[:4096]
    measurements = []
    for m in result.measurements:
        if isinstance(m.value, bool) or not isinstance(m.value, int | float) or not math.isfinite(m.value):
            continue
        item: dict[str, Any] = {"name": m.name, "value": m.value, "unit": m.unit or "1"}
        if m.target is not None and m.comparison in _COMPARISONS:
            item["target"] = m.target
            item["comparison"] = _COMPARISONS[m.comparison]
        measurements.append(item)
    if measurements:
        out["measurements"] = measurements
    return out


def send_lag_limit(contract: ServingContract) -> float:
    """The send-lag p99 (seconds) a run must stay under: 10 ms or a tenth of the smallest target [SRV-030]."""
    targets = [t.max_ms / 1000 for t in contract.latency or []]
    return min([0.010, *(t / 10 for t in targets)])


def _run_json(name: str, result: LoadResult, contract: ServingContract) -> dict[str, Any]:
    """One run as the report schema has it, with its validity [SRV-030] [SRV-031]."""
    from aifabric.serving._stats import Histogram, early_stopping

    summary = result.summary()
    validity = contract.validity
    duration_ok = result.duration >= float(validity.min_duration_s)
    requests_ok = len(result.samples) >= validity.min_requests
    stopping = []
    reasons = []
    for target in contract.latency or []:
        values = result.latencies(target.metric, ok_only=False)
        if not values:
            continue
        found = early_stopping(values, target.max_ms / 1000, float(target.percentile), float(validity.confidence))
        stopping.append(
            {
                "metric": target.metric,
                "percentile": target.percentile,
                "slow": found["slow"],
                "required": found["required"],
                "observed": found["observed"],
            }
        )
        if not found["ok"]:
            reasons.append(
                f"{found['observed']} {target.metric} latencies with {found['slow']} slow cannot prove "
                f"p{target.percentile * 100:g} at {validity.confidence:g} confidence: {found['required']} are needed"
            )
    if not duration_ok:
        reasons.append(f"the run lasted {result.duration:.1f} s, less than the {validity.min_duration_s:g} s required")
    if not requests_ok:
        reasons.append(f"{len(result.samples)} requests, fewer than the {validity.min_requests} required")
    kept_up = result.keeps_up(send_lag_limit(contract))
    if not kept_up:
        reasons.append(f"the harness fell behind its schedule (send lag p99 {result.send_lag(0.99) * 1e3:.1f} ms)")
    doc: dict[str, Any] = {
        "label": name,
        "mode": result.mode,
        "durationS": round(result.duration, 6),
        "requests": len(result.samples),
        "ok": result.ok,
        "errors": _error_kinds(result.errors),
        "throughputRps": summary["throughputRps"],
        "sendLag": summary["sendLag"],
        "keptUp": kept_up,
        "latencies": summary["latencies"],
        "valid": not reasons,
        "validity": {
            "durationOk": duration_ok,
            "requestsOk": requests_ok,
            "earlyStopping": stopping,
            "reasons": reasons,
        },
    }
    histograms = {}
    for kind in ("e2e", "service", "ttft", "itl"):
        values = result.latencies(kind)
        if values:
            histogram = Histogram()
            for value in values:
                histogram.record(value)
            histograms[kind] = histogram.encode()
    if histograms:
        doc["histogram"] = histograms
    if result.mode == "open" and result.rate:
        doc["rate"] = result.rate
    if result.mode == "closed" and result.concurrency:
        doc["concurrency"] = result.concurrency
    return doc


def _error_kinds(errors: dict[str, int]) -> dict[str, int]:
    """Failures by the report's kinds: an HTTP status, ``timeout``, ``connect``, ``stream error``, ``protocol``."""
    out: dict[str, int] = {}
    for error, count in errors.items():
        if error.startswith("http "):
            kind = error[5:8]
        elif error.startswith("stream error"):
            kind = "stream error"
        elif error in ("timeout", "connect"):
            kind = error
        else:
            kind = "protocol"
        out[kind] = out.get(kind, 0) + count
    return out


def _telemetry_json(summary: dict[str, Any] | None) -> dict[str, Any]:
    if not summary or not summary.get("available"):
        reason = str((summary or {}).get("reason") or "no GPU telemetry")
        if not reason.startswith("no GPU telemetry"):
            reason = f"no GPU telemetry: {reason}"
        return {"available": False, "source": "none", "reason": reason}
    metrics = {
        name: {k: v for k, v in values.items() if k in ("min", "mean", "max", "unit")}
        for name, values in (summary.get("metrics") or {}).items()
    }
    return {"available": True, "source": summary.get("source", "nvml"), "metrics": metrics}
