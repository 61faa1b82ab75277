"""BG/NBD and Gamma-Gamma: parameter recovery from simulated data, exact conditional counts.

The published CDNOW estimates (Fader, Hardie & Lee 2005a: r=0.243, alpha=4.414 weeks,
a=0.793, b=2.426; Fader & Hardie 2013 Gamma-Gamma: p=6.25, q=3.74, gamma=15.44) are used as
the truth of simulations, since the CDNOW file is not available offline.
"""

import numpy as np
import pytest
from scipy import stats

from rebatelab.errors import ParameterError
from rebatelab.forecasting import spend_models as sm

CDNOW = sm.BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
CDNOW_GG = sm.GammaGammaParams(p=6.25, q=3.74, gamma=15.44)


def test_bgnbd_recovers_the_cdnow_parameters_from_simulated_data():
    rng = np.random.default_rng(7)
    # CDNOW cohort: first purchases in weeks 1-12 of a 39-week calibration period
    T = rng.uniform(27.0, 39.0, 20_000)
    x, t_x, T = sm.simulate_bgnbd(T, params=CDNOW, rng=rng)
    fit = sm.fit_bgnbd(x, t_x, T)
    ll_true = sm.bgnbd_loglik(x, t_x, T, params=CDNOW).sum()
    # likelihood-ratio test of the truth: 2 (LL_fit - LL_true) ~ chi2(4) when recovered
    lr = 2 * (fit.loglik - ll_true)
    assert -1e-6 <= lr <= stats.chi2.ppf(0.999, 4)
    # and each estimate is close (the relative standard errors at n = 20,000 are a few %)
    for name in ("r", "alpha", "a", "b"):
        assert getattr(fit, name) == pytest.approx(getattr(CDNOW, name), rel=0.15), name


def test_gamma_gamma_recovers_the_cdnow_parameters_from_simulated_data():
    rng = np.random.default_rng(11)
    x = rng.integers(1, 15, 20_000).astype(float)
    m = sm.simulate_gamma_gamma(x, params=CDNOW_GG, rng=rng)
    fit = sm.fit_gamma_gamma(x, m)
    ll_true = sm.gamma_gamma_loglik(x, m, params=CDNOW_GG).sum()
    lr = 2 * (fit.loglik - ll_true)
    assert -1e-6 <= lr <= stats.chi2.ppf(0.999, 3)
    # p and gamma are strongly correlated (each within ~10%); q and the population mean order
    # value p gamma / (q - 1) are well identified
    assert fit.q == pytest.approx(CDNOW_GG.q, rel=0.1)
    assert fit.p == pytest.approx(CDNOW_GG.p, rel=0.2)
    mean = fit.p * fit.gamma / (fit.q - 1)
    assert mean == pytest.approx(CDNOW_GG.p * CDNOW_GG.gamma / (CDNOW_GG.q - 1), rel=0.03)


def test_conditional_counts_have_the_closed_form_mean_and_sum_to_one():
    rng = np.random.default_rng(3)
    p = sm.BGNBDParams(0.5, 10.0, 2.0, 5.0)
    x, t_x, T = sm.simulate_bgnbd(rng.uniform(20, 60, 50), params=p, rng=rng)
    c = sm.bgnbd_counts(30.0, x, t_x, T, params=p)
    total = np.bincount(c.row, weights=c.prob, minlength=c.n_rows)
    assert np.all(np.abs(total - 1) <= 1e-8)  # the stated tolerance of the windows
    mean = np.bincount(c.row, weights=c.prob * c.count, minlength=c.n_rows)
    # FHL 2005a eq. 10 (hypergeometric closed form) vs the pmf's own mean
    np.testing.assert_allclose(mean, sm.bgnbd_expected(30.0, x, t_x, T, params=p), rtol=1e-6)


@pytest.mark.parametrize("a", [0.3, 0.793, 0.9995, 1.0, 1.0005, 1.5])
def test_closed_form_mean_holds_for_a_below_one(a):
    # eq. 10 continues analytically below a = 1 (and through it, where numerator and
    # denominator vanish); it must agree with the mean of the exact count pmf, including
    # where a + b + x - 1 <= 0 (b = 0.2, x = 0: the pmf's mean is used there)
    rng = np.random.default_rng(11)
    p = sm.BGNBDParams(0.5, 10.0, a, 0.2 if a < 0.5 else 2.4)
    x, t_x, T = sm.simulate_bgnbd(rng.uniform(20, 60, 40), params=p, rng=rng)
    c = sm.bgnbd_counts(30.0, x, t_x, T, params=p, tol=1e-13)
    mean = np.bincount(c.row, weights=c.prob * c.count, minlength=c.n_rows)
    np.testing.assert_allclose(sm.bgnbd_expected(30.0, x, t_x, T, params=p), mean, rtol=1e-7)


def test_conditional_counts_match_forward_simulation():
    """Sum over customers of P(Y = y | history) = number of customers with y future orders."""
    rng = np.random.default_rng(5)
    p = sm.BGNBDParams(0.8, 12.0, 1.5, 4.0)
    n, T, t = 40_000, 40.0, 20.0
    lam = rng.gamma(p.r, 1 / p.alpha, n)
    drop = rng.beta(p.a, p.b, n)
    times = np.cumsum(rng.exponential(1.0, (n, 200)) / lam[:, None], axis=1)
    d = rng.geometric(drop)
    x = np.minimum(np.sum(times <= T, axis=1), d)
    y = np.minimum(np.sum(times <= T + t, axis=1), d) - x
    t_x = np.where(x > 0, np.take_along_axis(times, np.maximum(x - 1, 0)[:, None], 1)[:, 0], 0)
    c = sm.bgnbd_counts(t, x.astype(float), t_x, np.full(n, T), params=p)
    pred = c.pmf_matrix(6).sum(axis=0)
    obs = np.bincount(np.minimum(y, 6), minlength=7)[:7]
    pred[6] = n - pred[:6].sum()
    # Poisson-binomial counts: variance <= expected count; 5 SD
    assert np.all(np.abs(obs - pred) <= 5 * np.sqrt(pred) + 1)


def test_p_alive_properties():
    p_alive = sm.bgnbd_p_alive([0, 3, 3], [0, 30, 5], [40, 40, 40], params=CDNOW)
    assert p_alive[0] == 1.0  # no repeat purchase: cannot have dropped out (BG/NBD)
    assert p_alive[1] > p_alive[2]  # a recent last purchase makes being alive more likely
    assert np.all((p_alive > 0) & (p_alive <= 1))


def test_gamma_gamma_shrinks_sparse_customers_toward_the_population():
    pop = CDNOW_GG.p * CDNOW_GG.gamma / (CDNOW_GG.q - 1)
    one = sm.gamma_gamma_expected_value([1], [200.0], params=CDNOW_GG)[0]
    many = sm.gamma_gamma_expected_value([50], [200.0], params=CDNOW_GG)[0]
    assert pop < one < many < 200.0
    # the closed form is a weighted mean of the population mean and the customer's mean
    w = CDNOW_GG.p * 1 / (CDNOW_GG.p * 1 + CDNOW_GG.q - 1)
    assert one == pytest.approx(w * 200.0 + (1 - w) * pop)


def test_bad_inputs_are_named():
    with pytest.raises(ParameterError, match="t_x"):
        sm.bgnbd_loglik([1], [50], [40], params=CDNOW)
    with pytest.raises(ParameterError, match="a > 0"):
        sm.bgnbd_expected(10.0, [1], [5], [40], params=sm.BGNBDParams(0.2, 4.0, -0.5, 2.0))
    with pytest.raises(ParameterError, match="mean_value"):
        sm.fit_gamma_gamma([1, 2], [0.0, 3.0])
