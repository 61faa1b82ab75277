"""Roll-forward arithmetic: amounts booked in cents, cumulative catch-up, the roll-forward.

``opening + expense - payments = closing`` per program, in integer cents; the amounts booked
per (program, customer) are :func:`contract_cents`, so that the liability report and the
ledger show the same figures to the cent at every level (contract, program, total).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rebatelab._arrays import as_float_array, restore_type
from rebatelab.errors import ParameterError
from rebatelab.money import cents

__all__ = ["contract_cents", "cumulative_catch_up"]


def _hamilton(exact: np.ndarray, groups: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Round ``exact`` [cents] down or up so that each group adds up to ``totals`` [cents].

    Each row gets its floor plus one cent for the rows of largest remainder in its group (ties
    to the earlier row); needs ``sum(floor) <= total <= sum(floor) + rows`` per group.
    """
    n_groups = len(totals)
    base = np.floor(exact)
    short = totals - np.bincount(groups, weights=base, minlength=n_groups).round()
    order = np.lexsort((np.arange(len(exact)), -(exact - base), groups))
    g = groups[order]
    rank = np.arange(len(exact)) - np.searchsorted(g, g, side="left")
    extra = np.zeros(len(exact), dtype=np.int64)
    extra[order] = rank < short[g]
    return base.astype(np.int64) + extra


def contract_cents(program_id, amounts) -> np.ndarray:
    """Amounts per contract in integer cents that add up, per program and in total.

    The total over all rows is rounded to the cent (half away from zero); each program gets its
    sum rounded down or up so that the programs add up to that total; each row gets its amount
    rounded down or up so that a program's rows add up to the program's (largest remainder,
    ties to the earlier row). Every row and program is within one cent of its exact amount, so
    the figures of a report at any level (contract, program, total) and the ledger's agree.

    Parameters
    ----------
    program_id : array_like, shape (n,)
        Each row's program.
    amounts : array_like of float, shape (n,)
        Exact amounts [currency], e.g. the forecast's ``expected_rebate``.

    Returns
    -------
    ndarray of int, shape (n,)
        Amounts [cents].

    Examples
    --------
    Three contracts of 1/3 each: rounded one by one they would add up to 0.99.

    >>> contract_cents(["P", "P", "P"], [1 / 3, 1 / 3, 1 / 3]).tolist()
    [34, 33, 33]
    """
    a = np.asarray(amounts, dtype=float)
    if not np.all(np.isfinite(a)):
        raise ParameterError(f"amounts must be finite; {int((~np.isfinite(a)).sum())} are not")
    code, uniq = pd.factorize(np.asarray(program_id, dtype=object))
    exact = np.round(a * 100.0, 6)  # binary noise: 2.675 * 100 stands for 267.5 (as cents())
    per_program = np.bincount(code, weights=exact, minlength=len(uniq))
    total = cents(per_program.sum() / 100.0)
    program_c = _hamilton(per_program, np.zeros(len(uniq), np.int64), np.array([total]))
    return _hamilton(exact, code, program_c)


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
    now = as_float_array(cumulative_now)
    before = as_float_array(recognized_before)
    return restore_type(np.asarray(now - before, dtype=float), cumulative_now)


def _rollforward(snap: pd.DataFrame, prev_snap: pd.DataFrame, prev_rf, pay) -> pd.DataFrame:
    booked = snap.groupby("program_id")["booked_c"].sum()
    before = prev_snap.groupby("program_id")["booked_c"].sum()
    paid = pay.groupby("program_id")["amount_c"].sum() if len(pay) else pd.Series(dtype=np.int64)
    opening = prev_rf.set_index("program_id")["closing_c"] if len(prev_rf) else pd.Series()
    ids = list(dict.fromkeys([*booked.index, *before.index, *paid.index, *opening.index]))

    def get(s):
        return s.reindex(ids).fillna(0).to_numpy(dtype=np.int64)

    rf = pd.DataFrame({"program_id": ids, "opening_c": get(opening)})
    rf["expense_c"] = get(booked) - get(before)  # cumulative catch-up
    rf["payments_c"] = get(paid)
    rf["closing_c"] = rf["opening_c"] + rf["expense_c"] - rf["payments_c"]
    return rf
