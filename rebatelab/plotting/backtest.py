"""Reliability diagram of a backtest's probabilities."""

from __future__ import annotations

import pandas as pd

__all__ = ["plot_reliability"]


def plot_reliability(table: pd.DataFrame, *, ax=None):
    """Reliability diagram: observed rate against mean predicted probability per bin.

    Parameters
    ----------
    table : DataFrame
        :func:`calibration_table` output, or :attr:`BacktestResult.calibration` (one line
        per ``method``).
    ax : matplotlib Axes, optional
        Drawn on when given; otherwise a new figure's axes.

    Returns
    -------
    matplotlib Axes
    """
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(5, 5)).add_subplot()
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration")
    groups = table.groupby("method", sort=False) if "method" in table.columns else [(None, table)]
    for name, t in groups:
        t = t[t["n"] > 0]
        ax.plot(t["mean_predicted"], t["observed_rate"], marker="o", label=name or "forecast")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted probability of reaching the next tier")
    ax.set_ylabel("observed rate")
    ax.legend(loc="upper left")
    return ax
