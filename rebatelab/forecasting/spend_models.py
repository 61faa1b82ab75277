"""Buy-till-you-die spend models: BG/NBD for the number of orders, Gamma-Gamma for their values.

Both are fitted by maximum likelihood on per-customer summaries (frequency, recency, age,
mean order value) and predict, for each customer, the distribution of future orders and of
their values. They are the reference ("comparator") models of :mod:`rebatelab.forecasting`
and the building blocks of its default model.

Time is in whatever unit the summaries use (rebatelab uses days); ``alpha`` is in that unit.

References
----------
Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005a). "Counting your customers" the easy
way: An alternative to the Pareto/NBD model. *Marketing Science* 24(2), 275-284.
Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005b). RFM and CLV: Using iso-value curves
for customer base analysis. *Journal of Marketing Research* 42(4), 415-430.
Fader, P. S. and Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value.
http://brucehardie.com/notes/025/
Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2007). Deriving an expression for
P(X(t) = x) under the Pareto/NBD and BG/NBD models. http://brucehardie.com/notes/012/
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from rebatelab.errors import ParameterError
from rebatelab.forecasting.counts import (
    CountDistribution,
    _nb_quantile,
    _nb_sf,
    counts_from_window,
)

__all__ = [
    "BGNBDParams",
    "GammaGammaParams",
    "bgnbd_loglik",
    "fit_bgnbd",
    "bgnbd_p_alive",
    "bgnbd_expected",
    "bgnbd_counts",
    "dropout_counts",
    "dropout_pmf",
    "simulate_bgnbd",
    "gamma_gamma_loglik",
    "fit_gamma_gamma",
    "gamma_gamma_posterior",
    "gamma_gamma_expected_value",
    "simulate_gamma_gamma",
]


@dataclass(frozen=True)
class BGNBDParams:
    """BG/NBD population parameters.

    Attributes
    ----------
    r, alpha : float
        Shape and rate of the gamma distribution of purchase rates ``lambda`` across
        customers (``alpha`` in the time unit of the data, e.g. [days]).
    a, b : float
        Beta distribution of the dropout probability ``p`` after each purchase.
    loglik : float
        Maximized log-likelihood (NaN when not fitted).
    """

    r: float
    alpha: float
    a: float
    b: float
    loglik: float = float("nan")


@dataclass(frozen=True)
class GammaGammaParams:
    """Gamma-Gamma parameters: order value ``z ~ Gamma(p, rate=nu)``, ``nu ~ Gamma(q, rate=gamma)``.

    ``gamma`` is in currency (or units) like the order values.
    """

    p: float
    q: float
    gamma: float
    loglik: float = float("nan")


_THREADS: list = []


def _one_blas_thread():
    """A context with the BLAS libraries on one thread (a no-op without threadpoolctl).

    The quasi-Newton steps of these fits are products of matrices of a few rows: the BLAS
    threads cannot help them, but on a busy machine each step waits for them to be
    scheduled (about 0.5 to 4 ms per step measured, against 0.02 ms on one thread). The
    results are the same: the threads only split work that is not split at these sizes.
    """
    if not _THREADS:
        try:
            from threadpoolctl import ThreadpoolController

            _THREADS.append(ThreadpoolController())
        except Exception:  # pragma: no cover - no threadpoolctl, or it cannot read the libraries
            _THREADS.append(None)
    ctl = _THREADS[0]
    return contextlib.nullcontext() if ctl is None else ctl.limit(limits=1, user_api="blas")


def _minimize(fun, z0, *, jac: bool = False):
    """Quasi-Newton in log-parameters; a Nelder-Mead polish only if it did not converge.

    With ``jac=True`` ``fun`` returns ``(value, gradient)``.
    """
    with _one_blas_thread():
        res = optimize.minimize(fun, z0, method="L-BFGS-B", jac=jac, options={"maxiter": 500})
        if not res.success:
            res = optimize.minimize(
                (lambda z: fun(z)[0]) if jac else fun,
                res.x,
                method="Nelder-Mead",
                options={"maxiter": 4000, "xatol": 1e-7, "fatol": 1e-11},
            )
    return res


def _summ(x, t_x, T):
    x = np.asarray(x, dtype=float)
    t_x = np.asarray(t_x, dtype=float)
    T = np.asarray(T, dtype=float)
    bad = (x < 0) | (t_x < 0) | (t_x > T + 1e-9) | ((x == 0) & (t_x != 0)) | ~np.isfinite(T)
    if np.any(bad):
        raise ParameterError(
            f"need 0 <= t_x <= T, t_x = 0 when x = 0; {int(bad.sum())} bad row(s), first at "
            f"{np.flatnonzero(bad)[:5].tolist()}"
        )
    return x, t_x, T


def bgnbd_loglik(x, t_x, T, *, params: BGNBDParams) -> np.ndarray:
    r"""Per-customer BG/NBD log-likelihood.

    Parameters
    ----------
    x : array_like
        Number of repeat purchases (after the first) [orders].
    t_x : array_like
        Time of the last repeat purchase since the first purchase [time unit]; 0 if x = 0.
    T : array_like
        Time from the first purchase to the end of observation [time unit].
    params : BGNBDParams

    Returns
    -------
    ndarray
        :math:`\ln L_i` (FHL 2005a, eq. 6).
    """
    x, t_x, T = _summ(x, t_x, T)
    return _bgnbd_terms(x, t_x, T, params.r, params.alpha, params.a, params.b)[0]


def _bgnbd_terms(x, t_x, T, r, al, a, b):
    """``(L, A1, A2, log(al + t_x))`` of :func:`bgnbd_loglik`, summaries already checked."""
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(al)
    a2 = special.betaln(a, b + x) - special.betaln(a, b) - (r + x) * np.log(al + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_tx = np.log(al + t_x)
        a3 = np.where(
            x > 0,
            special.betaln(a + 1, np.maximum(b + x - 1, 1e-300))
            - special.betaln(a, b)
            - (r + x) * log_tx,
            -np.inf,
        )
    return a1 + np.logaddexp(a2, a3), a1, a2, log_tx


def _bgnbd_nll_grad(x, t_x, T, w, theta):
    """Weighted negative log-likelihood and its gradient in log-parameters (FHL 2005a, eq. 6).

    ``theta = (r, alpha, a, b)``; the gradient is with respect to ``log theta`` (the
    optimizer's variables). With ``L = A1 + log(e^A2 + e^A3)`` the derivatives of each
    term are digamma differences and ratios (closed form, no finite differences). The
    summaries are those checked by :func:`fit_bgnbd`.
    """
    return _bgnbd_nll_grad_of(x, t_x, T, w)(theta)


def _bgnbd_nll_grad_of(x, t_x, T, w):
    """:func:`_bgnbd_nll_grad` as a function of ``theta`` for fixed summaries and weights.

    The counts ``x`` take few distinct values (and the integer days ``T`` and ``t_x`` a few
    hundred), so every special function and logarithm is evaluated on the distinct values
    and gathered: each row gets the bits of the same expression on its own values, and
    the value and gradient are those of the row-by-row evaluation, to the last bit.
    """
    ux, ix = np.unique(x, return_inverse=True)
    uT, iT = np.unique(T, return_inverse=True)
    ut, it = np.unique(t_x, return_inverse=True)
    rep = x > 0
    dg, gl, bl = special.digamma, special.gammaln, special.betaln

    def f(theta):
        r, al, a, b = theta
        lal = np.log(al)
        lb0 = bl(a, b)
        rx = (r + ux)[ix]
        log_T = np.log(al + uT)[iT]
        with np.errstate(divide="ignore", invalid="ignore"):
            log_tx = np.log(al + ut)[it]
        # L = A1 + logaddexp(A2, A3) as in _bgnbd_terms, the x-only parts on distinct x
        a1 = (gl(r + ux) - gl(r) + r * lal)[ix]
        a2 = (bl(a, b + ux) - lb0)[ix] - rx * log_T
        ub1 = np.maximum(b + ux - 1, 1e-300)
        a3 = np.where(rep, (bl(a + 1, ub1) - lb0)[ix] - rx * log_tx, -np.inf)
        ll = a1 + np.logaddexp(a2, a3)
        w2 = np.exp(a2 - (ll - a1))
        w3 = np.where(rep, 1.0 - w2, 0.0)
        d_r = (dg(r + ux) - dg(r) + lal)[ix] - w2 * log_T - np.where(rep, w3 * log_tx, 0.0)
        d_al = r / al - w2 * rx / (al + uT)[iT] - w3 * rx / (al + ut)[it]
        dab, dabx = dg(a + b), dg(a + b + ux)
        d_a = w2 * (dab - dabx)[ix] + w3 * (dg(a + 1) - dg(a) + dab - dabx)[ix]
        dgb = dg(b)
        d_b = w2 * (dg(b + ux) - dabx - dgb + dab)[ix] + np.where(
            rep, w3 * (dg(ub1) - dabx - dgb + dab)[ix], 0.0
        )
        grad = np.array([np.dot(w, d) for d in (d_r, d_al, d_a, d_b)]) * np.asarray(theta)
        return -float(np.dot(w, ll)), -grad

    return f


def fit_bgnbd(x, t_x, T, *, weights=None, start=None) -> BGNBDParams:
    """Maximum-likelihood BG/NBD parameters.

    Parameters
    ----------
    x, t_x, T : array_like
        Customer summaries (see :func:`bgnbd_loglik`).
    weights : array_like, optional
        Number of customers sharing each summary row (default 1).
    start : BGNBDParams, optional
        Starting point of the optimizer.

    Returns
    -------
    BGNBDParams

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> x, t_x, T = simulate_bgnbd(np.full(3000, 52.0), params=BGNBDParams(0.5, 5.0, 1.0, 3.0),
    ...                            rng=rng)
    >>> fit = fit_bgnbd(x, t_x, T)
    >>> 0.3 < fit.r < 0.8
    True
    """
    x, t_x, T = _summ(x, t_x, T)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    if x.size == 0:
        raise ParameterError("fit_bgnbd needs at least one customer")
    s0 = start or BGNBDParams(1.0, max(float(np.average(T, weights=w)), 1e-6) / 2, 1.0, 1.0)
    z0 = np.log([s0.r, s0.alpha, s0.a, s0.b])
    wsum = w.sum()

    nll_grad = _bgnbd_nll_grad_of(x, t_x, T, w)

    def nll(z):
        z = np.clip(z, -20, 20)
        v, g = nll_grad(np.exp(z))
        v, g = v / wsum, g / wsum
        return (v, g) if np.isfinite(v) and np.all(np.isfinite(g)) else (1e100, np.zeros(4))

    res = _minimize(nll, z0, jac=True)
    r, al, a, b = np.exp(np.clip(res.x, -20, 20))
    return BGNBDParams(float(r), float(al), float(a), float(b), float(-res.fun * wsum))


def bgnbd_p_alive(x, t_x, T, *, params: BGNBDParams) -> np.ndarray:
    r"""Probability that each customer is still active at the end of observation [fraction].

    Notes
    -----
    :math:`P(\text{alive}) = 1 / (1 + \delta_{x>0} \frac{a}{b+x-1}
    (\frac{\alpha+T}{\alpha+t_x})^{r+x})` (FHL 2005a, eq. 11).
    """
    x, t_x, T = _summ(x, t_x, T)
    r, al, a, b = params.r, params.alpha, params.a, params.b
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = (
            np.log(a)
            - np.log(np.maximum(b + x - 1, 1e-300))
            + (r + x) * (np.log(al + T) - np.log(al + t_x))
        )
    return np.where(x > 0, special.expit(-lo), 1.0)


def bgnbd_expected(t, x, t_x, T, *, params: BGNBDParams) -> np.ndarray:
    r"""Expected number of purchases in the next ``t`` time units, given each history.

    Parameters
    ----------
    t : array_like
        Length of the future window [time unit].
    x, t_x, T : array_like
        Customer summaries.
    params : BGNBDParams
        Any ``a > 0`` (CDNOW's published fit has ``a = 0.793``).

    Notes
    -----
    FHL 2005a, eq. 10:
    :math:`E[Y(t)] = \frac{a+b+x-1}{a-1}
    \frac{1 - (\frac{\alpha+T}{\alpha+T+t})^{r+x}
    {}_2F_1(r+x, b+x; a+b+x-1; \frac{t}{\alpha+T+t})}
    {1 + \delta_{x>0} \frac{a}{b+x-1} (\frac{\alpha+T}{\alpha+t_x})^{r+x}}`.

    The expectation is finite for every ``a > 0`` (``Y <= N``, a negative binomial count),
    and the formula holds there by analytic continuation of the hypergeometric series: at
    ``a = 1`` numerator and denominator both vanish (``2F1(r+x, b+x; b+x; z) =
    (1-z)^{-(r+x)}``). Near ``a = 1``, or where the series' third parameter
    ``a + b + x - 1`` is not positive, the mean of the exact count distribution
    (:func:`bgnbd_counts`, window mass ``1 - 1e-12``) is returned instead.
    """
    x, t_x, T = _summ(x, t_x, T)
    t = np.broadcast_to(np.asarray(t, dtype=float), x.shape)
    if params.a <= 0:
        raise ParameterError(f"bgnbd_expected needs a > 0; got a={params.a:.4g}")
    c = params.a + params.b + x - 1
    closed = (abs(params.a - 1) > 1e-3) & (c > 0)
    out = np.empty(x.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[closed] = _alive_mean(t[closed], x[closed], T[closed], params) * bgnbd_p_alive(
            x[closed], t_x[closed], T[closed], params=params
        )
    if not closed.all():
        rest = ~closed
        out[rest] = bgnbd_counts(
            t[rest], x[rest], t_x[rest], T[rest], params=params, tol=1e-12
        ).mean
    return out


def _alive_mean(t, x, T, params):
    r, al, a, b = params.r, params.alpha, params.a, params.b
    z = t / (al + T + t)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    lead = np.exp((r + x) * (np.log(al + T) - np.log(al + T + t)))
    return (a + b + x - 1) / (a - 1) * (1.0 - lead * hyp)


def bgnbd_counts(t, x, t_x, T, *, params: BGNBDParams, tol: float = 1e-8) -> CountDistribution:
    r"""Exact distribution of the number of purchases in the next ``t`` time units.

    Parameters
    ----------
    t : array_like
        Future window length per customer [time unit]; 0 gives no purchase.
    x, t_x, T : array_like
        Customer summaries.
    params : BGNBDParams
    tol : float
        Largest probability mass left out of a customer's window of counts.

    Returns
    -------
    CountDistribution

    Notes
    -----
    Given alive at ``T``, the posterior is ``lambda ~ Gamma(r+x, alpha+T)`` and, independently,
    ``p ~ Beta(a, b+x)``. The future count is ``Y = min(N, D)`` with ``N ~ Poisson(lambda t)``
    and ``D`` the (geometric) number of purchases before dropout, so
    :math:`P(Y=y) = P(N=y) E[(1-p)^y] + P(N \ge y) E[p(1-p)^{y-1}]` for :math:`y \ge 1`,
    where ``N`` is negative binomial and the beta moments are ratios of beta functions.
    Mixed with ``P(alive)`` (otherwise ``Y = 0``); this equals the conditional pmf of
    Fader, Hardie & Lee (2007, note 012), here evaluated without hypergeometric series. Its
    mean reproduces :func:`bgnbd_expected` (tested), without the numerical trouble of
    the hypergeometric function for extreme parameters.
    """
    x, t_x, T = _summ(x, t_x, T)
    n = x.size
    t = np.broadcast_to(np.asarray(t, dtype=float), (n,))
    r, al, a, b = params.r, params.alpha, params.a, params.b
    alive = bgnbd_p_alive(x, t_x, T, params=params)
    return dropout_counts(
        t, lam_shape=r + x, lam_rate=al + T, drop_a=a, drop_b=b + x, alive=alive, tol=tol
    )


def _dropout_terms(y, t, lam_shape, lam_rate, drop_a, drop_b):
    """``P(Y = y | alive)`` for flat arrays (see :func:`dropout_counts`)."""
    yy = np.asarray(y, dtype=float)
    pnb = lam_rate / (lam_rate + t)
    lnb = (
        special.gammaln(yy + lam_shape)
        - special.gammaln(lam_shape)
        - special.gammaln(yy + 1)
        + lam_shape * np.log(pnb)
        + special.xlog1py(yy, -pnb)
    )
    nb_ge = np.where(yy > 0, _nb_sf(yy - 1, lam_shape, pnb), 1.0)
    lb0 = special.betaln(drop_a, drop_b)
    surv = np.exp(special.betaln(drop_a, drop_b + yy) - lb0)
    die = np.where(
        yy > 0, np.exp(special.betaln(drop_a + 1, np.maximum(drop_b + yy - 1, 1e-300)) - lb0), 0.0
    )
    return np.exp(lnb) * surv + nb_ge * die


def _tail_sums(row, y, pmf, above):
    """``above[row] + sum(pmf over the row's terms at counts >= y)`` for every term.

    The terms come grouped by row, each row's counts consecutive and increasing; ``above``
    is the mass beyond each row's last count. The sums run from the smallest term up (no
    cancellation: every tail keeps its relative precision however small). None when the
    terms are not so grouped, or too ragged for a dense table of the rows' windows.
    """
    if row.size == 0:
        return np.zeros(0)
    start = np.r_[True, row[1:] != row[:-1]]
    seg = np.cumsum(start) - 1
    first = np.flatnonzero(start)
    width = np.diff(np.r_[first, row.size])
    if np.any(np.diff(row) < 0) or np.any(np.diff(y)[~start[1:]] != 1):
        return None
    if first.size * (width.max() + 1) > 4 * row.size + 4096:
        return None
    last = first + width - 1
    back = last[seg] - np.arange(row.size) + 1  # 1 at the row's last term
    table = np.zeros((first.size, width.max() + 1))
    table[:, 0] = above[row[last]]
    table[seg, back] = pmf
    return np.cumsum(table, axis=1)[seg, back]


def _dropout_window(row, y, t, lam_shape, lam_rate, drop_a, drop_b):
    """:func:`_dropout_terms` at the terms ``(row, y)`` of per-row parameters (windows of counts).

    The per-row parts (``log pnb``, ``gammaln`` of the shape) are evaluated once per row,
    ``log y!`` and the beta moments once per distinct ``(drop_a, drop_b, y)``, each term
    getting the bits of :func:`_dropout_terms`. ``P(N >= y)`` comes from one tail per row,
    ``P(N > last count)``, plus the window's own negative-binomial terms above ``y``
    (:func:`_tail_sums`; it agrees with the term-by-term tail to a few units in the last
    place); terms not grouped in windows take the term-by-term tail.
    """
    yy = np.asarray(y, dtype=float)
    yi = yy.astype(np.int64)
    pnb = lam_rate / (lam_rate + t)
    ls = lam_shape[row]
    top = int(yi.max(initial=0))
    with np.errstate(invalid="ignore"):  # 0 * log(0) where t = 0: dropped (xlog1py's 0)
        lnb = (
            special.gammaln(yy + ls)
            - special.gammaln(lam_shape)[row]
            - special.gammaln(np.arange(top + 1) + 1.0)[yi]
            + ls * np.log(pnb)[row]
            + np.where(yi == 0, 0.0, yy * special.log1p(-pnb)[row])
        )
    nb = np.exp(lnb)
    # beta moments on the distinct (drop_a, drop_b) pairs and counts
    pairs, pair = np.unique(np.stack([drop_a, drop_b], 1), axis=0, return_inverse=True)
    pair = pair.ravel()
    size = np.zeros(pairs.shape[0], dtype=np.int64)
    np.maximum.at(size, pair[row], yi + 1)
    off = np.cumsum(size) - size
    ua = np.repeat(pairs[:, 0], size)
    ub = np.repeat(pairs[:, 1], size)
    uy = (np.arange(size.sum()) - np.repeat(off, size)).astype(float)
    lb0 = special.betaln(ua, ub)
    surv_u = np.exp(special.betaln(ua, ub + uy) - lb0)
    die_u = np.where(
        uy > 0, np.exp(special.betaln(ua + 1, np.maximum(ub + uy - 1, 1e-300)) - lb0), 0.0
    )
    at = off[pair[row]] + yi
    surv, die = surv_u[at], die_u[at]
    last = np.r_[row[1:] != row[:-1], True] if row.size else np.zeros(0, dtype=bool)
    above = np.zeros(lam_rate.size)
    above[row[last]] = _nb_sf(yy[last], lam_shape[row[last]], pnb[row[last]])
    ge = _tail_sums(row, yi, nb, above)
    if ge is None:
        ge = _nb_sf(yy - 1, ls, pnb[row])
    nb_ge = np.where(yy > 0, np.minimum(ge, 1.0), 1.0)
    return nb * surv + nb_ge * die


def dropout_pmf(y, t, *, lam_shape, lam_rate, drop_a, drop_b, alive) -> np.ndarray:
    """``P(Y = y)`` of the future count under gamma rates and beta dropout (vectorized).

    Same model and parameters as :func:`dropout_counts`, evaluated at given counts ``y``
    (used to fit hyperparameters by predictive likelihood).
    """
    y = np.asarray(y, dtype=float)
    t = np.asarray(t, dtype=float)
    alive = np.asarray(alive, dtype=float)
    cond = np.where(
        t > 0,
        _dropout_terms(y, np.maximum(t, 1e-300), lam_shape, lam_rate, drop_a, drop_b),
        (y == 0).astype(float),
    )
    return (1.0 - alive) * (y == 0) + alive * cond


def _dropout_pmf_of_rates(y, t, *, drop_a, drop_b, alive):
    """:func:`dropout_pmf` as a function of ``(lam_shape, lam_rate)`` for fixed counts.

    For a fit of the rates' prior (many calls with the same counts, exposures and dropout
    laws): the dropout moments, ``log y!`` and the counts' masks are computed once, and the
    negative binomial tail only where ``y > 0``. Every call returns the values of
    ``dropout_pmf(y, t, lam_shape=.., lam_rate=.., drop_a=.., drop_b=.., alive=..)`` to the
    last bit (the same operations in the same order, element by element).
    """
    yy = np.asarray(y, dtype=float)
    t = np.asarray(t, dtype=float)
    alive = np.asarray(alive, dtype=float)
    tt = np.maximum(t, 1e-300)
    g1 = special.gammaln(yy + 1)
    lb0 = special.betaln(drop_a, drop_b)
    surv = np.exp(special.betaln(drop_a, drop_b + yy) - lb0)
    die = np.where(
        yy > 0, np.exp(special.betaln(drop_a + 1, np.maximum(drop_b + yy - 1, 1e-300)) - lb0), 0.0
    )
    some = yy > 0
    y_some = yy[some] - 1
    dead = (1.0 - alive) * (yy == 0)
    none = (yy == 0).astype(float)

    def pmf(lam_shape, lam_rate):
        ls = np.broadcast_to(lam_shape, yy.shape)
        pnb = lam_rate / (lam_rate + tt)
        lnb = (
            special.gammaln(yy + ls)
            - special.gammaln(ls)
            - g1
            + ls * np.log(pnb)
            + special.xlog1py(yy, -pnb)
        )
        nb_ge = np.ones(yy.shape)
        nb_ge[some] = _nb_sf(y_some, ls[some], np.broadcast_to(pnb, yy.shape)[some])
        cond = np.where(t > 0, np.exp(lnb) * surv + nb_ge * die, none)
        return dead + alive * cond

    return pmf


def dropout_counts(
    t, *, lam_shape, lam_rate, drop_a, drop_b, alive, alive_mean=None, tol: float = 1e-8
) -> CountDistribution:
    r"""Future purchases when rates are gamma and customers may drop out after each purchase.

    Parameters
    ----------
    t : array_like, shape (n,)
        Length of the future window [time unit] (an exposure; a seasonal multiplier may be
        folded into it).
    lam_shape, lam_rate : array_like, shape (n,)
        Gamma posterior of the purchase rate ``lambda`` [rate in 1/time unit].
    drop_a, drop_b : array_like
        Beta posterior of the dropout probability ``p`` after each purchase.
    alive : array_like, shape (n,)
        Probability that the customer is active now [fraction].
    alive_mean : array_like, optional
        Exact ``E[Y | alive]`` when known; by default the mean over the window of counts
        (low by at most the mean of the left-out tail).
    tol : float
        Largest probability mass left out of a row's window.

    Returns
    -------
    CountDistribution

    Notes
    -----
    ``Y = min(N, D)``, ``N | lambda ~ Poisson(lambda t)``, ``D`` the number of purchases
    before dropout (geometric with parameter ``p``):
    :math:`P(Y=y | \text{alive}) = P(N=y) E[(1-p)^y] + P(N \ge y) E[p(1-p)^{y-1}]`,
    ``N`` negative binomial, the beta moments ratios of beta functions (FHL 2005a).
    """
    t = np.atleast_1d(np.asarray(t, dtype=float))
    n = t.size

    def arr(v):
        return np.broadcast_to(np.asarray(v, dtype=float), (n,)).copy()

    ls, lr, da, db, al = (arr(v) for v in (lam_shape, lam_rate, drop_a, drop_b, alive))
    pnb = lr / (lr + t)
    hi = np.where(t > 0, _nb_quantile(tol, ls, pnb, upper=True), 0)
    hi = np.where(np.isfinite(hi), hi, 0).astype(np.int64)

    def pmf(row, y):
        tt = t[row]
        val = _dropout_window(row, y, np.maximum(t, 1e-300), ls, lr, da, db)
        return np.where(tt > 0, val, (y == 0).astype(float))

    counts = counts_from_window(np.zeros(n, dtype=np.int64), hi, pmf, mean=np.zeros(n))
    if alive_mean is not None:
        m = np.asarray(alive_mean, dtype=float)
    else:
        m = np.bincount(counts.row, weights=counts.prob * counts.count, minlength=n)
    counts = CountDistribution(counts.row, counts.count, counts.prob, n, m)
    return counts.with_dropout(al)


def simulate_bgnbd(T, *, params: BGNBDParams, rng: np.random.Generator, max_orders: int = 400):
    """Simulate BG/NBD purchase histories (for tests and benchmarks).

    Parameters
    ----------
    T : array_like
        Observation length of each customer after the first purchase [time unit].
    params : BGNBDParams
    rng : numpy.random.Generator
    max_orders : int
        Largest number of repeat purchases drawn per customer; a warning-free run needs it
        above every simulated count (a ParameterError is raised otherwise).

    Returns
    -------
    x, t_x, T : ndarray
        Repeat purchases, time of the last one, and observation length.
    """
    T = np.asarray(T, dtype=float)
    n = T.size
    lam = rng.gamma(params.r, 1.0 / params.alpha, n)
    p = rng.beta(params.a, params.b, n)
    gaps = rng.exponential(1.0, (n, max_orders)) / np.maximum(lam, 1e-300)[:, None]
    times = np.cumsum(gaps, axis=1)
    d = rng.geometric(p)  # purchases made before dropout (dropout after the d-th)
    seen = np.sum(times <= T[:, None], axis=1)
    if np.any(seen >= max_orders):
        raise ParameterError("max_orders too small for the simulated rates")
    x = np.minimum(seen, d)
    t_x = np.where(x > 0, np.take_along_axis(times, np.maximum(x - 1, 0)[:, None], 1)[:, 0], 0.0)
    return x.astype(float), t_x, T


def _gg_args(x, mean_value):
    x = np.asarray(x, dtype=float)
    m = np.asarray(mean_value, dtype=float)
    bad = ~(x >= 1) | ~(m > 0)
    if np.any(bad):
        raise ParameterError(
            f"Gamma-Gamma needs x >= 1 orders and mean_value > 0; {int(bad.sum())} bad row(s)"
        )
    return x, m


def gamma_gamma_loglik(x, mean_value, *, params: GammaGammaParams) -> np.ndarray:
    r"""Per-customer log-likelihood of the mean order value.

    Notes
    -----
    :math:`f(\bar z | x) = \frac{\Gamma(px+q)}{\Gamma(px)\Gamma(q)}
    \frac{\gamma^q \bar z^{px-1} x^{px}}{(\gamma + x\bar z)^{px+q}}` (Fader & Hardie 2013).
    """
    x, m = _gg_args(x, mean_value)
    p, q, g = params.p, params.q, params.gamma
    return (
        special.gammaln(p * x + q)
        - special.gammaln(p * x)
        - special.gammaln(q)
        + q * np.log(g)
        + (p * x - 1) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(g + m * x)
    )


def _gamma_gamma_loglik_of(x, m):
    """:func:`gamma_gamma_loglik` as a function of ``(p, q, gamma)`` for fixed summaries.

    The gamma functions depend on the orders ``x`` only, which take few distinct values:
    they are evaluated on those and gathered, and ``log m``, ``log x`` and ``m x`` once;
    every row gets the bits of :func:`gamma_gamma_loglik` (the same operations in the same
    order on its own values).
    """
    ux, ix = np.unique(x, return_inverse=True)
    log_m, log_x, mx = np.log(m), np.log(ux)[ix], m * x
    gl = special.gammaln

    def loglik(p, q, g):
        pux = p * ux
        px = pux[ix]
        head = (gl(pux + q) - gl(pux) - gl(q) + q * np.log(g))[ix]
        return head + (px - 1) * log_m + px * log_x - (pux + q)[ix] * np.log(g + mx)

    return loglik


def fit_gamma_gamma(x, mean_value, *, weights=None) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma parameters from order counts and mean order values.

    Parameters
    ----------
    x : array_like
        Number of orders per customer (>= 1).
    mean_value : array_like
        Mean order value per customer [currency or units], > 0.
    weights : array_like, optional
        Weight of each customer in the likelihood (default 1).
    """
    x, m = _gg_args(x, mean_value)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    scale = float(np.exp(np.average(np.log(m), weights=w)))
    mm = m / scale  # fit in scale-free units; gamma scales with the data
    loglik = _gamma_gamma_loglik_of(x, mm)

    def nll(z):
        z = np.clip(z, -15, 15)
        v = -np.average(loglik(*np.exp(z)), weights=w)
        return v if np.isfinite(v) else 1e100

    res = _minimize(nll, np.log([1.0, 3.0, 2.0]))
    p, q, g = np.exp(np.clip(res.x, -15, 15))
    ll = float(np.sum(w * gamma_gamma_loglik(x, m, params=GammaGammaParams(p, q, g * scale))))
    return GammaGammaParams(float(p), float(q), float(g * scale), ll)


def gamma_gamma_posterior(x, mean_value, *, params: GammaGammaParams):
    """Posterior of each customer's order-value rate: ``nu ~ Gamma(q + p x, rate=gamma + x m)``.

    Customers without orders (``x = 0``) get the prior ``(q, gamma)``.

    Returns
    -------
    mix_shape, mix_rate : ndarray
        To pass to the :mod:`rebatelab.forecasting.compound` functions with ``shape=params.p``.
    """
    x = np.asarray(x, dtype=float)
    m = np.where(x > 0, np.asarray(mean_value, dtype=float), 0.0)
    return params.q + params.p * x, params.gamma + x * m


def gamma_gamma_expected_value(x, mean_value, *, params: GammaGammaParams) -> np.ndarray:
    r"""Expected value of a future order [currency or units], shrunk toward the population.

    Notes
    -----
    :math:`E[Z | x, \bar z] = \frac{p(\gamma + x\bar z)}{px + q - 1}`, a weighted mean of
    the population mean :math:`p\gamma/(q-1)` and the customer's own mean.
    """
    qs, gs = gamma_gamma_posterior(x, mean_value, params=params)
    if np.any(qs <= 1):
        raise ParameterError("q + p x must exceed 1 for a finite expected order value")
    return params.p * gs / (qs - 1)


def simulate_gamma_gamma(x, *, params: GammaGammaParams, rng: np.random.Generator):
    """Mean order value of customers with ``x`` orders each (for tests)."""
    x = np.asarray(x, dtype=float)
    nu = rng.gamma(params.q, 1.0 / params.gamma, x.size)
    total = rng.gamma(params.p * x, 1.0 / nu)
    return total / x
