"""The drift statistics of spec/trust-score.md, computed exactly from values and their counts (numpy only).

Each test takes the reference sample and the current sample, either as plain arrays or, through the ``*_counts``
functions, as distinct values with their counts, which is what a SQL ``GROUP BY`` gives for a large table.

Examples:
    >>> from aifabric.trust.stats import jensen_shannon, ks_test
    >>> result = ks_test([1.0, 2.0, 3.0, 4.0], [3.0, 4.0, 5.0, 6.0])
    >>> result.statistic, round(result.p_value, 4)
    (0.5, 0.7714)
    >>> round(jensen_shannon(["a", "a", "b"], ["a", "b", "b"]), 6)
    0.237977
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "EXACT_KS_MAX",
    "PSI_FLOOR",
    "TestResult",
    "chi_square",
    "chi_square_counts",
    "jensen_shannon",
    "jensen_shannon_counts",
    "kolmogorov_sf",
    "ks_counts",
    "ks_test",
    "psi",
    "psi_categorical_counts",
    "psi_numerical_counts",
    "wasserstein_normed",
    "wasserstein_normed_counts",
]

EXACT_KS_MAX: Final = 10000
"""The largest sample size for which the KS p-value is exact; larger samples use the asymptotic distribution."""
PSI_FLOOR: Final = 0.0001
"""The proportion that a proportion of 0 is replaced by in the PSI."""

Values = npt.NDArray[Any]
Counts = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class TestResult:
    """A statistic and, for a hypothesis test, its p-value."""

    statistic: float
    p_value: float


def _counts(sample: Sequence[Any] | npt.ArrayLike) -> tuple[Values, Counts]:
    values, counts = np.unique(np.asarray(sample), return_counts=True)
    return values, counts.astype(np.int64)


def _sorted(values: Values, counts: Counts) -> tuple[Values, Counts]:
    if len(values) < 2 or bool(np.all(values[1:] > values[:-1])):  # as SQL's ORDER BY gives them: no sort
        return values, counts
    order = np.argsort(values, kind="stable")
    return values[order], counts[order]


def _aligned(
    ref_values: Values, ref_counts: Counts, cur_values: Values, cur_counts: Counts
) -> tuple[Values, Counts, Counts]:
    """The categories of both samples and each sample's count of every one (0 where it lacks it)."""
    order_r, order_c = np.argsort(ref_values, kind="stable"), np.argsort(cur_values, kind="stable")
    ref_values, ref_counts = ref_values[order_r], ref_counts[order_r]
    cur_values, cur_counts = cur_values[order_c], cur_counts[order_c]
    categories = np.union1d(ref_values, cur_values)
    r = np.zeros(len(categories), dtype=np.int64)
    c = np.zeros(len(categories), dtype=np.int64)
    r[np.searchsorted(categories, ref_values)] = ref_counts
    c[np.searchsorted(categories, cur_values)] = cur_counts
    return categories, r, c


def kolmogorov_sf(x: float) -> float:
    """Q(x) = P(K > x) for Kolmogorov's limiting distribution K (the two series of Marsaglia et al., 2003)."""
    if x < 0.1:  # 1 - Q(x) < 1e-50: 1 in binary64, and the series would divide by x * x underflowing
        return 1.0
    if x < 1:
        total = sum(math.exp(-((2 * j - 1) ** 2) * math.pi**2 / (8 * x * x)) for j in range(1, 12))
        return max(0.0, min(1.0, 1.0 - math.sqrt(2 * math.pi) / x * total))
    total = sum((1.0 if j % 2 else -1.0) * math.exp(-2 * j * j * x * x) for j in range(1, 101))
    return max(0.0, min(1.0, 2 * total))


def _ks_exact_p(m: int, n: int, h: int) -> float:
    """P(D' >= D) for D = h/(mn): 1 minus the share of lattice paths staying inside |i n - j m| < h."""
    if h <= 0:
        return 1.0
    a, b = min(m, n), max(m, n)
    row = np.zeros(b + 1, dtype=np.float64)
    log_scale = 0.0
    for i in range(a + 1):
        lo = max(0, (i * b - h) // a + 1)
        hi = min(b, -(-(i * b + h) // a) - 1)
        new = np.zeros(b + 1, dtype=np.float64)
        if lo <= hi:
            if i == 0:
                new[lo : hi + 1] = 1.0 if lo == 0 else 0.0
            else:
                new[lo : hi + 1] = np.cumsum(row[lo : hi + 1])
        peak = float(new.max())
        if peak == 0.0:
            return 1.0
        row = new / peak
        log_scale += math.log(peak)
    inside = float(row[b])
    if inside == 0.0:
        return 1.0
    log_total = math.lgamma(a + b + 1) - math.lgamma(a + 1) - math.lgamma(b + 1)
    return max(0.0, min(1.0, -math.expm1(math.log(inside) + log_scale - log_total)))


def _merged_cdfs(
    ref_values: Values, ref_counts: Counts, cur_values: Values, cur_counts: Counts
) -> tuple[Values, Counts, Counts]:
    """The pooled distinct values, sorted, and each sample's cumulative count at each (a merge of two runs)."""
    ref_values, ref_counts = _sorted(ref_values, ref_counts)
    cur_values, cur_counts = _sorted(cur_values, cur_counts)
    values = np.concatenate([ref_values, cur_values])
    order = np.argsort(values, kind="stable")  # timsort: linear on two sorted runs
    values = values[order]
    f = np.cumsum(np.concatenate([ref_counts, np.zeros(len(cur_counts), np.int64)])[order])
    g = np.cumsum(np.concatenate([np.zeros(len(ref_counts), np.int64), cur_counts])[order])
    last = np.concatenate([values[1:] != values[:-1], [True]]) if len(values) else np.zeros(0, bool)
    return values[last], f[last], g[last]


def ks_counts(ref_values: Values, ref_counts: Counts, cur_values: Values, cur_counts: Counts) -> TestResult:
    """The two-sided two-sample KS test from distinct values and their counts (TRUST-034)."""
    points, f, g = _merged_cdfs(ref_values, ref_counts, cur_values, cur_counts)
    m, n = int(f[-1]), int(g[-1])
    if m * n >= 2**62:  # beyond int64: exact integers, slowly
        f, g = f.astype(object), g.astype(object)
    h = int(np.max(np.abs(f * n - g * m))) if len(points) else 0
    statistic = h / (m * n)
    if max(m, n) <= EXACT_KS_MAX:
        return TestResult(statistic, _ks_exact_p(m, n, h))
    return TestResult(statistic, kolmogorov_sf(math.sqrt(m * n / (m + n)) * statistic))


def ks_test(reference: npt.ArrayLike, current: npt.ArrayLike) -> TestResult:
    """The two-sided two-sample KS test of two numerical samples (TRUST-034)."""
    return ks_counts(*_counts(reference), *_counts(current))


def _chi2_sf(statistic: float, dof: int) -> float:
    """The upper tail of the chi-squared distribution: the regularised upper incomplete gamma Q(dof/2, x/2)."""
    s, x = dof / 2.0, statistic / 2.0
    if x <= 0:
        return 1.0
    log_prefix = s * math.log(x) - x - math.lgamma(s)
    if x < s + 1:  # the series for P, then Q = 1 - P
        term = total = 1.0 / s
        k = s
        while abs(term) > abs(total) * 1e-17:
            k += 1
            term *= x / k
            total += term
        return max(0.0, min(1.0, 1.0 - total * math.exp(log_prefix)))
    tiny = 1e-300  # Lentz's continued fraction for Q
    b = x + 1 - s
    c, d = 1.0 / tiny, 1.0 / b
    result = d
    for i in range(1, 10000):
        an = -i * (i - s)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        result *= delta
        if abs(delta - 1) < 1e-16:
            break
    return max(0.0, min(1.0, result * math.exp(log_prefix)))


def chi_square_counts(ref_values: Values, ref_counts: Counts, cur_values: Values, cur_counts: Counts) -> TestResult:
    """Pearson's chi-squared test of independence of the 2 x K table of category counts (TRUST-035)."""
    _, r, c = _aligned(ref_values, ref_counts, cur_values, cur_counts)
    if len(r) <= 1:
        return TestResult(0.0, 1.0)
    m, n = float(r.sum()), float(c.sum())
    total = r + c
    expected_r, expected_c = total * (m / (m + n)), total * (n / (m + n))
    statistic = float(np.sum((r - expected_r) ** 2 / expected_r) + np.sum((c - expected_c) ** 2 / expected_c))
    return TestResult(statistic, _chi2_sf(statistic, len(r) - 1))


def chi_square(reference: npt.ArrayLike, current: npt.ArrayLike) -> TestResult:
    """Pearson's chi-squared test of two categorical samples (TRUST-035)."""
    return chi_square_counts(*_counts(reference), *_counts(current))


def wasserstein_normed_counts(ref_values: Values, ref_counts: Counts, cur_values: Values, cur_counts: Counts) -> float:
    """The first Wasserstein distance divided by the reference's population standard deviation (TRUST-036)."""
    points, f, g = _merged_cdfs(ref_values.astype(np.float64), ref_counts, cur_values.astype(np.float64), cur_counts)
    m, n = float(f[-1]), float(g[-1])
    distance = float(np.sum(np.abs(f[:-1] / m - g[:-1] / n) * np.diff(points)))
    mean = float(np.sum(ref_values * ref_counts)) / m
    std = math.sqrt(float(np.sum(ref_counts * (ref_values - mean) ** 2)) / m)
    if std == 0:
        return 0.0 if distance == 0 else math.inf
    return distance / std


def wasserstein_normed(reference: npt.ArrayLike, current: npt.ArrayLike) -> float:
    """The normed Wasserstein distance of two numerical samples (TRUST-036)."""
    return wasserstein_normed_counts(*_counts(reference), *_counts(current))


def jensen_shannon_counts(ref_values: Values, ref_counts: Counts, cur_values: Values, cur_counts: Counts) -> float:
    """The Jensen-Shannon distance, natural logarithm, of the two samples' category proportions (TRUST-037)."""
    _, r, c = _aligned(ref_values, ref_counts, cur_values, cur_counts)
    p, q = r / r.sum(), c / c.sum()
    mid = (p + q) / 2
    kl_p = np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1) / mid), 0.0))
    kl_q = np.sum(np.where(q > 0, q * np.log(np.where(q > 0, q, 1) / mid), 0.0))
    return math.sqrt(max(0.0, float(kl_p + kl_q) / 2))


def jensen_shannon(reference: npt.ArrayLike, current: npt.ArrayLike) -> float:
    """The Jensen-Shannon distance of two categorical samples (TRUST-037)."""
    return jensen_shannon_counts(*_counts(reference), *_counts(current))


def _psi(r: Counts, c: Counts) -> float:
    p, q = r / r.sum(), c / c.sum()
    p, q = np.where(p == 0, PSI_FLOOR, p), np.where(q == 0, PSI_FLOOR, q)
    return max(0.0, float(np.sum((q - p) * np.log(q / p))))


def psi_categorical_counts(ref_values: Values, ref_counts: Counts, cur_values: Values, cur_counts: Counts) -> float:
    """The population stability index over the categories of both samples (TRUST-038)."""
    _, r, c = _aligned(ref_values, ref_counts, cur_values, cur_counts)
    return _psi(r, c)


def psi_numerical_counts(
    ref_values: Values, ref_counts: Counts, cur_values: Values, cur_counts: Counts, *, bins: int = 10
) -> float:
    """The population stability index over equal-width bins of the reference's range (TRUST-038)."""
    ref_values, cur_values = ref_values.astype(np.float64), cur_values.astype(np.float64)
    low, high = float(ref_values.min()), float(ref_values.max())

    def binned(values: Values, counts: Counts) -> Counts:
        if high == low:
            index = np.where(values <= low, 0, bins - 1)
        else:
            index = np.clip(np.floor((values - low) / (high - low) * bins), 0, bins - 1).astype(np.int64)
        return np.bincount(index, weights=counts, minlength=bins).astype(np.int64)

    return _psi(binned(ref_values, ref_counts), binned(cur_values, cur_counts))


def psi(reference: npt.ArrayLike, current: npt.ArrayLike, *, bins: int | None = None) -> float:
    """The PSI of two samples: over ``bins`` equal-width bins when given (numerical), else over categories."""
    if bins is None:
        return psi_categorical_counts(*_counts(reference), *_counts(current))
    return psi_numerical_counts(*_counts(reference), *_counts(current), bins=bins)
