"""Money in exact terms: integer cents, rounding half away from zero, shares that add up."""

from __future__ import annotations

import math

import numpy as np

from rebatelab._arrays import as_float_array, restore_type

__all__ = ["round_cents", "cents", "largest_remainder", "money", "percent"]


def cents(x) -> np.ndarray:
    """Amounts [currency] to integer cents, rounding half away from zero.

    Notes
    -----
    ``x * 100`` is first rounded to 6 decimals so that binary noise such as
    ``2.675 * 100 = 267.49999999999997`` rounds as the decimal number it stands for.
    """
    v = np.round(np.asarray(x, dtype=float) * 100.0, 6)
    return (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int64)


def round_cents(x):
    """Round amounts [currency] to cents, half away from zero; same type out as in."""
    arr = as_float_array(x)
    out = cents(arr) / 100.0
    return restore_type(out, x)


def largest_remainder(
    total_cents: np.ndarray, weights: np.ndarray, groups: np.ndarray
) -> np.ndarray:
    """Split each group's total (integer cents) pro rata to weights, shares summing exactly.

    Parameters
    ----------
    total_cents : ndarray of int, shape (n,)
        The group's total [cents], repeated on every member row.
    weights : ndarray of float, shape (n,)
        Non-negative weights of the members (e.g. their basis). A group whose weights are all
        zero is split equally.
    groups : ndarray of int, shape (n,)
        Group code of each row, in ``0 .. n_groups - 1``.

    Returns
    -------
    ndarray of int
        Each member's share [cents]; per group the shares add up to the total exactly
        (Hamilton's largest-remainder method, ties to the earlier row).
    """
    total_cents = np.asarray(total_cents, dtype=np.int64)
    w = np.clip(np.asarray(weights, dtype=float), 0.0, None)
    groups = np.asarray(groups)
    n_groups = int(groups.max()) + 1 if groups.size else 0
    wsum = np.bincount(groups, weights=w, minlength=n_groups)
    count = np.bincount(groups, minlength=n_groups)
    zero = wsum[groups] <= 0
    frac = np.where(zero, 1.0 / count[groups], w / np.where(zero, 1.0, wsum[groups]))
    exact = total_cents * frac
    sign = np.where(total_cents < 0, -1, 1)
    base = sign * np.floor(np.abs(exact)).astype(np.int64)
    group_total = np.zeros(n_groups, dtype=np.int64)
    group_total[groups] = total_cents
    short = group_total - np.bincount(groups, weights=base, minlength=n_groups).round().astype(
        np.int64
    )
    remainder = np.abs(exact) - np.abs(base)
    # rank rows within each group by descending remainder; the first `short` rows get a cent
    order = np.lexsort((np.arange(len(groups)), -remainder, groups))
    g_sorted = groups[order]
    start = np.searchsorted(g_sorted, g_sorted, side="left")
    rank = np.arange(len(groups)) - start
    extra = np.zeros(len(groups), dtype=np.int64)
    extra[order] = (rank < np.abs(short[g_sorted])).astype(np.int64) * np.sign(short[g_sorted])
    return base + extra


# --------------------------------------------------------------------------------------------
# Words and numbers
# --------------------------------------------------------------------------------------------
def money(x, *, currency: str = "$", up: bool = False) -> str:
    """An amount as ``$12,400`` (whole units; ``up=True`` rounds up, for amounts to reach).

    Examples
    --------
    >>> money(12_399.2, up=True), money(9_800.4)
    ('$12,400', '$9,800')
    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    v = math.ceil(x - 1e-9) if up else math.floor(x + 0.5)
    return f"{'-' if v < 0 else ''}{currency}{abs(v):,.0f}"


def percent(rate: float) -> str:
    """A fraction as a short percentage: ``0.04 -> '4%'``, ``0.025 -> '2.5%'``.

    Examples
    --------
    >>> percent(0.04), percent(0.025), percent(0.0125)
    ('4%', '2.5%', '1.25%')
    """
    return f"{round(100 * rate, 2):g}%"
