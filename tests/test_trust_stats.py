"""The drift statistics agree with SciPy to 1e-9 on generated samples (TRUST-034 to TRUST-038)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

scipy_stats = pytest.importorskip("scipy.stats")
distance = pytest.importorskip("scipy.spatial.distance")

from aifabric.trust import stats  # noqa: E402 - after the optional imports

TOLERANCE = 1e-9
# Values on a coarse grid, so that samples share values (ties) as often as not.
numbers = st.lists(st.integers(-40, 40).map(lambda i: i / 4), min_size=1, max_size=60)
categories = st.lists(st.sampled_from("abcdefg"), min_size=1, max_size=80)


def _close(ours: float, theirs: float) -> bool:
    return math.isclose(ours, float(theirs), rel_tol=TOLERANCE, abs_tol=TOLERANCE)


@settings(max_examples=300, deadline=None)
@given(numbers, numbers)
def test_ks_agrees_with_scipy_exact(reference: list[float], current: list[float]) -> None:
    """[TRUST-034] The statistic, ties included, and the exact p-value equal ks_2samp's exact ones."""
    ours = stats.ks_test(reference, current)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            theirs = scipy_stats.ks_2samp(reference, current, method="exact")
        except RuntimeWarning:  # SciPy gives up on a few exact p-values (and falls back to asymp): skip those
            assume(False)
    assert _close(ours.statistic, theirs.statistic)
    assert _close(ours.p_value, theirs.pvalue)


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 5))
def test_asymptotic_ks_tail_agrees_with_kolmogorov_distribution(x: float) -> None:
    """[TRUST-034] The asymptotic p-value is the tail of Kolmogorov's distribution, as SciPy's kstwobign."""
    assert _close(stats.kolmogorov_sf(x), scipy_stats.kstwobign.sf(x))


def test_asymptotic_ks_is_used_for_large_samples() -> None:
    rng = np.random.default_rng(7)
    reference, current = rng.normal(size=200), rng.normal(0.1, size=stats.EXACT_KS_MAX + 1)
    ours = stats.ks_test(reference, current)
    theirs = scipy_stats.ks_2samp(reference, current)
    n = len(reference) * len(current) / (len(reference) + len(current))
    assert _close(ours.statistic, theirs.statistic)
    assert _close(ours.p_value, scipy_stats.kstwobign.sf(math.sqrt(n) * ours.statistic))


@settings(max_examples=300, deadline=None)
@given(categories, categories)
def test_chi_square_agrees_with_chi2_contingency(reference: list[str], current: list[str]) -> None:
    """[TRUST-035] Pearson's chi-squared of the 2 x K table, no continuity correction, K - 1 degrees of freedom."""
    ours = stats.chi_square(reference, current)
    labels = sorted(set(reference) | set(current))
    if len(labels) == 1:
        assert (ours.statistic, ours.p_value) == (0.0, 1.0)
        return
    table = [[reference.count(label) for label in labels], [current.count(label) for label in labels]]
    theirs = scipy_stats.chi2_contingency(table, correction=False)
    assert _close(ours.statistic, theirs.statistic)
    assert _close(ours.p_value, theirs.pvalue)


@settings(max_examples=300, deadline=None)
@given(numbers, numbers)
def test_wasserstein_normed_agrees_with_scipy(reference: list[float], current: list[float]) -> None:
    """[TRUST-036] W1 over the reference's population standard deviation."""
    ours = stats.wasserstein_normed(reference, current)
    spread = float(np.std(reference))
    theirs = scipy_stats.wasserstein_distance(reference, current)
    if spread == 0:
        assert ours == (0.0 if theirs == 0 else math.inf)
    else:
        assert _close(ours, theirs / spread)


@settings(max_examples=300, deadline=None)
@given(categories, categories)
def test_jensen_shannon_agrees_with_scipy(reference: list[str], current: list[str]) -> None:
    """[TRUST-037] The Jensen-Shannon distance with the natural logarithm."""
    labels = sorted(set(reference) | set(current))
    p = [reference.count(label) for label in labels]
    q = [current.count(label) for label in labels]
    assert _close(stats.jensen_shannon(reference, current), distance.jensenshannon(p, q))


def test_psi_by_hand() -> None:
    """[TRUST-038] PSI with 0.0001 for an empty category, and over equal-width bins clamped to the range."""
    expected = 2 * 0.25 * math.log(2) + (0.5 - 0.0001) * math.log(0.5 / 0.0001)
    reference, current = ["red"] * 4 + ["blue"] * 4, ["red"] * 2 + ["blue"] * 2 + ["green"] * 4
    assert _close(stats.psi(reference, current), expected)
    shifted = 0.0999 * math.log(1000) + 0.1 * math.log(2)
    assert _close(stats.psi(list(range(10)), list(range(1, 11)), bins=10), shifted)
    assert stats.psi([1.0, 2.0], [1.0, 2.0], bins=10) == 0.0


def test_identical_samples_do_not_drift() -> None:
    sample = [1.0, 2.0, 2.0, 3.0]
    assert stats.ks_test(sample, sample) == stats.TestResult(0.0, 1.0)
    assert stats.wasserstein_normed(sample, sample) == 0.0
    assert stats.jensen_shannon(["a", "b"], ["b", "a"]) == 0.0
