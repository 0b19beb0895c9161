"""Serving checks against small real aiohttp servers on loopback, each running in its own thread and event loop."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from aifabric.serving import Request, Sample
from aifabric.serving.checks import (
    CheckResult,
    OverloadPolicy,
    check_accuracy,
    check_error_budget,
    check_gpu_bounds,
    check_input_validation,
    check_latency,
    check_no_caching,
    check_overload,
    check_streaming,
    check_telemetry,
    check_throughput,
    check_warmup,
)
from aifabric.serving.load import LatencyTarget, LoadResult
from aifabric.serving.protocols.oip_v2 import TensorSpec, infer_request, zeros
from tests.conftest import free_port

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextmanager
def serve(routes: Sequence[tuple[str, str, Handler]], *, max_body: int = 1024**2) -> Iterator[str]:
    """Run an aiohttp app on 127.0.0.1 in a background thread; yields its base URL."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: dict[str, Any] = {}

    async def start() -> None:
        app = web.Application(client_max_size=max_body)
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        box["runner"] = runner
        box["port"] = runner.addresses[0][1]

    def main() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        started.set()
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield f"http://127.0.0.1:{box['port']}"
    finally:
        asyncio.run_coroutine_threadsafe(box["runner"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


SPEC = TensorSpec("x", "FP32", (-1, 3))
VALID = infer_request("m", [zeros(SPEC)])


async def strict_infer(request: web.Request) -> web.Response:
    """A V2 infer handler that validates what it is sent, as a careful server does."""
    if request.content_type != "application/json":
        return web.json_response({"error": "expected application/json"}, status=415)
    try:
        doc = await request.json()
    except ValueError:
        return web.json_response({"error": "bad JSON"}, status=400)
    inputs = doc.get("inputs") if isinstance(doc, dict) else None
    if not isinstance(inputs, list) or not inputs:
        return web.json_response({"error": "no inputs"}, status=400)
    first = inputs[0]
    if first.get("datatype") != "FP32":
        return web.json_response({"error": "datatype must be FP32"}, status=400)
    shape = first.get("shape", [])
    if len(shape) != 2 or shape[1] != 3 or shape[0] * 3 != len(first.get("data", [])):
        return web.json_response({"error": "shape does not match data"}, status=400)
    total = sum(first["data"])
    return web.json_response(
        {
            "model_name": "m",
            "id": doc.get("id", ""),
            "outputs": [{"name": "y", "shape": [1], "datatype": "FP32", "data": [total]}],
        }
    )


async def sloppy_infer(request: web.Request) -> web.Response:
    """Crashes (500) on anything it does not expect, and accepts any content type."""
    try:
        doc = json.loads(await request.read())
        total = sum(doc["inputs"][0]["data"][: doc["inputs"][0]["shape"][0] * 3])
        if doc["inputs"][0]["datatype"] != "FP32":
            raise TypeError("datatype")
    except Exception as exc:  # noqa: BLE001
        return web.Response(status=500, text=f"Internal Server Error: {exc}")
    return web.json_response({"model_name": "m", "outputs": [{"name": "y", "data": [total]}]})


async def ready(_: web.Request) -> web.Response:
    return web.Response()


def run(coro: Awaitable[CheckResult]) -> CheckResult:
    async def main() -> CheckResult:
        return await coro

    result = asyncio.run(main())
    json.dumps(result.to_json())  # every result is JSON
    return result


# --- input validation -------------------------------------------------------------------------------------------


def test_input_validation_passes_a_server_that_refuses_every_malformed_request() -> None:
    """[SRV-053] Every malformed request refused with a 4xx, within the timeout, passes."""
    with serve([("POST", "/v2/models/m/infer", strict_infer)]) as url:
        result = run(check_input_validation(url, VALID, timeout=5, huge_bytes=2 * 1024**2))
    assert result.outcome == "passed", result.message
    assert "all 6 malformed requests" in result.message
    assert result.to_json()["requirements"] == ["SRV-040", "SRV-052", "SRV-053"]


def test_input_validation_fails_a_server_that_500s_naming_each_request() -> None:
    """[SRV-053] A 5xx (or a 2xx) to a malformed request fails the check, naming the request."""
    with serve([("POST", "/v2/models/m/infer", sloppy_infer)]) as url:
        result = run(check_input_validation(url, VALID, timeout=5, huge_bytes=2 * 1024**2))
    assert result.outcome == "failed"
    for name in ("bad-json: HTTP 500", "wrong-datatype: HTTP 500", "missing-inputs: HTTP 500"):
        assert name in result.message
    assert "wrong-content-type: HTTP 200" in result.message
    assert "huge-body: HTTP 500" in result.message  # it turns aiohttp's own 413 into a 500


def test_input_validation_names_a_request_that_hangs() -> None:
    """[SRV-053] A malformed request left unanswered within the timeout fails the check."""

    async def hangs_on_bad_json(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            json.loads(body)
        except ValueError:
            await asyncio.sleep(5)
        return await strict_infer(request)

    with serve([("POST", "/v2/models/m/infer", hangs_on_bad_json)]) as url:
        result = run(check_input_validation(url, VALID, timeout=0.5, huge_bytes=1024))
    assert result.outcome == "failed"
    assert "bad-json: no answer within 0.5 s" in result.message


def test_input_validation_is_an_error_when_nothing_listens() -> None:
    result = run(check_input_validation("http://127.0.0.1:9", VALID, timeout=1))
    assert result.outcome == "error"


# --- overload ----------------------------------------------------------------------------------------------------


_QUEUEING = """
import asyncio, sys
from aiohttp import web

async def main():
    lock = asyncio.Lock()

    async def infer(request):
        await request.read()
        async with lock:
            await asyncio.sleep(0.05)
        return web.json_response({"outputs": []})

    app = web.Application()
    app.router.add_post("/v2/models/m/infer", infer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", int(sys.argv[1]))
    await site.start()
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


@contextmanager
def queueing_process() -> Iterator[str]:
    """The queueing server (one request at a time, 50 ms each: capacity 20 rps) in a process of its own."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", _QUEUEING, str(port)], stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == b"ready"
        yield f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def rejecting_server(capacity: int) -> Handler:
    """Serves at most ``capacity`` requests at once, 20 ms each; refuses the rest with 429 and Retry-After."""
    busy = [0]

    async def handler(request: web.Request) -> web.Response:
        if busy[0] >= capacity:
            return web.json_response({"error": "busy"}, status=429, headers={"Retry-After": "1"})
        busy[0] += 1
        try:
            await asyncio.sleep(0.02)
        finally:
            busy[0] -= 1
        return web.json_response({"outputs": []})

    return handler


def test_overload_fails_a_server_that_queues_instead_of_rejecting() -> None:
    """[SRV-045] Above capacity, requests answered later than maxResponseMs (queued, not refused) fail the check."""
    policy = OverloadPolicy(capacity_rps=20, factor=3, retry_after=True, max_response_s=0.25)
    with queueing_process() as url:  # its own process: a server thread here would share the client's GIL
        result = run(check_overload(url, VALID, policy, duration=1.5, timeout=3))
    assert result.outcome == "failed", result.message
    assert "at 60 rps (3x the stated 20)" in result.message
    assert "0 of" in result.message and "refused with 429/503" in result.message
    assert "the endpoint queues instead of rejecting" in result.message


def test_overload_passes_a_server_that_answers_429_with_retry_after() -> None:
    """[SRV-045] Above capacity, prompt refusals with a declared status and Retry-After pass."""
    policy = OverloadPolicy(capacity_rps=50, factor=4, retry_after=True, max_response_s=0.5)
    with serve([("POST", "/v2/models/m/infer", rejecting_server(1))]) as url:
        result = run(check_overload(url, VALID, policy, duration=1.5))
    assert result.outcome in {"passed", "invalid"}, result.message  # invalid only if this machine could not keep up
    refused = next(m for m in result.measurements if m.name == "refused")
    assert isinstance(refused.value, int) and refused.value > 0
    assert "excess load is shed promptly" in result.message or "fell behind" in result.message


def test_overload_fails_refusals_without_the_required_retry_after() -> None:
    """[SRV-045] A refusal without the Retry-After header the policy requires fails the check."""

    async def no_header(request: web.Request) -> web.Response:
        return web.json_response({"error": "busy"}, status=503)

    policy = OverloadPolicy(capacity_rps=10, factor=2, retry_after=True, max_response_s=0.5)
    with serve([("POST", "/v2/models/m/infer", no_header)]) as url:
        result = run(check_overload(url, VALID, policy, duration=0.5))
    assert result.outcome == "failed"
    assert "refusals had no Retry-After header" in result.message


# --- warm-up, accuracy, caching ------------------------------------------------------------------------------------


def test_warmup_fails_an_endpoint_that_is_ready_before_it_is_warm() -> None:
    """[SRV-046] The first request after readiness is judged by its service latency against maxFirstRequestMs."""
    warmed = [False]

    async def slow_first(request: web.Request) -> web.Response:
        if not warmed[0]:
            await asyncio.sleep(0.4)
            warmed[0] = True
        return await strict_infer(request)

    with serve([("GET", "/v2/health/ready", ready), ("POST", "/v2/models/m/infer", slow_first)]) as url:
        cold = run(check_warmup(url, VALID, max_first_s=0.2))
        warm = run(check_warmup(url, VALID, max_first_s=0.2))
    assert cold.outcome == "failed" and "reports ready before it is warm" in cold.message
    assert warm.outcome == "passed", warm.message


def test_warmup_sends_no_inference_before_readiness() -> None:
    """[SRV-046] The warm-up check sends its first inference request only after readiness first answered 200, and
    none before."""
    log: list[str] = []
    became_ready = time.perf_counter() + 0.3

    async def readiness(_: web.Request) -> web.Response:
        status = 200 if time.perf_counter() >= became_ready else 503
        log.append(f"ready {status}")
        return web.Response(status=status)

    async def infer(request: web.Request) -> web.Response:
        log.append("infer")
        return await strict_infer(request)

    with serve([("GET", "/v2/health/ready", readiness), ("POST", "/v2/models/m/infer", infer)]) as url:
        result = run(check_warmup(url, VALID, max_first_s=1.0, poll_interval=0.05))
    assert result.outcome == "passed", result.message
    assert log.count("ready 503") >= 2
    assert log[-2:] == ["ready 200", "infer"] and log.count("infer") == 1 and log.count("ready 200") == 1


def test_accuracy_compares_answers_with_the_evaluation_set() -> None:
    """[SRV-048] Each sample is scored by the metric and the check fails when the fraction correct is below the floor
    (the digest half of SRV-048 is the harness's)."""

    def item(values: list[float]) -> tuple[Request, Any]:
        from aifabric.serving.protocols.oip_v2 import Tensor

        return infer_request("m", [Tensor("x", "FP32", (1, 3), values)], label=str(values)), [sum(values)]

    items = [item([1, 2, 3]), item([0.5, 0.5, 0]), item([2, 2, 2])]
    wrong = [(items[2][0], [7.0])]
    with serve([("POST", "/v2/models/m/infer", strict_infer)]) as url:
        good = run(check_accuracy(url, items, metric="exact_match", floor=1.0))
        near = run(check_accuracy(url, items + wrong, metric="abs_tolerance", tolerance=0.01, floor=0.8))
    assert good.outcome == "passed", good.message
    assert near.outcome == "failed"
    assert "3 of 4 answers correct (75.00%, abs_tolerance), below the floor of 80.00%" in near.message
    assert "expected [7.0], got [6]" in near.message


def test_no_caching_fails_a_server_that_answers_repeats_from_a_cache() -> None:
    """[SRV-047] The same number of requests repeated and distinct; a repeated run much faster than the distinct one
    fails."""
    cache: dict[bytes, bytes] = {}

    async def caching(request: web.Request) -> web.Response:
        body = await request.read()
        if body not in cache:
            await asyncio.sleep(0.02)
            cache[body] = b'{"outputs": []}'
        return web.Response(body=cache[body], content_type="application/json")

    async def honest(request: web.Request) -> web.Response:
        await asyncio.sleep(0.02)
        return web.json_response({"outputs": []})

    from aifabric.serving.protocols.oip_v2 import Tensor

    distinct = [infer_request("m", [Tensor("x", "FP32", (1, 3), [i, 0, 0])]) for i in range(12)]
    repeated = infer_request("m", [Tensor("x", "FP32", (1, 3), [99, 0, 0])])
    with serve([("POST", "/v2/models/m/infer", caching)]) as url:
        cached = run(check_no_caching(url, repeated, distinct, duration=10))
    with serve([("POST", "/v2/models/m/infer", honest)]) as url:
        clean = run(check_no_caching(url, repeated, distinct, duration=10))
    assert cached.outcome == "failed"
    assert "the endpoint caches answers" in cached.message
    assert clean.outcome == "passed", clean.message


# --- judgements of recorded runs -----------------------------------------------------------------------------------


def samples(latencies: list[float], *, failed: int = 0) -> list[Sample]:
    out = [Sample(i, "", i * 0.01, i * 0.01, i * 0.01 + lat, status=200, ok=True) for i, lat in enumerate(latencies)]
    out += [Sample(len(out) + i, "", 0.0, 0.0, 0.1, status=503, error="http 503") for i in range(failed)]
    return out


def test_latency_passes_fails_or_is_invalid_for_too_few_requests() -> None:
    """[SRV-041] [SRV-031] A percentile at most maxMs passes, above it fails; too few requests to prove it: invalid."""
    many = LoadResult("closed", samples([0.01] * 700), duration=10.0, concurrency=1)
    target = LatencyTarget("e2e", 0.99, 0.05)
    passed = check_latency(many, [target])
    assert passed.outcome == "passed", passed.message
    slow = LoadResult("closed", samples([0.01] * 600 + [0.2] * 100), duration=10.0, concurrency=1)
    failed = check_latency(slow, [target])
    assert failed.outcome == "failed" and "e2e p99 200 ms exceeds 50 ms" in failed.message
    few = LoadResult("closed", samples([0.01] * 50), duration=10.0, concurrency=1)
    invalid = check_latency(few, [target])
    assert invalid.outcome == "invalid"
    assert "cannot prove it at 0.99 confidence; 459 needed" in invalid.message


def test_throughput_and_error_budget() -> None:
    """[SRV-041] [SRV-028] [SRV-029] Throughput at least minRps passes; an error rate at most maxErrorRate passes."""
    result = LoadResult("closed", samples([0.01] * 97, failed=3), duration=1.0, concurrency=1)
    assert check_throughput(result, min_rps=90).outcome == "passed"
    assert check_throughput(result, min_rps=100).outcome == "failed"
    budget = check_error_budget(result, max_error_rate=0.01)
    assert budget.outcome == "failed"
    assert budget.message == "3 of 100 requests failed (3.00%, budget 1.00%): http 503 x3"
    assert check_error_budget(result, max_error_rate=0.05).outcome == "passed"


def test_streaming_counts_in_stream_errors_as_failures() -> None:
    """[SRV-042] [SRV-055] The streaming check fails a stream that carried an error after HTTP 200."""
    good = [Sample(i, "", 0, 0, 0.1, status=200, ok=True, chunks=(0.02, 0.04, 0.06)) for i in range(9)]
    broken = Sample(9, "", 0, 0, 0.05, status=200, ok=False, error="stream error: model crashed", chunks=(0.02,))
    result = check_streaming(LoadResult("closed", [*good, broken], duration=1.0))
    assert result.outcome == "failed"
    assert "1 of 10 streams broke off with an error after HTTP 200 (stream error: model crashed)" in result.message
    clean = check_streaming(LoadResult("closed", good, duration=1.0))
    assert clean.outcome == "passed" and "TTFT p50 20 ms, ITL p50 20 ms" in clean.message


def test_streaming_counts_cut_off_and_silent_streams_as_failures() -> None:
    """[SRV-022] [SRV-042] [SRV-055] The streaming check fails streams that ended before data: [DONE] or carried no
    output, as the load generator records them."""
    good = [Sample(i, "", 0, 0, 0.1, status=200, ok=True, chunks=(0.02, 0.04)) for i in range(8)]
    cut = Sample(8, "", 0, 0, 0.05, status=200, error="stream error: ended before [DONE]", chunks=(0.02,))
    silent = Sample(9, "", 0, 0, 0.05, status=200, error="stream error: no output")
    result = check_streaming(LoadResult("closed", [*good, cut, silent], duration=1.0))
    assert result.outcome == "failed"
    assert "1 of 10 streams ended after HTTP 200 without data: [DONE]" in result.message
    assert "1 of 10 streams carried no output" in result.message
    assert "broke off" not in result.message
    counted = {m.name: m.value for m in result.measurements}
    assert counted["streams ended before [DONE]"] == counted["streams without output"] == 1


def test_streaming_p50_is_the_floor_percentile() -> None:
    """[SRV-024] [SRV-042] TTFT and ITL p50 are the value at index floor(n * 0.5), not an interpolated median."""
    streams = [
        Sample(i, "", 0, 0, 0.1, status=200, ok=True, chunks=(t, t + 0.01 * (i + 1)))
        for i, t in enumerate((0.01, 0.03))
    ]
    result = check_streaming(LoadResult("closed", streams, duration=1.0))
    assert result.outcome == "passed", result.message
    assert "TTFT p50 30 ms, ITL p50 20 ms" in result.message


def test_telemetry_and_gpu_bounds_from_a_summary() -> None:
    """[SRV-049] [SRV-050] [SRV-051] Without GPU telemetry, telemetry is skipped with the reason even when metrics are
    required; a required metric missing from available telemetry fails; gpu-bounds compares the peak reading, frame
    buffer MiB converted to bytes, with each bound."""
    absent = {"available": False, "source": "none", "reason": "no GPU telemetry: NVML could not start", "metrics": {}}
    assert check_telemetry(absent).outcome == "skipped"
    required = check_telemetry(absent, required=["DCGM_FI_DEV_GPU_UTIL"])
    assert (required.outcome, required.message) == ("skipped", "no GPU telemetry: NVML could not start")
    assert required.notes == ("not recorded: DCGM_FI_DEV_GPU_UTIL",)
    bare = check_telemetry({"available": False, "reason": "no driver"}, required=["DCGM_FI_DEV_GPU_UTIL"])
    assert (bare.outcome, bare.message) == ("skipped", "no GPU telemetry: no driver")
    summary = {
        "available": True,
        "source": "nvml",
        "metrics": {
            "DCGM_FI_DEV_FB_USED": {"min": 100.0, "mean": 150.0, "max": 2048.0, "unit": "MiB"},
            "DCGM_FI_DEV_POWER_USAGE": {"min": 60.0, "mean": 200.0, "max": 310.0, "unit": "W"},
        },
    }
    lacking = check_telemetry(summary, required=["DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_GPU_TEMP"])
    assert lacking.outcome == "failed" and "DCGM_FI_DEV_GPU_TEMP" in lacking.message
    over = check_gpu_bounds(summary, max_memory_bytes=1024**3, max_power_w=300)
    assert over.outcome == "failed"
    assert over.message == "peak memory 2.14748e+09 bytes exceeds 1.07374e+09 bytes; peak power 310 W exceeds 300 W"
    assert check_gpu_bounds(summary, max_memory_bytes=4 * 1024**3).outcome == "passed"
    assert check_gpu_bounds(summary, max_temperature_c=80).outcome == "invalid"
    assert check_gpu_bounds(absent, max_power_w=300).outcome == "skipped"


def test_a_result_lists_measurements_as_json() -> None:
    result = check_throughput(LoadResult("closed", samples([0.01] * 10), duration=1.0), min_rps=5)
    assert result.to_json()["measurements"] == [
        {"name": "throughput", "value": 10.0, "unit": "rps", "target": 5, "comparison": ">="}
    ]
    assert time.perf_counter() > 0
