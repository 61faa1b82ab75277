"""Backtests: cut the history at as-of dates, forecast, and score against what happened.

For every as-of date and method, each program whose period contains the date (start <=
as_of < end, and end within the data) is forecast with the history up to the date; the
outcome is the accrual at the period's end. Forecast units (a customer, or a pool) are
scored once each.

Scores (Gneiting & Raftery 2007):

- ``brier``: mean of ``(p - o)^2`` for ``p = p_next_tier``, ``o`` = 1 when the end basis
  reached that next threshold; ``log_loss``: mean of ``-[o ln p + (1-o) ln(1-p)]`` with
  ``p`` clipped to ``[1e-6, 1 - 1e-6]``; units already at the top tier are left out;
- ``ece``: expected calibration error, ``sum_b n_b / n |obs_b - pred_b|`` over equal-width
  probability bins; ``calibration`` holds the bins;
- ``pinball``: mean pinball (quantile) loss of ``projected_p10, p50, p90`` of the end basis
  [basis unit], and ``pinball_rel``: the same divided by the mean absolute end basis;
- ``coverage``: share of end bases inside ``[projected_p10, projected_p90]`` (target 0.8).
  A unit likely to buy nothing more has ``p10`` at its basis to date and is "covered" when it
  indeed buys nothing, which inflates this share; ``coverage_pit`` counts such an outcome by
  the share of the atom's probability ``[0, P0]`` that lies inside ``[0.1, 0.9]``
  (randomized probability integral transform), the honest version;
- ``rebate_error``: ``(sum expected_rebate - sum earned at the end) / sum earned at the end``;
- ``seconds``: the forecasts' run time [s] (wall clock, from the shared reduction; a figure
  for comparison only, never a test).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rebatelab.engine.accrual import accrue
from rebatelab.engine.stage_one import Reduction, reduce
from rebatelab.errors import ParameterError
from rebatelab.forecasting.projection import METHODS, forecast
from rebatelab.programs.terms import load_programs

__all__ = ["BacktestResult", "backtest", "score", "calibration_table", "METRIC_COLUMNS"]


#: The per-method scores of :func:`backtest`, in report order.
METRIC_COLUMNS = [
    "method",
    "n_scored",
    "base_rate",
    "brier",
    "log_loss",
    "ece",
    "pinball_rel",
    "coverage",
    "coverage_pit",
    "rebate_error",
    "seconds",
]


_EPS = 1e-6


@dataclass
class BacktestResult:
    """Backtest outputs.

    Attributes
    ----------
    metrics : DataFrame
        One row per method: ``n_units, n_scored, base_rate, brier, log_loss, ece, pinball,
        pinball_rel, coverage, coverage_pit, expected_rebate, actual_rebate, rebate_error,
        seconds``.
    by_date : DataFrame
        The same per (method, as_of).
    calibration : DataFrame
        Per (method, bin): ``lo, hi, n, mean_predicted, observed_rate``.
    records : DataFrame
        One row per (method, as_of, program, pool): forecasts and outcomes.
    """

    metrics: pd.DataFrame
    by_date: pd.DataFrame
    calibration: pd.DataFrame
    records: pd.DataFrame


def calibration_table(p, outcome, *, n_bins: int = 10) -> pd.DataFrame:
    """Predicted probability vs observed rate per equal-width probability bin.

    Parameters
    ----------
    p : array_like
        Predicted probabilities [fraction].
    outcome : array_like of bool or {0, 1}
        What happened.
    n_bins : int
        Number of bins over [0, 1].

    Returns
    -------
    DataFrame
        ``bin, lo, hi, n, mean_predicted, observed_rate`` (empty bins have NaN rates).

    Examples
    --------
    >>> t = calibration_table([0.05, 0.15, 0.95], [0, 0, 1], n_bins=2)
    >>> t["n"].tolist()
    [2, 1]
    """
    p = np.asarray(p, dtype=float)
    o = np.asarray(outcome, dtype=float)
    if n_bins < 1:
        raise ParameterError(f"n_bins must be >= 1; got {n_bins}")
    b = np.clip((p * n_bins).astype(int), 0, n_bins - 1)
    n = np.bincount(b, minlength=n_bins)
    sp = np.bincount(b, weights=p, minlength=n_bins)
    so = np.bincount(b, weights=o, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame(
            {
                "bin": np.arange(n_bins),
                "lo": np.arange(n_bins) / n_bins,
                "hi": np.arange(1, n_bins + 1) / n_bins,
                "n": n,
                "mean_predicted": np.where(n > 0, sp / n, np.nan),
                "observed_rate": np.where(n > 0, so / n, np.nan),
            }
        )


def _pinball(y, q, level):
    d = y - q
    return np.maximum(level * d, (level - 1) * d)


def score(records: pd.DataFrame, *, n_bins: int = 10) -> dict:
    """Scores of one set of forecast records (see the module notes).

    Parameters
    ----------
    records : DataFrame
        Columns ``p_next_tier, reached_next, end_basis, projected_p10, projected_p50,
        projected_p90, expected_rebate, actual_rebate``.
    n_bins : int
        Bins of the calibration table and ECE.

    Returns
    -------
    dict
    """
    sc = records[records["p_next_tier"].notna()]
    p = np.clip(sc["p_next_tier"].to_numpy(dtype=float), 0.0, 1.0)
    o = sc["reached_next"].to_numpy(dtype=float)
    pc = np.clip(p, _EPS, 1 - _EPS)
    cal = calibration_table(p, o, n_bins=n_bins)
    n = max(len(p), 1)
    ece = float(np.nansum(cal["n"] / n * np.abs(cal["observed_rate"] - cal["mean_predicted"])))
    y = records["end_basis"].to_numpy(dtype=float)
    pin = np.mean(
        [
            _pinball(y, records[c].to_numpy(dtype=float), lev)
            for c, lev in (("projected_p10", 0.1), ("projected_p50", 0.5), ("projected_p90", 0.9))
        ],
        axis=0,
    )
    inside = (y >= records["projected_p10"].to_numpy() - 1e-9) & (
        y <= records["projected_p90"].to_numpy() + 1e-9
    )
    # coverage with the atom at "no more orders" spread uniformly over its probability (a
    # randomized PIT): an outcome on the atom counts by the share of [0, P0] inside [.1, .9]
    cov_pit = np.nan
    if "p_no_more_orders" in records.columns and len(y):
        p0 = records["p_no_more_orders"].to_numpy(dtype=float)
        on_atom = np.isclose(y, records["pool_basis_to_date"].to_numpy(dtype=float))
        share = np.clip(np.minimum(p0, 0.9) - 0.1, 0.0, None) / np.maximum(p0, 1e-12)
        cov_pit = float(np.mean(np.where(on_atom & (p0 > 0), share, inside)))
    exp_r = float(records["expected_rebate"].sum())
    act_r = float(records["actual_rebate"].sum())
    return {
        "n_units": int(len(records)),
        "n_scored": int(len(p)),
        "base_rate": float(o.mean()) if len(o) else np.nan,
        "brier": float(np.mean((p - o) ** 2)) if len(p) else np.nan,
        "log_loss": float(-np.mean(o * np.log(pc) + (1 - o) * np.log(1 - pc)))
        if len(p)
        else np.nan,
        "ece": ece,
        "pinball": float(pin.mean()) if len(y) else np.nan,
        "pinball_rel": float(pin.mean() / max(np.mean(np.abs(y)), 1e-300)) if len(y) else np.nan,
        "coverage": float(inside.mean()) if len(y) else np.nan,
        "coverage_pit": cov_pit,
        "expected_rebate": exp_r,
        "actual_rebate": act_r,
        "rebate_error": (exp_r - act_r) / act_r if act_r else np.nan,
    }


def _outcomes(red: Reduction) -> pd.DataFrame:
    """End-of-period pool basis and earned amount of every (program, pool) of a reduction."""
    fin = accrue(red)
    unit = fin[["program_id", "pool_id"]].astype(str)
    out = pd.DataFrame(
        {
            "program_id": unit["program_id"],
            "pool_id": unit["pool_id"],
            "end_basis": fin["pool_basis"].to_numpy(dtype=float),
            "earned": fin["earned"].to_numpy(dtype=float),
        }
    )
    return out.groupby(["program_id", "pool_id"], sort=False).agg(
        end_basis=("end_basis", "first"), actual_rebate=("earned", "sum")
    )


def backtest(data, programs, as_of_dates, methods=METHODS, *, n_bins: int = 10) -> BacktestResult:
    """Forecast at each as-of date with each method and score against the period ends.

    Parameters
    ----------
    data : RebateData
        The full history (it must reach the end of the programs scored).
    programs : ProgramSet or path
    as_of_dates : sequence of date-like
        Cut-off dates; at each, the programs whose period contains it are scored.
    methods : sequence of str
        Forecast methods (:data:`rebatelab.forecasting.projection.METHODS`).
    n_bins : int
        Bins of the calibration tables.

    Returns
    -------
    BacktestResult

    Raises
    ------
    ParameterError
        An unknown method, or no program that can be scored at any date.
    """
    programs = load_programs(programs)
    methods = [methods] if isinstance(methods, str) else list(methods)
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ParameterError(f"methods must be among {list(METHODS)}; got {bad}")
    last = data.date_range[1].normalize()
    plist = list(programs)
    complete = [p for p in plist if pd.Timestamp(p.end) <= last]
    if len(complete) < len(plist):
        warnings.warn(
            f"programs ending after the data ({last.date()}) are not scored: "
            f"{[p.id for p in plist if p not in complete][:5]}",
            stacklevel=2,
        )
    outcomes = None
    if complete:  # stage one at the last period end scored (or the data's end)
        ends = max(pd.Timestamp(p.end) for p in complete)
        outcomes = _outcomes(reduce(data, programs, min(ends, last)))
    recs = []
    for as_of in pd.to_datetime(list(as_of_dates)):  # loop over a handful of dates
        active = [p.id for p in complete if pd.Timestamp(p.start) <= as_of < pd.Timestamp(p.end)]
        if not active:
            continue
        # stage one once per date: every method forecasts from the same reduction, and the
        # next thresholds come from its accrual
        red = reduce(data, _subset(programs, active), as_of)
        next_thr = _next_thresholds(red)
        for m in methods:  # and methods
            t0 = time.perf_counter()
            fc = forecast(red, method=m)
            secs = time.perf_counter() - t0
            fc = fc[fc["program_id"].astype(str).isin(active)]
            unit = fc.assign(
                program_id=fc["program_id"].astype(str), pool_id=fc["pool_id"].astype(str)
            )
            g = unit.groupby(["program_id", "pool_id"], sort=False)
            u = g.agg(
                pool_basis_to_date=("pool_basis_to_date", "first"),
                projected_mean=("projected_mean", "first"),
                projected_p10=("projected_p10", "first"),
                projected_p50=("projected_p50", "first"),
                projected_p90=("projected_p90", "first"),
                p_next_tier=("p_next_tier", "first"),
                p_no_more_orders=("p_no_more_orders", "first"),
                expected_rebate=("expected_rebate", "sum"),
            )
            u = u.join(outcomes, how="left")
            u["next_threshold"] = next_thr.reindex(u.index).to_numpy(dtype=float)
            u["reached_next"] = u["end_basis"] >= u["next_threshold"]
            u = u.reset_index()
            u.insert(0, "as_of", as_of)
            u.insert(0, "method", m)
            u["seconds"] = secs / max(len(u), 1)
            recs.append(u)
    if not recs:
        raise ParameterError("no program period contains any of the as_of dates")
    records = pd.concat(recs, ignore_index=True)
    rows, by_date, cals = [], [], []
    for m, r in records.groupby("method", sort=False):
        rows.append({"method": m, **score(r, n_bins=n_bins), "seconds": r["seconds"].sum()})
        for d, rd in r.groupby("as_of"):
            by_date.append(
                {
                    "method": m,
                    "as_of": d,
                    **score(rd, n_bins=n_bins),
                    "seconds": rd["seconds"].sum(),
                }
            )
        sc = r[r["p_next_tier"].notna()]
        cals.append(
            calibration_table(sc["p_next_tier"], sc["reached_next"], n_bins=n_bins).assign(method=m)
        )
    return BacktestResult(
        metrics=pd.DataFrame(rows),
        by_date=pd.DataFrame(by_date),
        calibration=pd.concat(cals, ignore_index=True),
        records=records,
    )


def _subset(programs, ids):
    """The programs ``ids`` plus the parents of variants among them."""
    keep = set(ids) | {programs[i].variant_of for i in ids if programs[i].variant_of}
    keep |= {p.id for p in programs if p.variant_of in keep}
    if keep == set(programs.ids):
        return programs
    return programs.subset(keep)


def _next_thresholds(red: Reduction) -> pd.Series:
    """Next threshold (pool level) at the reduction's as-of date, per (program_id, pool_id)."""
    acc = accrue(red)
    key = acc.assign(program_id=acc["program_id"].astype(str), pool_id=acc["pool_id"].astype(str))
    return key.groupby(["program_id", "pool_id"], sort=False)["next_threshold"].first()
