"""Plots of what-if runs: candidates side by side on the same scenarios.

Matplotlib is imported inside the functions only; nothing touches pyplot's global state.
"""

from __future__ import annotations

import numpy as np

from rebatelab.errors import ParameterError
from rebatelab.simulation.whatif import METRICS, WhatIfResult

__all__ = [
    "plot_whatif", "plot_tier_participation", "plot_design_figure", "plot_design_tiers",
    "unique_ticks",
]  # fmt: skip


_LABELS = {
    "total_payout": "total payout [currency]",
    "payout_without_response": "payout without response [currency]",
    "eligible_sales": "eligible sales [currency]",
    "payout_share": "payout [fraction of eligible sales]",
    "uplift": "purchases added to reach a tier [currency]",
    "incremental_revenue": "incremental revenue [currency]",
    "cost_per_incremental": "payout per unit of incremental revenue",
}


def unique_ticks(axis, fmt, *, nbins: int = 5) -> None:
    """At most ``nbins`` round ticks on ``axis``, labelled by ``fmt`` with no label twice.

    Parameters
    ----------
    axis : matplotlib Axis
        ``ax.yaxis`` or ``ax.xaxis``.
    fmt : callable
        ``fmt(value, decimals) -> str``; decimals are added (up to 4) until the labels of
        the ticks in view differ (``3.1%, 3.1%, 3.0%`` becomes ``3.10%, 3.05%, 3.00%``).
    nbins : int
        Most ticks.
    """
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    axis.set_major_locator(MaxNLocator(nbins=nbins, steps=[1, 2, 2.5, 5, 10]))
    lo, hi = axis.get_view_interval()
    ticks = [t for t in axis.get_major_locator().tick_values(lo, hi) if lo <= t <= hi]
    decimals = 0
    while decimals < 4 and len({fmt(t, decimals) for t in ticks}) < len(ticks):
        decimals += 1
    axis.set_major_formatter(FuncFormatter(lambda v, _pos, d=decimals: fmt(v, d)))


def _axes(ax):
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(7, 4)).add_subplot()
    return ax


def plot_whatif(
    result: WhatIfResult, *, metric: str = "total_payout", ax=None, currency: str | None = None
):
    """Distribution over scenarios of one metric, one box per candidate.

    Parameters
    ----------
    result : WhatIfResult
        From :func:`rebatelab.simulation.whatif.simulate_program`.
    metric : str
        One of :data:`rebatelab.simulation.whatif.METRICS`.
    ax : matplotlib Axes, optional
        Drawn on when given; otherwise a new figure's axes.
    currency : str, optional
        The currency code put in the axis label instead of the word "currency".

    Returns
    -------
    matplotlib Axes
        Boxes span the 5th-95th percentiles (whiskers) around the quartiles; a diamond marks
        the mean. Infinite values (no incremental revenue) are left out.
    """
    if metric not in METRICS:
        raise ParameterError(f"metric must be one of {list(METRICS)}; got {metric!r}")
    ax = _axes(ax)
    data = []
    for pid in result.candidates:
        v = np.asarray(result.metrics[pid][metric], dtype=float)
        data.append(v[np.isfinite(v)])
    positions = np.arange(1, len(data) + 1)
    ax.boxplot(
        data, positions=positions, whis=(5, 95), showfliers=False, widths=0.5,
        tick_labels=list(result.candidates),
    )  # fmt: skip
    means = [d.mean() if d.size else np.nan for d in data]
    ax.plot(positions, means, "D", color="C1", label="mean")
    ax.set_ylabel(_LABELS[metric] if currency is None else _LABELS[metric].replace(
        "[currency]", f"[{currency}]"))  # fmt: skip
    ax.set_title(
        f"{metric.replace('_', ' ')} over {result.n_scenarios} scenarios "
        f"(response strength {result.response_strength:g})"
    )
    # below the plot, not over the boxes
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
    return ax


def plot_tier_participation(result: WhatIfResult, *, ax=None):
    """Mean number of customers ending in each tier, stacked per candidate.

    Parameters
    ----------
    result : WhatIfResult
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        One bar per candidate, one segment per tier 1..K (tier 0, no tier, is left out).
    """
    ax = _axes(ax)
    k = max(c.shape[1] for c in result.tier_counts.values())
    x = np.arange(len(result.candidates))
    bottom = np.zeros(len(x))
    for t in range(1, k):
        h = np.array(
            [
                result.tier_counts[pid][:, t].mean()
                if t < result.tier_counts[pid].shape[1]
                else 0.0
                for pid in result.candidates
            ]
        )
        ax.bar(x, h, bottom=bottom, label=f"tier {t}")
        bottom += h
    ax.set_xticks(x, list(result.candidates))
    ax.set_ylabel("customers (mean over scenarios)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)  # beside the bars
    return ax


def plot_design_tiers(table, *, ax=None):
    """Customers ending in each tier, one stacked bar per design of a comparison table.

    Parameters
    ----------
    table : DataFrame
        :func:`rebatelab.simulation.compare.compare_designs`' result (index ``design``,
        columns ``customers_tier_0..K``).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        One segment per tier 1..K (a design without tier k has none), the legend in one row
        under the tick labels, not over the bars.
    """
    ax = _axes(ax)
    cols = [c for c in table.columns if c.startswith("customers_tier_") and c != "customers_tier_0"]
    x = np.arange(len(table))
    bottom = np.zeros(len(x))
    for col in cols:
        h = np.nan_to_num(table[col].to_numpy(dtype=float))
        ax.bar(x, h, bottom=bottom, width=0.6, label=f"tier {col.rsplit('_', 1)[1]}")
        bottom += h
    ax.set_xticks(x, list(table.index))
    ax.set_ylabel("customers (mean over scenarios)")
    if cols:  # under the tick labels, in one row: never over a bar
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=min(len(cols), 5),
                  frameon=False, fontsize="small")  # fmt: skip
    return ax


def plot_design_figure(table, *, column: str, ax=None, fmt=None, label: str = ""):
    """One bar per design of a comparison table, the current program's bar grey.

    Parameters
    ----------
    table : DataFrame
        :func:`rebatelab.simulation.compare.compare_designs`' result.
    column : str
        The figure to draw (``payout``, ``cost_share``, ``provoked_revenue``...).
    ax : matplotlib Axes, optional
    fmt : callable, optional
        ``fmt(value, decimals) -> str`` for the tick labels (:func:`unique_ticks`).
    label : str
        The y-axis label, with its unit.

    Returns
    -------
    matplotlib Axes
        Bars at 0..n-1; a dashed line at the current program's value.
    """
    if column not in table:
        raise ParameterError(f"column must be one of {list(table.columns)}; got {column!r}")
    ax = _axes(ax)
    v = table[column].to_numpy(dtype=float)
    v = np.where(np.isfinite(v), v, np.nan)
    colors = ["0.6" if d == "current" else f"C{i % 10}" for i, d in enumerate(table.index)]
    x = np.arange(len(v))
    ax.bar(x, np.nan_to_num(v), width=0.6, color=colors)
    if len(v) and np.isfinite(v[0]):
        ax.axhline(v[0], color="0.3", lw=0.8, ls="--")
    ax.set_xticks(x, list(table.index))
    ax.set_ylabel(label)
    top = np.nanmax(np.abs(v)) if np.isfinite(v).any() else 0.0
    ax.set_ylim(min(0.0, np.nanmin(v) * 1.1) if np.isfinite(v).any() else 0.0, top * 1.1 or 1.0)
    if fmt is not None:
        unique_ticks(ax.yaxis, fmt)
    return ax
