"""Load generator benchmark: the highest open-loop rate it keeps up with, against wrk's closed-loop maximum.

A trivial aiohttp "hello" server runs in its own process (this script started again with ``--serve``) on a
loopback port. The harness's figure is the highest Poisson rate at which it keeps its schedule (send lag p99 under
2 ms, none over 50 ms, no errors), found by doubling and then bisection to within 5%, with one and with two worker
processes. wrk (Debian package ``wrk``) measures the same server closed-loop, as fast as it can; the ratio
harness / wrk is printed (the aim is 0.5 or more). Without wrk the harness figures are printed alone.

Run: `.venv/bin/python benchmarks/bench_serving_load.py [--quick]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from aifabric._web import run
from aifabric.serving import Request
from aifabric.serving.load import LoadResult, run_open_loop


def serve() -> None:
    """The server side: aiohttp answering "hello" on a free loopback port, its URL printed on stdout."""
    from aiohttp import web

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/", hello)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        print(f"http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


@contextmanager
def server() -> Iterator[str]:
    """The hello server in a child process; yields its URL."""
    process = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(10)


def wrk(url: str, seconds: int) -> float | None:
    """Requests per second that wrk gets (one thread, 64 connections), or None when wrk is not installed."""
    if shutil.which("wrk") is None:
        return None
    out = subprocess.run(
        ["wrk", "-t1", "-c64", f"-d{seconds}s", url], check=True, capture_output=True, text=True
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    return float(match.group(1))


def attempt(url: str, rate: float, seconds: float, workers: int) -> LoadResult:
    """One open-loop run of ``rate`` per second."""
    request = Request("GET", "/")  # a second of warm-up first: the connections are open when the measured run starts
    return run(run_open_loop(url, request, rate=rate, duration=seconds, warmup=1.0, workers=workers, seed=1))


def sustained(url: str, seconds: float, workers: int) -> tuple[float, LoadResult | None]:
    """The highest rate kept up with and error-free: doubling from 500/s, then bisection to 5%."""
    good, best, bad = 0.0, None, None
    rate = 500.0
    while bad is None:
        result = attempt(url, rate, seconds, workers)
        ok = result.kept_up and not result.errors
        print(f"  workers={workers} {rate:8.0f}/s  send lag p99 {result.send_lag(0.99) * 1e3:6.2f} ms  ok={ok}")
        if ok:
            good, best, rate = rate, result, rate * 2
        else:
            bad = rate
    while bad - good > 0.05 * max(good, 1.0):
        rate = (good + bad) / 2
        result = attempt(url, rate, seconds, workers)
        ok = result.kept_up and not result.errors
        print(f"  workers={workers} {rate:8.0f}/s  send lag p99 {result.send_lag(0.99) * 1e3:6.2f} ms  ok={ok}")
        if ok:
            good, best = rate, result
        else:
            bad = rate
    return good, best


def main() -> None:
    """Measures wrk, then the harness with one and two workers, and prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    seconds = 2.0 if args.quick else 4.0
    print(f"CPUs: {os.cpu_count()}; server: aiohttp hello in its own process")
    with server() as url:
        peak = wrk(url, int(seconds))
        figures = {workers: sustained(url, seconds, workers) for workers in (1, 2)}
    print()
    print(f"{'client':<34}{'req/s':>10}{'ratio to wrk':>14}")
    if peak is None:
        print("wrk is not installed (apt-get install wrk): harness figures alone")
    else:
        print(f"{'wrk closed loop (1 thread, 64 conn)':<34}{peak:>10.0f}{1.0:>14.2f}")
    for workers, (rate, result) in figures.items():
        ratio = f"{rate / peak:>14.2f}" if peak else ""
        lag = f"  (send lag p99 {result.send_lag(0.99) * 1e3:.2f} ms)" if result else ""
        print(f"{f'aifabric open loop, workers={workers}':<34}{rate:>10.0f}{ratio}{lag}")


if __name__ == "__main__":
    main()
