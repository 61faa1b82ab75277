"""Fast paths of the forecast give the numbers of the plain ones.

- the block loops of :mod:`rebatelab.forecasting.compound` give the same bits on any number
  of threads, and the values of a brute-force sum over the count distribution (scipy);
"""

import numpy as np
import pytest
from scipy import special, stats

from rebatelab.forecasting import compound as C


def _case(mixed: bool, n: int = 300, seed: int = 3):
    rng = np.random.default_rng(seed)
    counts = C.negbin_counts(rng.gamma(2.0, 2.0, n), shape=rng.gamma(3.0, 1.0, n))
    sev = C._Severity(
        rng.gamma(2.0, 1.0, n),
        None if mixed else rng.gamma(2.0, 20.0, n),
        rng.gamma(4.0, 1.0, n) + 2.0 if mixed else None,
        rng.gamma(2.0, 30.0, n) if mixed else None,
    )
    s2 = rng.gamma(2.0, 60.0, (n, 4))
    s2[rng.random((n, 4)) < 0.2] = 0.0  # levels not needed: skipped
    return s2, counts, sev


def _brute_cdf(s2, counts, sev):
    """P(S <= s) term by term with scipy's distributions (one row at a time)."""
    out = np.zeros_like(s2)
    for i in range(counts.n_rows):  # brute force over rows
        m = counts.row == i
        for n, p in zip(counts.count[m], counts.prob[m], strict=True):
            if n == 0:
                out[i] += p * (s2[i] >= 0)
            elif sev.mix_shape is not None:  # S / G is beta-prime(n k, Q)
                out[i] += p * stats.betaprime.cdf(
                    s2[i] / sev.mix_rate[i], n * sev.shape[i], sev.mix_shape[i]
                )
            else:
                out[i] += p * stats.gamma.cdf(s2[i], n * sev.shape[i], scale=sev.scale[i])
    return out


def _brute_lower_mean(s2, counts, sev):
    """E[S 1{S < s}] term by term: n E[X] times the size-biased CDF (scipy)."""
    out = np.zeros_like(s2)
    for i in range(counts.n_rows):  # brute force over rows
        m = (counts.row == i) & (counts.count > 0)
        for n, p in zip(counts.count[m], counts.prob[m], strict=True):
            a = n * sev.shape[i]
            if sev.mix_shape is not None:
                q, g = sev.mix_shape[i], sev.mix_rate[i]
                out[i] += p * a * g / (q - 1) * stats.betaprime.cdf(s2[i] / g, a + 1, q - 1)
            else:
                th = sev.scale[i]
                out[i] += p * a * th * stats.gamma.cdf(s2[i], a + 1, scale=th)
    return out


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(C, "_BLOCK", 97)  # many blocks, cut at row starts
    monkeypatch.setattr(C, "_BLOCKS_PER_WORKER", 1)


@pytest.mark.parametrize("mixed", [False, True])
def test_threaded_blocks_give_the_same_bits(monkeypatch, small_blocks, mixed):
    s2, counts, sev = _case(mixed)
    got = {}
    for w in (1, 2, 3):
        monkeypatch.setattr(C, "_WORKERS", w)
        got[w] = C._series_cdf_density(s2, counts, sev) + C._series_cdf_pm(s2, counts, sev)
    for w in (2, 3):
        for a, b in zip(got[1], got[w], strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("mixed", [False, True])
def test_threaded_series_equal_a_brute_force_sum(monkeypatch, small_blocks, mixed):
    monkeypatch.setattr(C, "_WORKERS", 3)
    s2, counts, sev = _case(mixed, n=60)
    cdf, dens, *_ = C._series_cdf_density(s2, counts, sev)
    cdf2, pm = C._series_cdf_pm(s2, counts, sev)
    pos = s2 > 0
    want = _brute_cdf(s2, counts, sev)
    np.testing.assert_allclose(cdf[pos], want[pos], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(cdf2[pos], want[pos], rtol=1e-10, atol=1e-13)
    # the density: central difference of the brute-force CDF
    h = 1e-4 * np.where(pos, s2, 1.0)
    num = (_brute_cdf(s2 + h, counts, sev) - _brute_cdf(s2 - h, counts, sev)) / (2 * h)
    np.testing.assert_allclose(dens[pos], num[pos], rtol=1e-5, atol=1e-12)
    mean = (counts.mean * sev.mean())[:, None]
    want_pm = _brute_lower_mean(s2, counts, sev)
    np.testing.assert_allclose(pm[pos], want_pm[pos], rtol=1e-9, atol=1e-10 * mean.max())


def test_threaded_quantiles_invert_the_cdf(monkeypatch, small_blocks):
    monkeypatch.setattr(C, "_WORKERS", 2)
    s2, counts, sev = _case(True, n=80)
    q = C.compound_quantile(
        [0.1, 0.5, 0.9],
        counts,
        shape=sev.shape,
        mix_shape=sev.mix_shape,
        mix_rate=sev.mix_rate,
    )
    monkeypatch.setattr(C, "_WORKERS", 1)
    q1 = C.compound_quantile(
        [0.1, 0.5, 0.9],
        counts,
        shape=sev.shape,
        mix_shape=sev.mix_shape,
        mix_rate=sev.mix_rate,
    )
    np.testing.assert_array_equal(q, q1)
    cdf = _brute_cdf(q, counts, sev)
    pos = q > 0
    np.testing.assert_allclose(cdf[pos], np.broadcast_to([0.1, 0.5, 0.9], q.shape)[pos], atol=1e-6)


def test_an_error_in_a_block_is_raised(monkeypatch):
    monkeypatch.setattr(C, "_WORKERS", 2)
    monkeypatch.setattr(C, "_BLOCKS_PER_WORKER", 1)

    def block(lo, hi):
        if lo == 3:
            raise ValueError("block 3")

    with pytest.raises(ValueError, match="block 3"):
        C._for_blocks(block, [(i, i + 1) for i in range(6)])


def test_the_callers_error_handling_applies_in_the_threads(monkeypatch):
    monkeypatch.setattr(C, "_WORKERS", 2)
    monkeypatch.setattr(C, "_BLOCKS_PER_WORKER", 1)

    def block(lo, hi):
        np.log(np.zeros(2))

    with np.errstate(divide="raise"), pytest.raises(FloatingPointError):
        C._for_blocks(block, [(i, i + 1) for i in range(4)])
    with np.errstate(divide="ignore"):
        C._for_blocks(block, [(i, i + 1) for i in range(4)])  # no warning, no error


def test_gamma_brute_force_is_the_incomplete_gamma():
    # the reference itself: a Gamma(n k, theta) CDF is P(n k, s / theta)
    assert stats.gamma.cdf(3.0, 2.5, scale=2.0) == pytest.approx(special.gammainc(2.5, 1.5))


# --------------------------------------------------------------------------------------------
# The fit of the discount time: tau-independent parts once, the same bits
# --------------------------------------------------------------------------------------------
def _unit_days(seed: int = 5, n_units: int = 400):
    from rebatelab.forecasting.unit_models import UnitDays

    rng = np.random.default_rng(seed)
    k = 6000
    unit = np.sort(rng.integers(0, n_units, k))
    day = 19000 + rng.integers(0, 700, k)
    order = np.lexsort((day, unit))
    unit, day = unit[order], day[order]
    keep = np.ones(k, dtype=bool)
    keep[1:] = (unit[1:] != unit[:-1]) | (day[1:] != day[:-1])  # one row per (unit, day)
    value = np.round(rng.lognormal(4.0, 1.0, k) * rng.choice([1, 1, 1, -1], k), 2)
    return UnitDays(unit[keep], day[keep], value[keep], n_units + 20)  # 20 units without days


@pytest.mark.parametrize("tau", [7.0, 93.5, 1e5])
def test_discounter_is_discounted_at_the_units(tau):
    from rebatelab.forecasting.unit_models import _discounted, _discounter, _summaries

    d = _unit_days()
    cutoff = 19600
    s = _summaries(d, cutoff)
    rng = np.random.default_rng(1)
    units = np.sort(rng.choice(d.n_units, 150, replace=False))
    xw, tw = _discounted(s, cutoff, tau, d.n_units)
    got_xw, got_tw = _discounter(s, cutoff, units)(tau)
    np.testing.assert_array_equal(got_xw, xw[units])
    np.testing.assert_array_equal(got_tw, tw[units])
    # against a loop over units: discounted repeat orders and exposure
    for i in units[:40]:  # brute force over a few units
        m = s["order_unit"] == i
        days = s["order_day"][m]
        rep = days[days > days.min()] if days.size else days
        want = np.sum(np.exp(-(cutoff - rep) / tau))
        life = cutoff - days.min() + 1.0 if days.size else 0.0
        j = np.searchsorted(units, i)
        assert got_xw[j] == pytest.approx(want, rel=1e-12, abs=1e-300)
        assert got_tw[j] == pytest.approx(tau * (1 - np.exp(-life / tau)), rel=1e-12)


@pytest.mark.parametrize("t", [30.0, 0.0])
def test_dropout_pmf_of_rates_is_dropout_pmf(t):
    from rebatelab.forecasting import spend_models as sm

    rng = np.random.default_rng(2)
    n = 500
    y = rng.poisson(1.5, n).astype(float)
    drop_b = 3.0 + rng.poisson(2.0, n)
    alive = rng.uniform(0.2, 1.0, n)
    pmf = sm._dropout_pmf_of_rates(y, t, drop_a=0.7, drop_b=drop_b, alive=alive)
    for shape_scale in (0.3, 2.0, 40.0):  # several calls of one precomputation
        ls = rng.gamma(2.0, shape_scale, n)
        lr = rng.gamma(2.0, 50.0, n)
        want = sm.dropout_pmf(
            y, t, lam_shape=ls, lam_rate=lr, drop_a=0.7, drop_b=drop_b, alive=alive
        )
        np.testing.assert_array_equal(pmf(ls, lr), want)


# --------------------------------------------------------------------------------------------
# SpendForecast.pieces with known values at some edges
# --------------------------------------------------------------------------------------------
def test_pieces_take_known_values_at_their_edges():
    from rebatelab.forecasting.spend_forecast import SpendForecast

    s2, counts, sev = _case(True, n=120, seed=11)
    rng = np.random.default_rng(4)
    n = counts.n_rows
    b0 = rng.normal(100.0, 50.0, n)
    sf = SpendForecast(
        counts, sev.shape, None, sev.mix_shape, sev.mix_rate, b0, np.full(n, 0.9), "test"
    )
    kb = np.sort(b0[:, None] + rng.gamma(2.0, 80.0, (n, 3)), axis=1)
    kb[:, 2] = np.where(rng.random(n) < 0.3, kb[:, 1], kb[:, 2])  # a repeated known value
    kge, kh = sf._ge_lower(sf._to_s(kb))
    edges = np.sort(np.concatenate([kb[:, :2], b0[:, None] + rng.gamma(2.0, 60.0, (n, 2))], 1))
    edges[:, -1] = np.where(rng.random(n) < 0.2, np.inf, edges[:, -1])
    p, eb = sf.pieces(edges, known=(kb, kge, kh))
    p0, eb0 = sf.pieces(edges)  # everything evaluated
    np.testing.assert_allclose(p, p0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(eb, eb0, rtol=1e-12, atol=1e-9)
    # the first known value of the row equal to an edge is taken (a loop over rows)
    ge_known = np.full(edges.shape, np.nan)
    for i in range(n):  # brute force over rows
        for j in range(edges.shape[1]):
            hits = np.flatnonzero(kb[i] == edges[i, j])
            if hits.size:
                ge_known[i, j] = kge[i, hits[0]]
    ge_next = np.concatenate([ge_known[:, 1:], np.zeros((n, 1))], axis=1)
    both = ~np.isnan(ge_known) & ~np.isnan(ge_next)
    np.testing.assert_array_equal(p[both], np.clip(ge_known - ge_next, 0, 1)[both])


# --------------------------------------------------------------------------------------------
# BG/NBD likelihood: one evaluation of the shared terms for the value and the gradient
# --------------------------------------------------------------------------------------------
def test_bgnbd_nll_grad_is_the_loglik_and_its_derivative():
    from rebatelab.forecasting import spend_models as sm

    rng = np.random.default_rng(8)
    params = sm.BGNBDParams(0.6, 4.0, 0.8, 2.5)
    x, t_x, T = sm.simulate_bgnbd(rng.uniform(20.0, 80.0, 400), params=params, rng=rng)
    x, t_x, T = sm._summ(x, t_x, T)
    w = rng.integers(1, 4, x.size).astype(float)
    theta = np.array([0.5, 3.0, 1.1, 2.0])
    v, g = sm._bgnbd_nll_grad(x, t_x, T, w, theta)
    ll = sm.bgnbd_loglik(x, t_x, T, params=sm.BGNBDParams(*theta))
    assert v == -float(np.dot(w, ll))  # the same terms, the same bits
    # gradient in log-parameters against central differences of the log-likelihood
    for k in range(4):
        h = 1e-6
        up, dn = theta.copy(), theta.copy()
        up[k] *= np.exp(h)
        dn[k] *= np.exp(-h)
        f_up = -np.dot(w, sm.bgnbd_loglik(x, t_x, T, params=sm.BGNBDParams(*up)))
        f_dn = -np.dot(w, sm.bgnbd_loglik(x, t_x, T, params=sm.BGNBDParams(*dn)))
        assert g[k] == pytest.approx((f_up - f_dn) / (2 * h), rel=1e-5, abs=1e-6)


# --------------------------------------------------------------------------------------------
# Count quantiles and tails without scipy.stats: its values, to the last bit
# --------------------------------------------------------------------------------------------
def _nb_params(seed: int = 9, n: int = 4000):
    rng = np.random.default_rng(seed)
    r = np.concatenate([rng.gamma(0.5, 4.0, n), [1e-6, 1e6, 0.0, -1.0, np.nan, 3.0, 3.0]])
    p = np.concatenate([rng.uniform(0.01, 1, n), [0.5, 0.5, 0.5, 0.5, 0.5, 1.0, 0.0]])
    return r, p


@pytest.mark.parametrize("q", [5e-9, 0.25, 0.5, 0.999])
def test_count_quantiles_are_scipy_stats(q):
    from rebatelab.forecasting import counts as cm

    r, p = _nb_params()
    with np.errstate(all="ignore"):
        for upper, ref in ((False, stats.nbinom.ppf), (True, stats.nbinom.isf)):
            np.testing.assert_array_equal(cm._nb_quantile(q, r, p, upper=upper), ref(q, r, p))
        mu = np.concatenate([np.random.default_rng(1).gamma(0.5, 40.0, 3000), [0.0, 1e-300, 1e6]])
        np.testing.assert_array_equal(cm._poisson_q(q, mu, upper=False), stats.poisson.ppf(q, mu))
        np.testing.assert_array_equal(cm._poisson_q(q, mu, upper=True), stats.poisson.isf(q, mu))


def test_count_quantiles_outside_the_interior_are_scipy_stats():
    from rebatelab.forecasting import counts as cm

    r, p = _nb_params(n=50)
    with np.errstate(all="ignore"):
        for q in (0.0, 1.0):
            np.testing.assert_array_equal(cm._nb_quantile(q, r, p), stats.nbinom.ppf(q, r, p))
            np.testing.assert_array_equal(
                cm._poisson_q(q, np.abs(r), upper=True), stats.poisson.isf(q, np.abs(r))
            )


def test_nb_sf_is_scipy_stats():
    from rebatelab.forecasting import counts as cm

    r, p = _nb_params()
    rng = np.random.default_rng(3)
    k = rng.integers(-2, 60, r.size).astype(float)
    k[:5] = [np.nan, np.inf, -np.inf, 2.5, -0.5]
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(cm._nb_sf(k, r, p), stats.nbinom.sf(k, r, p))


def test_count_windows_hold_all_but_tol():
    # independent of scipy.stats' quantiles: the window carries at least 1 - tol of the pmf
    from rebatelab.forecasting import counts as cm

    rng = np.random.default_rng(12)
    mean, shape = rng.gamma(1.0, 5.0, 200), rng.gamma(1.0, 2.0, 200)
    for c in (cm.poisson_counts(mean), cm.negbin_counts(mean, shape=shape)):
        assert c.tail().max() <= 1e-8
    nb = cm.negbin_counts(mean, shape=shape)
    lo = np.full(200, np.iinfo(np.int64).max)
    np.minimum.at(lo, nb.row, nb.count)
    # the window starts at the tol/2 quantile: dropping its first count loses > tol/2
    first = np.bincount(nb.row, weights=np.where(nb.count == lo[nb.row], nb.prob, 0.0))
    below = stats.nbinom.cdf(lo - 1, shape, shape / (shape + mean))
    assert np.all((below <= 5e-9 * (1 + 1e-6)) | (lo == 0))
    assert np.all(below + first >= 5e-9 * (1 - 1e-6))
