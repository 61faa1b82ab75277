"""Distributions of rebate amounts: expected value, most likely amount, exact sums."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rebatelab.errors import ParameterError

__all__ = [
    "SumDistribution",
    "sum_distribution",
    "quantile_atoms",
    "expected_value",
    "most_likely_amount",
    "shock_nodes",
    "liability_levels",
]


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

    def central_mode(self, lo: float, hi: float, *, n_bins: int = 50) -> float:
        """Most likely value of the distribution within ``[lo, hi]`` [currency].

        The interval is cut into ``n_bins`` bins of whole grid cells; the value returned is
        the heaviest grid point of the heaviest bin (ties to the smaller value). Binning makes
        the mode of a smooth total stable against the grid's cell-to-cell noise, while an atom
        (a settled amount, a single customer's tier outcome) is returned exactly.

        Parameters
        ----------
        lo, hi : float
            The range searched [currency], e.g. the 10% and 90% quantiles.
        n_bins : int
            Number of bins across ``[lo, hi]``.

        Returns
        -------
        float
            A grid value in ``[lo, hi]`` (``lo`` when the range holds no grid point).

        Examples
        --------
        >>> d = sum_distribution([[4_000, 10_000]], [[0.6, 0.4]])
        >>> d.central_mode(d.quantile(0.1), d.quantile(0.9))
        4000.0
        """
        k_lo = int(np.ceil((lo - self.start) / self.step - 1e-9))
        k_hi = int(np.floor((hi - self.start) / self.step + 1e-9))
        k_lo, k_hi = max(k_lo, 0), min(k_hi, len(self.pmf) - 1)
        if k_hi < k_lo:
            return float(lo)
        cells = self.pmf[k_lo : k_hi + 1]
        per_bin = max(1, int(np.ceil(len(cells) / max(n_bins, 1))))
        padded = np.pad(cells, (0, (-len(cells)) % per_bin)).reshape(-1, per_bin)
        b = int(np.argmax(padded.sum(axis=1)))
        k = k_lo + b * per_bin + int(np.argmax(padded[b]))
        return float(self.start + self.step * k)

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
    phase: list[np.ndarray] = []
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
