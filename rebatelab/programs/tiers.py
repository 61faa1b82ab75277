"""Tier math: pure, vectorized functions of the basis.

Conventions (stated once, tested in ``tests/programs/test_tiers.py``):

- Tier thresholds are *lower bounds*, inclusive: tier ``k`` (1-based) is reached when
  ``basis >= thresholds[k-1]``; tier 0 means no tier is reached. Nothing is earned below
  the first threshold unless it is 0.
- A basis <= 0 earns 0 (returns cannot create a negative rebate).
- Retroactive ("back to dollar one"): ``earned = rate_k * base + amount_k`` where ``k`` is
  the tier reached, ``base`` is the basis (or, for growth programs paying on the excess,
  the basis above the baseline) and ``amount_k`` an optional lump sum.
- Incremental (marginal): ``earned = sum_i rate_i * (min(basis, from_{i+1}) - from_i)^+``.

Every function takes the basis first (scalar, ndarray or Series; the same type comes back)
and the schedule keyword-only. ``thresholds`` has shape ``(K,)`` (one schedule for all
rows) or ``(n, K)`` (one schedule per row, padded on the right with ``+inf``), which is how
many programs with different schedules are evaluated in one call. The basis may also have
shape ``(n, m)``: ``m`` values per schedule row (forecast quantiles, what-if scenarios),
evaluated without repeating the schedule; per-row arrays given with it (``rebate_base``,
``cap``, ``min_payout``) then broadcast against the basis (shape ``(n, 1)`` or ``(n, m)``).
The computations loop over the ``K`` tiers (a handful) on whole arrays.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from rebatelab._arrays import as_float_array, restore_type
from rebatelab.errors import ParameterError
from rebatelab.money import cents

__all__ = [
    "tier_reached",
    "tier_rate",
    "next_threshold",
    "gap_to_next",
    "earned",
    "earned_at_next",
    "apply_cap",
    "payable",
    "excess_over",
    "growth_thresholds",
    "tier_figures",
]


METHODS = ("retroactive", "incremental")


def _schedule(basis: np.ndarray, thresholds, *others):
    """Broadcast a schedule to shape ``(n, K)`` against a 1-D basis."""
    t = np.asarray(thresholds, dtype=float)
    if t.ndim == 1:
        t = t[None, :]
    if t.ndim != 2 or t.shape[1] == 0:
        raise ParameterError("thresholds must have shape (K,) or (n, K) with K >= 1")
    n = basis.shape[0]
    if t.shape[0] not in (1, n):
        raise ParameterError(f"thresholds has {t.shape[0]} rows for a basis of {n} values")
    t = np.broadcast_to(t, (n, t.shape[1]))
    out = [t]
    for o in others:
        if o is None:
            out.append(np.zeros_like(t))
            continue
        a = np.asarray(o, dtype=float)
        if a.ndim == 1:
            a = a[None, :]
        if a.shape[-1] != t.shape[1]:
            raise ParameterError(
                f"schedule arrays disagree: {t.shape[1]} thresholds but {a.shape[-1]} values"
            )
        out.append(np.broadcast_to(a, t.shape))
    return out


def _flat(basis):
    b = as_float_array(basis)
    return np.atleast_1d(b), b.ndim == 0


def _back(result: np.ndarray, basis, scalar: bool, name: str):
    if scalar:
        return restore_type(result[0], basis)
    return restore_type(result, basis, name=name)


def _rows(a, ndim: int) -> np.ndarray:
    """Per-row values ``(n,)`` shaped ``(n, 1, ...)`` to broadcast against an ``ndim`` basis."""
    a = np.asarray(a)
    return a.reshape(a.shape[:1] + (1,) * (ndim - 1))


def _tier_index(b: np.ndarray, t: np.ndarray) -> np.ndarray:
    # count of thresholds at or below the basis; NaN basis reaches nothing
    k = np.zeros(b.shape, dtype=np.intp)
    for j in range(t.shape[1]):
        k += b >= _rows(t[:, j], b.ndim)
    return k


def _pick(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``a[i, idx[i, ...]]``: the schedule value at column ``idx`` of each basis value."""
    n = a.shape[0]
    if n > 1 and np.array_equal(a, np.broadcast_to(a[:1], a.shape)):
        return np.take(a[0], idx)  # one schedule for every row (a what-if's program)
    flat = idx[:, None] if idx.ndim == 1 else idx.reshape(n, int(np.prod(idx.shape[1:])))
    return np.take_along_axis(a, flat, 1).reshape(idx.shape)


def _at_tier(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Value of tier ``k`` (1-based) of each row, 0 for tier 0."""
    return _pick(np.concatenate([np.zeros((a.shape[0], 1)), a], axis=1), k)


def _next(t: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Lower bound of the tier after tier ``k``; NaN at the top."""
    padded = np.concatenate([t, np.full((t.shape[0], 1), np.inf)], axis=1)
    nxt = _pick(padded, k)
    np.copyto(nxt, np.nan, where=~np.isfinite(nxt))
    return nxt


def tier_reached(basis, *, thresholds):
    """Tier reached by each basis (0 = none).

    Parameters
    ----------
    basis : float, array_like or Series
        Qualifying basis [currency or units].
    thresholds : array_like, shape (K,) or (n, K)
        Lower bounds of the tiers [same unit as basis], ascending, padded with ``+inf``.

    Returns
    -------
    int, ndarray of int or Series
        ``k`` such that ``thresholds[k-1] <= basis < thresholds[k]``; 0 below the first.

    Examples
    --------
    >>> tier_reached(250_000, thresholds=[100_000, 200_000])
    2
    >>> tier_reached(99_999.99, thresholds=[100_000, 200_000])
    0
    """
    b, scalar = _flat(basis)
    (t,) = _schedule(b, thresholds)
    return _back(_tier_index(b, t), basis, scalar, "tier")


def tier_rate(basis, *, thresholds, rates):
    """Rate [fraction] of the tier reached; 0 when no tier is reached."""
    b, scalar = _flat(basis)
    t, r = _schedule(b, thresholds, rates)
    rate = _at_tier(r, _tier_index(b, t))
    return _back(rate, basis, scalar, "rate")


def next_threshold(basis, *, thresholds):
    """Lower bound of the next tier [basis unit]; NaN when the top tier is reached.

    Examples
    --------
    >>> next_threshold(150_000, thresholds=[100_000, 200_000])
    200000.0
    """
    b, scalar = _flat(basis)
    (t,) = _schedule(b, thresholds)
    return _back(_next(t, _tier_index(b, t)), basis, scalar, "next_threshold")


def gap_to_next(basis, *, thresholds):
    """How much more basis reaches the next tier [basis unit]; NaN at the top tier.

    Examples
    --------
    >>> gap_to_next(150_000, thresholds=[100_000, 200_000])
    50000.0
    """
    b, scalar = _flat(basis)
    nxt = as_float_array(next_threshold(b, thresholds=thresholds))
    return _back(nxt - b, basis, scalar, "gap_to_next")


def _method_mask(method, n: int) -> np.ndarray:
    """Boolean mask, True where the method is incremental."""
    m = np.asarray(method)
    bad = ~np.isin(m, METHODS)
    if np.any(bad):
        raise ParameterError(
            f"method must be one of {list(METHODS)}; got {sorted(set(np.atleast_1d(m[bad])))[:5]}"
        )
    return np.broadcast_to(m == "incremental", (n,))


def _incremental(b, t, r):
    """``sum_i r_i (min(b, t_{i+1}) - t_i)^+``, summed over the tiers in order."""
    n_tiers = t.shape[1]
    terms = []
    for j in range(n_tiers):
        upper = _rows(t[:, j + 1], b.ndim) if j + 1 < n_tiers else np.inf
        part = np.minimum(b, upper)  # one array per tier, updated in place
        with np.errstate(invalid="ignore"):
            np.subtract(part, _rows(t[:, j], b.ndim), out=part)
        # fmax: the part inside the tier, 0 where it is NaN (inf - inf, a NaN basis)
        np.fmax(part, 0.0, out=part)
        np.multiply(_rows(r[:, j], b.ndim), part, out=part)
        terms.append(part)
    if n_tiers >= 8:
        # numpy's pairwise summation order (the result does not depend on the basis' shape)
        return np.sum(np.stack(terms, axis=-1), axis=-1)
    out = terms[0]
    for term in terms[1:]:
        out += term  # below 8 terms numpy's sum adds in order too
    return out


def _earned(b, t, r, a, incremental, base, k=None, rate=None):
    if k is None:
        k = _tier_index(b, t)
    incremental = _rows(incremental, b.ndim)
    positive = b > 0  # a basis <= 0 earns 0
    out = np.zeros(b.shape)  # an array even without rows (a program nobody is a member of)
    if not np.all(incremental):
        rate = _at_tier(r, k) if rate is None else rate
        with np.errstate(invalid="ignore"):
            out = rate * base
            if np.any(a):  # lump sums (x + 0.0 is x: skipping zeros changes nothing)
                out += _at_tier(a, k)
        np.copyto(out, 0.0, where=~(positive & (k > 0)))
    if incremental.size and np.all(incremental):
        out = np.where(positive, _incremental(b, t, r), out)
    elif np.any(incremental):
        # the marginal sums on the incremental rows only (elementwise: the same values)
        rows = np.flatnonzero(incremental.reshape(-1))
        sub = _incremental(b[rows], t[rows], r[rows])
        out[rows] = np.where(positive[rows], sub, out[rows])
    missing = np.isnan(b)
    if missing.any():
        np.copyto(out, np.nan, where=missing)
    return out


def earned(basis, *, thresholds, rates, amounts=None, method="retroactive", rebate_base=None):
    r"""Rebate earned for a basis, before cap and minimum payout [currency].

    Parameters
    ----------
    basis : float, array_like or Series
        Qualifying basis [currency, or units for quantity programs].
    thresholds : array_like, shape (K,) or (n, K)
        Tier lower bounds [basis unit], ascending, padded with ``+inf``.
    rates : array_like, shape (K,) or (n, K)
        Rate of each tier [fraction, not %].
    amounts : array_like, optional
        Lump sum paid for reaching each tier [currency], retroactive only. Default 0.
    method : {"retroactive", "incremental"} or array_like of them
        Retroactive applies the reached tier's rate to the whole ``rebate_base``;
        incremental applies each tier's rate to the part of the basis inside it.
    rebate_base : array_like, optional
        What the retroactive rate multiplies [currency]; defaults to ``basis``. Growth
        programs paying on the excess pass ``max(basis - baseline, 0)``.

    Returns
    -------
    float, ndarray or Series
        Earned rebate [currency], unrounded; 0 for a basis <= 0.

    Notes
    -----
    Retroactive: :math:`e = r_k B + A_k` with :math:`k` the tier reached.
    Incremental: :math:`e = \sum_i r_i (\min(B, t_{i+1}) - t_i)^+`.

    Examples
    --------
    The worked examples of DOMAIN.md:

    >>> earned(2_000, thresholds=[0, 1_000], rates=[0.10, 0.25], method="incremental")
    350.0
    >>> earned(2_000, thresholds=[0, 1_000], rates=[0.10, 0.25])
    500.0
    """
    b, scalar = _flat(basis)
    t, r, a = _schedule(b, thresholds, rates, amounts)
    base = b if rebate_base is None else np.broadcast_to(as_float_array(rebate_base), b.shape)
    out = _earned(b, t, r, a, _method_mask(method, len(b)), base)
    return _back(out, basis, scalar, "earned")


def tier_figures(
    basis, *, thresholds, rates, amounts=None, method="retroactive", rebate_base=None
) -> dict:
    """Tier reached, its rate, the earned rebate and the next threshold, in one pass.

    The same numbers as :func:`tier_reached`, :func:`tier_rate`, :func:`earned` and
    :func:`next_threshold` (the tiers are counted once for all four), for ndarray bases.

    Parameters
    ----------
    basis : array_like, shape (n,) or (n, m)
        Qualifying basis [basis unit].
    thresholds, rates, amounts, method, rebate_base
        As for :func:`earned`.

    Returns
    -------
    dict of ndarray
        ``tier`` (int), ``rate`` [fraction], ``earned`` [currency] (before cap and minimum
        payout), ``next_threshold`` [basis unit] (NaN at the top tier), each of the shape
        of ``basis``.

    Examples
    --------
    >>> f = tier_figures([150_000.0, 250_000.0], thresholds=[100_000, 200_000],
    ...                  rates=[0.01, 0.02])
    >>> f["tier"].tolist(), f["earned"].tolist(), f["next_threshold"].tolist()
    ([1, 2], [1500.0, 5000.0], [200000.0, nan])
    """
    b = np.atleast_1d(as_float_array(basis))
    t, r, a = _schedule(b, thresholds, rates, amounts)
    base = b if rebate_base is None else np.broadcast_to(as_float_array(rebate_base), b.shape)
    k = _tier_index(b, t)
    rate = _at_tier(r, k)
    return {
        "tier": k,
        "rate": rate,
        "earned": _earned(b, t, r, a, _method_mask(method, len(b)), base, k=k, rate=rate),
        "next_threshold": _next(t, k),
    }


def earned_at_next(
    basis, *, thresholds, rates, amounts=None, method="retroactive", rebate_base=None
):
    """Rebate earned if the basis rose exactly to the next threshold [currency]; NaN at the top.

    The schedule is evaluated at the next threshold itself (not at ``basis + gap``, which can
    round to just below it). ``rebate_base``, when given, is shifted by the same gap as the
    basis.

    Examples
    --------
    >>> earned_at_next(150_000, thresholds=[100_000, 200_000], rates=[0.01, 0.02])
    4000.0
    """
    b, scalar = _flat(basis)
    nxt = as_float_array(next_threshold(b, thresholds=thresholds))
    base = None if rebate_base is None else as_float_array(rebate_base) + (nxt - b)
    out = as_float_array(
        earned(
            nxt,
            thresholds=thresholds,
            rates=rates,
            amounts=amounts,
            method=method,
            rebate_base=base,
        )
    )
    return _back(np.where(np.isnan(nxt), np.nan, out), basis, scalar, "earned_at_next")


def excess_over(basis, *, baseline):
    """The base a growth program paying on the excess multiplies: ``max(basis - baseline, 0)``.

    Parameters
    ----------
    basis : float, array_like or Series
        Qualifying basis [basis unit].
    baseline : float or array_like
        Baseline basis [basis unit], broadcast against ``basis``.

    Returns
    -------
    float, ndarray or Series
        The excess over the baseline [basis unit], >= 0.

    Examples
    --------
    The worked example 3 of DOMAIN.md: 3% of the excess over a baseline of 2,000,000.

    >>> excess_over(2_350_000, baseline=2_000_000)
    350000.0
    >>> round(0.03 * excess_over(2_350_000, baseline=2_000_000), 2)
    10500.0
    """
    b, scalar = _flat(basis)
    out = np.maximum(b - as_float_array(baseline), 0.0)
    return _back(out, basis, scalar, "excess")


def growth_thresholds(baseline, *, fractions) -> np.ndarray:
    """Growth tier thresholds in basis units, exact to the cent: ``ceil(baseline x (1 + from))``.

    Parameters
    ----------
    baseline : array_like, shape (n,)
        Baseline basis per row [basis unit], read in hundredths (cents for net sales).
        Rows without a usable baseline (NaN or <= 0) get ``+inf``: no tier can be reached.
    fractions : array_like, shape (K,)
        The growth fractions of the tiers (``from``: 0.05 = +5%), read as the decimal numbers
        they are written as (``Fraction(str(from))``).

    Returns
    -------
    ndarray, shape (n, K)
        Threshold [basis unit]: the smallest whole number of hundredths at or above
        ``baseline x (1 + from)``, computed in integers (no binary noise). A basis reaches
        the tier when ``basis >= threshold``, i.e. when ``basis_cents >= baseline_cents x
        (1 + from)`` exactly.

    Examples
    --------
    The audit's example: a baseline of 3,819.40 grown by 5% is 4,010.37 exactly.

    >>> growth_thresholds([3_819.40], fractions=[0.05]).tolist()
    [[4010.37]]
    >>> growth_thresholds([100.0, float("nan")], fractions=[0.0, 0.125]).tolist()
    [[100.0, 112.5], [inf, inf]]
    """
    b = np.atleast_1d(np.asarray(baseline, dtype=float))
    usable = np.isfinite(b) & (b > 0)
    base_c = np.where(usable, cents(np.where(usable, b, 0.0)), 0)
    f = np.atleast_1d(np.asarray(fractions, dtype=float))
    out = np.full((len(b), len(f)), np.inf)
    big = int(np.abs(base_c).max(initial=0))
    for j, fj in enumerate(f):
        num, den = Fraction(str(float(fj))).as_integer_ratio()
        if big * (den + num) < 2**62:
            thr_c = -((-base_c * (den + num)) // den)
        else:  # Python integers: no overflow whatever the sizes
            thr_c = np.array([-((-int(c) * (den + num)) // den) for c in base_c], dtype=object)
        out[:, j] = np.where(usable, np.asarray(thr_c, dtype=float) / 100.0, np.inf)
    return out


def apply_cap(earned_amount, *, cap=None):
    """Limit earned amounts to a cap [currency]; ``cap`` NaN or None means no cap."""
    e, scalar = _flat(earned_amount)
    if cap is None:
        return earned_amount
    c = as_float_array(cap)
    np.broadcast_to(c, e.shape)  # raises when the caps do not broadcast against the amounts
    none = np.isnan(c)
    if np.all(none):
        out = e.copy()
    elif np.any(none):
        out = np.where(none, e, np.minimum(e, c))
    else:
        out = np.minimum(e, c)
    return _back(out, earned_amount, scalar, "earned")


def payable(earned_amount, *, min_payout=None):
    """Amount payable [currency]: earned when it reaches ``min_payout``, else 0.

    The comparison is made in integer cents, after rounding the earned amount to cents (half
    away from zero): an earned 28.2749 rounds to 28.27 and reaches a ``min_payout`` of 28.27.

    Examples
    --------
    >>> payable(99.99, min_payout=100)
    0.0
    >>> payable(100.0, min_payout=100)
    100.0
    >>> payable(28.2749, min_payout=28.27)
    28.2749
    """
    e, scalar = _flat(earned_amount)
    if min_payout is None:
        return _back(e.copy(), earned_amount, scalar, "payable")
    m = as_float_array(min_payout)
    np.broadcast_to(m, e.shape)  # raises when the minimums do not broadcast against the amounts
    none = np.isnan(m)
    if np.all(none):
        out = e.copy()
    else:
        with np.errstate(invalid="ignore"):
            reached = (cents(np.nan_to_num(e)) >= cents(np.nan_to_num(m))) & ~np.isnan(e)
        out = np.where((none | reached) if np.any(none) else reached, e, 0.0)
    return _back(out, earned_amount, scalar, "payable")
