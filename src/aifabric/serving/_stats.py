"""Percentiles, early stopping and HDR histograms for the load generator's reports.

One percentile convention everywhere: the value at index ``floor(n * p)`` of the sorted values, clamped to
``n - 1`` (so p50 of ``[1, 2, 3, 4]`` is 3, and p100 is the maximum). ``p`` is taken at its shortest decimal form
(0.29 is 29/100), so binary rounding never moves the index.

Early stopping follows MLPerf LoadGen: a run of ``n`` requests of which ``slow`` missed the latency target shows,
with the given confidence, that the ``p``-th percentile meets the target when ``P[Binomial(n, 1 - p) <= slow]
<= 1 - confidence``: were the true fraction of slow requests exactly ``1 - p``, so few slow ones would be that
unlikely. :func:`min_requests` is the smallest such ``n``; 662 for p99, one slow request, 99% confidence.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

LOWEST_US = 1
"""The smallest value a :class:`Histogram` tells apart: one microsecond."""
HIGHEST_US = 100_000_000
"""The largest value a :class:`Histogram` records: 100 seconds (larger values are clamped to it)."""
SIGNIFICANT_DIGITS = 3


def _exact(p: float) -> Fraction:
    """``p`` at its shortest decimal form: 0.99 is 99/100, not the binary float nearest to it."""
    return Fraction(repr(float(p)))


def _check_probability(name: str, p: float, *, closed: bool) -> Fraction:
    exact = _exact(p)
    if not (0 <= exact <= 1 if closed else 0 < exact < 1):
        bounds = "[0, 1]" if closed else "(0, 1)"
        raise ValueError(f"{name} must be in {bounds}, got {p!r}")
    return exact


def percentile_index(n: int, p: float) -> int:
    """The index ``floor(n * p)`` clamped to ``n - 1``."""
    if n <= 0:
        raise ValueError("percentile of no values")
    return min(math.floor(_check_probability("p", p, closed=True) * n), n - 1)


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """The value at index ``floor(n * p)`` of ascending ``sorted_values``, clamped to ``n - 1``.

    Raises:
        ValueError: no values, or ``p`` outside [0, 1].
    """
    return sorted_values[percentile_index(len(sorted_values), p)]


def _binomial_cdf_at_most(n: int, k: int, q: Fraction) -> tuple[int, int]:
    """``P[Binomial(n, q) <= k]``, exactly, as (numerator, denominator) not reduced (reducing costs more)."""
    a, d = q.numerator, q.denominator
    if k >= n:
        return 1, 1
    b = d - a
    # sum_i C(n, i) a^i b^(n-i) / d^n, with b^(n-k) factored out so the loop works on small numbers.
    total, binom, a_pow = 0, 1, 1
    for i in range(k + 1):
        total += binom * a_pow * b ** (k - i)
        binom = binom * (n - i) // (i + 1)
        a_pow *= a
    return total * b ** (n - k), d**n


def min_requests(p: float, slow: int = 0, confidence: float = 0.99) -> int:
    """The fewest requests that show the ``p``-th percentile meets its target when ``slow`` of them missed it.

    The smallest ``n`` with ``P[Binomial(n, 1 - p) <= slow] <= 1 - confidence`` (MLPerf LoadGen's early
    stopping), in exact rational arithmetic: 459 for (0.99, 0, 0.99), 662 for (0.99, 1, 0.99).

    Raises:
        ValueError: ``p`` or ``confidence`` outside (0, 1), or ``slow`` negative.
    """
    target = _check_probability("p", p, closed=False)
    alpha = 1 - _check_probability("confidence", confidence, closed=False)
    if slow < 0:
        raise ValueError(f"slow must be >= 0, got {slow}")
    q = 1 - target

    def enough(n: int) -> bool:
        numerator, denominator = _binomial_cdf_at_most(n, slow, q)
        return numerator * alpha.denominator <= alpha.numerator * denominator

    low, high = slow, max(slow + 1, 1)  # enough(low) is False: with n <= slow the probability is 1
    while not enough(high):
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        if enough(mid):
            high = mid
        else:
            low = mid
    return high


def early_stopping(
    latencies_sorted: Sequence[float], target_seconds: float, p: float, confidence: float
) -> dict[str, Any]:
    """Whether ascending ``latencies_sorted`` show, with ``confidence``, that their ``p``-th percentile is in target.

    Returns:
        ``slow`` (latencies above ``target_seconds``), ``required`` (:func:`min_requests` for that many slow),
        ``observed`` (latencies given) and ``ok`` (``observed >= required``).
    """
    slow = len(latencies_sorted) - bisect_right(latencies_sorted, target_seconds)
    required = min_requests(p, slow, confidence)
    observed = len(latencies_sorted)
    return {"slow": slow, "required": required, "observed": observed, "ok": observed >= required}


class Histogram:
    """An HDR histogram of latencies in seconds: 1 µs to 100 s at three significant digits (``hdrhistogram``)."""

    def __init__(self) -> None:
        self._hist = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)

    @classmethod
    def decode(cls, encoded: str) -> Histogram:
        """The histogram that :meth:`encode` wrote."""
        histogram = cls()
        histogram._hist = HdrHistogram.decode(encoded.encode("ascii"))
        return histogram

    def record(self, seconds: float) -> None:
        """Records one latency, clamped to the histogram's range."""
        self._hist.record_value(min(max(round(seconds * 1e6), LOWEST_US), HIGHEST_US))

    @property
    def count(self) -> int:
        """How many values were recorded."""
        return int(self._hist.get_total_count())

    def value_at(self, p: float) -> float:
        """The latency in seconds at fraction ``p`` (0.99 for p99), to the histogram's precision."""
        _check_probability("p", p, closed=True)
        return float(self._hist.get_value_at_percentile(p * 100)) / 1e6

    def encode(self) -> str:
        """HdrHistogram's standard compressed, base64 encoding (readable by every HdrHistogram library)."""
        return str(self._hist.encode().decode("ascii"))
