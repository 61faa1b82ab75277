"""Contracts whose period has ended: their rebate is the amount accrued, without spread."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rebatelab.errors import ParameterError

__all__ = ["settle_forecast", "settled_rows"]


def settled_rows(accrual: pd.DataFrame) -> np.ndarray:
    """Contracts whose period has ended by the as-of day (``days_left == 0``).

    Their period is fully observed (every line that can count is dated on or before the
    as-of day), so their rebate is certain: the amount accrued.

    Parameters
    ----------
    accrual : DataFrame
        :func:`rebatelab.accrue` output; without a ``days_left`` column no row is settled.

    Returns
    -------
    ndarray of bool, shape (len(accrual),)
    """
    if "days_left" not in accrual.columns:
        return np.zeros(len(accrual), bool)
    days = pd.to_numeric(accrual["days_left"], errors="coerce").to_numpy(dtype=float)
    return days <= 0


def settle_forecast(accrual: pd.DataFrame, forecast: pd.DataFrame) -> pd.DataFrame:
    """The forecast with settled contracts set to their accrued amount, without spread.

    For a contract of a program whose period has ended (:func:`settled_rows`), the expected,
    the expected payable and the most likely rebate become the accrual's ``earned`` /
    ``payable`` (to the cent), and every basis quantile the pool's basis. The liability and
    the close see it through :func:`rebatelab.forecast`, which applies it, so a settled
    program shows p10 = p50 = p90 = expected = most likely = its settled amount, and the close
    books exactly that. Applying it again changes nothing.

    Parameters
    ----------
    accrual : DataFrame
        :func:`rebatelab.accrue` output.
    forecast : DataFrame
        Aligned with ``accrual`` row for row (:func:`align_forecast`).

    Returns
    -------
    DataFrame
        ``forecast`` itself when nothing is settled, else a copy.

    Examples
    --------
    >>> acc = pd.DataFrame({"earned": [12.5, 3.0], "payable": [12.5, 0.0],
    ...                     "pool_basis": [500.0, 90.0], "days_left": [0, 30]})
    >>> fc = pd.DataFrame({"expected_rebate": [12.504, 4.0], "expected_payable": [12.504, 1.0],
    ...                    "most_likely_rebate": [12.6, 3.0], "q_0.5": [505.0, 120.0]})
    >>> settle_forecast(acc, fc)[["expected_rebate", "most_likely_rebate", "q_0.5"]].values.tolist()
    [[12.5, 12.5, 500.0], [4.0, 3.0, 120.0]]
    """
    done = settled_rows(accrual)
    if not done.any():
        return forecast
    if len(forecast) != len(accrual):
        raise ParameterError(
            f"forecast has {len(forecast)} rows for {len(accrual)} accrual rows: align it first"
        )
    out = forecast.copy()
    earned = accrual["earned"].to_numpy(dtype=float)
    payable = accrual["payable"].to_numpy(dtype=float) if "payable" in accrual.columns else earned
    for col, amount in (
        ("expected_rebate", earned),
        ("expected_payable", payable),
        ("most_likely_rebate", earned),
    ):
        if col in out.columns:
            out[col] = np.where(done, amount, out[col].to_numpy(dtype=float))
    if "pool_basis" in accrual.columns:
        basis = accrual["pool_basis"].to_numpy(dtype=float)
        for col in [c for c in out.columns if str(c).startswith("q_")]:
            out[col] = np.where(done, basis, out[col].to_numpy(dtype=float))
    return out
