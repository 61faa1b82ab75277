"""Money map (performance to date by program and tier) and per-customer rebate statements."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rebatelab.review.frames import _aligned, _tier_columns, pool_codes, program_set

__all__ = ["money_map"]


def money_map(
    accrual: pd.DataFrame,
    forecast: pd.DataFrame | None = None,
    *,
    programs=None,
    reach: float = 0.2,
    near: float = 0.1,
) -> pd.DataFrame:
    """Performance to date per program and tier.

    Parameters
    ----------
    accrual : DataFrame
        :func:`rebatelab.accrue` output.
    forecast : DataFrame, optional
        :func:`rebatelab.forecast` output (one row per accrual row, matched on
        ``program_id, customer_id``); adds the projection.
    programs : ProgramSet or Reduction, optional
        Adds each tier's threshold and rate, and lists tiers nobody is in.
    reach : float
        A row is *within reach* of its next tier when ``p_next_tier >= reach`` [fraction]
        (with a forecast) ...
    near : float
        ... or, without one, when its gap is at most ``near`` of the next threshold
        [fraction].

    Returns
    -------
    DataFrame
        One row per (program_id, tier), tier 0 = none reached, with ``from`` [basis unit] and
        ``rate`` [fraction] (with programs), ``customers`` (members now in the tier),
        ``basis`` [basis unit], ``earned`` [currency], ``within_reach`` (of them, how many
        are within reach of the next tier), and with a forecast ``projected_basis`` (their
        projected end-of-period basis; a pool's is shared pro rata to basis to date),
        ``expected_rebate`` [currency] (of the members now in the tier) and
        ``expected_at_end`` (expected number of members ending the period in the tier).

    Examples
    --------
    >>> acc = pd.DataFrame({"program_id": ["P", "P", "P"], "customer_id": ["a", "b", "c"],
    ...     "tier": [0, 1, 1], "basis": [50.0, 150.0, 190.0], "earned": [0.0, 1.5, 1.9],
    ...     "gap_to_next": [50.0, 50.0, 10.0], "next_threshold": [100.0, 200.0, 200.0]})
    >>> money_map(acc)[["tier", "customers", "basis", "earned", "within_reach"]]
       tier  customers  basis  earned  within_reach
    0     0          1   50.0     0.0             0
    1     1          2  340.0     3.4             1
    """
    df = _aligned(accrual, forecast)
    if forecast is not None and "p_next_tier" in df.columns:
        within = df["p_next_tier"].to_numpy(dtype=float) >= reach
    else:
        gap = df["gap_to_next"].to_numpy(dtype=float)
        nxt = df["next_threshold"].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            within = np.isfinite(gap) & (gap <= near * nxt)
    df = df.assign(_within=within.astype(np.int64))
    if forecast is not None and "projected_mean" in df.columns:
        # the member's share of its pool's projected basis, pro rata to basis to date
        member_b = np.maximum(df["basis"].to_numpy(dtype=float), 0.0)
        pool_b = df["pool_basis"].to_numpy(dtype=float) if "pool_basis" in df else member_b
        code = pool_codes(df)
        n = np.bincount(code)[code].astype(float)
        share = np.where(pool_b > 0, member_b / np.where(pool_b > 0, pool_b, 1.0), 1.0 / n)
        df["_projected"] = df["projected_mean"].to_numpy(dtype=float) * share
    agg = {
        "customers": ("customer_id", "size"),
        "basis": ("basis", "sum"),
        "earned": ("earned", "sum"),
        "within_reach": ("_within", "sum"),
    }
    if "_projected" in df.columns:
        agg["projected_basis"] = ("_projected", "sum")
    if forecast is not None and "expected_rebate" in df.columns:
        agg["expected_rebate"] = ("expected_rebate", "sum")
    out = df.groupby(["program_id", "tier"], sort=False).agg(**agg).reset_index()
    programs = program_set(programs)
    if programs is not None:
        present = set(pd.unique(df["program_id"].astype(str)))  # once, not once per program
        frames = [
            pd.DataFrame(
                {
                    "program_id": p.id,
                    "tier": np.arange(len(p.tiers) + 1),
                    "from": np.concatenate([[np.nan], p.thresholds]),
                    "rate": np.concatenate([[0.0], p.rates]),
                }
            )
            for p in programs
            if p.id in present
        ]
        grid = pd.concat(frames, ignore_index=True) if frames else None
        if grid is not None:
            out["program_id"] = out["program_id"].astype(str)
            out = grid.merge(out, on=["program_id", "tier"], how="left")
            for c in ("customers", "within_reach"):
                out[c] = out[c].fillna(0).astype(np.int64)
            for c in ("basis", "earned", "projected_basis", "expected_rebate"):
                if c in out.columns:
                    out[c] = out[c].fillna(0.0)
    if forecast is not None:
        cols = _tier_columns(df)
        if cols:
            per = df.groupby("program_id", sort=False)[cols].sum()
            per.index = per.index.astype(str)
            long = per.stack().rename("expected_at_end").reset_index()
            long.columns = ["program_id", "tier", "expected_at_end"]
            long["tier"] = long["tier"].astype(str).str[7:].astype(np.int64)
            out["program_id"] = out["program_id"].astype(str)
            out = out.merge(long, on=["program_id", "tier"], how="left")
    out = out.sort_values(["program_id", "tier"], kind="stable")
    order = {pid: i for i, pid in enumerate(pd.unique(df["program_id"].astype(str)))}
    out = out.sort_values("program_id", key=lambda s: s.astype(str).map(order), kind="stable")
    for c in ("basis", "earned", "projected_basis", "expected_rebate"):
        if c in out.columns:
            out[c] = out[c].round(2)
    return out.reset_index(drop=True)
