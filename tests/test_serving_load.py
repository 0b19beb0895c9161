"""The load generator against small aiohttp servers on loopback whose true latencies are known."""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from email.utils import formatdate
from typing import Any

import pytest
from aiohttp import web

from aifabric.serving import Request, Sample
from aifabric.serving._stats import percentile
from aifabric.serving.load import (
    LatencyTarget,
    LoadResult,
    run_closed_loop,
    run_open_loop,
    saturate,
    send_one,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.contextmanager
def serving(*routes: tuple[str, str, Handler]) -> Iterator[str]:
    """An aiohttp server on 127.0.0.1 in its own thread and event loop; yields its base URL."""
    app = web.Application()
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)  # the server thread must not hold the client's GIL for the default 5 ms
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        sys.setswitchinterval(interval)
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        asyncio.run_coroutine_threadsafe(cancel_the_rest(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


async def cancel_the_rest() -> None:
    """Cancels the handlers still running (a client that timed out left them), so the loop closes clean."""
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def fixed(seconds: float) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(seconds)
        return web.Response(text="ok")

    return handler


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def by_id(n: int) -> Request:
    return Request("POST", "/", body=str(n).encode(), label=f"id-{n}")


# 1. accuracy --------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_open_loop_percentiles_match_the_delays_the_server_applied() -> None:
    """[SRV-020] [SRV-024] [SRV-025] [SRV-028] Open-loop e2e percentiles (from the scheduled time, floor(n*p)) match the
    true delays; throughput is the rate."""
    rng = random.Random(42)
    delays = [rng.lognormvariate(math.log(0.08), 0.5) for _ in range(5000)]  # median 80 ms, p99 ~ 256 ms

    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(delays[int(await request.read())])
        return web.Response(text="ok")

    def attempt() -> tuple[LoadResult, list[Any]]:
        with serving(("POST", "/", handler)) as url:
            result = asyncio.run(run_open_loop(url, by_id, rate=200, duration=6, seed=7))
        truth = sorted(delays[s.index] for s in result.samples)
        misses: list[Any] = [
            (p, result.percentile("e2e", p), percentile(truth, p))
            for p in (0.5, 0.95, 0.99)
            if abs(result.percentile("e2e", p) - percentile(truth, p)) > 0.05 * percentile(truth, p)
        ]
        # A tenth of the 80 ms median, the spec's bound for this target (SRV-030); the server shares this process.
        if not result.keeps_up(0.008):
            misses.append(result.summary()["sendLag"])
        return result, misses

    result, misses = attempt()
    if misses:  # the server shares this 2-core machine with pytest: one more try when it answered late
        result, misses = attempt()
    assert not misses, misses
    assert result.ok == len(result.samples) > 1000, result.errors
    assert [s.label for s in result.samples[:2]] == ["id-0", "id-1"]
    assert abs(result.throughput - 200) < 200 * 0.15


# 2. coordinated omission ------------------------------------------------------------------------------------------


def stalling_server() -> Handler:
    """5 ms per request; once, 0.5 s after the first request, the server stalls completely for 1 s."""
    first: list[float] = []
    stall_until: list[float] = []

    async def handler(request: web.Request) -> web.Response:
        now = time.perf_counter()
        if not first:
            first.append(now)
        if not stall_until and now - first[0] >= 0.5:
            stall_until.append(now + 1.0)
        if stall_until and now < stall_until[0]:
            await asyncio.sleep(stall_until[0] - now)
        await asyncio.sleep(0.005)
        return web.Response(text="ok")

    return handler


@pytest.mark.slow
def test_open_loop_shows_a_stall_that_a_closed_loop_hides() -> None:
    """[SRV-020] [SRV-021] [SRV-025] e2e counts from the scheduled time, so a stall shows in the open loop; service time
    (done - sent) and a closed loop, whose requests are scheduled when a slot frees, hide it."""
    request = Request("GET", "/")
    with serving(("GET", "/", stalling_server())) as url:
        open_loop = asyncio.run(run_open_loop(url, request, rate=100, duration=3, seed=1))
    with serving(("GET", "/", stalling_server())) as url:
        closed = asyncio.run(run_closed_loop(url, request, concurrency=1, duration=3))
    assert open_loop.ok == len(open_loop.samples) and closed.ok == len(closed.samples)
    assert open_loop.percentile("e2e", 0.99) >= 0.5
    assert open_loop.percentile("e2e", 0.9) >= 0.3  # a third of the run arrived during or behind the stall
    # The naive view: one slow request among hundreds, the stall invisible at p99.
    assert max(closed.latencies("service")) >= 0.9
    assert closed.percentile("service", 0.99) < 0.1
    assert closed.percentile("e2e", 0.99) < 0.1


# 3. streaming -----------------------------------------------------------------------------------------------------


async def sse(request: web.Request) -> web.StreamResponse:
    """A role-only chunk at once, the first token after 50 ms, then one every 20 ms (8 tokens)."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(b'data: {"choices":[{"delta":{"role":"assistant","content":""}}]}\n\n')
    await asyncio.sleep(0.05)
    for i in range(8):
        if i:
            await asyncio.sleep(0.02)
        await response.write(b'data: {"choices":[{"index":0,"delta":{"content":"tok"}}]}\n\n')
    if request.path == "/error":
        await response.write(b'data: {"error": {"message": "boom", "code": 500}}\n\n')
    await response.write(b'data: {"choices":[],"usage":{"completion_tokens":8}}\n\ndata: [DONE]\n\n')
    await response.write_eof()
    return response


def test_streaming_measures_time_to_first_token_and_inter_token_latency() -> None:
    """[SRV-022] [SRV-023] [SRV-027] TTFT is the first output chunk (not the role-only one) from the scheduled time; ITL
    pools every gap; an error in a 200 stream fails."""
    with serving(("POST", "/stream", sse), ("POST", "/error", sse)) as url:
        result = asyncio.run(run_open_loop(url, Request("POST", "/stream", stream=True), rate=20, duration=1.5))
        broken = asyncio.run(send_one(url, Request("POST", "/error", stream=True, keep_body=True)))
    assert result.ok == len(result.samples) > 10, result.errors
    assert all(len(s.chunks) == 8 for s in result.samples)
    assert 0.05 <= result.percentile("ttft", 0.5) < 0.06
    itl = result.latencies("itl")
    assert len(itl) == 7 * result.ok
    assert 0.019 <= percentile(itl, 0.5) < 0.023
    assert set(result.summary()["latencies"]) == {"e2e", "service", "ttft", "itl"}
    assert broken.status == 200
    assert not broken.ok
    assert broken.error == "stream error: boom"
    assert len(broken.chunks) == 8
    assert broken.body is not None and b"boom" in broken.body


# 4. errors --------------------------------------------------------------------------------------------------------


async def unavailable(request: web.Request) -> web.Response:
    retry = formatdate(time.time() + 30, usegmt=True) if "date" in request.query else "2"
    return web.Response(status=503, headers={"Retry-After": retry})


def test_failures_are_samples_never_exceptions() -> None:
    """[SRV-027] [SRV-028] [SRV-029] Non-2xx, no answer within the timeout and a refused connection fail; all failing:
    error rate 1, throughput 0."""
    with serving(("GET", "/slow", fixed(1.0)), ("GET", "/busy", unavailable)) as url:
        slow = asyncio.run(send_one(url, Request("GET", "/slow"), timeout=0.2))
        busy = asyncio.run(send_one(url, Request("GET", "/busy")))
        busy_date = asyncio.run(send_one(url, Request("GET", "/busy?date=1")))
        mixed = asyncio.run(
            run_open_loop(url, [Request("GET", "/busy"), Request("GET", "/slow")], rate=40, duration=0.5, timeout=0.2)
        )
    assert (slow.status, slow.ok, slow.error) == (None, False, "timeout")
    assert 0.2 <= slow.done - slow.sent < 0.5
    assert (busy.status, busy.ok, busy.error, busy.retry_after) == (503, False, "http 503", 2.0)
    assert busy_date.retry_after is not None and 25 < busy_date.retry_after <= 30
    assert set(mixed.errors) == {"http 503", "timeout"}
    assert mixed.error_rate == 1.0
    assert mixed.ok == 0 and mixed.throughput == 0
    with pytest.raises(ValueError, match="no"):
        mixed.percentile("e2e", 0.5)

    refused_url = f"http://127.0.0.1:{free_port()}"
    refused = asyncio.run(send_one(refused_url, Request("GET", "/")))
    assert (refused.status, refused.error) == (None, "connect")
    run = asyncio.run(run_open_loop(refused_url, Request("GET", "/"), rate=50, duration=0.3))
    assert run.errors == {"connect": len(run.samples)}
    assert run.summary()["latencies"] == {}


# 5. closed loop ---------------------------------------------------------------------------------------------------


def test_closed_loop_throughput_is_concurrency_over_service_time() -> None:
    """[SRV-025] [SRV-026] [SRV-028] A closed loop keeps `concurrency` in flight; warm-up requests are not measured;
    throughput is ok / duration."""
    with serving(("GET", "/", fixed(0.05))) as url:
        result = asyncio.run(run_closed_loop(url, Request("GET", "/"), concurrency=4, duration=2, warmup=0.2))
        capped = asyncio.run(run_closed_loop(url, Request("GET", "/"), concurrency=2, duration=5, max_requests=6))
    assert result.mode == "closed" and result.concurrency == 4
    assert result.throughput == pytest.approx(4 / 0.05, rel=0.1)
    assert all(s.scheduled >= 0.2 for s in result.samples)
    assert len(capped.samples) == 6
    assert capped.duration < 1


# 6. saturation ----------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_saturate_finds_the_knee_of_a_server_with_fixed_capacity() -> None:
    slots = asyncio.Semaphore(4)  # 4 slots x 20 ms: 200 requests per second at most

    async def handler(request: web.Request) -> web.Response:
        async with slots:
            await asyncio.sleep(0.02)
        return web.Response(text="ok")

    target = LatencyTarget("e2e", 0.99, 0.2)
    with serving(("GET", "/", handler)) as url:
        found = asyncio.run(
            saturate(url, Request("GET", "/"), targets=[target], low=60, high=480, duration=1.0, tolerance=0.1)
        )
        hopeless = asyncio.run(
            saturate(
                url, Request("GET", "/"), targets=[LatencyTarget("e2e", 0.5, 0.001)], low=20, high=40, duration=0.5
            )
        )
    assert found.best_rate is not None, found.reason
    assert 160 <= found.best_rate <= 240, (found.best_rate, found.reason)
    assert len(found.runs) <= 8
    assert all(isinstance(r, LoadResult) for r in found.runs)
    assert hopeless.best_rate is None
    assert "lowest rate" in hopeless.reason


# 7. worker processes ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_two_workers_send_the_single_process_schedule() -> None:
    """[SRV-025] The arrival schedule is computed up front from the seed: split across workers it is the same."""
    with serving(("POST", "/", fixed(0.01))) as url:
        one = asyncio.run(run_open_loop(url, by_id, rate=150, duration=2, seed=3))
        two = asyncio.run(run_open_loop(url, by_id, rate=150, duration=2, seed=3, workers=2))
    assert [(s.index, s.scheduled, s.label) for s in two.samples] == [
        (s.index, s.scheduled, s.label) for s in one.samples
    ]
    assert two.workers == 2 and two.ok == len(two.samples)
    # Workers do not busy-wait (they share cores), so their send lag is the loop's millisecond timer: checked
    # against the spec's 10 ms ceiling (SRV-030) rather than kept_up's 2 ms, as this machine also runs the server.
    assert two.keeps_up(0.010), two.summary()["sendLag"]
    assert abs(two.percentile("e2e", 0.5) - one.percentile("e2e", 0.5)) < 0.003
    assert all(s.sent - s.scheduled < 0.05 for s in two.samples)  # one start instant shared by the processes


def test_warmup_requests_are_sent_but_not_counted() -> None:
    """[SRV-024] [SRV-026] Only requests scheduled in the measured window are measured; the summary states the method
    floor(n*p)."""
    counted: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        counted.append(int(await request.read()))
        return web.Response(text="ok")

    with serving(("POST", "/", handler)) as url:
        result = asyncio.run(run_open_loop(url, by_id, rate=100, duration=0.5, warmup=0.5, seed=5))
    assert len(counted) > len(result.samples) > 0
    assert min(s.scheduled for s in result.samples) >= 0.5
    assert result.duration == 0.5
    summary = result.summary()
    assert summary["counts"]["total"] == len(result.samples)
    assert summary["latencies"]["e2e"]["method"] == "floor(n*p)"


def test_invalid_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        asyncio.run(run_open_loop("http://127.0.0.1:1", Request("GET", "/"), rate=0, duration=1))
    with pytest.raises(ValueError, match="positive"):
        asyncio.run(run_closed_loop("http://127.0.0.1:1", Request("GET", "/"), concurrency=0, duration=1))


# 8. the definitions, on recorded samples and small runs --------------------------------------------------------


def test_latencies_are_the_differences_the_spec_defines() -> None:
    """[SRV-020] [SRV-021] [SRV-022] [SRV-023] [SRV-028] [SRV-029] e2e is done - scheduled, service done - sent, TTFT
    the first chunk - scheduled, ITL every gap pooled (not per-request means); throughput ok / duration; error rate
    failed / measured."""
    a = Sample(0, "", scheduled=1.0, sent=1.25, done=2.0, status=200, ok=True, chunks=(1.5, 1.6, 1.7, 1.8, 1.9))
    b = Sample(1, "", scheduled=3.0, sent=3.0, done=3.9, status=200, ok=True, chunks=(3.1, 3.8))
    c = Sample(2, "", scheduled=4.0, sent=4.0, done=4.2, status=500, error="http 500")
    d = Sample(3, "", scheduled=5.0, sent=5.0, done=5.0, error="connect")
    result = LoadResult("open", [a, b, c, d], duration=4.0)
    assert result.latencies("e2e") == pytest.approx([0.9, 1.0])
    assert result.latencies("service") == pytest.approx([0.75, 0.9])
    assert result.latencies("ttft") == pytest.approx([0.1, 0.5])
    # pooled: four gaps of 0.1 s and one of 0.7 s; per-request means would be 0.1 and 0.7
    assert result.latencies("itl") == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.7])
    assert result.percentile("itl", 0.5) == pytest.approx(0.1)
    assert result.latencies("send_lag", ok_only=False) == pytest.approx([0.0, 0.0, 0.0, 0.25])
    assert result.throughput == 2 / 4.0
    assert result.error_rate == 2 / 4
    assert result.errors == {"connect": 1, "http 500": 1}


def test_the_open_loop_schedule_is_seeded_exponential_gaps() -> None:
    """[SRV-025] The open-loop arrival times are the running sum of exponential gaps of mean 1/rate from a generator
    seeded with the seed, the same whatever the server answers."""
    rng = random.Random(11)
    expected: list[float] = []
    t = rng.expovariate(40)
    while t < 0.5:
        expected.append(t)
        t += rng.expovariate(40)
    with serving(("GET", "/fast", fixed(0.0)), ("GET", "/busy", unavailable)) as url:
        fast = asyncio.run(run_open_loop(url, Request("GET", "/fast"), rate=40, duration=0.5, seed=11))
        busy = asyncio.run(run_open_loop(url, Request("GET", "/busy"), rate=40, duration=0.5, seed=11))
    assert [s.scheduled for s in fast.samples] == expected
    assert [s.scheduled for s in busy.samples] == expected
    assert fast.ok == len(expected) and busy.ok == 0


def test_a_run_waits_for_the_requests_of_its_window() -> None:
    """[SRV-026] Every request scheduled in the window is measured, even one still in flight when the window ends:
    the run waits for it to finish or time out."""
    received: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        index = int(await request.read())
        received.append(index)
        await asyncio.sleep(0.3 if index < 3 else 1.0)
        return web.Response(text="ok")

    with serving(("POST", "/", handler)) as url:
        result = asyncio.run(run_open_loop(url, by_id, rate=20, duration=0.4, seed=2, timeout=0.6))
    assert sorted(s.index for s in result.samples) == sorted(received) == list(range(len(received)))
    assert len(received) >= 4
    assert all(s.ok and s.done - s.scheduled >= 0.3 for s in result.samples[:3])
    assert all(s.error == "timeout" and s.done - s.sent >= 0.6 for s in result.samples[3:])


def test_a_stream_without_an_output_chunk_fails() -> None:
    """[SRV-022] A streamed answer without an output chunk counts as failed."""

    async def silent(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b'data: {"choices":[{"delta":{"role":"assistant"}}]}\n\ndata: [DONE]\n\n')
        await response.write_eof()
        return response

    with serving(("POST", "/", silent)) as url:
        sample = asyncio.run(send_one(url, Request("POST", "/", stream=True)))
    assert sample.status == 200 and sample.chunks == ()
    assert not sample.ok
    assert sample.error == "stream error: no output"


def test_a_stream_that_ends_before_its_end_marker_fails() -> None:
    """[SRV-027] [SRV-055] A 200 stream of OpenAI chunks that ends without data: [DONE] counts as failed."""

    async def cut(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b'data: {"choices":[{"delta":{"content":"half an ans"}}]}\n\n')
        await response.write_eof()
        return response

    with serving(("POST", "/", cut)) as url:
        sample = asyncio.run(send_one(url, Request("POST", "/", stream=True)))
    assert sample.status == 200 and len(sample.chunks) == 1
    assert not sample.ok
    assert sample.error == "stream error: ended before [DONE]"


def test_a_stream_of_another_shape_needs_no_end_marker() -> None:
    """[SRV-022] [SRV-055] The end marker is the OpenAI one: a stream whose events are not OpenAI chunks succeeds
    without it, once it carried output."""

    async def plain(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b'data: {"token": "a"}\n\ndata: {"token": "b"}\n\n')
        await response.write_eof()
        return response

    with serving(("POST", "/", plain)) as url:
        sample = asyncio.run(send_one(url, Request("POST", "/", stream=True)))
    assert (sample.status, sample.ok, sample.error, len(sample.chunks)) == (200, True, None, 2)
