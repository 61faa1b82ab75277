"""Readable summaries of an accrual: per program and tier, and the customers nearest a tier."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["program_summary", "nearest_to_next_tier"]


def program_summary(accrual: pd.DataFrame) -> pd.DataFrame:
    """Per program: members, customers per tier, basis, earned and payable [currency].

    Parameters
    ----------
    accrual : DataFrame
        Output of :func:`rebatelab.accrue`.

    Returns
    -------
    DataFrame
        Indexed by ``program_id`` with ``customers``, ``basis``, ``earned``, ``payable``,
        ``days_left`` and one ``tier_k`` column per tier with the number of members in it.
    """
    g = accrual.groupby("program_id", sort=False)
    out = g.agg(
        customers=("customer_id", "size"),
        basis=("basis", "sum"),
        earned=("earned", "sum"),
        payable=("payable", "sum"),
        days_left=("days_left", "max"),
    )
    per_tier = pd.crosstab(accrual["program_id"], accrual["tier"]).reindex(out.index)
    per_tier.columns = [f"tier_{k}" for k in per_tier.columns]
    return out.join(per_tier.fillna(0).astype(int)).round({"basis": 2, "earned": 2, "payable": 2})


def nearest_to_next_tier(accrual: pd.DataFrame, *, n: int = 10) -> pd.DataFrame:
    """The ``n`` rows with time left whose pool is closest to its next tier, relative to it.

    Closeness is ``gap_to_next / next_threshold`` [fraction]; rows at the top tier or with no
    days left are left out.
    """
    live = accrual[np.isfinite(accrual["gap_to_next"]) & (accrual["days_left"] > 0)]
    live = live[live["basis"] > 0]
    rel = live["gap_to_next"] / live["next_threshold"].where(live["next_threshold"] > 0)
    cols = [
        "program_id",
        "customer_id",
        "pool_id",
        "basis",
        "tier",
        "next_threshold",
        "gap_to_next",
        "earned",
        "earned_at_next",
        "days_left",
    ]
    return live.assign(gap_share=rel).nsmallest(n, "gap_share")[[*cols, "gap_share"]]
