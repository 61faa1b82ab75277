"""Plot helpers of the views that no analysis module draws: liability and roll-forward.

Each takes the package's output frames, draws on ``ax`` (a new pyplot-free figure's axes when
None) and returns ``ax``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rebatelab.engine.stage_one import Reduction, customer_daily

__all__ = [
    "plot_monthly_sales",
    "plot_liability",
    "plot_total_distribution",
    "plot_rollforward",
    "plot_liability_over_time",
]


THOUSANDS = "{x:,.0f}"


def _axes(ax, size=(7.0, 4.0)):
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=size, layout="constrained").add_subplot()
    return ax


def plot_monthly_sales(data, *, currency: str = "currency", ax=None):
    """Net sales per calendar month, returns and credit notes deducted.

    Parameters
    ----------
    data : Reduction or RebateData
        Stage one's result (its ``customer_daily`` sums: every line up to its as-of day), or
        a data folder, whose lines up to the last transaction date stage one sums per
        (customer, day) here (:func:`rebatelab.engine.stage_one.customer_daily`).
    currency : str
        Unit shown on the axis.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        One bar per month with lines [currency].
    """
    ax = _axes(ax, size=(8.0, 3.2))
    if isinstance(data, Reduction):
        daily = data.customer_daily
    else:
        daily = customer_daily(data, as_of=data.date_range[1])
    monthly = daily.groupby(daily["date"].dt.to_period("M"))["net_amount"].sum()
    x = monthly.index.to_timestamp()
    ax.bar(x, monthly.to_numpy(), width=25, align="edge", color="#1f6fb4")
    ax.set_ylabel(f"net sales per month [{currency}]")
    ax.set_xlabel("month")
    ax.yaxis.set_major_formatter(THOUSANDS)
    ax.grid(axis="y", alpha=0.3)
    return ax


def plot_liability(by_program: pd.DataFrame, *, currency: str = "currency", ax=None):
    """Liability per program: accrued bar, p10-p90 interval, expected, most likely, constrained.

    Parameters
    ----------
    by_program : DataFrame
        :attr:`rebatelab.finance.liability.Liability.by_program` (``program_id, accrued, expected,
        most_likely, p10, p90, constrained`` [currency]).
    currency : str
        Unit shown on the axis.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        Programs top to bottom in the frame's order.
    """
    ax = _axes(ax)
    y = np.arange(len(by_program))[::-1]
    bp = by_program
    ax.barh(y, bp["accrued"], height=0.6, color="#c9d3de", label="accrued to date")
    ax.hlines(y, bp["p10"], bp["p90"], color="#1f6fb4", linewidth=2.5, label="p10\u2013p90")
    ax.plot(bp["expected"], y, "o", color="#1f6fb4", label="expected value")
    ax.plot(bp["most_likely"], y, "s", mfc="none", color="#2a7f3b", label="most likely")
    ax.plot(bp["constrained"], y, "|", markersize=14, mew=2.5, color="#b5451b",
            label="constrained")  # fmt: skip
    ax.set_yticks(y, bp["program_id"].astype(str))
    ax.set_xlabel(f"rebate liability at period end [{currency}]")
    ax.xaxis.set_major_formatter(THOUSANDS)
    ax.set_xlim(left=0)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, fontsize="small",
              frameon=False)  # fmt: skip
    return ax


def plot_total_distribution(
    distribution: pd.DataFrame, total: pd.DataFrame, *, currency: str = "currency", ax=None
):
    """Cumulative distribution of the total liability with its reported figures.

    Parameters
    ----------
    distribution : DataFrame
        :attr:`rebatelab.finance.liability.Liability.distribution`: the total's quantiles, ``level``
        [fraction] and ``value`` [currency] (a ``cdf`` column in place of ``level`` works too).
    total : DataFrame
        :attr:`rebatelab.finance.liability.Liability.total` (one row: ``accrued, expected,
        most_likely, constrained, percentile``).
    currency : str
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    t = total.iloc[0]
    prob = distribution["level" if "level" in distribution.columns else "cdf"]
    ax.step(distribution["value"], prob, where="post", color="#1f6fb4")
    marks = (
        ("accrued", "#7d8a99", ":"),
        ("expected", "#1f6fb4", "-"),
        ("most_likely", "#2a7f3b", "--"),
        ("constrained", "#b5451b", "-"),
    )
    for col, color, style in marks:
        label = col.replace("_", " ")
        if col == "constrained":
            label = f"constrained ({t['percentile']:.0%})"
        ax.axvline(t[col], color=color, linestyle=style, linewidth=1.5,
                   label=f"{label}: {t[col]:,.0f}")  # fmt: skip
    ax.set_xlabel(f"total rebate liability at period end [{currency}]")
    ax.set_ylabel("probability the total is at most x")
    from matplotlib.ticker import MaxNLocator

    # at most 6 ticks: six-digit amounts at 10 ticks ran into each other
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
    ax.xaxis.set_major_formatter(THOUSANDS)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize="small",
              frameon=False)  # fmt: skip
    return ax


def plot_rollforward(rollforward: pd.DataFrame, *, currency: str = "currency", ax=None):
    """Roll-forward of one program (or a total) by period: opening + expense - payments.

    Parameters
    ----------
    rollforward : DataFrame
        Rows of :attr:`rebatelab.workspace.close.LedgerView.rollforward` for one program, in period
        order (``period, opening, expense, payments, closing`` [currency]).
    currency : str
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        Per period: the opening balance, the expense stacked on it (a release, a negative
        catch-up, hatched below its top), the payments hanging down from opening + expense, and
        a marker at the closing balance.
    """
    ax = _axes(ax)
    rf = rollforward
    x = np.arange(len(rf))
    ax.bar(x, rf["opening"], width=0.6, color="#c9d3de", label="opening")
    expense = rf["expense"].to_numpy(dtype=float)
    up, down = np.maximum(expense, 0.0), np.minimum(expense, 0.0)
    ax.bar(x, up, bottom=rf["opening"], width=0.6, color="#1f6fb4",
           label="expense (catch-up)")  # fmt: skip
    if (down < 0).any():
        ax.bar(x, down, bottom=rf["opening"], width=0.6, color="white", edgecolor="#1f6fb4",
               hatch="///", label="release (negative catch-up)")  # fmt: skip
    top = rf["opening"] + rf["expense"]
    ax.bar(x, -rf["payments"], bottom=top, width=0.3, color="#b5451b", label="payments")
    ax.plot(x, rf["closing"], "D", color="black", label="closing")
    ax.set_xticks(x, rf["period"].astype(str))
    ax.set_xlabel("closed period")
    ax.set_ylabel(f"accrued liability [{currency}]")
    ax.yaxis.set_major_formatter(THOUSANDS)
    high = float(np.nanmax(np.r_[top.to_numpy(dtype=float), rf["closing"], 0.0]))
    ax.set_ylim(0, high * 1.12 if high > 0 else 1.0)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    return ax


def plot_liability_over_time(history: pd.DataFrame, *, currency: str = "currency", ax=None):
    """The liability at each closed period: booked, accrued to date, and the closing balance.

    Parameters
    ----------
    history : DataFrame
        One row per closed period in order: ``period``, ``booked`` (what the close booked,
        cumulative), ``accrued`` (earned at the tiers reached) and ``closing`` (booked less
        payments to date) [currency]; :meth:`rebatelab.widgets.LiabilityForecast.history`.
    currency : str
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        One line per figure, a marker per closed period.
    """
    ax = _axes(ax, size=(8.0, 3.4))
    x = np.arange(len(history))
    styles = (
        ("closing", "closing balance (liability)", "#b5451b", "D-"),
        ("booked", "booked (cumulative)", "#1f6fb4", "o-"),
        ("accrued", "accrued at tiers reached", "#7d8a99", "s:"),
    )
    for col, label, color, fmt in styles:
        if col in history.columns:
            ax.plot(x, history[col].to_numpy(dtype=float), fmt, color=color, label=label)
    ax.set_xticks(x, history["period"].astype(str))
    ax.set_xlabel("closed period")
    ax.set_ylabel(f"rebate liability [{currency}]")
    ax.yaxis.set_major_formatter(THOUSANDS)
    ax.set_ylim(bottom=0)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    return ax
