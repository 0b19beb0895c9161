"""The load generator: open-loop (Poisson) and closed-loop HTTP load, measured without coordinated omission.

Open loop: the arrival times are drawn up front (exponential gaps from ``random.Random(seed)``) and each request
is sent at its time whether or not earlier ones were answered; its latency counts from that scheduled time, so a
server that stalls cannot hide the stall by slowing the client down. The client records its own send lag (how
late it sent each request) and a run in which it fell behind is not ``kept_up``: the harness refuses to certify
it. ``workers > 1`` splits one schedule across processes, for rates one Python process cannot send.

Closed loop: ``concurrency`` requests in flight, each slot sending its next request as soon as the previous
answer is complete. :func:`saturate` finds the highest open-loop rate that still meets latency targets.

Examples:
    >>> import asyncio
    >>> from aiohttp import web
    >>> from aifabric.serving import Request
    >>> from aifabric.serving.load import run_open_loop
    >>> async def hello(request: web.Request) -> web.Response:
    ...     return web.Response(text="hello")
    >>> async def main() -> LoadResult:
    ...     app = web.Application()
    ...     app.router.add_get("/", hello)
    ...     runner = web.AppRunner(app)
    ...     await runner.setup()
    ...     site = web.TCPSite(runner, "127.0.0.1", 0)
    ...     await site.start()
    ...     port = runner.addresses[0][1]
    ...     try:
    ...         return await run_open_loop(f"http://127.0.0.1:{port}", Request("GET", "/"), rate=100, duration=0.5)
    ...     finally:
    ...         await runner.cleanup()
    >>> result = asyncio.run(main())
    >>> result.ok == len(result.samples) > 20, result.errors
    (True, {})
    >>> sorted(result.summary()["latencies"])
    ['e2e', 'service']
"""

from __future__ import annotations

import asyncio
import email.utils
import itertools
import math
import multiprocessing
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from yarl import URL

from aifabric._web import run
from aifabric.serving._stats import percentile
from aifabric.serving._types import LatencyKind, Mode, Request, Sample
from aifabric.serving.protocols import openai

__all__ = [
    "MAX_SEND_LAG",
    "SEND_LAG_P99",
    "LatencyTarget",
    "LoadResult",
    "RequestSource",
    "Saturation",
    "run_closed_loop",
    "run_open_loop",
    "saturate",
    "send_one",
]

RequestSource = Request | Sequence[Request] | Callable[[int], Request]
"""What to send: one request every time, a sequence cycled through, or a function of the request's index."""

SEND_LAG_P99 = 0.002
"""A run is kept up only when the client's send lag at p99 is under this many seconds."""
MAX_SEND_LAG = 0.05
"""... and no request was sent more than this many seconds after its scheduled time."""

_PERCENTILES = (("p50Ms", 0.5), ("p90Ms", 0.9), ("p95Ms", 0.95), ("p99Ms", 0.99), ("p999Ms", 0.999))
_KINDS: tuple[LatencyKind, ...] = ("e2e", "service", "ttft", "itl")
_TIMER_SLACK = 0.0011  # epoll's timeout is in whole milliseconds, rounded up
_Item = tuple[int, float, Request]  # index, scheduled time, request


@dataclass
class LoadResult:
    """The samples of one load run and what they add up to."""

    mode: Mode
    samples: list[Sample]
    duration: float
    """The measured window, in seconds (warm-up excluded)."""
    rate: float | None = None
    concurrency: int | None = None
    seed: int | None = None
    workers: int = 1

    def latencies(self, kind: LatencyKind = "e2e", *, ok_only: bool = True) -> list[float]:
        """Ascending latencies of ``kind`` in seconds (definitions on :class:`Sample`); ``itl`` pools every gap."""
        samples = [s for s in self.samples if s.ok] if ok_only else self.samples
        values: list[float]
        if kind == "e2e":
            values = [s.done - s.scheduled for s in samples]
        elif kind == "service":
            values = [s.done - s.sent for s in samples]
        elif kind == "send_lag":
            values = [s.sent - s.scheduled for s in samples]
        elif kind == "ttft":
            values = [s.chunks[0] - s.scheduled for s in samples if s.chunks]
        elif kind == "itl":
            values = [b - a for s in samples for a, b in itertools.pairwise(s.chunks)]
        else:
            raise ValueError(f"unknown latency kind {kind!r}")
        values.sort()
        return values

    def percentile(self, kind: LatencyKind, p: float) -> float:
        """The ``p``-th percentile (0.99 for p99) of the successful requests' ``kind`` latency, in seconds.

        Raises:
            ValueError: no such latencies (no successful request, or no stream for ``ttft``/``itl``).
        """
        return percentile(self.latencies(kind), p)

    @property
    def ok(self) -> int:
        """Successful requests."""
        return sum(1 for s in self.samples if s.ok)

    @property
    def errors(self) -> dict[str, int]:
        """Failed requests by reason: the sample's error, or ``http NNN``."""
        counts = Counter(s.error or (f"http {s.status}" if s.status else "unknown") for s in self.samples if not s.ok)
        return dict(sorted(counts.items()))

    @property
    def error_rate(self) -> float:
        """The fraction of requests that failed (0 for no requests)."""
        return (len(self.samples) - self.ok) / len(self.samples) if self.samples else 0.0

    @property
    def throughput(self) -> float:
        """Successful requests per second of the measured window."""
        return self.ok / self.duration if self.duration > 0 else 0.0

    def send_lag(self, p: float) -> float:
        """The ``p``-th percentile of the client's send lag over every request, in seconds (0 for none)."""
        lags = self.latencies("send_lag", ok_only=False)
        return percentile(lags, p) if lags else 0.0

    @property
    def kept_up(self) -> bool:
        """Whether the client kept its schedule: send lag p99 under 2 ms and none over 50 ms, nothing dropped."""
        return self.keeps_up(SEND_LAG_P99)

    def keeps_up(self, p99: float) -> bool:
        """Whether the client kept its schedule: send lag p99 under ``p99`` s, none over 50 ms [SRV-030]."""
        if any(s.error == "client overloaded" for s in self.samples):
            return False
        return self.send_lag(0.99) < p99 and self.send_lag(1.0) <= MAX_SEND_LAG

    def summary(self) -> dict[str, Any]:
        """A JSON-able summary: counts, errors, throughput, send lag, latency percentiles, whether it kept up."""
        latencies: dict[str, Any] = {}
        for kind in _KINDS:
            values = self.latencies(kind)
            if values:
                figures: dict[str, Any] = {"count": len(values)}
                figures.update((name, round(percentile(values, p) * 1e3, 3)) for name, p in _PERCENTILES)
                figures["maxMs"] = round(values[-1] * 1e3, 3)
                figures["method"] = "floor(n*p)"
                latencies[kind] = figures
        return {
            "mode": self.mode,
            "rate": self.rate,
            "concurrency": self.concurrency,
            "seed": self.seed,
            "workers": self.workers,
            "durationS": round(self.duration, 6),
            "counts": {"total": len(self.samples), "ok": self.ok, "failed": len(self.samples) - self.ok},
            "errors": self.errors,
            "errorRate": self.error_rate,
            "throughputRps": round(self.throughput, 3),
            "sendLag": {
                "p50Ms": round(self.send_lag(0.5) * 1e3, 3),
                "p99Ms": round(self.send_lag(0.99) * 1e3, 3),
                "maxMs": round(self.send_lag(1.0) * 1e3, 3),
            },
            "latencies": latencies,
            "keptUp": self.kept_up,
        }


@dataclass
class LatencyTarget:
    """A latency objective: the ``percentile`` (0.99 for p99) of ``kind`` at most ``max_seconds``."""

    kind: LatencyKind
    percentile: float
    max_seconds: float


@dataclass
class Saturation:
    """The outcome of :func:`saturate`: the highest rate that met every target (None if none did), and why."""

    best_rate: float | None
    runs: list[LoadResult] = field(default_factory=list)
    reason: str = ""


# --- sending one request ---------------------------------------------------------------------------------------------


def _session(timeout: float, limit: int = 0) -> aiohttp.ClientSession:
    """A keep-alive client session tuned for load: no connection limit, no cookies, no decompression."""
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=0, ttl_dns_cache=None, force_close=False)
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=timeout),
        auto_decompress=False,
    )


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: a number of seconds, or an HTTP date from now."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _carries_output(payload: bytes) -> tuple[bool, str | None, bool]:
    """Whether one SSE ``data:`` payload carries output, its error if any, and whether it is an OpenAI-style chunk.

    An OpenAI-style chunk is an object with a ``choices`` list, judged by :func:`openai.carries_output`; any other
    payload (not JSON, or another API's shape) counts as output.
    """
    try:
        event = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return True, None, False
    if not isinstance(event, dict):
        return True, None, False
    if event.get("error"):
        return False, openai.chunk_error(event), False
    if not isinstance(event.get("choices"), list):
        return True, None, False
    return openai.carries_output(event), None, True


def _failure(exc: BaseException) -> str:
    """A short reason for a request that got no (complete) answer."""
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ClientConnectorError | ConnectionRefusedError):
        return "connect"
    if isinstance(exc, aiohttp.ServerDisconnectedError | ConnectionResetError):
        return "disconnected"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "payload"
    if isinstance(exc, aiohttp.ClientError | OSError):
        return f"client: {type(exc).__name__}"
    return f"internal: {type(exc).__name__}: {exc}"


async def _send(
    session: aiohttp.ClientSession, url: URL, request: Request, index: int, scheduled: float, start: float
) -> Sample:
    """Sends one request and measures it; times relative to ``start`` (a ``perf_counter`` instant)."""
    clock = time.perf_counter
    sent = clock() - start
    sample = Sample(index=index, label=request.label, scheduled=scheduled, sent=sent, done=sent)
    try:
        async with session.request(
            request.method, url, data=request.body, headers=request.headers or None, allow_redirects=False
        ) as response:
            sample.status = response.status
            if response.status in (429, 503):
                sample.retry_after = _retry_after(response.headers.get("Retry-After"))
            content = response.content
            size = 0
            error: str | None = None
            if request.stream and response.status < 300:
                chunks: list[float] = []
                data: list[bytes] = []
                body: list[bytes] = []
                seen = _StreamState()
                async for line in content:
                    now = clock() - start
                    if sample.first_byte is None:
                        sample.first_byte = now
                    size += len(line)
                    if request.keep_body:
                        body.append(line)
                    line = line.rstrip(b"\r\n")
                    if line.startswith(b"data:"):
                        data.append(line[5:].strip())
                        continue
                    if line or not data:
                        continue  # a comment, another field, or a blank line between events
                    error = _dispatch(b"\n".join(data), now, chunks, seen)
                    data.clear()
                    if error is not None:
                        break
                if data and error is None:
                    error = _dispatch(b"\n".join(data), clock() - start, chunks, seen)
                if error is None and seen.openai and not seen.done:
                    error = "ended before [DONE]"  # SRV-027, SRV-055: a cut-off stream is not an answer
                if error is None and not chunks:
                    error = "no output"  # SRV-022: nothing to time the first token by
                sample.chunks = tuple(chunks)
                if request.keep_body:
                    sample.body = b"".join(body)
            else:
                parts: list[bytes] = []
                while chunk := await content.readany():
                    if sample.first_byte is None:
                        sample.first_byte = clock() - start
                    size += len(chunk)
                    parts.append(chunk)
                if request.keep_body:
                    sample.body = b"".join(parts)
            sample.size = size
            sample.done = clock() - start
            if error is not None:
                sample.error = f"stream error: {error}"
            elif 200 <= response.status < 300:
                sample.ok = True
            else:
                sample.error = f"http {response.status}"
    except Exception as exc:  # noqa: BLE001 - a run records every failure as a sample; nothing escapes it
        sample.done = clock() - start
        sample.error = _failure(exc)
    return sample


@dataclass(slots=True)
class _StreamState:
    """What a stream has shown so far: an OpenAI-style chunk, and its end marker ``data: [DONE]``."""

    openai: bool = False
    done: bool = False


def _dispatch(payload: bytes, now: float, chunks: list[float], seen: _StreamState) -> str | None:
    """Handles one complete SSE event: records its time if it carries output; returns its error, if any."""
    if payload == b"[DONE]":
        seen.done = True
        return None
    output, error, openai = _carries_output(payload)
    if error is not None:
        return error
    if openai:
        seen.openai = True
    if output:
        chunks.append(now)
    return None


def _url(base_url: str, path: str, cache: dict[str, URL]) -> URL:
    url = cache.get(path)
    if url is None:
        url = cache[path] = URL(base_url.rstrip("/") + "/" + path.lstrip("/"))
    return url


async def send_one(base_url: str, request: Request, *, timeout: float = 30.0) -> Sample:
    """Sends one request on a fresh connection and measures it as a load run does (scheduled = sent = 0).

    Never raises for a failed request: the sample's ``error`` says what went wrong.
    """
    async with _session(timeout) as session:
        start = time.perf_counter()
        return await _send(session, _url(base_url, request.path, {}), request, 0, 0.0, start)


# --- open loop -------------------------------------------------------------------------------------------------------


def _request_at(requests: RequestSource) -> Callable[[int], Request]:
    if isinstance(requests, Request):
        return lambda _n: requests
    if isinstance(requests, Sequence):
        if not requests:
            raise ValueError("no requests to send")
        items = list(requests)
        return lambda n: items[n % len(items)]
    return requests


def _poisson_schedule(rate: float, end: float, seed: int) -> list[float]:
    """Arrival times in [0, end) of a Poisson process of ``rate`` per second."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible schedule, not a secret
    times: list[float] = []
    t = rng.expovariate(rate)
    while t < end:
        times.append(t)
        t += rng.expovariate(rate)
    return times


async def _open_loop(
    base_url: str,
    items: Sequence[_Item],
    start: float,
    timeout: float,
    max_in_flight: int,
    *,
    spin: bool = True,
    on_sample: Callable[[Sample], None] | None = None,
) -> list[Sample]:
    """Sends each item at its scheduled time (relative to ``start``) and gathers the samples.

    With ``spin`` the last millisecond before each request is spent running the loop without sleeping, for sub-ms
    send lag; worker processes do not spin, as they usually share cores with each other and busy-waiting one
    starves the others (measured: 2 workers on 2 cores fell behind at 600/s spinning, kept up at 2000/s without).
    """
    slack = _TIMER_SLACK if spin else 0.0
    clock = time.perf_counter
    samples: list[Sample] = []
    tasks: set[asyncio.Task[None]] = set()
    urls: dict[str, URL] = {}
    in_flight = 0

    async def one(item: _Item) -> None:
        nonlocal in_flight
        try:
            sample = await _send(session, _url(base_url, item[2].path, urls), item[2], item[0], item[1], start)
            samples.append(sample)
            if on_sample is not None:
                on_sample(sample)
        finally:
            in_flight -= 1

    async with _session(timeout) as session:
        for item in items:
            due = start + item[1]
            delay = due - clock()
            if delay > slack:
                await asyncio.sleep(delay - slack)  # the loop's timer wakes up to a millisecond late...
            while spin and clock() < due:
                await asyncio.sleep(0)  # ... so the last stretch is spent running the loop (answers keep flowing)
            if in_flight >= max_in_flight:
                now = clock() - start
                request = item[2]
                samples.append(
                    Sample(item[0], request.label, item[1], now, now, error="client overloaded")  # never sent
                )
                continue
            in_flight += 1
            task = asyncio.create_task(one(item))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        while tasks:
            await asyncio.wait(list(tasks))
    return samples


def _worker(connection: Any, base_url: str, items: list[_Item], timeout: float, max_in_flight: int) -> None:
    """A worker process: reports ready, waits for the common start instant, runs its share, sends the samples."""
    connection.send("ready")
    start = connection.recv()
    samples = run(_open_loop(base_url, items, start, timeout, max_in_flight, spin=False))
    connection.send(samples)
    connection.close()


async def _open_loop_workers(
    base_url: str, items: list[_Item], workers: int, timeout: float, max_in_flight: int
) -> list[Sample]:
    """Runs the schedule split round-robin across ``workers`` processes, all started at one instant."""
    context = multiprocessing.get_context("spawn")
    loop = asyncio.get_running_loop()
    pipes, processes = [], []
    for w in range(workers):
        parent, child = context.Pipe()
        share = items[w::workers]
        process = context.Process(
            target=_worker, args=(child, base_url, share, timeout, max(1, max_in_flight // workers)), daemon=True
        )
        process.start()
        child.close()
        pipes.append(parent)
        processes.append(process)
    try:
        for pipe in pipes:
            try:
                await loop.run_in_executor(None, pipe.recv)
            except EOFError:
                raise RuntimeError(
                    "a load worker process died before starting (run under `if __name__ == '__main__':`)"
                ) from None
        start = time.perf_counter() + 0.05  # every worker gets the instant before it comes
        for pipe in pipes:
            pipe.send(start)
        samples: list[Sample] = []
        for pipe in pipes:
            samples.extend(await loop.run_in_executor(None, pipe.recv))
        return samples
    finally:
        for pipe in pipes:
            pipe.close()
        for process in processes:
            await loop.run_in_executor(None, process.join, 5.0)
            if process.is_alive():
                process.kill()


async def run_open_loop(
    base_url: str,
    requests: RequestSource,
    *,
    rate: float,
    duration: float,
    seed: int = 0,
    timeout: float = 30.0,
    workers: int = 1,
    warmup: float = 0.0,
    max_in_flight: int = 10_000,
    on_sample: Callable[[Sample], None] | None = None,
) -> LoadResult:
    """Sends requests at Poisson arrival times of ``rate`` per second for ``warmup + duration`` seconds.

    Each request goes out at its time whatever happened to the earlier ones, and its latency counts from that
    time. Requests scheduled in the warm-up are sent but left out of the result. A request due while
    ``max_in_flight`` are outstanding is not sent and fails with ``client overloaded`` (and the run is not kept
    up). With ``workers > 1`` the schedule is split across that many processes, which then need ``requests`` to
    be picklable once resolved (they always are: :class:`Request` objects are sent). ``on_sample`` is called with
    each sample as it completes, for a live display (in this process only: not with ``workers > 1``).

    Raises:
        ValueError: a rate, duration or worker count that is not positive.
    """
    if rate <= 0 or duration <= 0 or workers < 1 or warmup < 0 or max_in_flight < 1:
        raise ValueError("rate, duration, workers and max_in_flight must be positive, warmup not negative")
    request_at = _request_at(requests)
    items = [(n, t, request_at(n)) for n, t in enumerate(_poisson_schedule(rate, warmup + duration, seed))]
    if workers == 1:
        samples = await _open_loop(base_url, items, time.perf_counter(), timeout, max_in_flight, on_sample=on_sample)
    else:
        samples = await _open_loop_workers(base_url, items, workers, timeout, max_in_flight)
    samples = sorted((s for s in samples if s.scheduled >= warmup), key=lambda s: s.index)
    return LoadResult("open", samples, duration, rate=rate, seed=seed, workers=workers)


# --- closed loop -----------------------------------------------------------------------------------------------------


async def run_closed_loop(
    base_url: str,
    requests: RequestSource,
    *,
    concurrency: int,
    duration: float,
    timeout: float = 30.0,
    warmup: float = 0.0,
    max_requests: int | None = None,
    on_sample: Callable[[Sample], None] | None = None,
) -> LoadResult:
    """Keeps ``concurrency`` requests in flight for ``warmup + duration`` seconds (or ``max_requests`` measured).

    Each slot sends its next request as soon as its previous answer is complete; a request's scheduled time is
    the moment its slot freed up. The measured window ends at ``warmup + duration``, or when the last of
    ``max_requests`` measured requests completed if that is sooner.

    Raises:
        ValueError: a concurrency or duration that is not positive.
    """
    if concurrency < 1 or duration <= 0 or warmup < 0 or (max_requests is not None and max_requests < 1):
        raise ValueError("concurrency, duration and max_requests must be positive, warmup not negative")
    request_at = _request_at(requests)
    end = warmup + duration
    counter = itertools.count()
    measured = 0
    samples: list[Sample] = []
    urls: dict[str, URL] = {}

    async def slot(session: aiohttp.ClientSession, start: float) -> None:
        nonlocal measured
        scheduled = 0.0
        while scheduled < end:
            if scheduled >= warmup:
                if max_requests is not None and measured >= max_requests:
                    return
                measured += 1
            n = next(counter)
            request = request_at(n)
            sample = await _send(session, _url(base_url, request.path, urls), request, n, scheduled, start)
            samples.append(sample)
            if on_sample is not None:
                on_sample(sample)
            scheduled = sample.done

    async with _session(timeout) as session:
        start = time.perf_counter()
        await asyncio.gather(*(slot(session, start) for _ in range(concurrency)))
    kept = sorted((s for s in samples if s.scheduled >= warmup), key=lambda s: s.index)
    window = duration
    if max_requests is not None and measured >= max_requests and kept:
        window = min(duration, max(s.done for s in kept) - warmup)
    return LoadResult("closed", kept, window, concurrency=concurrency)


# --- saturation ------------------------------------------------------------------------------------------------------


def _verdict(result: LoadResult, targets: Sequence[LatencyTarget], max_error_rate: float) -> str | None:
    """Why ``result`` misses its objectives, or None when it meets them all."""
    if result.error_rate > max_error_rate:
        return f"error rate {result.error_rate:.3f} > {max_error_rate} at {result.rate:g} rps"
    for target in targets:
        values = result.latencies(target.kind)
        if not values:
            return f"no {target.kind} latencies at {result.rate:g} rps"
        value = percentile(values, target.percentile)
        if value > target.max_seconds:
            return (
                f"p{target.percentile * 100:g} {target.kind} {value:.4f} s > {target.max_seconds:g} s"
                f" at {result.rate:g} rps"
            )
    return None


async def saturate(
    base_url: str,
    requests: RequestSource,
    *,
    targets: Sequence[LatencyTarget],
    low: float,
    high: float,
    duration: float,
    seed: int = 0,
    workers: int = 1,
    tolerance: float = 0.05,
    max_error_rate: float = 0.01,
    timeout: float = 30.0,
) -> Saturation:
    """The highest open-loop rate in [low, high] that meets every target and the error budget.

    Gallops up from ``low`` (doubling) until a run misses, then bisects until the bracket is within
    ``tolerance`` (relative). A run in which the client fell behind its schedule (send lag p99 not under the
    smaller of 10 ms and a tenth of the tightest target, SRV-030) proves nothing: it counts as a miss, and the
    reason says so.

    Raises:
        ValueError: ``low`` not positive or above ``high``, or no targets.
    """
    if not 0 < low <= high or not targets or tolerance <= 0:
        raise ValueError("need 0 < low <= high, a positive tolerance and at least one target")
    runs: list[LoadResult] = []
    last_miss = ""
    lag_bound = min([0.010, *(target.max_seconds / 10 for target in targets)])

    async def meets(rate: float) -> bool:
        nonlocal last_miss
        result = await run_open_loop(
            base_url, requests, rate=rate, duration=duration, seed=seed, workers=workers, timeout=timeout
        )
        runs.append(result)
        if not result.keeps_up(lag_bound):
            last_miss = f"the client could not keep up at {rate:g} rps (send lag p99 {result.send_lag(0.99):.4f} s)"
            return False
        miss = _verdict(result, targets, max_error_rate)
        if miss is not None:
            last_miss = miss
        return miss is None

    if not await meets(low):
        return Saturation(None, runs, f"misses at the lowest rate: {last_miss}")
    good, bad = low, None
    while bad is None:
        rate = min(good * 2, high)
        if rate <= good:
            return Saturation(good, runs, f"meets every target up to the highest rate, {high:g} rps")
        if await meets(rate):
            good = rate
        else:
            bad = rate
    while bad - good > tolerance * good:
        rate = math.sqrt(good * bad) if bad > 2 * good else (good + bad) / 2
        if await meets(rate):
            good = rate
        else:
            bad = rate
    return Saturation(good, runs, f"meets every target at {good:g} rps; {last_miss}")
