"""Shared steps of the review lists: aligning accrual and forecast, attributes, filters."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rebatelab.errors import ParameterError

__all__ = ["filter_rows"]


ATTRIBUTES = ("name", "rep", "region", "segment")


# --------------------------------------------------------------------------------------------
# Rows, attributes, filters
# --------------------------------------------------------------------------------------------
def _aligned(accrual: pd.DataFrame, forecast: pd.DataFrame | None) -> pd.DataFrame:
    """Accrual and forecast side by side (the forecast's columns win where both have one)."""
    from rebatelab.finance.liability import _check_aligned

    acc = accrual.reset_index(drop=True)
    if forecast is None:
        return acc.copy()
    _check_aligned(accrual, forecast)
    fc = forecast.reset_index(drop=True)
    extra = [c for c in fc.columns if c not in ("program_id", "customer_id", "pool_id")]
    return pd.concat([acc.drop(columns=[c for c in extra if c in acc.columns]), fc[extra]], axis=1)


def _with_attributes(df: pd.DataFrame, data) -> pd.DataFrame:
    if data is None:
        return df
    cu = data.customers
    cols = [c for c in ATTRIBUTES if c in cu.columns]
    look = cu.set_index(cu["customer_id"].astype(str))[cols]
    add = look.reindex(df["customer_id"].astype(str).to_numpy())
    out = df.copy()
    for c in cols:
        out[c] = add[c].to_numpy()
    return out


def _as_list(v):
    if v is None:
        return None
    return [str(x) for x in (v if isinstance(v, list | tuple | set) else [v])]


def filter_rows(df: pd.DataFrame, *, rep=None, region=None, segment=None, program=None):
    """Rows whose ``rep``, ``region``, ``segment`` and ``program_id`` are among those given.

    Each filter is a value or a list of values; None keeps everything.
    """
    out = df
    for col, want in (("rep", rep), ("region", region), ("segment", segment)):
        want = _as_list(want)
        if want is None:
            continue
        if col not in out.columns:
            raise ParameterError(
                f"filter {col}=: the rows have no {col!r} column; pass data= (the customers "
                "table needs that column)"
            )
        out = out[out[col].astype("string").isin(want).fillna(False).to_numpy()]
    want = _as_list(program)
    if want is not None:
        out = out[out["program_id"].astype(str).isin(want).to_numpy()]
    return out


def _programs_info(programs, program_ids: np.ndarray):
    """Per row: product description, next-tier rate text inputs, growth flag."""
    if programs is None:
        return None
    from rebatelab.programs.terms import load_programs

    programs = load_programs(programs)
    by_id = {p.id: p for p in programs}
    unknown = sorted(set(program_ids) - set(by_id))
    if unknown:
        raise ParameterError(f"rows name programs not in the program set: {unknown[:5]}")
    return by_id


def _need(df: pd.DataFrame, cols, what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ParameterError(f"{what}: missing column(s) {missing}; have {list(df.columns)}")


# --------------------------------------------------------------------------------------------
# Risks
# --------------------------------------------------------------------------------------------
def _tier_columns(df: pd.DataFrame) -> list[str]:
    cols = [c for c in df.columns if str(c).startswith("p_tier_")]
    return sorted(cols, key=lambda c: int(str(c)[7:]))


def _p_at_least(df: pd.DataFrame, tier: np.ndarray) -> np.ndarray:
    """P(end tier >= tier) per row from the ``p_tier_k`` columns."""
    cols = _tier_columns(df)
    if not cols:
        raise ParameterError("forecast: no p_tier_k columns (probability of each tier)")
    pt = df[cols].to_numpy(dtype=float)
    tail = np.cumsum(pt[:, ::-1], axis=1)[:, ::-1]  # tail[:, k] = P(tier >= k)
    tail = np.concatenate([tail, np.zeros((len(df), 1))], axis=1)
    k = np.clip(np.asarray(tier, dtype=np.int64), 0, tail.shape[1] - 1)
    return tail[np.arange(len(df)), k]
