"""Tool guard benchmark: the overhead a guard adds to one call of a trivial tool.

The guard validates the arguments and the result (schemas compiled once), checks scopes, consent and an
``AllowRules`` policy, runs the sync tool in a worker thread (so its timeout holds) and emits an audit record
and a lineage entry to in-memory sinks. Compared in the same run with a bare call of the function and with
pydantic's ``validate_call`` alone. Medians of many single calls, in microseconds.

Run: `.venv/bin/python benchmarks/bench_tools_guard.py [--calls N]`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
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
        }
    )

    def add(a: int, b: int) -> dict[str, int]:
        return {"sum": a + b}

    @validate_call(validate_return=True)
    def add_checked(a: int, b: int) -> dict[str, int]:
        return {"sum": a + b}

    guard = Guard(contract, add, policy=AllowRules((Rule(principal="alice"),)), audit=_Sink(), lineage=_Sink())
    args = {"a": 1, "b": 2}
    bare = _median_us(lambda: add(**args), calls)
    pyd = _median_us(lambda: add_checked(**args), calls)
    guarded = _median_us(lambda: guard.call(args, principal="alice", scopes=("calc",), purposes=("maths",)), calls)
    guard.close()
    print(f"bare call:              {bare:8.2f} us")
    print(f"pydantic validate_call: {pyd:8.2f} us  ({pyd / bare:.1f}x bare)")
    print(f"guard.call:             {guarded:8.2f} us  ({guarded / bare:.0f}x bare, {guarded / pyd:.1f}x pydantic)")
    print(f"guard overhead:         {guarded - bare:8.2f} us  (target < 50 us)")


if __name__ == "__main__":
    main()
