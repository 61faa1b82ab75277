"""The shortcuts of the per-program fits equal the long way (same bits, or to rounding)."""

import numpy as np
import pytest
from scipy import special

from rebatelab.forecasting import spend_models as sm
from rebatelab.forecasting.counts import _nb_quantile, _ragged


def _bgnbd_nll_grad_rows(x, t_x, T, w, theta):
    """The BG/NBD value and gradient evaluated row by row (the formulas before tabulation)."""
    r, al, a, b = theta
    ll, a1, a2, log_tx = sm._bgnbd_terms(x, t_x, T, r, al, a, b)
    dg = special.digamma
    rx = r + x
    rep = x > 0
    w2 = np.exp(a2 - (ll - a1))
    w3 = np.where(rep, 1.0 - w2, 0.0)
    bx1 = np.maximum(b + x - 1, 1e-300)
    d_r = dg(rx) - dg(r) + np.log(al) - w2 * np.log(al + T) - np.where(rep, w3 * log_tx, 0.0)
    d_al = r / al - w2 * rx / (al + T) - w3 * rx / (al + t_x)
    dab, dabx = dg(a + b), dg(a + b + x)
    d_a = w2 * (dab - dabx) + w3 * (dg(a + 1) - dg(a) + dab - dabx)
    d_b = w2 * (dg(b + x) - dabx - dg(b) + dab) + np.where(
        rep, w3 * (dg(bx1) - dabx - dg(b) + dab), 0.0
    )
    grad = np.array([np.dot(w, d) for d in (d_r, d_al, d_a, d_b)]) * np.asarray(theta)
    return -float(np.dot(w, ll)), -grad


def _bgnbd_sample(seed=8, n=3000):
    rng = np.random.default_rng(seed)
    params = sm.BGNBDParams(0.6, 20.0, 0.8, 2.5)
    T = np.round(rng.uniform(20.0, 400.0, n))
    x, t_x, T = sm.simulate_bgnbd(T, params=params, rng=rng)
    return sm._summ(x, np.floor(t_x), T), rng


@pytest.mark.parametrize(
    "theta", [[0.5, 3.0, 1.1, 2.0], [2e-3, 1e3, 40.0, 0.02], [7.0, 0.1, 0.3, 9.0]]
)
def test_tabulated_bgnbd_nll_grad_is_the_row_by_row_one(theta):
    (x, t_x, T), rng = _bgnbd_sample()
    w = rng.integers(1, 4, x.size).astype(float)
    theta = np.array(theta)
    v, g = sm._bgnbd_nll_grad_of(x, t_x, T, w)(theta)
    v0, g0 = _bgnbd_nll_grad_rows(x, t_x, T, w, theta)
    assert v == v0
    np.testing.assert_array_equal(g, g0)


def test_tabulated_gamma_gamma_loglik_is_gamma_gamma_loglik():
    rng = np.random.default_rng(3)
    x = rng.integers(1, 40, 2500).astype(float)
    m = rng.lognormal(0.0, 1.0, x.size)
    loglik = sm._gamma_gamma_loglik_of(x, m)
    for p, q, g in ((1.0, 3.0, 2.0), (0.2, 40.0, 1e3), (12.0, 2.000001, 1e-3)):
        want = sm.gamma_gamma_loglik(x, m, params=sm.GammaGammaParams(p, q, g))
        np.testing.assert_array_equal(loglik(p, q, g), want)


def test_one_blas_thread_fits_are_the_same():
    (x, t_x, T), _ = _bgnbd_sample(seed=4, n=800)
    fit = sm.fit_bgnbd(x, t_x, T)
    with sm._one_blas_thread():  # nested: the same limit
        again = sm.fit_bgnbd(x, t_x, T)
    assert fit == again


def test_tail_sums_are_the_tails():
    rng = np.random.default_rng(5)
    hi = rng.integers(0, 30, 200)
    lo = np.where(rng.random(200) < 0.3, rng.integers(0, 5, 200), 0)
    row, count = _ragged(lo, np.maximum(hi, lo))
    pmf = rng.random(row.size) * 10.0 ** rng.integers(-30, 0, row.size)
    above = rng.random(200) * 1e-9
    got = sm._tail_sums(row, count, pmf, above)
    for i in range(0, 200, 7):  # brute force over some rows
        m = row == i
        want = above[i] + np.array([pmf[m][count[m] >= c].sum() for c in count[m]])
        np.testing.assert_allclose(got[m], want, rtol=1e-14, atol=0)
    # not grouped in windows: no shortcut
    assert sm._tail_sums(row[::-1], count[::-1], pmf, above) is None


def _dropout_case(seed, n=400):
    rng = np.random.default_rng(seed)
    t = np.where(rng.random(n) < 0.1, 0.0, rng.uniform(1.0, 200.0, n))
    ls = rng.gamma(1.0, 3.0, n)
    lr = rng.gamma(2.0, 30.0, n)
    da = np.full(n, 0.7)
    db = 2.5 + rng.poisson(3.0, n)
    return t, ls, lr, da, db


@pytest.mark.parametrize("seed", [1, 2])
def test_dropout_window_is_dropout_terms(seed):
    t, ls, lr, da, db = _dropout_case(seed)
    tt = np.maximum(t, 1e-300)
    pnb = lr / (lr + t)
    hi = np.where(t > 0, _nb_quantile(1e-10, ls, pnb, upper=True), 0).astype(np.int64)
    row, y = _ragged(np.zeros(t.size, dtype=np.int64), hi)
    got = sm._dropout_window(row, y, tt, ls, lr, da, db)
    want = sm._dropout_terms(y, tt[row], ls[row], lr[row], da[row], db[row])
    pos = t[row] > 0
    np.testing.assert_allclose(got[pos], want[pos], rtol=1e-13, atol=1e-300)
    # terms out of window order take the term-by-term tail: the same bits
    perm = np.random.default_rng(seed).permutation(row.size)
    got_p = sm._dropout_window(row[perm], y[perm], tt, ls, lr, da, db)
    np.testing.assert_array_equal(got_p[pos[perm]], want[perm][pos[perm]])


def test_dropout_counts_are_those_of_the_term_by_term_pmf():
    t, ls, lr, da, db = _dropout_case(7, n=600)
    alive = np.random.default_rng(7).uniform(0.1, 1.0, t.size)
    c = sm.dropout_counts(t, lam_shape=ls, lam_rate=lr, drop_a=da, drop_b=db, alive=alive)
    # the same windows, pmf term by term
    pnb = lr / (lr + t)
    hi = np.where(t > 0, _nb_quantile(1e-8, ls, pnb, upper=True), 0)
    hi = np.where(np.isfinite(hi), hi, 0).astype(np.int64)
    row, y = _ragged(np.zeros(t.size, dtype=np.int64), hi)
    tt = np.maximum(t[row], 1e-300)
    val = sm._dropout_terms(y, tt, ls[row], lr[row], da[row], db[row])
    val = np.where(t[row] > 0, val, (y == 0).astype(float))
    k = row.size
    np.testing.assert_array_equal(c.row[:k], row)
    np.testing.assert_array_equal(c.count[:k], y)
    np.testing.assert_allclose(c.prob[:k], val * alive[row], rtol=1e-13, atol=1e-17)


def test_positions_in_is_isin():
    from rebatelab.forecasting.unit_models import _positions_in

    rng = np.random.default_rng(6)
    keys = np.sort(rng.integers(0, 300, 5000))
    rows = np.sort(rng.choice(320, 90, replace=False))
    np.testing.assert_array_equal(_positions_in(keys, rows), np.flatnonzero(np.isin(keys, rows)))


def test_summaries_of_sorted_days_are_those_of_the_unsorted_ones():
    from rebatelab.forecasting.unit_models import UnitDays, _summaries

    rng = np.random.default_rng(9)
    k = 4000
    unit = rng.integers(0, 250, k)
    day = 19000 + rng.integers(0, 700, k)
    order = np.lexsort((day, unit))
    unit, day = unit[order], day[order]
    value = np.round(rng.lognormal(3.0, 1.0, k) * rng.choice([1, 1, -1], k), 2)
    d = UnitDays(unit, day, value, 260)
    s = _summaries(d, 19500)
    assert s["ordered"]
    perm = rng.permutation(k)  # the same days out of order: the ufunc.at path
    s2 = _summaries(UnitDays(unit[perm], day[perm], value[perm], 260), 19500)
    assert not s2["ordered"]
    for key in ("n_orders", "first", "last", "x", "t_x", "T"):
        np.testing.assert_array_equal(s[key], s2[key])
