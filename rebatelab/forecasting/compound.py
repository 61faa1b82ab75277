"""Exact distribution of a random sum of gamma order values, vectorized over rows.

The spend still to come for a customer (or pool) is ``S = X_1 + ... + X_N``: a random
number ``N`` of orders with independent gamma order values. Conditioning on ``N = n``,

- with a known order-value rate ``nu``: ``X_i ~ Gamma(k, rate=nu)`` and
  ``S | N=n ~ Gamma(n k, rate=nu)``, whose CDF is the regularized lower incomplete gamma
  function ``P(n k, nu s)``;
- with an uncertain rate ``nu ~ Gamma(Q, rate=G)`` shared by all of a customer's orders
  (the Gamma-Gamma spend model's posterior), ``S / G | N=n`` is beta-prime
  ``(n k, Q)`` and the CDF is the regularized incomplete beta function
  ``I_{s/(s+G)}(n k, Q)``.

So the CDF of ``S`` is the series ``sum_n P(N=n) F_n(s)`` of incomplete gamma (or beta)
functions. The counts are held as a sparse, ragged table of the terms that carry the
probability (:class:`~rebatelab.forecasting.counts.CountDistribution`, re-exported here with
its constructors): every row has its own window of counts, and every
evaluation is one flat vectorized pass plus a ``np.bincount``, with no loop over rows.

Truncation error bound: the window of a row omits probability mass ``eps = 1 - sum(window)``
(:meth:`CountDistribution.tail`, at most the ``tol`` asked for when the window was built).
Each ``F_n`` lies in ``[0, 1]``, so the computed CDF is within ``eps`` below the exact one;
the computed partial expectation ``E[S 1{S <= s}]`` is within ``E[X] E[N 1{N outside the
window}]`` (:meth:`CountDistribution.tail_mean` times the mean order value) below it.

References
----------
Panjer, H. H. and Willmot, G. E. (1992). *Insurance Risk Models*. Society of Actuaries,
ch. 6 (compound distributions with gamma severities).
Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). RFM and CLV: Using iso-value curves
for customer base analysis. *Journal of Marketing Research* 42(4), 415-430 (the
Gamma-Gamma model of order values).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import special

from rebatelab.errors import ParameterError
from rebatelab.forecasting.counts import (
    MAX_WINDOW,
    CountDistribution,
    counts_from_window,
    negbin_counts,
    poisson_counts,
)

__all__ = [
    "MAX_WINDOW",
    "CountDistribution",
    "counts_from_window",
    "poisson_counts",
    "negbin_counts",
    "compound_mean",
    "compound_cdf",
    "compound_sf",
    "compound_partial_mean",
    "compound_lower_mean",
    "compound_cdf_lower_mean",
    "compound_quantile",
]


@dataclass(frozen=True)
class _Severity:
    """Per-row order-value law: Gamma(shape, scale) or Gamma(shape, rate ~ Gamma(Q, G))."""

    shape: np.ndarray
    scale: np.ndarray | None
    mix_shape: np.ndarray | None
    mix_rate: np.ndarray | None

    @property
    def mixed(self) -> bool:
        return self.mix_shape is not None

    def mean(self) -> np.ndarray:
        if self.mixed:
            return self.shape * self.mix_rate / (self.mix_shape - 1.0)
        return self.shape * self.scale


def _severity(n, shape, scale, mix_shape, mix_rate) -> _Severity:
    def arr(x, name):
        a = np.broadcast_to(np.asarray(x, dtype=float), (n,)).copy()
        if np.any(~(a > 0) | ~np.isfinite(a)):
            raise ParameterError(f"{name} must be finite and > 0; got {a[~(a > 0)][:5]}")
        return a

    k = arr(shape, "shape")
    if mix_shape is not None or mix_rate is not None:
        if mix_shape is None or mix_rate is None:
            raise ParameterError("give both mix_shape and mix_rate, or neither")
        q = arr(mix_shape, "mix_shape")
        if np.any(q <= 1):
            raise ParameterError("mix_shape must be > 1 (a finite mean order value)")
        return _Severity(k, None, q, arr(mix_rate, "mix_rate"))
    if scale is None:
        raise ParameterError("give scale, or mix_shape and mix_rate")
    return _Severity(k, arr(scale, "scale"), None, None)


def _term_cdf(s, n, sev: _Severity, row, plus: int = 0):
    """``P(S_n <= s)`` (``plus=1``: of the size-biased law, for partial means); s > 0 assumed.

    ``s``, ``n`` and ``row`` are flat arrays of the same shape (one entry per term and level).
    """
    a = n * sev.shape[row] + plus
    if sev.mixed:
        g = sev.mix_rate[row]
        return special.betainc(a, sev.mix_shape[row] - plus, s / (s + g))
    return special.gammainc(a, s / sev.scale[row])


def _term_cdf_pm(s, n, sev: _Severity, row, ti):
    """``P(S_n <= s)`` and ``P(S*_n <= s)`` of the size-biased law, one special function call.

    ``n`` and ``row`` are per term, ``s`` and ``ti`` (the term of each value) per evaluation.
    ``I_x(a+1, Q-1) = I_x(a, Q) - x^a (1-x)^(Q-1) / (a B(a, Q))`` and
    ``P(a+1, y) = P(a, y) - y^a e^{-y} / Gamma(a+1)`` (DLMF 8.17.20 and 8.8.11); the
    second is clipped at 0 (its rounding error is that of the log-space term, below 1e-12).
    """
    # the normalizing constants once per term used (ti is sorted: np.nonzero order)
    first = np.ones(ti.size, dtype=bool)
    first[1:] = ti[1:] != ti[:-1]
    tu = ti[first]
    back = np.cumsum(first) - 1
    a_u = n[tu] * sev.shape[row[tu]]
    r = row[ti]
    a = a_u[back]
    if sev.mixed:
        q = sev.mix_shape[r]
        x = s / (s + sev.mix_rate[r])
        cdf = special.betainc(a, q, x)
        norm = (special.betaln(a_u, sev.mix_shape[row[tu]]) + np.log(a_u))[back]
        lt = special.xlogy(a, x) + special.xlog1py(q - 1.0, -x) - norm
        return cdf, np.maximum(cdf - np.exp(lt), 0.0)
    y = s / sev.scale[r]
    cdf = special.gammainc(a, y)
    norm = special.gammaln(a_u + 1.0)[back]
    return cdf, np.maximum(cdf - np.exp(special.xlogy(a, y) - y - norm), 0.0)


def _term_pdf(s, n, sev: _Severity, row):
    a = n * sev.shape[row]
    if sev.mixed:
        g = sev.mix_rate[row]
        q = sev.mix_shape[row]
        x = s / g
        lp = special.xlogy(a - 1, x) - (a + q) * np.log1p(x) - special.betaln(a, q) - np.log(g)
    else:
        th = sev.scale[row]
        lp = special.xlogy(a - 1, s) - s / th - special.gammaln(a) - a * np.log(th)
    return np.exp(lp)


def _levels(s, n_rows):
    s = np.asarray(s, dtype=float)
    two_d = s.ndim == 2
    s2 = s if two_d else np.broadcast_to(s, (n_rows,))[:, None]
    if s2.shape[0] != n_rows:
        raise ParameterError(f"s has {s2.shape[0]} rows but the counts have {n_rows}")
    return s2, two_d


def _series(s2, counts: CountDistribution, sev: _Severity, kind: str):
    """Sum over terms of prob * (CDF | partial mean | pdf) at s2 (n, L).

    Only the (term, level) pairs with ``s > 0`` are evaluated (the others contribute 0): pass
    0 (or a negative value) at levels whose value is not needed.
    """
    pos = counts.count > 0
    row, n, pr = counts.row[pos], counts.count[pos].astype(float), counts.prob[pos]
    n_lev = s2.shape[1]
    ti, li = np.nonzero(s2[row] > 0)  # the (term, level) pairs worth evaluating
    r = row[ti]
    sr = s2[r, li]
    nn = n[ti]
    if kind == "cdf":
        val = _term_cdf(sr, nn, sev, r)
    elif kind == "pm":
        val = nn * sev.mean()[r] * _term_cdf(sr, nn, sev, r, plus=1)
    else:
        val = _term_pdf(sr, nn, sev, r)
    out = np.bincount(
        r * n_lev + li, weights=pr[ti] * val, minlength=counts.n_rows * n_lev
    ).reshape(counts.n_rows, n_lev)
    out = out.astype(float, copy=False)  # an empty bincount is int
    if kind == "cdf":
        zero = counts.count == 0
        p0 = np.bincount(counts.row[zero], weights=counts.prob[zero], minlength=counts.n_rows)
        out += np.where(s2 >= 0, p0[:, None], 0.0)
    return out


def _series_density(s2, counts: CountDistribution, sev: _Severity):
    """Density of S and its derivative at s2 (n, L), s > 0 only (see :func:`_series`).

    ``d/ds log f_n(s) = (a-1)/s - (a+Q)/(s+G)`` for the beta-prime term, ``(a-1)/s - 1/theta``
    for the gamma term (``a = n k``).
    """
    pos = counts.count > 0
    row, n, pr = counts.row[pos], counts.count[pos].astype(float), counts.prob[pos]
    n_lev = s2.shape[1]
    ti, li = np.nonzero(s2[row] > 0)
    r = row[ti]
    sr = s2[r, li]
    f = _term_pdf(sr, n[ti], sev, r)
    a = n[ti] * sev.shape[r]
    if sev.mixed:
        dlog = (a - 1.0) / sr - (a + sev.mix_shape[r]) / (sr + sev.mix_rate[r])
    else:
        dlog = (a - 1.0) / sr - 1.0 / sev.scale[r]
    flat = r * n_lev + li
    size = counts.n_rows * n_lev
    w = pr[ti] * f
    dens = np.bincount(flat, weights=w, minlength=size).astype(float, copy=False)
    d1 = np.bincount(flat, weights=w * dlog, minlength=size).astype(float, copy=False)
    return dens.reshape(counts.n_rows, n_lev), d1.reshape(counts.n_rows, n_lev)


#: (term, level) pairs evaluated per block: the temporaries of a block stay in the CPU cache
#: (the same arithmetic on whole arrays runs at the speed of memory).
_BLOCK = 1 << 16

#: Threads that evaluate the blocks of one series (the special functions and numpy's
#: arithmetic release the GIL): the machine's cores, at most 4. Each block writes its own
#: rows of the result, so the values do not depend on the number of threads.
_WORKERS = max(1, min(4, os.cpu_count() or 1))

#: Fewest blocks per thread worth a thread (below it, one thread evaluates all blocks).
_BLOCKS_PER_WORKER = 4


def _for_blocks(fn, blocks) -> None:
    """``fn(lo, hi)`` for every block, on up to :data:`_WORKERS` threads.

    The caller's floating-point error handling (``np.errstate``) applies in every thread;
    the first exception raised by a block is raised here.
    """
    workers = min(_WORKERS, len(blocks) // _BLOCKS_PER_WORKER)
    if workers <= 1:
        for lo, hi in blocks:  # blocks of rows (see _BLOCK), not a loop over rows
            fn(lo, hi)
        return
    err = np.geterr()

    def run(block):
        with np.errstate(**err):
            fn(*block)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(run, blocks):  # results are written in place; raises the first error
            pass


def _sorted_terms(counts: CountDistribution):
    """Row, count and probability of the terms with ``count > 0``, grouped by row.

    Terms keep their order within a row (a stable sort, only when rows are not yet in
    order), so sums over a row's terms are unchanged.
    """
    pos = counts.count > 0
    row, n, pr = counts.row[pos], counts.count[pos], counts.prob[pos]
    if row.size and np.any(row[1:] < row[:-1]):
        order = np.argsort(row, kind="stable")
        row, n, pr = row[order], n[order], pr[order]
    return row, n.astype(float), pr


def _pair_blocks(s2, row):
    """The (term, level) pairs worth evaluating (``s > 0``) and their blocks of whole rows.

    Returns ``ti, li, r`` (term, level and row of each pair, rows non-decreasing) and a list
    of ``(lo, hi)`` pair ranges, each about :data:`_BLOCK` pairs and cut where a row starts,
    so that every output cell is summed within one block, in term order.
    """
    n_lev = s2.shape[1]
    want = (s2 > 0)[row]  # as np.nonzero(s2[row] > 0), without gathering the values
    per_term = np.count_nonzero(want, axis=1)
    ti = np.repeat(np.arange(row.size), per_term)
    li = np.flatnonzero(want) - ti * n_lev
    r = np.repeat(row, per_term)
    m = r.size
    if not m:
        return ti, li, r, []
    cuts = np.searchsorted(r, r[np.arange(_BLOCK, m, _BLOCK)], side="left")
    bounds = np.unique(np.concatenate([[0], cuts, [m]]))
    return ti, li, r, list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))


def _p0(s2, counts: CountDistribution):
    """``P(N = 0)`` where ``s >= 0`` (the atom at 0 of S), shape (n, L)."""
    zero = counts.count == 0
    p0 = np.bincount(counts.row[zero], weights=counts.prob[zero], minlength=counts.n_rows)
    return np.where(s2 >= 0, p0[:, None], 0.0)


def _series_cdf_density(s2, counts: CountDistribution, sev: _Severity):
    """CDF, density and its first three derivatives at s2 (n, L) in one pass (quantile search).

    The CDF and density are the values of :func:`_series` (``"cdf"``) and
    :func:`_series_density`; the normalizing constants are computed once per term. With
    ``f_n = exp(L_n)`` and ``u = dL_n/ds``, the derivatives are ``f_n u``,
    ``f_n (u^2 + u')`` and ``f_n (u^3 + 3 u u' + u")``, where for the beta-prime term
    ``u = (a-1)/s - (a+Q)/(s+G)`` and for the gamma term ``u = (a-1)/s - 1/theta``: no
    special function beyond the one CDF call per term and level.
    """
    row, n, pr = _sorted_terms(counts)
    n_lev = s2.shape[1]
    ti, li, r, blocks = _pair_blocks(s2, row)
    out = np.zeros((5, counts.n_rows * n_lev))

    def block(lo, hi):
        t, rb = ti[lo:hi], r[lo:hi]
        t0, t1 = int(t[0]), int(t[-1]) + 1
        a_t = n[t0:t1] * sev.shape[row[t0:t1]]  # per term of the block
        a, sr, w = a_t[t - t0], s2[rb, li[lo:hi]], pr[t]
        if sev.mixed:
            q_t, g_t = sev.mix_shape[row[t0:t1]], sev.mix_rate[row[t0:t1]]
            norm = (special.betaln(a_t, q_t) + np.log(g_t))[t - t0]
            q, g = q_t[t - t0], g_t[t - t0]
            cdf = special.betainc(a, q, sr / (sr + g))
            f = np.exp(special.xlogy(a - 1, sr / g) - (a + q) * np.log1p(sr / g) - norm)
            inv_s, inv_g = 1.0 / sr, 1.0 / (sr + g)
            u = (a - 1.0) * inv_s - (a + q) * inv_g
            u1 = (a + q) * inv_g * inv_g - (a - 1.0) * inv_s * inv_s
            u2 = 2.0 * ((a - 1.0) * inv_s * inv_s * inv_s - (a + q) * inv_g * inv_g * inv_g)
        else:
            th_t = sev.scale[row[t0:t1]]
            norm = (special.gammaln(a_t) + a_t * np.log(th_t))[t - t0]
            th = th_t[t - t0]
            cdf = special.gammainc(a, sr / th)
            f = np.exp(special.xlogy(a - 1, sr) - sr / th - norm)
            inv_s = 1.0 / sr
            u = (a - 1.0) * inv_s - 1.0 / th
            u1 = -(a - 1.0) * inv_s * inv_s
            u2 = 2.0 * (a - 1.0) * inv_s * inv_s * inv_s
        wf = w * f
        r0, r1 = int(rb[0]), int(rb[-1]) + 1
        flat = (rb - r0) * n_lev + li[lo:hi]
        width = (r1 - r0) * n_lev
        for j, v in enumerate(
            (w * cdf, wf, wf * u, wf * (u * u + u1), wf * (u * u * u + 3.0 * u * u1 + u2))
        ):
            out[j, r0 * n_lev : r1 * n_lev] = np.bincount(flat, weights=v, minlength=width)

    _for_blocks(block, blocks)
    out = out.reshape(5, counts.n_rows, n_lev)
    return out[0] + _p0(s2, counts), out[1], out[2], out[3], out[4]


def _series_cdf_pm(s2, counts: CountDistribution, sev: _Severity):
    """``(P(S <= s), E[S 1{S < s}])`` at s2 (n, L) in one pass (see :func:`_series`)."""
    row, n, pr = _sorted_terms(counts)
    n_lev = s2.shape[1]
    ti, li, r, blocks = _pair_blocks(s2, row)
    ex = sev.mean()
    out = np.zeros((2, counts.n_rows * n_lev))

    def block(lo, hi):
        t, rb = ti[lo:hi], r[lo:hi]
        t0, t1 = int(t[0]), int(t[-1]) + 1
        cdf, cdf1 = _term_cdf_pm(s2[rb, li[lo:hi]], n[t0:t1], sev, row[t0:t1], t - t0)
        w = pr[t]
        r0, r1 = int(rb[0]), int(rb[-1]) + 1
        flat = (rb - r0) * n_lev + li[lo:hi]
        width = (r1 - r0) * n_lev
        for j, v in enumerate((w * cdf, w * (n[t] * ex[rb] * cdf1))):
            out[j, r0 * n_lev : r1 * n_lev] = np.bincount(flat, weights=v, minlength=width)

    _for_blocks(block, blocks)
    out = out.reshape(2, counts.n_rows, n_lev)
    return out[0] + _p0(s2, counts), out[1]


def compound_mean(counts: CountDistribution, *, shape, scale=None, mix_shape=None, mix_rate=None):
    """Exact mean of the sum ``E[S] = E[N] E[X]`` [currency or units], shape (n,)."""
    sev = _severity(counts.n_rows, shape, scale, mix_shape, mix_rate)
    return counts.mean * sev.mean()


def compound_cdf(s, counts: CountDistribution, *, shape, scale=None, mix_shape=None, mix_rate=None):
    r"""``P(S <= s)`` for a compound sum of gamma order values.

    Parameters
    ----------
    s : array_like, shape (n,) or (n, L)
        Amounts at which to evaluate, per row [currency or units].
    counts : CountDistribution
        Distribution of the number of orders of each of the n rows.
    shape : array_like, shape (n,)
        Gamma shape ``k`` of one order value.
    scale : array_like, shape (n,), optional
        Gamma scale ``1 / nu`` of one order value [currency or units], when known.
    mix_shape, mix_rate : array_like, shape (n,), optional
        ``Q`` and ``G`` of the order-value rate ``nu ~ Gamma(Q, rate=G)`` (Gamma-Gamma
        posterior); ``mix_shape`` must exceed 1.

    Returns
    -------
    ndarray, same shape as ``s``
        The CDF, low by at most ``counts.tail()`` (see the module notes).

    Notes
    -----
    :math:`F(s) = P(N=0) + \sum_{n \ge 1} P(N=n) P(nk, s/\theta)` with :math:`P` the
    regularized lower incomplete gamma function, or with
    :math:`I_{s/(s+G)}(nk, Q)` when the rate is gamma distributed.

    Examples
    --------
    Exponential order values of mean 10 and at most one order (Bernoulli 0.5):

    >>> from rebatelab.forecasting.compound import counts_from_window
    >>> c = counts_from_window([0], [1], lambda r, n: np.full(n.shape, 0.5), mean=[0.5])
    >>> round(float(compound_cdf([10.0], c, shape=1.0, scale=10.0)[0]), 6)
    0.81606
    """
    sev = _severity(counts.n_rows, shape, scale, mix_shape, mix_rate)
    s2, two_d = _levels(s, counts.n_rows)
    out = _series(s2, counts, sev, "cdf")
    return out if two_d else out[:, 0]


def compound_sf(s, counts: CountDistribution, *, shape, scale=None, mix_shape=None, mix_rate=None):
    """``P(S >= s)``; equal to ``1 - P(S <= s)`` for ``s > 0`` and 1 for ``s <= 0``.

    ``S`` is continuous except for its atom at 0 (no order), so ``>=`` and ``>`` agree for
    ``s > 0``. Same parameters as :func:`compound_cdf`; high by at most ``counts.tail()``.
    """
    s_arr = np.asarray(s, dtype=float)
    cdf = compound_cdf(
        s_arr, counts, shape=shape, scale=scale, mix_shape=mix_shape, mix_rate=mix_rate
    )
    s_b = s_arr if s_arr.ndim == 2 else np.broadcast_to(s_arr, cdf.shape)
    return np.where(s_b <= 0, 1.0, np.clip(1.0 - cdf, 0.0, 1.0))


def compound_partial_mean(
    lower, upper, counts: CountDistribution, *, shape, scale=None, mix_shape=None, mix_rate=None
):
    r"""Exact partial expectation ``E[S 1{lower <= S < upper}]`` [currency or units].

    Parameters
    ----------
    lower, upper : array_like, shape (n,) or (n, L)
        Bounds per row; ``upper`` may be ``inf``.
    counts, shape, scale, mix_shape, mix_rate
        As in :func:`compound_cdf`.

    Notes
    -----
    For a gamma sum, :math:`E[G 1\{G \le s\}] = nk\theta\, P(nk+1, s/\theta)`; for the
    beta-prime sum, :math:`E[S 1\{S \le s\}] = \frac{nkG}{Q-1} I_{s/(s+G)}(nk+1, Q-1)`.
    The result is low by at most ``counts.tail_mean() * E[X]``.
    """
    sev = _severity(counts.n_rows, shape, scale, mix_shape, mix_rate)
    lo2, two_lo = _levels(lower, counts.n_rows)
    up2, two_up = _levels(upper, counts.n_rows)
    two_d = two_lo or two_up
    lo2, up2 = np.broadcast_arrays(lo2, up2)
    full = (counts.mean * sev.mean())[:, None]
    # E[S 1{S < s}] with s = inf -> the (truncated) full mean; use the exact mean there
    pm_up = np.where(
        np.isinf(up2), full, _series(np.where(np.isinf(up2), 0.0, up2), counts, sev, "pm")
    )
    pm_lo = np.where(
        np.isinf(lo2) & (lo2 > 0),
        full,
        _series(np.where(np.isinf(lo2), 0.0, lo2), counts, sev, "pm"),
    )
    pm_lo = np.where(np.isneginf(lo2), 0.0, pm_lo)
    out = np.maximum(pm_up - pm_lo, 0.0)
    return out if two_d else out[:, 0]


def compound_lower_mean(
    s, counts: CountDistribution, *, shape, scale=None, mix_shape=None, mix_rate=None
):
    """``E[S 1{S < s}]`` [currency or units]; ``s`` of shape (n,) or (n, L), may be ``inf``.

    One series evaluation per value (see :func:`compound_partial_mean` for the formula and
    the error bound); ``inf`` gives the exact mean.
    """
    sev = _severity(counts.n_rows, shape, scale, mix_shape, mix_rate)
    s2, two_d = _levels(s, counts.n_rows)
    full = (counts.mean * sev.mean())[:, None]
    fin = np.isfinite(s2)
    out = _series(np.where(fin, s2, 0.0), counts, sev, "pm")
    out = np.where(fin, out, np.where(s2 > 0, full, 0.0))
    return out if two_d else out[:, 0]


def compound_cdf_lower_mean(
    s, counts: CountDistribution, *, shape, scale=None, mix_shape=None, mix_rate=None
):
    """``P(S <= s)`` and ``E[S 1{S < s}]`` together, one special function call per term.

    Parameters
    ----------
    s : array_like, shape (n,) or (n, L)
        Finite amounts per row [currency or units].
    counts, shape, scale, mix_shape, mix_rate
        As in :func:`compound_cdf`.

    Returns
    -------
    cdf : ndarray, same shape as ``s``
        As :func:`compound_cdf` (the same values).
    lower_mean : ndarray, same shape as ``s``
        As :func:`compound_lower_mean` [currency or units], the size-biased CDF obtained by
        the recurrences of the incomplete gamma / beta functions instead of a second call:
        equal to it within ``1e-12 E[S]`` (rounding), far below its truncation bound.

    Examples
    --------
    >>> c = poisson_counts([3.0])
    >>> f, h = compound_cdf_lower_mean([50.0], c, shape=2.0, scale=10.0)
    >>> bool(np.isclose(h[0], compound_lower_mean([50.0], c, shape=2.0, scale=10.0)[0]))
    True
    """
    sev = _severity(counts.n_rows, shape, scale, mix_shape, mix_rate)
    s2, two_d = _levels(s, counts.n_rows)
    if not np.all(np.isfinite(s2)):
        raise ParameterError("s must be finite (use compound_lower_mean for infinite bounds)")
    cdf, pm = _series_cdf_pm(s2, counts, sev)
    return (cdf, pm) if two_d else (cdf[:, 0], pm[:, 0])


def compound_quantile(
    levels,
    counts: CountDistribution,
    *,
    shape,
    scale=None,
    mix_shape=None,
    mix_rate=None,
    rtol: float = 1e-7,
    max_iter: int = 200,
):
    """Quantiles of the compound sum for every row and level at once.

    Parameters
    ----------
    levels : array_like, shape (L,)
        Probability levels in (0, 1).
    counts, shape, scale, mix_shape, mix_rate
        As in :func:`compound_cdf`.
    rtol : float
        Relative precision of the quantiles.
    max_iter : int
        Iteration limit of the safeguarded Halley search.

    Returns
    -------
    ndarray, shape (n, L)
        ``inf{s >= 0 : P(S <= s) >= level}`` [currency or units]; 0 where the atom at 0
        (no order) already reaches the level.

    Notes
    -----
    Halley steps (Newton's with the density's derivative, cubic convergence; Newton's
    where Halley's leaves the bracket) on the CDF, kept inside a bracket that starts at
    ``[0, E[S] / (1 - level)]`` (Markov's inequality guarantees the quantile is inside) and
    falls back to bisection whenever a step leaves it. All rows and levels move together.
    """
    q = np.atleast_1d(np.asarray(levels, dtype=float))
    if np.any((q <= 0) | (q >= 1)):
        raise ParameterError(f"levels must be in (0, 1); got {q}")
    sev = _severity(counts.n_rows, shape, scale, mix_shape, mix_rate)
    n = counts.n_rows
    qq = np.broadcast_to(q, (n, len(q)))
    ex = sev.mean()
    mu = (counts.mean * ex)[:, None]
    zero = counts.count == 0
    p0 = np.bincount(counts.row[zero], weights=counts.prob[zero], minlength=n)[:, None]
    done = (p0 >= qq) | (mu <= 0)
    lo = np.zeros((n, len(q)))
    hi = np.where(done, 0.0, mu / (1.0 - qq) * (1 + 1e-9) + 1e-12)
    x = _start(qq, p0, counts, sev, ~done)
    x = np.where((x > lo) & (x < hi), x, 0.5 * hi)
    step = np.full(x.shape, np.inf)  # the last Halley or Newton step of each (row, level)
    for _ in range(max_iter):  # Halley iterations over all rows at once
        act = np.flatnonzero(~done.all(axis=1))
        if not act.size:
            break
        sub, sev_a = counts.subset(act), _sev_subset(sev, act)
        xa, qa, da = x[act], qq[act], done[act]
        cdf, dens, d1, d2, d3 = _series_cdf_density(np.where(da, 0.0, xa), sub, sev_a)
        f = cdf - qa
        lo[act] = np.where(~da & (f < 0), xa, lo[act])
        hi[act] = np.where(~da & (f >= 0), xa, hi[act])
        with np.errstate(all="ignore"):
            newton = xa - f / dens
            denom = 2.0 * dens * dens - f * d1
            halley = xa - 2.0 * f * dens / denom
            d_t, err_t = _taylor_step(f, dens, d1, d2, d3, halley - xa)
            taylor = xa + d_t
        la, ha = lo[act], hi[act]
        ok_t = np.isfinite(taylor) & (taylor > la) & (taylor < ha)
        ok_h = np.isfinite(halley) & (denom > 0) & (halley > la) & (halley < ha)
        ok_n = np.isfinite(newton) & (newton > la) & (newton < ha)
        x_new = np.where(
            ok_t, taylor, np.where(ok_h, halley, np.where(ok_n, newton, 0.5 * (la + ha)))
        )
        stepped = ok_t | ok_h | ok_n
        d_new = np.abs(x_new - xa)
        d_old = step[act]
        # error of x_new estimated from two successive steps (at worst linear convergence,
        # ratio d_new / d_old): d_new^2 / (d_old - d_new); saves the confirming evaluation
        with np.errstate(all="ignore"):
            est = d_new * d_new / (d_old - d_new)
        fast = stepped & np.isfinite(d_old) & (d_new < 0.5 * d_old) & (est <= rtol * x_new)
        # or the Taylor step's own error estimate, for a short step (the series is local)
        local = ok_t & (d_new <= 0.1 * x_new) & (err_t <= 0.1 * rtol * x_new)
        conv = (d_new <= rtol * x_new) | (ha - la <= rtol * ha) | fast | local
        x[act] = np.where(da, xa, x_new)
        step[act] = np.where(stepped, d_new, np.inf)
        done[act] = da | conv
    return np.where(mu <= 0, 0.0, x)


def _taylor_step(f, dens, d1, d2, d3, start):
    """Root of the CDF's quartic Taylor polynomial about ``x``, and a bound on its error.

    ``f = F(x) - level``, ``dens`` the density at ``x`` and ``d1 .. d3`` its derivatives.
    Solves ``f + dens d + d1 d^2/2 + d2 d^3/6 + d3 d^4/24 = 0`` for the step ``d`` by Newton
    from ``start`` (the Halley step), on the polynomial only. The error is estimated by the
    last term kept over the density, ``|d3 d^4 / 24| / dens`` [unit of x], an overestimate
    where the series converges (the terms shrink): ``inf`` unless that term is at most half
    the cubic one.

    Returns
    -------
    step, error : ndarray
    """
    d = np.where(np.isfinite(start), start, 0.0)
    for _ in range(4):  # Newton iterations on the polynomial (no special function)
        p = f + d * (dens + d * (d1 / 2.0 + d * (d2 / 6.0 + d * d3 / 24.0)))
        dp = dens + d * (d1 + d * (d2 / 2.0 + d * d3 / 6.0))
        d = d - p / dp
    t3 = np.abs(d2 * d**3 / 6.0)
    t4 = np.abs(d3 * d**4 / 24.0)
    err = np.where((t4 <= 0.5 * t3) & (dens > 0), t4 / dens, np.inf)
    return d, err


def _sev_subset(sev: _Severity, idx) -> _Severity:
    def pick(a):
        return None if a is None else a[idx]

    return _Severity(sev.shape[idx], pick(sev.scale), pick(sev.mix_shape), pick(sev.mix_rate))


def _start(qq, p0, counts: CountDistribution, sev: _Severity, want):
    """Starting points: gamma quantiles matching the mean and variance of S given N > 0.

    Computed where ``want`` (n, L) is True, 0 elsewhere (the inverse gamma function is
    the cost: not spent on the levels the atom at 0 already reaches).
    """
    n = counts.n_rows
    en2 = np.bincount(counts.row, weights=counts.prob * counts.count**2.0, minlength=n)
    ex = sev.mean()
    vx = ex**2 / sev.shape
    if sev.mixed:  # the shared rate adds between-order correlation; use the marginal variance
        vx = ex**2 * (sev.shape + sev.mix_shape - 1) / (sev.shape * (sev.mix_shape - 2).clip(0.5))
    var_n = np.maximum(en2 - counts.mean**2, 0)
    pos = np.clip(1.0 - p0[:, 0], 1e-12, None)
    m1 = counts.mean * ex / pos
    m2 = (counts.mean * vx + var_n * ex**2 + (counts.mean * ex) ** 2) / pos
    v = np.maximum(m2 - m1**2, 1e-12 * m1**2 + 1e-300)
    a = m1**2 / v
    r, c = np.nonzero(want)
    level = np.clip((qq[r, c] - p0[r, 0]) / pos[r], 1e-12, 1 - 1e-12)
    out = np.zeros(want.shape)
    with np.errstate(all="ignore"):
        out[r, c] = special.gammaincinv(a[r], level) * (v / np.maximum(m1, 1e-300))[r]
    return out
