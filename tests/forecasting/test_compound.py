"""Exact compound sums of gamma order values: brute force, simulation, error bound, properties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from rebatelab.errors import ParameterError
from rebatelab.forecasting.compound import (
    compound_cdf,
    compound_mean,
    compound_partial_mean,
    compound_quantile,
    compound_sf,
    counts_from_window,
    negbin_counts,
    poisson_counts,
)

MEAN = np.array([0.0, 0.3, 3.0, 25.0])
SHAPE_N = np.array([1.0, 0.5, 2.0, 5.0])  # NB shape of the counts
K = np.array([2.0, 0.7, 1.5, 3.0])  # gamma shape of one order value
THETA = np.array([5.0, 10.0, 100.0, 20.0])  # gamma scale of one order value
S = np.array([[1, 5, 50], [1, 5, 50], [100, 300, 900], [1000, 1500, 2400]], float)


def brute_cdf(s, mean, r, k, theta, n_max=2000):
    """Independent direct sum with scipy.stats over n = 0..n_max."""
    n = np.arange(n_max + 1)
    pmf = stats.nbinom.pmf(n, r, r / (r + mean)) if mean > 0 else (n == 0).astype(float)
    cdf_n = np.where(n == 0, 1.0, stats.gamma.cdf(s, np.maximum(n * k, 1e-300), scale=theta))
    return float(np.sum(pmf * cdf_n))


def test_cdf_matches_a_brute_force_sum():
    c = negbin_counts(MEAN, shape=SHAPE_N)
    got = compound_cdf(S, c, shape=K, scale=THETA)
    want = np.array(
        [[brute_cdf(s, MEAN[i], SHAPE_N[i], K[i], THETA[i]) for s in S[i]] for i in range(4)]
    )
    # both sums are exact up to the left-out count mass (<= 1e-8) and float rounding
    np.testing.assert_allclose(got, want, atol=2e-8)


def test_truncation_error_is_within_the_stated_bound():
    exact = negbin_counts(MEAN, shape=SHAPE_N, tol=1e-14)
    rough = negbin_counts(MEAN, shape=SHAPE_N, tol=1e-2)
    bound = rough.tail()
    assert bound.max() > 1e-4  # the rough windows really leave mass out
    assert np.all(bound <= 1e-2)
    diff = compound_cdf(S, exact, shape=K, scale=THETA) - compound_cdf(
        S, rough, shape=K, scale=THETA
    )
    # the computed CDF is low by at most the left-out mass (each term lies in [0, 1])
    assert np.all(diff >= -1e-12)
    assert np.all(diff <= bound[:, None] + 1e-12)
    pm_diff = compound_partial_mean(0.0, S, exact, shape=K, scale=THETA) - compound_partial_mean(
        0.0, S, rough, shape=K, scale=THETA
    )
    assert np.all(pm_diff <= (rough.tail_mean() * K * THETA)[:, None] + 1e-9)


def _simulate(rng, i, n, mixed=False, q=None, g=None):
    lam = rng.gamma(SHAPE_N[i], MEAN[i] / SHAPE_N[i], n) if MEAN[i] > 0 else np.zeros(n)
    cnt = rng.poisson(lam)
    rate = rng.gamma(q, 1.0 / g, n) if mixed else np.full(n, 1.0 / THETA[i])
    return np.where(cnt > 0, rng.gamma(np.maximum(cnt * K[i], 1e-300), 1.0 / rate), 0.0)


@pytest.mark.parametrize("mixed", [False, True])
def test_cdf_partial_mean_and_quantiles_agree_with_simulation(mixed):
    rng = np.random.default_rng(20240601)
    n = 200_000
    q = np.array([3.0, 4.0, 5.0, 10.0])
    g = THETA * (q - 1)  # the same mean order value as the fixed-scale case
    c = negbin_counts(MEAN, shape=SHAPE_N)
    sev = dict(shape=K, mix_shape=q, mix_rate=g) if mixed else dict(shape=K, scale=THETA)
    cdf = compound_cdf(S, c, **sev)
    pm = compound_partial_mean(0.0, S, c, **sev)
    qs = compound_quantile([0.1, 0.5, 0.9], c, **sev)
    for i in range(4):
        x = _simulate(rng, i, n, mixed, q[i], g[i])
        emp = np.array([np.mean(x <= s) for s in S[i]])
        # binomial standard error of an empirical frequency; 5 SE keeps false alarms ~1e-6
        se = np.sqrt(np.maximum(cdf[i] * (1 - cdf[i]), 1e-12) / n)
        assert np.all(np.abs(emp - cdf[i]) <= 5 * se + 1e-9)
        emp_pm = np.array([np.mean(x * (x <= s)) for s in S[i]])
        se_pm = np.array([np.std(x * (x <= s)) for s in S[i]]) / np.sqrt(n)
        assert np.all(np.abs(emp_pm - pm[i]) <= 5 * se_pm + 1e-9)
        # quantiles: the CDF at the simulated quantile is within sampling error of the level
        emp_q = np.quantile(x, [0.1, 0.5, 0.9])
        f_at = compound_cdf(np.maximum(emp_q, 0)[None, :].repeat(4, 0), c, **sev)[i]
        ok = (emp_q == 0) | (np.abs(f_at - [0.1, 0.5, 0.9]) <= 5 * np.sqrt(0.25 / n) + 1e-3)
        assert ok.all()
        assert np.all(np.diff(qs[i]) >= 0)


def test_quantiles_invert_the_cdf_and_respect_the_atom_at_zero():
    c = poisson_counts([0.05, 2.0, 40.0])
    sev = dict(shape=[1.0, 2.0, 0.5], scale=[10.0, 50.0, 7.0])
    lv = np.array([0.05, 0.5, 0.97])
    qs = compound_quantile(lv, c, **sev)
    # P(N = 0) = e^-0.05 = 0.951: the 0.05 and 0.5 quantiles sit on the atom, the 0.97 does not
    assert np.all(qs[0, :2] == 0) and qs[0, 2] > 0
    f = compound_cdf(qs, c, **sev)
    pos = qs > 0
    np.testing.assert_allclose(f[pos], np.broadcast_to(lv, qs.shape)[pos], atol=1e-6)


def test_full_partial_mean_is_the_exact_mean():
    c = negbin_counts(MEAN, shape=SHAPE_N)
    full = compound_partial_mean(0.0, np.inf, c, shape=K, scale=THETA)
    np.testing.assert_allclose(full, MEAN * K * THETA, rtol=1e-12)
    np.testing.assert_allclose(compound_mean(c, shape=K, scale=THETA), MEAN * K * THETA)
    split = compound_partial_mean(0.0, 300.0, c, shape=K, scale=THETA) + compound_partial_mean(
        300.0, np.inf, c, shape=K, scale=THETA
    )
    np.testing.assert_allclose(split, full, rtol=1e-9)


def test_single_exponential_order_closed_form():
    # N in {0, 1} with probability 1/2 each, X ~ Exp(mean 10): F(s) = 1/2 + (1 - e^{-s/10}) / 2
    c = counts_from_window([0], [1], lambda r, n: np.full(n.shape, 0.5), mean=[0.5])
    s = np.array([[3.0, 10.0, 40.0]])
    np.testing.assert_allclose(
        compound_cdf(s, c, shape=1.0, scale=10.0), 0.5 + 0.5 * (1 - np.exp(-s / 10)), rtol=1e-12
    )
    assert compound_sf(np.array([0.0]), c, shape=1.0, scale=10.0)[0] == 1.0


@settings(max_examples=40, deadline=None)
@given(
    mean=st.floats(0.0, 30.0),
    r=st.floats(0.2, 20.0),
    k=st.floats(0.3, 5.0),
    s1=st.floats(0.0, 500.0),
    ds=st.floats(0.0, 500.0),
)
def test_cdf_is_a_monotone_probability(mean, r, k, s1, ds):
    c = negbin_counts([mean], shape=r)
    f = compound_cdf(np.array([[s1, s1 + ds]]), c, shape=k, scale=12.0)[0]
    assert 0.0 <= f[0] <= f[1] + 1e-12 <= 1.0 + 1e-9
    sf = compound_sf(np.array([[s1, s1 + ds]]), c, shape=k, scale=12.0)[0]
    assert sf[0] + 1e-12 >= sf[1]


def test_bad_parameters_are_named():
    with pytest.raises(ParameterError, match="mean"):
        poisson_counts([-1.0])
    c = poisson_counts([1.0])
    with pytest.raises(ParameterError, match="levels"):
        compound_quantile([0.0, 0.5], c, shape=1.0, scale=1.0)
    with pytest.raises(ParameterError, match="mix_shape"):
        compound_cdf([1.0], c, shape=1.0, mix_shape=1.0, mix_rate=2.0)
    with pytest.raises(ParameterError, match="scale"):
        compound_cdf([1.0], c, shape=1.0)


@pytest.mark.parametrize(
    "name",
    [
        "rebatelab.forecasting.compound",
        "rebatelab.forecasting.counts",
        "rebatelab.forecasting.spend_models",
        "rebatelab.forecasting.unit_models",
        "rebatelab.forecasting.projection",
        "rebatelab.forecasting.quantiles",
        "rebatelab.forecasting.backtest",
        "rebatelab.datasets.online_retail",
    ],
)
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


@pytest.mark.parametrize("mixed", [False, True])
def test_cdf_and_lower_mean_in_one_pass_match_the_separate_series(mixed):
    """The recurrence-based partial mean equals the direct size-biased series.

    The CDF is the same special-function call, so it matches exactly; the partial mean
    differs by the rounding of the log-space recurrence term, below 1e-12 of E[S].
    """
    from rebatelab.forecasting.compound import compound_cdf_lower_mean, compound_lower_mean

    counts = negbin_counts(MEAN, shape=SHAPE_N)
    sev = (
        dict(shape=K, mix_shape=np.array([3.0, 4.0, 2.5, 6.0]), mix_rate=THETA * 3)
        if mixed
        else dict(shape=K, scale=THETA)
    )
    s = np.concatenate([S, np.zeros((4, 1)), -S[:, :1]], axis=1)  # s <= 0 too
    f, h = compound_cdf_lower_mean(s, counts, **sev)
    np.testing.assert_array_equal(f, compound_cdf(s, counts, **sev))
    scale = compound_mean(counts, **sev)[:, None]
    np.testing.assert_allclose(
        h / np.maximum(scale, 1e-300),
        compound_lower_mean(s, counts, **sev) / scale.clip(1e-300),
        rtol=0,
        atol=1e-12,
    )
    with pytest.raises(ParameterError, match="finite"):
        compound_cdf_lower_mean(np.full(4, np.inf), counts, **sev)


def test_take_repeats_rows_with_their_terms_in_order():
    """take() copies rows (repeats allowed); evaluations on the copies are bit-identical."""
    counts = negbin_counts(MEAN, shape=SHAPE_N).with_dropout([1.0, 0.5, 0.8, 0.9])
    idx = np.array([3, 1, 1, 0, 2, 3])
    sub = counts.take(idx)
    assert sub.n_rows == idx.size
    np.testing.assert_array_equal(sub.mean, counts.mean[idx])
    np.testing.assert_array_equal(sub.pmf_matrix(200), counts.pmf_matrix(200)[idx])
    np.testing.assert_array_equal(
        compound_cdf(S[idx], sub, shape=K[idx], scale=THETA[idx]),
        compound_cdf(S, counts, shape=K, scale=THETA)[idx],
    )
