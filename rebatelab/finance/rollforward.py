"""Roll-forward arithmetic: cumulative catch-up, opening + expense - payments = closing."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["cumulative_catch_up"]


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
    from rebatelab._arrays import as_float_array, restore_type

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
