"""Tool guard benchmark: the overhead a guard adds to one call of a trivial tool.

The guard validates the arguments and the result (schemas compiled once), checks scopes, consent and an
``AllowRules`` policy, spends a per-principal rate limit, and emits an audit record and a lineage entry to
in-memory sinks. Three ways to run the tool are measured: a sync tool handed to the guard's worker thread (the
default, so that the caller stops waiting at the timeout), a sync tool run on the caller's thread
(``inline=True``, which finds an overrun but cannot stop it: spec/tools.md TOOL-042), and an async tool awaited by
``acall``. Compared in the same run with a bare call of the function and with pydantic's ``validate_call`` alone.
Medians of many single calls, in microseconds; the issue's target is a median overhead under 50 microseconds.

Run: `.venv/bin/python benchmarks/bench_tools_guard.py [--calls N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import validate_call

from aifabric.models.tools import ToolContract
from aifabric.tools.guard import AllowRules, Guard, Rule


class _Sink:
    def __init__(self) -> None:
        self.items: list[Any] = []

    def append(self, item: Any) -> None:
        self.items.append(item)
        if len(self.items) > 10_000:
            self.items.clear()


def _median_us(fn: Callable[[], Any], calls: int) -> float:
    for _ in range(1000):
        fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - start)
    return statistics.median(times) / 1000


def _median_us_async(fn: Callable[[], Awaitable[Any]], calls: int) -> float:
    async def run() -> float:
        for _ in range(1000):
            await fn()
        times = []
        for _ in range(calls):
            start = time.perf_counter_ns()
            await fn()
            times.append(time.perf_counter_ns() - start)
        return statistics.median(times) / 1000

    return asyncio.run(run())


def main() -> None:
    """Print the medians and the ratios."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20_000)
    calls = parser.parse_args().calls
    contract = ToolContract.model_validate(
        {
            "name": "add",
            "description": "Adds two integers.",
            "version": "1.0.0",
            "owner": {"type": "service", "id": "bench"},
            "inputSchema": {
                "type": "object",
                "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                "required": ["a", "b"],
                "additionalProperties": False,
            },
            "outputSchema": {"type": "object", "properties": {"sum": {"type": "integer"}}, "required": ["sum"]},
            "sideEffect": "none",
            "timeoutS": 5,
            "auth": {"required": True, "scopes": ["calc"]},
            "consent": {"purposes": ["maths"]},
            "rateLimit": {"policies": [{"name": "per-caller", "q": 1_000_000_000, "w": 1}]},
        }
    )

    def add(a: int, b: int) -> dict[str, int]:
        return {"sum": a + b}

    @validate_call(validate_return=True)
    def add_checked(a: int, b: int) -> dict[str, int]:
        return {"sum": a + b}

    async def add_async(a: int, b: int) -> dict[str, int]:
        return {"sum": a + b}

    def guard(fn: Callable[..., Any], **options: Any) -> Guard:
        return Guard(
            contract, fn, policy=AllowRules((Rule(principal="alice"),)), audit=_Sink(), lineage=_Sink(), **options
        )

    who: dict[str, Any] = {"principal": "alice", "scopes": ("calc",), "purposes": ("maths",)}
    args = {"a": 1, "b": 2}
    threaded, inline, awaited = guard(add), guard(add, inline=True), guard(add_async)
    bare = _median_us(lambda: add(**args), calls)
    bare_async = _median_us_async(lambda: add_async(**args), calls)
    pyd = _median_us(lambda: add_checked(**args), calls)
    rows = [
        ("guard.call, worker thread", _median_us(lambda: threaded.call(args, **who), calls), bare),
        ("guard.call, inline", _median_us(lambda: inline.call(args, **who), calls), bare),
        ("guard.acall, async tool", _median_us_async(lambda: awaited.acall(args, **who), calls), bare_async),
    ]
    threaded.close()
    print(f"bare call:                  {bare:8.2f} us")
    print(f"bare await:                 {bare_async:8.2f} us")
    print(f"pydantic validate_call:     {pyd:8.2f} us  ({pyd / bare:.1f}x bare)")
    for name, median, base in rows:
        print(f"{name + ':':27} {median:8.2f} us  ({median / base:.0f}x bare, {median / pyd:.1f}x pydantic)")
    print("guard overhead (median less the bare call), target < 50 us:")
    for name, median, base in rows:
        overhead = median - base
        print(f"  {name + ':':25} {overhead:8.2f} us  {'met' if overhead < 50 else 'NOT met'}")


if __name__ == "__main__":
    main()
