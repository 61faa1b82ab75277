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
from scipy import special, stats

from rebatelab.errors import ParameterError

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


def _windows(dist, tol):
    """Smallest count windows leaving out at most ``tol`` of the mass (half on each side)."""
    lo = np.maximum(dist.ppf(tol / 2), 0)
    hi = dist.isf(tol / 2)
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
    lo, hi = _windows(stats.poisson(m), tol)

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
    lo, hi = _windows(stats.nbinom(r, p), tol)

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
