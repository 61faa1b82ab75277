"""Distributions of the number of future orders, one per row, as ragged tables of terms.

A :class:`CountDistribution` holds, for every row (a customer or pool), the terms
``P(N = n)`` of a window of counts ``n`` that carries all but at most ``tol`` of the
probability. The windows are ragged: each row has its own, and all rows live in three flat
arrays, so that the compound series of :mod:`rebatelab.forecasting.compound` are one
vectorized pass with no loop over rows.

Truncation error bound: a row's window omits probability mass ``eps = 1 - sum(window)``
(:meth:`CountDistribution.tail`, at most the ``tol`` asked for when the window was built).

References
----------
Panjer, H. H. and Willmot, G. E. (1992). *Insurance Risk Models*. Society of Actuaries,
ch. 6 (compound distributions).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import special

from rebatelab.errors import ParameterError

try:  # the Boost ufuncs behind scipy.stats.nbinom, without importing scipy.stats (~1 s)
    from scipy.special._ufuncs import _nbinom_isf, _nbinom_ppf, _nbinom_sf
except ImportError:  # pragma: no cover - a SciPy without them: through scipy.stats
    _nbinom_isf = _nbinom_ppf = _nbinom_sf = None

__all__ = [
    "MAX_WINDOW",
    "CountDistribution",
    "counts_from_window",
    "poisson_counts",
    "negbin_counts",
]


#: Most count terms kept per row (a row needing more is cut, and its error bound says so).
MAX_WINDOW = 5000


@dataclass(frozen=True)
class CountDistribution:
    """Distribution of the number of future orders, one per row, as a ragged table of terms.

    Attributes
    ----------
    row : ndarray of int, shape (m,)
        Row of each term, in ``0 .. n_rows - 1``.
    count : ndarray of int, shape (m,)
        Number of orders ``n`` of the term.
    prob : ndarray of float, shape (m,)
        ``P(N = n)`` for that row. A row may repeat a count (mixtures); the terms add.
    n_rows : int
        Number of rows.
    mean : ndarray of float, shape (n_rows,)
        Exact ``E[N]`` of each row (used for the exact mean and the error bound).
    """

    row: np.ndarray
    count: np.ndarray
    prob: np.ndarray
    n_rows: int
    mean: np.ndarray

    def tail(self) -> np.ndarray:
        """Probability mass left out of each row's window: the CDF error bound [fraction]."""
        kept = np.bincount(self.row, weights=self.prob, minlength=self.n_rows)
        return np.clip(1.0 - kept, 0.0, 1.0)

    def tail_mean(self) -> np.ndarray:
        """``E[N 1{N outside the window}]`` per row [orders]."""
        kept = np.bincount(self.row, weights=self.prob * self.count, minlength=self.n_rows)
        return np.clip(self.mean - kept, 0.0, None)

    def pmf_matrix(self, max_count: int) -> np.ndarray:
        """Dense ``(n_rows, max_count + 1)`` matrix of ``P(N = n)`` (for tests and plots)."""
        out = np.zeros((self.n_rows, max_count + 1))
        keep = self.count <= max_count
        np.add.at(out, (self.row[keep], self.count[keep]), self.prob[keep])
        return out

    def with_dropout(self, alive) -> CountDistribution:
        """Mixture: with probability ``1 - alive`` the customer has stopped buying (N = 0).

        Parameters
        ----------
        alive : array_like, shape (n_rows,)
            Probability that the customer is still active [fraction].
        """
        a = np.broadcast_to(np.asarray(alive, dtype=float), (self.n_rows,))
        if np.any((a < 0) | (a > 1) | np.isnan(a)):
            raise ParameterError("alive must be probabilities in [0, 1]")
        rows = np.arange(self.n_rows)
        return CountDistribution(
            row=np.concatenate([self.row, rows]),
            count=np.concatenate([self.count, np.zeros(self.n_rows, dtype=np.int64)]),
            prob=np.concatenate([self.prob * a[self.row], 1.0 - a]),
            n_rows=self.n_rows,
            mean=self.mean * a,
        )

    def take(self, rows) -> CountDistribution:
        """The distributions of the given integer rows, repeats allowed, in that order.

        Every row keeps its terms in their original order (so sums over them are unchanged).

        Examples
        --------
        >>> c = poisson_counts([0.5, 2.0]).take([1, 1, 0])
        >>> c.n_rows, bool(np.allclose(c.mean, [2.0, 2.0, 0.5]))
        (3, True)
        """
        idx = np.asarray(rows, dtype=np.int64)
        order = np.argsort(self.row, kind="stable")
        cnt = np.bincount(self.row, minlength=self.n_rows)
        start = np.cumsum(cnt) - cnt
        width = cnt[idx]
        new_row = np.repeat(np.arange(idx.size), width)
        offset = np.arange(new_row.size) - np.repeat(np.cumsum(width) - width, width)
        src = order[np.repeat(start[idx], width) + offset]
        return CountDistribution(
            row=new_row,
            count=self.count[src],
            prob=self.prob[src],
            n_rows=int(idx.size),
            mean=self.mean[idx],
        )

    def subset(self, rows) -> CountDistribution:
        """The distributions of the given rows (boolean mask or integer positions), renumbered."""
        idx = np.arange(self.n_rows)[rows]
        new = np.full(self.n_rows, -1, dtype=np.int64)
        new[idx] = np.arange(len(idx))
        keep = new[self.row] >= 0
        return CountDistribution(
            row=new[self.row[keep]],
            count=self.count[keep],
            prob=self.prob[keep],
            n_rows=len(idx),
            mean=self.mean[idx],
        )


def _ragged(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat (row, count) pairs enumerating ``lo[i] .. hi[i]`` for every row ``i``."""
    width = np.maximum(hi - lo + 1, 0)
    row = np.repeat(np.arange(len(lo)), width)
    start = np.repeat(np.cumsum(width) - width, width)
    count = np.arange(row.size) - start + lo[row]
    return row, count.astype(np.int64)


def counts_from_window(lo, hi, pmf, *, mean) -> CountDistribution:
    """Build a :class:`CountDistribution` from a vectorized pmf on per-row count windows.

    Parameters
    ----------
    lo, hi : array_like of int, shape (n,)
        First and last count of each row's window (inclusive).
    pmf : callable
        ``pmf(row, count) -> prob``, vectorized over flat arrays.
    mean : array_like, shape (n,)
        Exact mean count per row.
    """
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.asarray(hi, dtype=np.int64)
    wide = hi - lo + 1 > MAX_WINDOW
    if wide.any():
        warnings.warn(
            f"{int(wide.sum())} row(s) need more than {MAX_WINDOW} count terms; their windows are "
            "cut (see CountDistribution.tail() for the error bound)",
            stacklevel=2,
        )
        hi = np.where(wide, lo + MAX_WINDOW - 1, hi)
    row, count = _ragged(lo, hi)
    prob = np.asarray(pmf(row, count), dtype=float)
    return CountDistribution(row, count, prob, len(lo), np.asarray(mean, dtype=float).copy())


# --------------------------------------------------------------------------------------------
# scipy.stats' Poisson and negative binomial quantiles and tail, element by element, to the
# last bit (the same special functions on the same valid entries), without scipy.stats
# --------------------------------------------------------------------------------------------
def _interior(q) -> bool:
    return bool(np.all((np.asarray(q) > 0) & (np.asarray(q) < 1)))


def _poisson_q(q, mu, *, upper: bool):
    """``scipy.stats.poisson.ppf(q, mu)`` (``upper``: ``.isf``) for q in (0, 1), mu >= 0."""
    if not _interior(q):
        from scipy import stats

        return (stats.poisson.isf if upper else stats.poisson.ppf)(q, mu)
    q, mu = np.broadcast_arrays(np.asarray(q, dtype=float), np.asarray(mu, dtype=float))
    out = np.full(q.shape, np.nan)
    ok = mu >= 0
    qq, mm = q[ok], mu[ok]
    if upper:
        qq = 1.0 - qq
    vals = np.ceil(special.pdtrik(qq, mm))
    vals1 = np.maximum(vals - 1, 0)
    out[ok] = np.where(special.pdtr(vals1, mm) >= qq, vals1, vals) + 0.0
    return out


def _nbinom_args(*args):
    a = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in args))
    n, p = a[-2], a[-1]
    return a, (n > 0) & (p > 0) & (p <= 1)


def _nb_quantile(q, n, p, *, upper: bool = False):
    """``scipy.stats.nbinom.ppf(q, n, p)`` (``upper``: ``.isf``), the same values."""
    if _nbinom_ppf is None or not _interior(q):
        from scipy import stats

        return (stats.nbinom.isf if upper else stats.nbinom.ppf)(q, n, p)
    (q, n, p), ok = _nbinom_args(q, n, p)
    out = np.full(q.shape, np.nan)
    with np.errstate(over="ignore"):  # as scipy.stats (its gh-17432)
        out[ok] = (_nbinom_isf if upper else _nbinom_ppf)(q[ok], n[ok], p[ok]) + 0.0
    return out


def _nb_sf(k, n, p):
    """``scipy.stats.nbinom.sf(k, n, p)``: ``P(N > k)``, the same values."""
    if _nbinom_sf is None:
        from scipy import stats

        return stats.nbinom.sf(k, n, p)
    (k, n, p), ok = _nbinom_args(k, n, p)
    out = np.zeros(k.shape)
    out[~ok | np.isnan(k)] = np.nan
    out[((k < 0) | np.isneginf(k)) & ok] = 1.0
    good = ok & (k >= 0) & np.isfinite(k)
    if good.any():
        out[good] = np.clip(_nbinom_sf(np.floor(k[good]), n[good], p[good]), 0, 1)
    return out


def _windows(ppf, isf, tol):
    """Smallest count windows leaving out at most ``tol`` of the mass (half on each side).

    ``ppf`` and ``isf``: the count quantile functions of the rows' laws, of one argument.
    """
    lo = np.maximum(ppf(tol / 2), 0)
    hi = isf(tol / 2)
    lo = np.where(np.isfinite(lo), lo, 0).astype(np.int64)
    hi = np.where(np.isfinite(hi), hi, 0).astype(np.int64)
    return lo, np.maximum(hi, lo)


def _check_mean(mean, name="mean"):
    m = np.atleast_1d(np.asarray(mean, dtype=float))
    if np.any(~np.isfinite(m) | (m < 0)):
        bad = m[~np.isfinite(m) | (m < 0)]
        raise ParameterError(f"{name} must be finite and >= 0; got {bad[:5]}")
    return m


def poisson_counts(mean, *, tol: float = 1e-8) -> CountDistribution:
    """Poisson numbers of orders.

    Parameters
    ----------
    mean : array_like, shape (n,)
        Expected number of orders [orders].
    tol : float
        Largest probability mass left out of a row's window (the CDF error bound).

    Examples
    --------
    >>> c = poisson_counts([0.0, 2.0])
    >>> bool(c.tail().max() <= 1e-8)
    True
    """
    m = _check_mean(mean)
    lo, hi = _windows(
        lambda q: _poisson_q(q, m, upper=False), lambda q: _poisson_q(q, m, upper=True), tol
    )

    def pmf(row, count):
        mu = m[row]
        with np.errstate(divide="ignore"):
            lp = special.xlogy(count, mu) - mu - special.gammaln(count + 1.0)
        return np.exp(lp)

    return counts_from_window(lo, hi, pmf, mean=m)


def negbin_counts(mean, *, shape, tol: float = 1e-8) -> CountDistribution:
    """Negative binomial numbers of orders: Poisson with a gamma-distributed mean.

    Parameters
    ----------
    mean : array_like, shape (n,)
        Expected number of orders ``E[N]`` [orders].
    shape : array_like, shape (n,)
        Gamma shape ``r`` of the Poisson mean (``Var N = m + m^2 / r``); ``inf`` gives Poisson.
    tol : float
        Largest probability mass left out of a row's window.

    Notes
    -----
    If ``lambda ~ Gamma(r, rate=beta)`` and ``N | lambda ~ Poisson(lambda t)`` then
    ``P(N=n) = C(n+r-1, n) p^r (1-p)^n`` with ``p = beta / (beta + t)``, ``m = r (1-p)/p``.
    """
    m = _check_mean(mean)
    r = np.broadcast_to(np.asarray(shape, dtype=float), m.shape).copy()
    if np.any(~(r > 0)):
        raise ParameterError("shape must be > 0")
    r = np.where(np.isinf(r), 1e12, r)
    p = r / (r + m)
    lo, hi = _windows(
        lambda q: _nb_quantile(q, r, p), lambda q: _nb_quantile(q, r, p, upper=True), tol
    )

    def pmf(row, count):
        rr, pp = r[row], p[row]
        lp = (
            special.gammaln(count + rr)
            - special.gammaln(rr)
            - special.gammaln(count + 1.0)
            + rr * np.log(pp)
            + special.xlog1py(count, -pp)
        )
        return np.exp(lp)

    return counts_from_window(lo, hi, pmf, mean=m)
