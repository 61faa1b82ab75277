"""Rebate liability for finance: accrued, expected value, most likely amount, and an interval.

Per program and in total, as of a date:

- ``accrued``: earned at the tier reached so far (what most systems book);
- ``expected``: the expected end-of-period rebate, the ASC 606 / IFRS 15 *expected value*
  (probability-weighted over the outcomes);
- ``most_likely``: the ASC 606 *most likely amount*, per contract (program and customer),
  summed;
- ``p10, p50, p90`` and ``constrained`` (the quantile at a chosen level, 80% by default) of
  the distribution of the total, obtained by **convolving** the per-pool distributions, never
  by adding their percentiles.

Independence assumption: pools (a customer, or a buying group for pooled programs) reach
their tiers independently of each other. Members of one pool are perfectly dependent (they
share one tier), so a pool is the unit that is convolved. Spend moving together (a recession,
a price increase) breaks the assumption; ``common_shock`` models it by scaling every pool's
spend still to come by one shared lognormal factor and mixing over it.

The convolution is exact for the distributions as discretized on a common grid
(:func:`sum_distribution`); see its Notes for the accuracy statement.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ParameterError

__all__ = [
    "AMOUNTS",
    "SumDistribution",
    "sum_distribution",
    "quantile_atoms",
    "tier_calibrated_atoms",
    "expected_value",
    "most_likely_amount",
    "cumulative_catch_up",
    "pool_rebate_atoms",
    "shock_nodes",
    "liability_levels",
    "Liability",
    "liability",
]

#: What a liability measures: the capped rebate earned, or what is payable (minimum payout).
AMOUNTS = ("earned", "payable")
#: Quantile levels of the total reported by :func:`liability`.
REPORT_LEVELS = (0.1, 0.5, 0.9)


# --------------------------------------------------------------------------------------------
# ASC 606 building blocks
# --------------------------------------------------------------------------------------------
def _atoms(values, probs) -> tuple[np.ndarray, np.ndarray]:
    v = np.atleast_2d(np.asarray(values, dtype=float))
    p = np.atleast_2d(np.asarray(probs, dtype=float))
    if v.shape != p.shape:
        raise ParameterError(f"values {v.shape} and probs {p.shape} must have the same shape")
    if not np.all(np.isfinite(v)):
        bad = np.argwhere(~np.isfinite(v))[:5].tolist()
        raise ParameterError(f"values must be finite; bad (row, column) positions {bad}")
    if np.any(p < 0) or not np.all(np.isfinite(p)):
        raise ParameterError("probs must be finite and >= 0")
    total = p.sum(axis=1)
    off = np.abs(total - 1.0) > 1e-9
    if off.any():
        rows = np.flatnonzero(off)[:5].tolist()
        raise ParameterError(
            f"probs of each row must add up to 1; rows {rows} add up to {total[off][:5].tolist()}"
        )
    return v, p


def expected_value(values, probs):
    """Expected value of each row's outcomes (ASC 606 expected-value method) [currency].

    Parameters
    ----------
    values : array_like, shape (m,) or (n, m)
        Possible amounts [currency].
    probs : array_like, same shape
        Their probabilities [fraction], adding up to 1 per row.

    Returns
    -------
    float or ndarray of shape (n,)

    Examples
    --------
    DOMAIN.md example 5: 60% of 4,000 and 40% of 10,000.

    >>> expected_value([4_000, 10_000], [0.6, 0.4])
    6400.0
    """
    v, p = _atoms(values, probs)
    out = np.sum(v * p, axis=1)
    return float(out[0]) if np.ndim(values) == 1 else out


def most_likely_amount(values, probs):
    """Most likely amount of each row (ASC 606 most-likely-amount method) [currency].

    Equal amounts are pooled before the mode is taken (two quantile atoms of 4,000 count as
    one outcome); ties go to the smaller amount.

    Examples
    --------
    DOMAIN.md example 5:

    >>> most_likely_amount([4_000, 10_000], [0.6, 0.4])
    4000.0
    """
    v, p = _atoms(values, probs)
    n, m = v.shape
    order = np.argsort(v, axis=1, kind="stable")
    vs = np.take_along_axis(v, order, 1)
    ps = np.take_along_axis(p, order, 1)
    new = np.ones((n, m), bool)
    new[:, 1:] = np.abs(np.diff(vs, axis=1)) > 1e-9 * np.maximum(1.0, np.abs(vs[:, 1:]))
    group = np.cumsum(new.reshape(-1)) - 1  # run id over the flattened, sorted rows
    mass = np.bincount(group, weights=ps.reshape(-1))
    gmass = mass[group].reshape(n, m)
    # the first atom of the heaviest run (ties -> smaller amount: argmax takes the first)
    best = np.argmax(np.where(new, gmass, -1.0), axis=1)
    out = vs[np.arange(n), best]
    return float(out[0]) if np.ndim(values) == 1 else out


def cumulative_catch_up(cumulative_now, recognized_before):
    """Period expense under the cumulative catch-up method [currency].

    The liability is re-estimated each period for the whole contract to date; the period's
    expense is the new cumulative estimate less what was recognized before.

    Parameters
    ----------
    cumulative_now : float, array_like or Series
        Cumulative rebate estimate at this period end [currency] (units to date x expected
        rebate per unit, or the expected rebate of the period to date).
    recognized_before : float, array_like or Series
        Cumulative amount recognized up to the previous period end [currency].

    Returns
    -------
    Same type as ``cumulative_now``
        This period's rebate expense (negative = a release) [currency].

    Examples
    --------
    DOMAIN.md example 4: 75 units x 20 after Q1, 300 units x 68 after Q2.

    >>> q1 = cumulative_catch_up(75 * 20, 0)
    >>> q2 = cumulative_catch_up(300 * 68, q1)
    >>> q1, q2
    (1500.0, 18900.0)
    """
    from ._arrays import as_float_array, restore_type

    now = as_float_array(cumulative_now)
    before = as_float_array(recognized_before)
    return restore_type(np.asarray(now - before, dtype=float), cumulative_now)


def quantile_atoms(quantiles, levels) -> tuple[np.ndarray, np.ndarray]:
    """Turn per-row quantiles at fixed levels into a discrete distribution (atoms, masses).

    Each quantile stands for the probability between the midpoints to its neighbouring
    levels (0 and 1 at the ends): for the midpoint levels ``(j + 0.5) / m`` every atom gets
    ``1 / m``.

    Parameters
    ----------
    quantiles : array_like, shape (n, m)
        Quantiles per row [currency or basis unit], non-decreasing along a row.
    levels : array_like, shape (m,)
        Their levels [fraction], strictly ascending inside (0, 1).

    Returns
    -------
    values, probs : ndarray, shape (n, m)
    """
    q = np.atleast_2d(np.asarray(quantiles, dtype=float))
    lv = np.asarray(levels, dtype=float)
    if lv.ndim != 1 or lv.size != q.shape[1]:
        raise ParameterError(f"levels has {lv.size} values for {q.shape[1]} quantile columns")
    if np.any(np.diff(lv) <= 0) or lv[0] <= 0 or lv[-1] >= 1:
        raise ParameterError(f"levels must be strictly ascending inside (0, 1); got {lv[:5]}...")
    edges = np.concatenate([[0.0], (lv[1:] + lv[:-1]) / 2.0, [1.0]])
    mass = np.diff(edges)
    return q, np.broadcast_to(mass, q.shape).copy()


# --------------------------------------------------------------------------------------------
# The distribution of a sum of independent discrete variables
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SumDistribution:
    """A distribution on the grid ``start + step * k``, ``k = 0 .. len(pmf) - 1``.

    Attributes
    ----------
    start : float
        Value of the first grid point [currency].
    step : float
        Grid spacing [currency].
    pmf : ndarray
        Probability of each grid point (adds up to 1).
    mean : float
        Exact mean of the summed distributions [currency] (not re-derived from the grid).
    n_terms : int
        Number of independent terms summed.
    """

    start: float
    step: float
    pmf: np.ndarray
    mean: float
    n_terms: int = 0

    @property
    def values(self) -> np.ndarray:
        """Grid values [currency]."""
        return self.start + self.step * np.arange(len(self.pmf))

    def quantile(self, q):
        """Smallest grid value whose CDF reaches ``q`` [currency]; same shape as ``q``."""
        qq = np.asarray(q, dtype=float)
        if np.any((qq < 0) | (qq > 1)):
            raise ParameterError(f"quantile levels must be in [0, 1]; got {qq}")
        cdf = np.cumsum(self.pmf)
        cdf /= cdf[-1]
        k = np.searchsorted(cdf, qq - 1e-12, side="left")
        k = np.minimum(k, len(self.pmf) - 1)
        out = self.start + self.step * k
        return float(out) if np.ndim(q) == 0 else out

    def cdf(self, x):
        """P(total <= x) [fraction]."""
        xx = np.asarray(x, dtype=float)
        c = np.concatenate([[0.0], np.cumsum(self.pmf)])
        k = np.floor((xx - self.start) / self.step + 1e-9).astype(np.int64) + 1
        out = c[np.clip(k, 0, len(self.pmf))]
        return float(out) if np.ndim(x) == 0 else out

    def grid_mean(self) -> float:
        """Mean of the grid distribution [currency] (equals ``mean`` up to float error)."""
        return float(np.dot(self.values, self.pmf))

    def shifted(self, delta: float) -> SumDistribution:
        """The same distribution moved by ``delta`` [currency]."""
        return SumDistribution(
            self.start + delta, self.step, self.pmf, self.mean + delta, self.n_terms
        )


def _nice_step(raw: float) -> float:
    """Round a grid step up to 1, 2 or 5 x 10^k, and to at least one cent."""
    if raw <= 0.01:
        return 0.01
    e = np.floor(np.log10(raw))
    for f in (1.0, 2.0, 5.0, 10.0):
        if f * 10**e >= raw * (1 - 1e-12):
            return float(f * 10**e)
    return float(10 ** (e + 1))  # pragma: no cover


def _next_pow2(x: np.ndarray) -> np.ndarray:
    x = np.maximum(np.asarray(x, dtype=np.int64), 1)
    return (1 << np.ceil(np.log2(x)).astype(np.int64)).astype(np.int64)


def _discretize(v: np.ndarray, p: np.ndarray, step: float):
    """Per-row pmfs on the grid ``k * step``, split linearly between neighbours (mean kept)."""
    u = np.round(v / step, 9)
    k0 = np.floor(u).astype(np.int64)
    frac = u - k0
    offset = k0.min(axis=1)
    local = k0 - offset[:, None]
    width = local.max(axis=1) + 2
    return local, frac, offset, width


def _fold(pmf: np.ndarray, off: np.ndarray, size: int) -> np.ndarray:
    """Wrap pmfs onto a circle of ``size`` cells in absolute phase (cell = index mod size)."""
    r, L = pmf.shape
    idx = (off[:, None] + np.arange(L)[None, :]) % size + (np.arange(r) * size)[:, None]
    return np.bincount(idx.reshape(-1), weights=pmf.reshape(-1), minlength=r * size).reshape(
        r, size
    )


def _tree_convolve(buckets: dict[int, tuple[np.ndarray, np.ndarray]], size: int):
    """Convolve the pmfs held in power-of-two length buckets into one.

    Pairs of equal-length pmfs are convolved linearly by FFT (lengths double each round);
    pmfs longer than half of ``size`` are wrapped onto a circle of ``size`` cells and
    multiplied in the Fourier domain (circular convolution). Returns ``(pmf, offset,
    circular)``: a linear pmf starting at grid index ``offset``, or a circular one.
    """
    phase = []
    while buckets:
        L = min(buckets)
        if sum(len(o) for _, o in buckets.values()) == 1 and not phase:
            pmf, off = buckets.pop(L)
            return pmf[0], int(off[0]), False
        if 2 * L > size:
            for Lb in sorted(buckets):  # a loop over a few lengths
                pmf, off = buckets.pop(Lb)
                phase.append(_fold(pmf, off, size))
            break
        pmf, off = buckets.pop(L)
        nxt_pmf, nxt_off = [], []
        if len(off) % 2 == 1:  # the odd one out moves up unchanged (padded)
            nxt_pmf.append(np.pad(pmf[-1:], ((0, 0), (0, L))))
            nxt_off.append(off[-1:])
            pmf, off = pmf[:-1], off[:-1]
        if len(off):
            a = np.fft.rfft(pmf[0::2], n=2 * L, axis=1)
            a *= np.fft.rfft(pmf[1::2], n=2 * L, axis=1)
            conv = np.fft.irfft(a, n=2 * L, axis=1)
            np.clip(conv, 0.0, None, out=conv)
            nxt_pmf.append(conv)
            nxt_off.append(off[0::2] + off[1::2])
        if 2 * L in buckets:
            p2, o2 = buckets.pop(2 * L)
            nxt_pmf.append(p2)
            nxt_off.append(o2)
        buckets[2 * L] = (np.concatenate(nxt_pmf), np.concatenate(nxt_off))
    rows = np.concatenate(phase)
    prod = np.ones(size // 2 + 1, dtype=complex)
    for i in range(0, len(rows), 64):  # chunks of rows bound the memory
        prod *= np.prod(np.fft.rfft(rows[i : i + 64], axis=1), axis=0)
    circ = np.clip(np.fft.irfft(prod, n=size), 0.0, None)
    return circ, 0, True


def sum_distribution(
    values, probs, *, grid_size: int = 2**16, step: float | None = None, tail: float = 1e-10
):
    r"""Distribution of the sum of independent discrete variables, one per row.

    Parameters
    ----------
    values : array_like, shape (n, m)
        Possible outcomes of each row [currency] (e.g. a pool's rebate at its basis quantiles).
    probs : array_like, shape (n, m)
        Their probabilities [fraction]; each row adds up to 1.
    grid_size : int
        Target number of grid cells across the window the sum is computed on; sets ``step``.
    step : float, optional
        Grid spacing [currency]; default: the window / ``grid_size``, rounded up to 1, 2 or
        5 x 10^k and to at least one cent (so round amounts fall on the grid).
    tail : float
        Probability [fraction] the sum may fall outside the window (see Notes).

    Returns
    -------
    SumDistribution

    Notes
    -----
    Every outcome :math:`x` is placed on the grid :math:`k h` by splitting its probability
    between the two neighbouring points in proportion to closeness (the discretized row keeps
    its mean exactly). The discretized rows are then convolved **exactly** by FFT products,
    pairwise in a tree of power-of-two lengths, with no loop over rows.

    The window is the sum's whole support, or, when shorter, :math:`\mu \pm t` with
    :math:`t = \sqrt{\tfrac12 \sum_i r_i^2 \log(2/\text{tail})}` (:math:`r_i` the range
    of row :math:`i`, plus :math:`h`): by Hoeffding's inequality the sum leaves it with
    probability at most ``tail``; only that mass can wrap around the circular convolution.

    Accuracy: the result is the distribution of :math:`S + E`, where :math:`E` is a sum of
    independent zero-mean rounding terms, one per row, each within :math:`\pm h`; so the mean
    is exact and the variance is too large by at most :math:`n h^2 / 4`; plus at most ``tail``
    of probability misplaced by wrapping. Outcomes that are multiples of ``h`` are not split,
    and then the result is exact up to floating-point round-off (about 1e-12).

    References
    ----------
    Klugman, S. A., Panjer, H. H. and Willmot, G. E. (2012). *Loss Models: From Data to
    Decisions*, 4th ed., Wiley, sec. 9.6 (discretization) and 9.8 (FFT convolution).
    Hoeffding, W. (1963). Probability inequalities for sums of bounded random variables.
    *JASA* 58(301), 13-30.

    Examples
    --------
    Two customers each earning 0 or 100 with probability 1/2:

    >>> d = sum_distribution([[0, 100], [0, 100]], [[0.5, 0.5], [0.5, 0.5]])
    >>> d.quantile([0.25, 0.5, 0.9]).tolist(), d.mean
    ([0.0, 100.0, 200.0], 100.0)
    """
    v, p = _atoms(values, probs)
    n = v.shape[0]
    mean = float(np.sum(v * p))
    if n == 0:
        return SumDistribution(0.0, 0.01, np.ones(1), 0.0, 0)
    if grid_size < 16:
        raise ParameterError(f"grid_size must be >= 16, got {grid_size}")
    if not 0 < tail < 0.01:
        raise ParameterError(f"tail must be inside (0, 0.01), got {tail}")
    ranges = v.max(axis=1) - v.min(axis=1)
    full = float(ranges.sum())
    hoeff = 2.0 * np.sqrt(0.5 * float(np.sum(ranges**2)) * np.log(2.0 / tail))
    if step is None:
        step = _nice_step(min(full, hoeff) / grid_size)
    elif not step > 0:
        raise ParameterError(f"step must be > 0, got {step}")
    # window in grid cells (ranges widened by one step for the rounding)
    full_c = full / step + 2 * n
    hoeff_c = 2.0 * np.sqrt(0.5 * float(np.sum((ranges / step + 1) ** 2)) * np.log(2.0 / tail))
    size = int(_next_pow2(np.ceil(min(full_c, hoeff_c)) + 2))
    local, frac, offset, width = _discretize(v, p, step)
    bucket_len = _next_pow2(width)
    buckets = {}
    for L in np.unique(bucket_len):  # a loop over a few power-of-two lengths
        rows = np.flatnonzero(bucket_len == L)
        r = len(rows)
        base = (np.arange(r) * L)[:, None]
        lo_idx = (base + local[rows]).reshape(-1)
        w_lo = ((1.0 - frac[rows]) * p[rows]).reshape(-1)
        w_hi = (frac[rows] * p[rows]).reshape(-1)
        flat = (
            np.bincount(lo_idx, weights=w_lo, minlength=r * L)
            + np.bincount(lo_idx + 1, weights=w_hi, minlength=r * L + 1)[: r * L]
        )
        buckets[int(L)] = (flat.reshape(r, int(L)), offset[rows])
    pmf, off, circular = _tree_convolve(buckets, size)
    if circular:  # unwrap the circle onto the window centred on the mean
        k_lo = int(np.floor(mean / step - size / 2.0))
        if full_c <= size:
            k_lo = int(offset.sum())
        pmf = pmf[(k_lo + np.arange(size)) % size]
        off = k_lo
    else:  # the exact support of the sum; beyond it only FFT round-off
        pmf = pmf[: int(np.sum(width - 1)) + 1]
    nz = np.flatnonzero(pmf > 1e-15 * pmf.max())  # trim round-off at the ends only
    first, last = (nz[0], nz[-1] + 1) if len(nz) else (0, 1)
    pmf = pmf[first:last] / pmf[first:last].sum()
    return SumDistribution((off + first) * step, float(step), pmf, mean, n)


def _mixture(dists: list[SumDistribution], weights) -> SumDistribution:
    """Mix distributions that share one grid step."""
    step = dists[0].step
    k0 = [round(d.start / step) for d in dists]
    lo = min(k0)
    hi = max(k + len(d.pmf) for k, d in zip(k0, dists, strict=True))
    pmf = np.zeros(hi - lo)
    for k, d, w in zip(k0, dists, weights, strict=True):  # a loop over quadrature nodes
        pmf[k - lo : k - lo + len(d.pmf)] += w * d.pmf
    mean = float(sum(w * d.mean for d, w in zip(dists, weights, strict=True)))
    return SumDistribution(lo * step, step, pmf / pmf.sum(), mean, dists[0].n_terms)


def liability_levels(n: int = 16, *, tail=(0.99, 0.997, 0.999)) -> np.ndarray:
    """Quantile levels to ask the forecast for: ``n`` midpoints plus upper-tail levels.

    Rebates are skewed to the right (a rare jump to a higher tier), so a few levels in the
    upper tail make the discretized outcomes' mean much closer to the exact expected rebate
    (``mean_adjustment``) than more midpoints would.

    Examples
    --------
    >>> liability_levels(4).tolist()
    [0.125, 0.375, 0.625, 0.875, 0.99, 0.997, 0.999]
    """
    if n < 1:
        raise ParameterError(f"n must be >= 1, got {n}")
    mid = (np.arange(n) + 0.5) / n
    return np.unique(np.concatenate([mid, np.asarray(tail, dtype=float)]))


def shock_nodes(sigma: float, *, n_nodes: int = 15) -> tuple[np.ndarray, np.ndarray]:
    r"""Equal-probability nodes of a lognormal common-shock factor with mean 1.

    The factor is :math:`Z = \exp(\sigma G - \sigma^2 / 2)`, :math:`G \sim N(0, 1)`, so
    :math:`E[Z] = 1` and :math:`\mathrm{sd}(\log Z) = \sigma`. Node ``k`` is the factor's
    quantile at level :math:`(k + 1/2) / K` and stands for probability :math:`1/K`; the
    nodes are rescaled so that their mean is exactly 1.

    Notes
    -----
    The total rebate given the factor is a step function of it (tier cliffs), for which
    Gauss-Hermite nodes converge slowly (1% bias at 41 nodes in the tests' example) while
    equal-probability nodes stay within a few tenths of a percent from 15 nodes on.

    Returns
    -------
    z, w : ndarray
        Factor values [multiplier] and weights [fraction] adding up to 1.

    Examples
    --------
    >>> z, w = shock_nodes(0.2, n_nodes=5)
    >>> round(float(np.dot(z, w)), 12), w.tolist()
    (1.0, [0.2, 0.2, 0.2, 0.2, 0.2])
    """
    from scipy import stats

    if not (np.isfinite(sigma) and sigma >= 0):
        raise ParameterError(f"common_shock must be a finite sd of the log factor >= 0: {sigma}")
    if n_nodes < 1:
        raise ParameterError(f"n_shock_nodes must be >= 1, got {n_nodes}")
    g = stats.norm.ppf((np.arange(n_nodes) + 0.5) / n_nodes)
    z = np.exp(sigma * g - sigma**2 / 2.0)
    return z / z.mean(), np.full(n_nodes, 1.0 / n_nodes)


# --------------------------------------------------------------------------------------------
# Pool-level rebate outcomes from basis quantiles
# --------------------------------------------------------------------------------------------
def _pool_frame(accrual: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per (program, pool) in first-appearance order, and each accrual row's pool."""
    key = pd.MultiIndex.from_arrays(
        [accrual["program_id"].astype(str), accrual["pool_id"].astype(str)]
    )
    code, uniq = pd.factorize(key)
    first = np.full(len(uniq), -1, dtype=np.int64)
    first[code[::-1]] = np.arange(len(code))[::-1]
    pools = accrual.iloc[first].reset_index(drop=True)
    return pools, code


def pool_rebate_atoms(
    accrual,
    basis_quantiles,
    programs,
    *,
    shock: float = 1.0,
    amount: str = "earned",
    return_tiers: bool = False,
):
    """End-of-period rebate of each (program, pool) at its basis quantiles [currency].

    Parameters
    ----------
    accrual : DataFrame
        :func:`rebatelab.accrue` output (``program_id, pool_id, pool_basis, baseline``...).
    basis_quantiles : array_like, shape (len(accrual), m)
        End-of-period quantiles of each row's **pool** basis [basis unit] (the same values on
        every member row of a pool).
    programs : ProgramSet or path
    shock : float
        Common factor applied to the spend still to come: the basis used is
        ``pool_basis + shock * (quantile - pool_basis)`` [multiplier].
    amount : {"earned", "payable"}
        The capped rebate earned, or what is payable (0 below the minimum payout).
    return_tiers : bool
        Also return the tier of each quantile and the rebate at each tier's threshold.

    Returns
    -------
    pools : DataFrame
        One row per (program, pool).
    rebates : ndarray, shape (n_pools, m)
        The pool's capped rebate at each quantile [currency]; non-decreasing in the basis, so
        these are the rebate's quantiles at the same levels.
    tiers : ndarray of int, shape (n_pools, m)
        Only with ``return_tiers``: the tier of each quantile.
    at_threshold : ndarray, shape (n_pools, K)
        Only with ``return_tiers``: the rebate at each tier's threshold [currency] (0 where
        the tier cannot be reached).
    """
    from .accrual import evaluate, schedule
    from .programs import load_programs

    programs = load_programs(programs)
    q = np.atleast_2d(np.asarray(basis_quantiles, dtype=float))
    if q.shape[0] != len(accrual):
        raise ParameterError(f"basis_quantiles has {q.shape[0]} rows for {len(accrual)} rows")
    pools, code = _pool_frame(accrual)
    first = np.full(len(pools), -1, dtype=np.int64)
    first[code[::-1]] = np.arange(len(code))[::-1]
    qp = q[first]
    b0 = pools["pool_basis"].to_numpy(dtype=float)
    qp = b0[:, None] + shock * (qp - b0[:, None])
    pos = {pid: i for i, pid in enumerate(programs.ids)}
    unknown = sorted(set(pools["program_id"].astype(str)) - set(pos))
    if unknown:
        raise ParameterError(f"accrual has programs not in the program set: {unknown[:5]}")
    pidx = pools["program_id"].astype(str).map(pos).to_numpy(dtype=np.int64)
    # pool baseline = sum of members' baselines (as accrue does)
    base = accrual["baseline"].to_numpy(dtype=float)
    has = ~np.isnan(base)
    pool_base = np.bincount(code[has], weights=base[has], minlength=len(pools))
    any_base = np.bincount(code, weights=has, minlength=len(pools)) > 0
    pool_base = np.where(any_base, pool_base, np.nan)
    sched = schedule(programs, pidx, baseline=pool_base)
    if amount not in AMOUNTS:
        raise ParameterError(f"amount must be one of {list(AMOUNTS)}, got {amount!r}")
    ev = evaluate(sched, qp)
    if not return_tiers:
        return pools, ev[amount]
    thr = sched.thresholds
    at = evaluate(sched, np.where(np.isfinite(thr), thr, 0.0))[amount]
    return pools, ev[amount], ev["tier"], np.where(np.isfinite(thr), at, 0.0)


def tier_calibrated_atoms(values, probs, tiers, at_threshold, p_tier):
    """Re-weight quantile atoms so that each tier gets its exact probability.

    Quantile atoms place a tier cliff only to within one level; the forecast knows each
    tier's probability exactly. Within each (row, tier) the atoms' masses are scaled to add up
    to ``p_tier``; a tier with probability but no atom gets one at its threshold's rebate
    (tier 0: 0).

    Parameters
    ----------
    values, probs : ndarray, shape (n, m)
        Rebate atoms [currency] and masses (e.g. from :func:`quantile_atoms`).
    tiers : ndarray of int, shape (n, m)
        Tier of each atom (0 = none).
    at_threshold : ndarray, shape (n, K)
        Rebate at each tier's threshold [currency].
    p_tier : ndarray, shape (n, K + 1)
        P(ending in tier k) [fraction], k = 0..K.

    Returns
    -------
    values, probs : ndarray, shape (n, m + K + 1)
        Each row's probabilities add up to 1 and give tier ``k`` exactly ``p_tier[:, k]``.
    """
    v = np.asarray(values, dtype=float)
    p = np.asarray(probs, dtype=float)
    t = np.asarray(tiers, dtype=np.int64)
    pt = np.clip(np.asarray(p_tier, dtype=float), 0.0, None)
    n, k1 = pt.shape
    if t.max(initial=0) >= k1 or at_threshold.shape[1] < k1 - 1:
        raise ParameterError(f"p_tier has {k1} columns; atoms reach tier {t.max(initial=0)}")
    pt = pt / np.where(pt.sum(axis=1, keepdims=True) > 0, pt.sum(axis=1, keepdims=True), 1.0)
    key = (np.arange(n)[:, None] * k1 + t).reshape(-1)
    orig = np.bincount(key, weights=p.reshape(-1), minlength=n * k1).reshape(n, k1)
    scale = np.where(orig > 0, pt / np.where(orig > 0, orig, 1.0), 0.0)
    new_p = p * scale[np.arange(n)[:, None], t]
    missing = (orig <= 0) & (pt > 0)
    extra_v = np.concatenate([np.zeros((n, 1)), at_threshold[:, : k1 - 1]], axis=1)
    extra_p = np.where(missing, pt, 0.0)
    out_v = np.concatenate([v, extra_v], axis=1)
    out_p = np.concatenate([new_p, extra_p], axis=1)
    total = out_p.sum(axis=1, keepdims=True)
    return out_v, out_p / np.where(total > 0, total, 1.0)


# --------------------------------------------------------------------------------------------
# The liability report
# --------------------------------------------------------------------------------------------
@dataclass
class Liability:
    """Liability views; ``to_xlsx`` writes one sheet per view.

    Attributes
    ----------
    total : DataFrame
        One row: ``accrued, expected, most_likely, p10, p50, p90, constrained`` [currency],
        ``percentile`` [fraction], ``common_shock`` (sd of the log factor, 0 = independence),
        ``mean_adjustment`` [currency].
    by_program : DataFrame
        The same columns per program, plus ``customers`` and ``pools``.
    by_customer : DataFrame
        Per (program, customer): ``accrued, expected, most_likely`` [currency].
    distribution : DataFrame
        The total's distribution as quantiles: ``value`` [currency] at ``level`` [fraction]
        0.001 .. 0.999 (repeated values kept once) and ``cdf``, P(total <= value); the full
        grid distribution is ``dist``.
    notes : DataFrame
        The assumptions and parameters, as (item, value) rows.
    """

    total: pd.DataFrame
    by_program: pd.DataFrame
    by_customer: pd.DataFrame
    distribution: pd.DataFrame
    notes: pd.DataFrame
    dist: SumDistribution = field(repr=False, default=None)

    def views(self) -> dict[str, pd.DataFrame]:
        """The views by sheet name."""
        return {
            "total": self.total,
            "by_program": self.by_program,
            "by_customer": self.by_customer,
            "distribution": self.distribution,
            "notes": self.notes,
        }

    def to_xlsx(self, path) -> Path:
        """Write every view to an xlsx workbook, one sheet per view."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with pd.ExcelWriter(path, engine="openpyxl") as xw:
            for name, df in self.views().items():
                df.to_excel(xw, sheet_name=name, index=False)
        return path


def _check_aligned(accrual: pd.DataFrame, forecast: pd.DataFrame) -> None:
    if len(accrual) != len(forecast):
        raise ParameterError(
            f"forecast has {len(forecast)} rows but accrual has {len(accrual)}; they must be "
            "aligned (one row per program_id, customer_id, in the same order)"
        )
    for c in ("program_id", "customer_id"):
        if c in forecast.columns:
            a = accrual[c].astype(str).to_numpy()
            f = forecast[c].astype(str).to_numpy()
            if not np.array_equal(a, f):
                bad = np.flatnonzero(a != f)[:5].tolist()
                raise ParameterError(f"forecast and accrual disagree on {c} at rows {bad}")


def _forecast_quantiles(forecast: pd.DataFrame):
    """Basis quantiles carried by a forecast frame: ``attrs`` or ``q_<level>`` columns."""
    at = getattr(forecast, "attrs", {}) or {}
    for key in ("basis_quantiles", "quantiles"):
        if key in at:
            q = at[key]
            levels = at.get("quantile_levels", at.get("levels"))
            if isinstance(q, pd.DataFrame):
                if levels is None:
                    levels = [float(c) for c in q.columns]
                q = q.to_numpy(dtype=float)
            return np.asarray(q, dtype=float), np.asarray(levels, dtype=float)
    cols = [c for c in forecast.columns if str(c).startswith("q_")]
    if cols:
        levels = np.array([float(str(c)[2:]) for c in cols])
        order = np.argsort(levels)
        return forecast[cols].to_numpy(dtype=float)[:, order], levels[order]
    return None, None


def _payable_most_likely(accrual, ml_row, code, pools, programs) -> np.ndarray:
    """Most likely amounts zeroed where the pool's total is under its minimum payout."""
    if programs is None:
        raise ParameterError("amount='payable' needs programs= (for the minimum payouts)")
    from .programs import load_programs

    mins = {p.id: (p.min_payout or 0.0) for p in load_programs(programs)}
    pool_min = pools["program_id"].astype(str).map(mins).fillna(0.0).to_numpy(dtype=float)
    pool_ml = np.bincount(code, weights=ml_row, minlength=len(pools))
    return np.where(pool_ml[code] + 1e-9 >= pool_min[code], ml_row, 0.0)


def liability(
    accrual: pd.DataFrame,
    forecast: pd.DataFrame,
    *,
    programs=None,
    basis_quantiles=None,
    levels=None,
    rebate_values=None,
    rebate_probs=None,
    percentile: float = 0.8,
    common_shock: float | None = None,
    n_shock_nodes: int = 15,
    grid_size: int = 2**16,
    amount: str = "earned",
) -> Liability:
    r"""Rebate liability per program and in total, with the distribution of the total.

    Parameters
    ----------
    accrual : DataFrame
        :func:`rebatelab.accrue` output.
    forecast : DataFrame
        Aligned with ``accrual`` (same rows, same order), with ``expected_rebate`` and
        ``most_likely_rebate`` [currency] per (program, customer) (:func:`rebatelab.forecast`).
    programs : ProgramSet or path, optional
        Needed to turn basis quantiles into rebate outcomes.
    basis_quantiles : array_like, shape (n, m), optional
        End-of-period quantiles of each row's pool basis at ``levels``; default: those carried
        by ``forecast`` (its ``q_<level>`` columns, or ``attrs["basis_quantiles"]``).
    levels : array_like, shape (m,), optional
        Levels [fraction] of ``basis_quantiles``.
    rebate_values, rebate_probs : array_like, shape (n_pools, m), optional
        The per-(program, pool) rebate outcomes and probabilities, given directly instead of
        basis quantiles (pools in order of first appearance in ``accrual``).
    percentile : float
        Level [fraction] of the constrained estimate: the total that the final rebate stays
        at or below with this probability (default 0.8).
    common_shock : float, optional
        sd of the log of a factor shared by all pools that scales their spend still to come
        (needs basis quantiles and programs). None or 0: pools independent.
    n_shock_nodes : int
        Equal-probability nodes over the common factor (:func:`shock_nodes`).
    grid_size : int
        Grid cells for the convolution (:func:`sum_distribution`).
    amount : {"earned", "payable"}
        ``earned`` (default): the capped rebate, as ``accrue``'s ``earned`` and the
        forecast's ``expected_rebate``; ``payable``: what will be paid, 0 where the pool stays
        under the minimum payout (``accrue``'s ``payable``, the forecast's
        ``expected_payable``; the most likely amount is zeroed where the pool's most likely
        amount is under the minimum).

    Returns
    -------
    Liability

    Notes
    -----
    Each pool's rebate outcomes are its rebate at the forecast's basis quantiles (the
    rebate is non-decreasing in the basis), each standing for the probability between the
    neighbouring levels' midpoints; with the forecast's ``p_tier_k`` columns the masses are
    re-weighted so every tier gets its exact probability (:func:`tier_calibrated_atoms`).

    ``expected`` is the sum of ``expected_rebate`` (ASC 606 expected value; for a total over
    many contracts, the expected value of the total is the sum of the expected values).
    ``most_likely`` is the sum over contracts of each contract's most likely amount.
    The distribution of the total convolves the pools' rebate distributions under
    independence; it is then shifted by ``mean_adjustment`` (the exact expected value less
    the mean of the discretized outcomes, a measure of how coarse the quantile grid is) so
    that its mean equals ``expected`` exactly. With ``common_shock`` the total is a mixture
    over the factor of conditionally independent convolutions, and its mean differs from
    ``expected`` by the factor's effect through the tier cliffs.

    ``constrained`` is the ``percentile`` quantile of the total: the ASC 606 constraint includes
    variable consideration only to the extent a significant reversal is not probable, so for a
    rebate (which reduces revenue) a prudent liability is one the outcome exceeds with
    probability at most ``1 - percentile``.

    Examples
    --------
    DOMAIN.md example 5, one customer: 60% of 4,000 and 40% of 10,000.

    >>> acc = pd.DataFrame({"program_id": ["P"], "customer_id": ["C"], "pool_id": ["C"],
    ...                     "earned": [3_000.0]})
    >>> fc = pd.DataFrame({"expected_rebate": [6_400.0], "most_likely_rebate": [4_000.0]})
    >>> L = liability(acc, fc, rebate_values=[[4_000, 10_000]], rebate_probs=[[0.6, 0.4]])
    >>> L.total[["accrued", "expected", "most_likely", "p50", "constrained"]].iloc[0].tolist()
    [3000.0, 6400.0, 4000.0, 4000.0, 10000.0]
    """
    if not 0 < percentile < 1:
        raise ParameterError(f"percentile must be inside (0, 1), got {percentile}")
    _check_aligned(accrual, forecast)
    if amount not in AMOUNTS:
        raise ParameterError(f"amount must be one of {list(AMOUNTS)}, got {amount!r}")
    exp_col = "expected_rebate" if amount == "earned" else "expected_payable"
    for c in (exp_col, "most_likely_rebate"):
        if c not in forecast.columns:
            raise ParameterError(f"forecast: missing column {c!r}; have {list(forecast.columns)}")
    pools, code = _pool_frame(accrual)
    shock = 0.0 if common_shock is None else float(common_shock)

    if rebate_values is not None:
        if shock > 0:
            raise ParameterError("common_shock needs basis quantiles, not rebate outcomes")
        values, probs = _atoms(rebate_values, rebate_probs)
        if values.shape[0] != len(pools):
            raise ParameterError(
                f"rebate_values has {values.shape[0]} rows for {len(pools)} (program, pool) pairs"
            )
        scenario_values, scenario_probs, scenario_w = [values], [probs], [1.0]
        base_values, base_probs = values, probs
    else:
        if basis_quantiles is None:
            basis_quantiles, lv = _forecast_quantiles(forecast)
            levels = lv if levels is None else levels
        if basis_quantiles is None or levels is None or programs is None:
            raise ParameterError(
                "liability needs per-row outcome distributions: basis_quantiles with levels "
                "and programs (or a forecast carrying them), or rebate_values/rebate_probs"
            )
        _, vals, tiers, at_thr = pool_rebate_atoms(
            accrual, basis_quantiles, programs, amount=amount, return_tiers=True
        )
        base_values, base_probs = quantile_atoms(vals, levels)
        tier_cols = [c for c in forecast.columns if str(c).startswith("p_tier_")]
        if tier_cols and not shock > 0:
            # exact tier probabilities from the forecast (pool level: the pool's first row)
            tier_cols = sorted(tier_cols, key=lambda c: int(str(c)[7:]))
            first = np.full(len(pools), -1, dtype=np.int64)
            first[code[::-1]] = np.arange(len(code))[::-1]
            pt = forecast[tier_cols].to_numpy(dtype=float)[first]
            k1 = at_thr.shape[1] + 1
            pt = np.pad(pt, ((0, 0), (0, max(k1 - pt.shape[1], 0))))[:, :k1]
            base_values, base_probs = tier_calibrated_atoms(
                base_values, base_probs, tiers, at_thr, pt
            )
        scenario_values, scenario_probs, scenario_w = [base_values], [base_probs], [1.0]
        if shock > 0:
            z, w = shock_nodes(shock, n_nodes=n_shock_nodes)
            scenario_values, scenario_probs, scenario_w = [], [], list(w)
            for zk in z:  # a loop over a handful of quadrature nodes
                _, vals = pool_rebate_atoms(
                    accrual, basis_quantiles, programs, shock=float(zk), amount=amount
                )
                vals, probs = quantile_atoms(vals, levels)
                scenario_values.append(vals)
                scenario_probs.append(probs)

    # exact per-pool expected values (sum of members' forecasts) for the mean adjustment
    exp_row = forecast[exp_col].to_numpy(dtype=float)
    ml_row = forecast["most_likely_rebate"].to_numpy(dtype=float)
    if amount == "payable":
        ml_row = _payable_most_likely(accrual, ml_row, code, pools, programs)
    exp_pool = np.bincount(code, weights=exp_row, minlength=len(pools))
    pool_prog = pools["program_id"].astype(str).to_numpy()
    acc_prog = accrual["program_id"].astype(str).to_numpy()

    width = max(float(np.sum(v.max(axis=1) - v.min(axis=1))) for v in scenario_values)
    step = _nice_step(width / grid_size)

    def dist_for(mask):
        ds = [
            sum_distribution(v[mask], p[mask], step=step)
            for v, p in zip(scenario_values, scenario_probs, strict=True)
        ]
        d = ds[0] if len(ds) == 1 else _mixture(ds, scenario_w)
        base_mean = float(np.sum(base_values[mask] * base_probs[mask]))
        adj = float(exp_pool[mask].sum()) - base_mean
        return d.shifted(adj), adj

    def summary(mask_rows, mask_pools):
        d, adj = dist_for(mask_pools)
        qs = d.quantile(np.array([*REPORT_LEVELS, percentile]))
        return {
            "accrued": round(float(accrual[amount].to_numpy(dtype=float)[mask_rows].sum()), 2),
            "expected": round(float(exp_row[mask_rows].sum()), 2),
            "most_likely": round(float(ml_row[mask_rows].sum()), 2),
            "p10": round(float(qs[0]), 2),
            "p50": round(float(qs[1]), 2),
            "p90": round(float(qs[2]), 2),
            "constrained": round(float(qs[3]), 2),
            "distribution_mean": round(d.mean, 2),
            "mean_adjustment": round(adj, 2),
        }, d

    rows = []
    for pid in pd.unique(acc_prog):  # a loop over programs
        mr = acc_prog == pid
        mp = pool_prog == pid
        s, _ = summary(mr, mp)
        rows.append({"program_id": pid, "customers": int(mr.sum()), "pools": int(mp.sum()), **s})
    by_program = pd.DataFrame(rows)
    tot, dist = summary(np.ones(len(accrual), bool), np.ones(len(pools), bool))
    total = pd.DataFrame(
        [
            {
                "customers": len(accrual),
                "pools": len(pools),
                **tot,
                "percentile": percentile,
                "common_shock": shock,
            }
        ]
    )
    if abs(tot["mean_adjustment"]) > 0.01 * max(abs(tot["expected"]), 1.0):
        warnings.warn(
            f"the outcome grid's mean differs from the expected rebate by "
            f"{tot['mean_adjustment']:,.2f} (>1%); use finer quantile levels",
            stacklevel=2,
        )
    by_customer = pd.DataFrame(
        {
            "program_id": accrual["program_id"].to_numpy(),
            "customer_id": accrual["customer_id"].to_numpy(),
            "pool_id": accrual["pool_id"].to_numpy(),
            "accrued": accrual[amount].to_numpy(dtype=float),
            "expected": np.round(exp_row, 2),
            "most_likely": np.round(ml_row, 2),
        }
    )
    levels_out = np.arange(1, 1000) / 1000.0
    qv = dist.quantile(levels_out)
    distribution = pd.DataFrame(
        {"level": levels_out, "value": np.round(qv, 2), "cdf": dist.cdf(qv)}
    ).drop_duplicates("value", keep="last")
    notes = pd.DataFrame(
        {
            "item": [
                "independence",
                "common_shock",
                "percentile",
                "grid_step",
                "expected",
                "most_likely",
            ],
            "value": [
                "pools (customers, or buying groups for pooled programs) reach tiers "
                "independently; members of a pool share its tier",
                f"sd of log factor {shock:g}" + (" (independence)" if shock == 0 else ""),
                f"constrained = {percentile:.0%} quantile of the total",
                f"{step:g} [currency]; rounding adds at most n h^2/4 to the variance",
                "ASC 606 expected value: sum of expected end-of-period rebates",
                "ASC 606 most likely amount per contract, summed",
            ],
        }
    )
    return Liability(total, by_program, by_customer, distribution, notes, dist)
