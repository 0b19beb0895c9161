"""Percentiles by floor(n*p), MLPerf-style early stopping and the HDR histogram wrapper."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aifabric.serving._stats import Histogram, early_stopping, min_requests, percentile

values = st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), min_size=1, max_size=300)
probabilities = st.one_of(
    st.floats(min_value=0, max_value=1, allow_nan=False),
    st.sampled_from([0.0, 0.29, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0]),
)


def naive_percentile(data: list[float], p: float) -> float:
    ordered = sorted(data)
    index = int(Decimal(repr(p)) * len(ordered))  # floor: both factors are not negative
    return ordered[min(index, len(ordered) - 1)]


@given(values, probabilities)
def test_percentile_is_the_value_at_floor_n_p(data: list[float], p: float) -> None:
    """[SRV-024] The p-th percentile is the sorted value at index floor(n*p), clamped to n - 1."""
    assert percentile(sorted(data), p) == naive_percentile(data, p)


@given(values)
def test_percentile_extremes_and_order(data: list[float]) -> None:
    ordered = sorted(data)
    assert percentile(ordered, 0) == ordered[0]
    assert percentile(ordered, 1) == ordered[-1]
    assert percentile(ordered, 0.5) <= percentile(ordered, 0.99)


def test_percentile_examples_and_errors() -> None:
    """[SRV-024] The spec's examples: p99 of 1000 values is the one at index 990, no interpolation."""
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 3.0
    assert percentile([float(i) for i in range(100)], 0.29) == 29.0  # 0.29 * 100 is 28.999... in binary
    assert percentile([float(i) for i in range(1000)], 0.99) == 990.0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        percentile([1.0], 1.5)


def binomial_cdf(n: int, k: int, q: Fraction) -> Fraction:
    return sum((math.comb(n, i) * q**i * (1 - q) ** (n - i) for i in range(k + 1)), Fraction(0))


def test_min_requests_known_values() -> None:
    """[SRV-031] N(p, s, c) gives the values of the spec's table."""
    assert min_requests(0.99, 1, 0.99) == 662  # MLPerf LoadGen's figure for p99, one slow request
    assert min_requests(0.99, 0, 0.99) == 459  # 0.99^n <= 0.01: n >= ln 0.01 / ln 0.99 = 458.2
    assert min_requests(0.99) == 459
    assert min_requests(0.9, 0, 0.99) == 44
    assert min_requests(0.5, 0, 0.5) == 1


@pytest.mark.parametrize(("p", "slow", "confidence"), [(0.99, 1, 0.99), (0.9, 3, 0.95), (0.999, 0, 0.99)])
def test_min_requests_is_the_smallest_n_by_the_binomial_definition(p: float, slow: int, confidence: float) -> None:
    """[SRV-031] N(p, s, c) is the smallest n whose binomial tail is at most 1 - c."""
    n = min_requests(p, slow, confidence)
    q, alpha = 1 - Fraction(repr(p)), 1 - Fraction(repr(confidence))
    assert binomial_cdf(n, slow, q) <= alpha < binomial_cdf(n - 1, slow, q)


def test_min_requests_grows_with_slow_requests_percentile_and_confidence() -> None:
    by_slow = [min_requests(0.99, slow) for slow in range(8)]
    assert by_slow == sorted(by_slow) and len(set(by_slow)) == len(by_slow)
    by_p = [min_requests(p, 1) for p in (0.5, 0.9, 0.95, 0.99, 0.999)]
    assert by_p == sorted(by_p) and len(set(by_p)) == len(by_p)
    assert min_requests(0.99, 1, 0.9) < min_requests(0.99, 1, 0.99) < min_requests(0.99, 1, 0.999)
    assert min_requests(0.99, 500) < 70_000  # large counts stay quick: exact integers, bisection over n


@pytest.mark.parametrize(("p", "slow", "confidence"), [(1.0, 0, 0.99), (0.0, 0, 0.99), (0.99, -1, 0.99), (0.99, 0, 1)])
def test_min_requests_refuses_meaningless_arguments(p: float, slow: int, confidence: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        min_requests(p, slow, confidence)


def test_early_stopping() -> None:
    """[SRV-031] A target is proven only with at least N(p, s, c) requests for the s slow ones observed."""
    fast = [0.01] * 661 + [0.5]
    assert early_stopping(fast, 0.1, 0.99, 0.99) == {"slow": 1, "required": 662, "observed": 662, "ok": True}
    verdict = early_stopping(fast[1:], 0.1, 0.99, 0.99)
    assert verdict == {"slow": 1, "required": 662, "observed": 661, "ok": False}
    assert early_stopping([0.2] * 1000, 0.1, 0.99, 0.99)["ok"] is False
    assert early_stopping([0.1] * 459, 0.1, 0.99, 0.99)["slow"] == 0  # at the target is not above it


def test_histogram_round_trip() -> None:
    histogram = Histogram()
    for micros in range(1, 10_001):
        histogram.record(micros / 1e6)
    histogram.record(0.0)  # clamped to 1 µs
    histogram.record(1e4)  # clamped to 100 s
    assert histogram.count == 10_002
    assert histogram.value_at(0.5) == pytest.approx(0.005, rel=1e-3)
    assert histogram.value_at(1.0) == pytest.approx(100, rel=1e-3)
    encoded = histogram.encode()
    assert encoded.isascii() and encoded.startswith("HIST")
    again = Histogram.decode(encoded)
    assert again.count == histogram.count
    for p in (0.0, 0.5, 0.9, 0.99, 0.999, 1.0):
        assert again.value_at(p) == histogram.value_at(p)
    with pytest.raises(ValueError, match="must be"):
        histogram.value_at(2)
