"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import statistics
import subprocess
import time


def median_wall(cmd: list[str], runs: int) -> float:
    """Median wall time of a command that must succeed, in seconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)
