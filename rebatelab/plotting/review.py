"""Plots for review: the tier ladder, the money map, a customer's forecast fan.

Each function draws on ``ax`` (a new ``matplotlib.figure.Figure`` axes when None) and returns
it; no pyplot state is touched.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rebatelab.errors import ParameterError
from rebatelab.forecasting.quantiles import quantile_columns
from rebatelab.review.frames import Inputs, align, program_set

__all__ = ["plot_tier_ladder", "plot_money_map", "plot_forecast_fan"]


def _axes(ax):
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(7, 4)).add_subplot()
    return ax


def _program(programs, program_id):
    programs = program_set(programs)
    if programs is None:
        return None
    return programs[program_id]


def _rows(accrual: pd.DataFrame, program_id: str) -> pd.DataFrame:
    rows = accrual[accrual["program_id"].astype(str) == str(program_id)]
    if rows.empty:
        raise ParameterError(f"program {program_id!r} has no rows in the accrual")
    return rows


def _forecast_row(forecast: pd.DataFrame, program_id, customer_id) -> int:
    """Position of the forecast's row for ``(program_id, customer_id)``."""
    missing = [c for c in ("program_id", "customer_id") if c not in forecast.columns]
    if missing:
        raise ParameterError(f"forecast: no {missing} column(s) to find the row by key")
    at = np.flatnonzero(
        (forecast["program_id"].astype(str) == str(program_id)).to_numpy()
        & (forecast["customer_id"].astype(str) == str(customer_id)).to_numpy()
    )
    if len(at) != 1:
        raise ParameterError(
            f"forecast has {len(at)} rows for ({program_id!r}, {customer_id!r}); need one"
        )
    return int(at[0])


def plot_tier_ladder(accrual, program_id, *, programs=None, forecast=None, ax=None):
    """Customers (pools) of one program placed on its tier ladder.

    Each pool is a point at its basis to date (growth to date, for growth programs), sorted
    left to right; the tier thresholds are horizontal rungs. With a forecast, points are
    coloured by the probability of reaching the next tier.

    Parameters
    ----------
    accrual : DataFrame
        :func:`rebatelab.accrue` output.
    program_id : str
    programs : ProgramSet or Reduction, optional
        For the rungs (thresholds) and their rates.
    forecast : DataFrame, optional
        One row per accrual row, matched on ``program_id, customer_id``.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    acc = accrual.reset_index(drop=True)
    rows = _rows(acc, program_id)
    first = ~rows["pool_id"].astype(str).duplicated().to_numpy()
    pools = rows[first]
    prog = _program(programs, program_id)
    growth = prog is not None and prog.is_growth
    y = (pools["growth"] if growth else pools["pool_basis"]).to_numpy(dtype=float)
    order = np.argsort(np.nan_to_num(y, nan=-np.inf), kind="stable")
    x = np.empty(len(y))
    x[order] = np.arange(len(y))
    color = None
    if forecast is not None:
        pos = align(acc, forecast)  # forecast row of each accrual row, by key
        p = forecast["p_next_tier"].to_numpy(dtype=float)[pos[pools.index.to_numpy()]]
        color = np.where(np.isnan(p), 1.0, p)
    sc = ax.scatter(x, y, c=color, cmap="viridis", vmin=0, vmax=1, s=18, zorder=3)
    if color is not None:
        ax.figure.colorbar(sc, ax=ax, label="P(next tier)")
    if prog is not None:
        for t in prog.tiers:  # a loop over tiers
            label = f"{t.from_:,.0%}" if growth else f"{t.from_:,.0f}"
            rate = f"{t.rate:.2%}" if not t.amount else f"+{t.amount:,.0f}"
            ax.axhline(t.from_, color="grey", lw=1, ls="--", zorder=1)
            ax.annotate(
                f"{label}: {rate}",
                (0, t.from_),
                xycoords=("axes fraction", "data"),
                textcoords="offset points",
                xytext=(2, 2),
                fontsize=8,
            )
    ax.set_xlabel("customers / pools, by basis to date")
    ax.set_ylabel("growth to date [fraction]" if growth else "basis to date")
    ax.set_title(f"{program_id}: tier ladder")
    return ax


def plot_money_map(money_map, program_id, *, ax=None):
    """Customers per tier now, and expected at period end, for one program.

    Parameters
    ----------
    money_map : DataFrame
        :func:`rebatelab.review.moneymap.money_map` output.
    program_id : str
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    m = money_map[money_map["program_id"].astype(str) == str(program_id)]
    if m.empty:
        raise ParameterError(f"program {program_id!r} is not in the money map")
    tiers = m["tier"].to_numpy()
    width = 0.4 if "expected_at_end" in m.columns else 0.8
    ax.bar(tiers - (width / 2 if width < 0.8 else 0), m["customers"], width, label="now")
    if "expected_at_end" in m.columns:
        ax.bar(tiers + width / 2, m["expected_at_end"], width, label="expected at period end")
    for t, c, e in zip(tiers, m["customers"], m["earned"], strict=True):  # per tier labels
        ax.annotate(f"{e:,.0f}", (t, c), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(tiers)
    ax.set_xticklabels([("none" if t == 0 else f"tier {t}") for t in tiers])
    ax.set_ylabel("customers (labels: earned to date)")
    ax.set_title(f"{program_id}: money map")
    ax.legend(fontsize=8)
    return ax


def plot_forecast_fan(
    accrual, forecast, program_id, customer_id, *, data=None, programs=None, as_of=None, ax=None
):
    """A customer's (or pool's) basis to date and forecast fan against the tier thresholds.

    The fan joins the basis at ``as_of`` to the end-of-period quantiles carried by the
    forecast (its ``q_<level>`` columns), one band per pair
    of symmetric levels, linearly in time (an illustration of the spread, not a path model).

    Parameters
    ----------
    accrual, forecast : DataFrame
        :func:`rebatelab.accrue` and :func:`rebatelab.forecast` outputs, matched on
        ``program_id, customer_id``.
    program_id, customer_id : str
    data : Reduction or RebateData, optional
        Draws the cumulative basis to date from stage one's daily sums
        (``Reduction.daily``). A Reduction also gives ``programs`` and ``as_of``; a
        RebateData is reduced with them (pass the Reduction when drawing many fans).
    programs : ProgramSet
        The program's period and thresholds (not needed with a Reduction).
    as_of : date-like
        Not needed with a Reduction.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    given = Inputs(data, programs, as_of)
    if given.programs is None or given.as_of is None:
        raise ParameterError("plot_forecast_fan needs programs= and as_of= (or data=Reduction)")
    prog = _program(given.programs, program_id)
    acc = accrual.reset_index(drop=True)
    rows = _rows(acc, program_id)
    hit = rows[rows["customer_id"].astype(str) == str(customer_id)]
    if hit.empty:
        raise ParameterError(f"customer {customer_id!r} is not in program {program_id!r}")
    i = int(hit.index[0])
    row = acc.iloc[i]
    j = _forecast_row(forecast, program_id, customer_id)
    b0 = float(row["pool_basis"])
    lv, q = quantile_columns(forecast)
    as_of = given.as_of
    end = pd.Timestamp(prog.end)
    xs = np.array([as_of.to_datetime64(), end.to_datetime64()])
    if len(lv):
        qi = q[j]
        half = len(lv) // 2
        pairs = np.unique(np.linspace(0, half - 1, min(half, 4)).round().astype(int))
        for k in pairs:  # at most four bands of symmetric levels; their overlaps darken
            lo, hi = qi[k], qi[len(lv) - 1 - k]
            ax.fill_between(xs, [b0, lo], [b0, hi], color="C0", alpha=0.18, lw=0,
                            label=f"p{lv[k] * 100:g}-p{lv[len(lv) - 1 - k] * 100:g}")  # fmt: skip
        mid = int(np.argmin(np.abs(lv - 0.5)))
        ax.plot(xs, [b0, qi[mid]], color="C0", lw=1.5, label=f"p{lv[mid] * 100:g}")
    else:
        f = forecast.iloc[j]
        ax.fill_between(xs, [b0, f["projected_p10"]], [b0, f["projected_p90"]], alpha=0.3)
    if given.can_reduce:
        red = given.reduction
        # the pool's members in this program; their daily sums since the period's start
        mem = red.members
        ids = np.flatnonzero(
            (mem["program_id"].astype(str) == str(program_id)).to_numpy()
            & (mem["pool_id"].astype(str) == str(row["pool_id"])).to_numpy()
        )
        ds = red.daily
        mine = ds[
            np.isin(ds["member"].to_numpy(dtype=np.int64), ids)
            & (ds["date"].to_numpy() >= np.datetime64(pd.Timestamp(prog.start), "ns"))
        ]
        col = "quantity" if prog.basis == "quantity" else "net_amount"
        daily = mine.groupby("date")[col].sum().sort_index()
        if len(daily):
            ax.step(daily.index, daily.cumsum().to_numpy(), where="post", color="k", lw=1,
                    label="basis to date")  # fmt: skip
    thr = prog.basis_thresholds(row.get("baseline"))
    thr = np.atleast_2d(thr)[0] if np.ndim(thr) == 2 else thr
    for t, tier in zip(thr, prog.tiers, strict=True):  # a loop over tiers
        if np.isfinite(t):
            ax.axhline(t, color="grey", ls="--", lw=1)
            ax.annotate(f"{tier.rate:.2%}" if not tier.amount else f"+{tier.amount:,.0f}",
                        (0, t), xycoords=("axes fraction", "data"), fontsize=8,
                        textcoords="offset points", xytext=(2, 2))  # fmt: skip
    who = customer_id if str(row["pool_id"]) == str(customer_id) else f"pool {row['pool_id']}"
    ax.set_title(f"{program_id}: {who}")
    ax.set_ylabel(f"basis [{'units' if prog.basis == 'quantity' else 'currency'}]")
    ax.legend(fontsize=8, loc="upper left")
    return ax
